// The demo's script: what it sends through the little mesh, and therefore what really happens
// (the stand-ins record it as ground truth, which the summary shows next to what the filter
// measured). Pure data and arithmetic, so the end-to-end test can compare all three.

import type { TruthComparison } from "../../host-tests/scenarios/measure.js";

export const EAST = { cluster: "east", region: "us-east1" } as const;
export const WEST = { cluster: "west", region: "europe-west1" } as const;
/** The demo's revision is the scenario library's. */
export { REVISION } from "../../host-tests/scenarios/mesh.js";

export interface Scenario {
  /** How long the revision pod takes to "start" after the activator asks for it. */
  coldStartDelayMs: number;
  /** Requests sent at once while the revision is at zero: the activator holds them all. */
  coldRequests: number;
  /** Requests routed straight to the warm pod (the activator out of the path). */
  warmRequests: number;
  /** Of the warm requests: how many carry a valid traceparent, and how many an invalid one. */
  warmWithValidTrace: number;
  warmWithInvalidTrace: number;
  /** Requests the activator forwards to the warm pod (proxy mode: through it, but no cold start). */
  proxiedRequests: number;
  /**
   * Slow requests sent at once through the activator, more than one pod takes at once: the excess
   * waits for capacity while a second pod starts (a scale-up, not a cold start).
   */
  scaleUpRequests: number;
  /** How long the pod added by the scale-up takes to start. */
  scaleUpDelayMs: number;
  /** Requests the app answers 500, answers with a failed gRPC status, or resets. */
  http5xxRequests: number;
  grpcErrorRequests: number;
  resetRequests: number;
  /** Calls from a workload in cluster west to the revision in east. */
  crossClusterRequests: number;
}

export const DEFAULT_SCENARIO: Scenario = {
  coldStartDelayMs: 800,
  coldRequests: 3,
  warmRequests: 10,
  warmWithValidTrace: 3,
  warmWithInvalidTrace: 2,
  proxiedRequests: 4,
  scaleUpRequests: 6,
  scaleUpDelayMs: 300,
  http5xxRequests: 2,
  grpcErrorRequests: 1,
  resetRequests: 1,
  crossClusterRequests: 5,
};

/** Everything the summary reports, in the units it reports them. */
export interface Summary {
  coldStarts: Array<{ revision: string; cluster: string; count: number; timed: number; meanMs: number }>;
  invocations: Array<{ revision: string; sourceCluster: string; codeClass: string; count: number }>;
  errors: Array<{ revision: string; errorKind: string; count: number }>;
  activatorProxied: Array<{ revision: string; count: number }>;
  crossCluster: Array<{ source: string; destination: string; count: number }>;
  clientLatency: Array<{ proxy: string; coldStart: boolean; count: number; meanMs: number }>;
  traces: Array<{ proxy: string; started: number; repaired: number }>;
  /** The ground truth next to the filter's number for it (filled in by the demo from its truth log). */
  groundTruth: TruthComparison[];
  /** The east ingress gateway's first access-log line of a cold start; null when it wrote none. */
  coldStartLogLine: string | null;
}

/**
 * The counts the scenario injects, in the summary's shape (durations are checked separately).
 * `containerConcurrency`: requests one pod takes at once.
 */
export function expectedCounts(scenario: Scenario, containerConcurrency: number) {
  const viaGateway =
    scenario.coldRequests +
    scenario.warmRequests +
    scenario.proxiedRequests +
    scenario.scaleUpRequests +
    scenario.http5xxRequests +
    scenario.grpcErrorRequests +
    scenario.resetRequests;
  const gatewayOk =
    scenario.coldRequests + scenario.warmRequests + scenario.proxiedRequests + scenario.scaleUpRequests;
  return {
    coldStarts: scenario.coldRequests,
    invocations: viaGateway + scenario.crossClusterRequests,
    invocationsFromEast: {
      // A failed gRPC call is still an HTTP 200.
      "2xx": gatewayOk + scenario.grpcErrorRequests,
      "5xx": scenario.http5xxRequests + scenario.resetRequests,
    },
    invocationsFromWest: { "2xx": scenario.crossClusterRequests },
    errors: {
      http_5xx: scenario.http5xxRequests,
      grpc: scenario.grpcErrorRequests,
      upstream_reset: scenario.resetRequests,
    },
    activatorProxied: scenario.proxiedRequests + scenario.scaleUpRequests,
    queueWaits: scenario.scaleUpRequests - containerConcurrency,
    // One round after the cold and the warm phase (one pod), one after the scale-up (two pods); each
    // round scrapes every pod twice, the autoscaler on :9090 and Prometheus on :9091.
    podScrapes: 2 * (1 + 1 + 2),
    crossClusterWestToEast: scenario.crossClusterRequests,
    gatewayRequests: viaGateway,
    gatewayTracesStarted: viaGateway - scenario.warmWithValidTrace,
    gatewayTracesRepaired: scenario.warmWithInvalidTrace,
    westTracesStarted: scenario.crossClusterRequests,
  };
}
