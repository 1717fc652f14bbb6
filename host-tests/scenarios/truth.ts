// Ground truth: what really happened to each request a scenario sent, recorded by the models that
// handled it (activator, queue-proxy, Envoy), never derived from what the filter reported. The
// definitions are docs/filter.md's "Ground truth" section.

/** What a request was, by where it went and who sent it. */
export type RequestKind =
  /** A user request for the revision (it may still have failed before reaching the container). */
  | "user"
  | "activator-probe"
  | "ingress-probe"
  | "kubelet-probe"
  | "autoscaler-scrape"
  | "prometheus-scrape"
  /** A workload's call to something that is not a Knative revision (outside the mesh, or another service). */
  | "outbound-call";

/** Who ended the stream without a complete response. */
export type ResetBy = "client" | "upstream";

export interface RequestEnding {
  /** The HTTP status the client saw; absent when the stream was reset before any response. */
  code?: number;
  grpcStatus?: number;
  resetBy?: ResetBy;
  timeout: boolean;
  /** Envoy (or the activator) answered itself; the user container produced no response. */
  localReply: boolean;
}

export interface RequestTruth {
  id: number;
  kind: RequestKind;
  /** When it entered the mesh (scenario time, ms). */
  sentAtMs: number;
  /** It reached a queue-proxy serving port and was handed to the user container. */
  invocation: boolean;
  /** Over real HTTP: when queue-proxy handed it to the user container (wall-clock ms), if it did. */
  reachedContainerMs?: number;
  /** The pod that served it (reached its sidecar), if any. */
  pod?: string;
  /** The queue-proxy port it arrived on, if it reached a pod. */
  port?: number;
  /** The activator forwarded it (K-Proxy-Request: activator). */
  viaActivator: boolean;
  /** A cold start: the activator held it because the revision had no ready pod; for how long. */
  coldStartMs?: number;
  /** A queueing wait: it waited in the activator for capacity while pods were ready; for how long. */
  queueWaitMs?: number;
  /** It entered the mesh before the pod that served it was ready (what both waits have in common). */
  beforeServingPodReady: boolean;
  ending?: RequestEnding;
}

/** The truth of one scenario: every request, in the order they were sent. */
export class TruthLog {
  readonly requests: RequestTruth[] = [];
  private nextId = 1;

  begin(kind: RequestKind, sentAtMs: number): RequestTruth {
    const truth: RequestTruth = {
      id: this.nextId++,
      kind,
      sentAtMs,
      invocation: false,
      viaActivator: false,
      beforeServingPodReady: false,
    };
    this.requests.push(truth);
    return truth;
  }

  get(id: number): RequestTruth | undefined {
    return this.requests[id - 1];
  }

  of(kind: RequestKind): RequestTruth[] {
    return this.requests.filter((r) => r.kind === kind);
  }

  summary(): TruthSummary {
    return summariseTruth(this.requests);
  }
}

/** The truth in the units the filter reports, for side-by-side comparison. */
export interface TruthSummary {
  invocations: number;
  invocationsByClass: Record<string, number>;
  coldStarts: number;
  coldStartMeanMs: number;
  queueWaits: number;
  queueWaitMeanMs: number;
  /** Forwarded by the activator without being held for a pod to start. */
  activatorProxied: number;
  /** Probes that reached a pod's sidecar (activator, ingress, kubelet). */
  probes: number;
  /** Scrapes that reached a pod's sidecar (autoscaler :9090, Prometheus :9091). */
  scrapes: number;
  /** Requests that ended without a response from the user container, by how. */
  endings: { clientReset: number; upstreamReset: number; timeout: number; localReply: number };
}

export function codeClass(code: number | undefined): string {
  return code === undefined || code < 100 || code > 599 ? "none" : `${Math.floor(code / 100)}xx`;
}

function mean(values: number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

/**
 * The truth of the requests that ended (those still in flight when a scenario stops are left out,
 * as the filter counts a request only once it ends). Probes and scrapes count once they reached a pod.
 */
export function summariseTruth(all: readonly RequestTruth[]): TruthSummary {
  const requests = all.filter((r) => r.ending !== undefined);
  const users = requests.filter((r) => r.kind === "user");
  const invocations = requests.filter((r) => r.invocation);
  const byClass: Record<string, number> = {};
  for (const r of invocations) {
    const key = codeClass(r.ending?.code);
    byClass[key] = (byClass[key] ?? 0) + 1;
  }
  const cold = users.flatMap((r) => (r.coldStartMs === undefined ? [] : [r.coldStartMs]));
  const queued = users.flatMap((r) => (r.queueWaitMs === undefined ? [] : [r.queueWaitMs]));
  const ended = (test: (e: RequestEnding) => boolean) => users.filter((r) => test(r.ending!)).length;
  const reachedPod = (suffix: string) =>
    requests.filter((r) => r.kind.endsWith(suffix) && r.pod !== undefined).length;
  return {
    invocations: invocations.length,
    invocationsByClass: byClass,
    coldStarts: cold.length,
    coldStartMeanMs: mean(cold),
    queueWaits: queued.length,
    queueWaitMeanMs: mean(queued),
    activatorProxied: users.filter(
      (r) => r.viaActivator && r.coldStartMs === undefined && r.pod !== undefined,
    ).length,
    probes: reachedPod("-probe"),
    scrapes: reachedPod("-scrape"),
    endings: {
      clientReset: ended((e) => e.resetBy === "client"),
      upstreamReset: ended((e) => e.resetBy === "upstream"),
      timeout: ended((e) => e.timeout),
      localReply: ended((e) => e.localReply && !e.timeout && e.resetBy === undefined),
    },
  };
}
