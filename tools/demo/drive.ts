// Plays the scenario through the mesh, as a client and a west-cluster workload would.

import { APP_PATHS, ROUTE_HEADER, send, type DemoMesh } from "./mesh.js";
import type { Scenario } from "./scenario.js";

/** A valid W3C traceparent (kept by the filter) and an invalid one (upper-case hex: repaired). */
const VALID_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const INVALID_TRACEPARENT = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01";

export interface DriveResult {
  /** HTTP status each phase's client saw, in order. */
  statuses: Record<string, number[]>;
}

export async function drive(mesh: DemoMesh, scenario: Scenario): Promise<DriveResult> {
  const statuses: Record<string, number[]> = {};
  const gateway = mesh.eastGateway;
  const record = (phase: string, status: number): void => {
    (statuses[phase] ??= []).push(status);
  };

  // Scale from zero: all arrive while the revision has no pod, so the activator holds them.
  const cold = await Promise.all(
    Array.from({ length: scenario.coldRequests }, () => send(gateway, APP_PATHS.ok)),
  );
  cold.forEach((answer) => record("cold", answer.status));

  for (let i = 0; i < scenario.warmRequests; i++) {
    const headers: Record<string, string> = {};
    if (i < scenario.warmWithValidTrace) headers.traceparent = VALID_TRACEPARENT;
    else if (i < scenario.warmWithValidTrace + scenario.warmWithInvalidTrace)
      headers.traceparent = INVALID_TRACEPARENT;
    record("warm", (await send(gateway, APP_PATHS.ok, headers)).status);
  }
  for (let i = 0; i < scenario.http5xxRequests; i++)
    record("http5xx", (await send(gateway, APP_PATHS.http5xx)).status);
  for (let i = 0; i < scenario.grpcErrorRequests; i++) {
    record("grpc", (await send(gateway, APP_PATHS.grpcError, { "content-type": "application/grpc" })).status);
  }
  for (let i = 0; i < scenario.resetRequests; i++)
    record("reset", (await send(gateway, APP_PATHS.reset)).status);
  for (let i = 0; i < scenario.proxiedRequests; i++) {
    record("proxied", (await send(gateway, APP_PATHS.ok, { [ROUTE_HEADER]: "activator" })).status);
  }

  const west = await mesh.westCaller();
  for (let i = 0; i < scenario.crossClusterRequests; i++) {
    record("crossCluster", (await send(west.proxy.listenAddress, APP_PATHS.ok)).status);
  }
  return { statuses };
}
