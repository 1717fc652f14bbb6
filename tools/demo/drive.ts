// Plays the scenario through the mesh, as a client, the scrapers and a west-cluster workload would.

import { APP_PATHS, ROUTE_HEADER, type DemoMesh } from "./mesh.js";
import type { Scenario } from "./scenario.js";

/** A valid W3C traceparent (kept by the filter) and an invalid one (upper-case hex: repaired). */
const VALID_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const INVALID_TRACEPARENT = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01";

/**
 * Sends every request of the scenario; what they did is in the mesh's truth log, what the filter
 * made of them in the proxies' stats. The autoscaler and Prometheus scrape every pod once after each
 * phase (about once a second and every few seconds in a real mesh; here at fixed points, so the
 * counts are exact).
 */
export async function drive(mesh: DemoMesh, scenario: Scenario): Promise<void> {
  const gateway = mesh.eastGateway;
  const user = (path: string, headers: Record<string, string> = {}) => mesh.sendUser(gateway, path, headers);

  // Scale from zero: all arrive while the revision has no pod, so the activator holds them.
  await Promise.all(Array.from({ length: scenario.coldRequests }, () => user(APP_PATHS.ok)));
  await mesh.podScrapes();

  for (let i = 0; i < scenario.warmRequests; i++) {
    const headers: Record<string, string> = {};
    if (i < scenario.warmWithValidTrace) headers.traceparent = VALID_TRACEPARENT;
    else if (i < scenario.warmWithValidTrace + scenario.warmWithInvalidTrace)
      headers.traceparent = INVALID_TRACEPARENT;
    await user(APP_PATHS.ok, headers);
  }
  for (let i = 0; i < scenario.http5xxRequests; i++) await user(APP_PATHS.http5xx);
  for (let i = 0; i < scenario.grpcErrorRequests; i++) {
    await user(APP_PATHS.grpcError, { "content-type": "application/grpc" });
  }
  for (let i = 0; i < scenario.resetRequests; i++) await user(APP_PATHS.reset);
  for (let i = 0; i < scenario.proxiedRequests; i++) {
    await user(APP_PATHS.ok, { [ROUTE_HEADER]: "activator" });
  }
  await mesh.podScrapes();

  // Scale-up: more slow requests through the activator than one pod takes at once; the rest wait
  // for capacity while a second pod starts, and it serves some of them.
  await Promise.all(
    Array.from({ length: scenario.scaleUpRequests }, () =>
      user(APP_PATHS.slow, { [ROUTE_HEADER]: "activator" }),
    ),
  );
  await mesh.podScrapes();

  const west = await mesh.westCaller();
  for (let i = 0; i < scenario.crossClusterRequests; i++) {
    await mesh.sendUser(west.proxy.listenAddress, APP_PATHS.ok);
  }
}
