// Plays the scenario through the mesh, as a client and a west-cluster workload would.

import { APP_PATHS, ROUTE_HEADER, send, type DemoMesh } from "./mesh.js";
import type { Scenario } from "./scenario.js";

/** A valid W3C traceparent (kept by the filter) and an invalid one (upper-case hex: repaired). */
const VALID_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const INVALID_TRACEPARENT = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01";

/** Sends every request of the scenario; what they did is read back from the proxies' stats. */
export async function drive(mesh: DemoMesh, scenario: Scenario): Promise<void> {
  const gateway = mesh.eastGateway;

  // Scale from zero: all arrive while the revision has no pod, so the activator holds them.
  await Promise.all(Array.from({ length: scenario.coldRequests }, () => send(gateway, APP_PATHS.ok)));

  for (let i = 0; i < scenario.warmRequests; i++) {
    const headers: Record<string, string> = {};
    if (i < scenario.warmWithValidTrace) headers.traceparent = VALID_TRACEPARENT;
    else if (i < scenario.warmWithValidTrace + scenario.warmWithInvalidTrace)
      headers.traceparent = INVALID_TRACEPARENT;
    await send(gateway, APP_PATHS.ok, headers);
  }
  for (let i = 0; i < scenario.http5xxRequests; i++) await send(gateway, APP_PATHS.http5xx);
  for (let i = 0; i < scenario.grpcErrorRequests; i++) {
    await send(gateway, APP_PATHS.grpcError, { "content-type": "application/grpc" });
  }
  for (let i = 0; i < scenario.resetRequests; i++) await send(gateway, APP_PATHS.reset);
  for (let i = 0; i < scenario.proxiedRequests; i++) {
    await send(gateway, APP_PATHS.ok, { [ROUTE_HEADER]: "activator" });
  }

  const west = await mesh.westCaller();
  for (let i = 0; i < scenario.crossClusterRequests; i++) {
    await send(west.proxy.listenAddress, APP_PATHS.ok);
  }
}
