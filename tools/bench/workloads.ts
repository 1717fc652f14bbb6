// The requests the benchmark replays: each path's common case, the less common ones, and the
// scaling families, with the plugin set-up each needs. Pure data: measuring lives in measure.ts.
// Every workload rotates its values with a fixed period, so that the filter's host calls repeat
// with that period once warm (the floor replays one period). The plugin's clock stands still there
// unless a workload says how far it moves per request: the live-label-set family, which has no
// floor, runs on a moving clock, so what the filter does once a second per revision is in it.

import type {
  HeaderList,
  ManualClock,
  PluginOptions,
  StreamOptions,
} from "../../host-tests/harness/index.js";
import { FILTER_METRIC_LABELS } from "../deploy/filter-contract.js";

export type Position = "revision-inbound" | "workload-outbound" | "gateway";

export interface BenchRequest {
  request: HeaderList;
  response: HeaderList;
  responseCode: number;
  /** What Envoy knows of the connection: the peers' mesh identities, the route's cluster. */
  connection: StreamOptions;
}

/** The mesh identities production has on each path (SPIFFE ids of `cluster.local`). */
const GATEWAY_IDENTITY = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account";
const REVISION_IDENTITY = "spiffe://cluster.local/ns/demo/sa/default";
/** Istio's cluster of a revision's service: an in-mesh destination. */
const REVISION_CLUSTER = "outbound|80||hello-00001.demo.svc.cluster.local";
/** A revision pod's sidecar: the gateway's request, over mTLS with its mesh identity. */
const FROM_GATEWAY: StreamOptions = { peerIdentity: GATEWAY_IDENTITY };
/** A caller's sidecar or the gateway: toward the revision's service, answered by a mesh peer. */
const TO_REVISION: StreamOptions = {
  upstreamCluster: REVISION_CLUSTER,
  upstreamAddress: "10.0.0.2:8012",
  upstreamIdentity: REVISION_IDENTITY,
};

/** Where the plugin's clock starts (wall time, ms). */
export const BENCH_CLOCK_START_MS = 1_700_000_000_000;
/**
 * A warm pod's ready time: a minute before the clock starts. Fixed, as a pod's is, so that its
 * stamp is the same text at every answer also where the clock moves.
 */
const WARM_POD_READY_MS = BENCH_CLOCK_START_MS - 60_000;

export interface Workload {
  /** Row name in the tables and results.json. */
  name: string;
  position: Position;
  /** Plugin configuration (JSON). */
  pluginConfig: string;
  /** Requests repeat after this many (the floor replays one period). */
  period: number;
  /** Request i (nowMs: the plugin clock's wall time). */
  request(i: number, nowMs: number): BenchRequest;
  /**
   * How far the plugin's clock moves after each request (ms); 0 or absent: it stands still, so the
   * host calls repeat with the period (a floor needs that).
   */
  requestIntervalMs?: number;
  /**
   * A pause in the traffic: after request `afterRequest` the clock moves `ms` more and a tick fires
   * (the pause's ticks, runRequest), so what answered before it has been idle that long.
   */
  pause?: { afterRequest: number; ms: number };
  /** One line: what the requests are. */
  describe: string;
}

const REVISION_LABELS = {
  "serving.knative.dev/revision": "hello-00001",
  "serving.knative.dev/service": "hello",
  "serving.knative.dev/configuration": "hello",
};

/** Where each position runs: a revision pod's inbound sidecar, a workload's outbound sidecar, a gateway. */
export function pluginOptionsFor(workload: Workload, wasm: Uint8Array, clock: ManualClock): PluginOptions {
  const base = {
    wasm,
    pluginConfig: workload.pluginConfig,
    extraStatTags: [...FILTER_METRIC_LABELS],
    clock,
    // One worker VM: the figures are one VM's cost per request and memory (the harness defaults to two).
    workers: 1,
  };
  switch (workload.position) {
    case "revision-inbound":
      return {
        ...base,
        direction: "inbound",
        node: {
          proxyType: "sidecar",
          cluster: "east",
          region: "us-east1",
          namespace: "demo",
          labels: REVISION_LABELS,
        },
      };
    case "workload-outbound":
      return {
        ...base,
        direction: "outbound",
        node: { proxyType: "sidecar", cluster: "east", region: "us-east1", namespace: "shop" },
      };
    case "gateway":
      return {
        ...base,
        direction: "outbound",
        node: { proxyType: "router", cluster: "east", region: "us-east1", namespace: "istio-system" },
      };
  }
}

/** The common period of the path workloads: 16 values of each rotated label or id. */
const PERIOD = 16;

const hex = (i: number, width: number): string => (i + 1).toString(16).padStart(width, "0");
const traceparent = (i: number, version = "00"): string => `${version}-${hex(i, 32)}-${hex(i * 7, 16)}-01`;

function baseRequest(i: number): HeaderList {
  return [
    [":method", "GET"],
    [":path", `/api/items?page=${i % PERIOD}`],
    [":authority", "hello.demo.svc.cluster.local"],
    ["user-agent", "bench/1.0"],
    ["accept", "application/json"],
  ];
}

function response(code: number, extra: HeaderList = []): HeaderList {
  return [[":status", `${code}`], ["content-type", "application/json"], ...extra];
}

/** Mostly 2xx with some 4xx: two response-code classes in every path's label sets. */
const code = (i: number): number => (i % 4 === 3 ? 404 : 200);

interface InboundShape {
  sourceCluster: (i: number) => string;
  code?: (i: number) => number;
  extraHeaders?: number;
}

function inbound(
  name: string,
  describe: string,
  shape: InboundShape,
  pluginConfig = "{}",
  period = PERIOD,
): Workload {
  return {
    name,
    describe,
    position: "revision-inbound",
    pluginConfig,
    period,
    request(i, nowMs) {
      const request = baseRequest(i);
      request.push(["x-kwt-entry", `${nowMs - 5}`]);
      request.push(["x-kwt-hop", `1;c=${shape.sourceCluster(i)};r=us-east1;t=${nowMs - 3}`]);
      request.push(["traceparent", traceparent(i)]);
      for (let h = request.length; h < (shape.extraHeaders ?? 0); h++)
        request.push([`x-pad-${h}`, `value-${h}`]);
      const status = (shape.code ?? code)(i);
      return { request, response: response(status), responseCode: status, connection: FROM_GATEWAY };
    },
  };
}

/** `version` null: the request carries no traceparent. */
function outbound(
  name: string,
  describe: string,
  tracestate: (i: number) => HeaderList,
  version: string | null = "00",
): Workload {
  return {
    name,
    describe,
    position: "workload-outbound",
    pluginConfig: "{}",
    period: PERIOD,
    request(i) {
      const request = baseRequest(i);
      if (version !== null) request.push(["traceparent", traceparent(i, version)]);
      request.push(...tracestate(i));
      return { request, response: response(code(i)), responseCode: code(i), connection: TO_REVISION };
    },
  };
}

interface GatewayShape {
  /** The pod stamp says cold start. */
  cold: boolean;
  /** Revisions answering in rotation (the workload's period). */
  revisions?: number;
  code?: (i: number) => number;
  /**
   * Warm: the ready time of the pod that answers request `i` (each pod has its own); by default
   * one pod per revision, ready since WARM_POD_READY_MS.
   */
  warmReadyMs?: (i: number) => number;
}

/**
 * The wait of cold request `i`: 16 values, one per rotation of the revisions, so a revision's
 * stamps differ from one answer to its next and repeat only after 16 rotations (the floor's
 * replay of 256 requests at 16 revisions).
 */
function heldWaitMs(i: number, revisions: number): number {
  return 800 + 10 * (Math.floor(i / revisions) % 16);
}

function gateway(name: string, describe: string, shape: GatewayShape, pluginConfig = "{}"): Workload {
  const { cold } = shape;
  const revisions = shape.revisions ?? PERIOD;
  const status = shape.code ?? code;
  return {
    name,
    describe,
    position: "gateway",
    pluginConfig,
    period: revisions,
    request(i, nowMs) {
      const revision = `hello-${String((i % revisions) + 1).padStart(5, "0")}`;
      // Warm: a pod ready since a minute before the clock started, the request straight from the
      // gateway. Cold: through the activator, and the pod turned ready after the request entered
      // (the clock of the cold workload stands still, so every answer is one before its
      // revision's ready era began: a cold start). Each held request waited its own time, as in
      // production: a revision's waits change from one rotation to the next (800 to 950 ms).
      const waitMs = cold ? heldWaitMs(i, revisions) : 0;
      const readiness = cold
        ? `a=1;rd=${nowMs + 1};t=${nowMs + waitMs}`
        : `a=0;rd=${shape.warmReadyMs?.(i) ?? WARM_POD_READY_MS}`;
      const pod = `1;cs=${cold ? 1 : 0};w=${waitMs};c=east;r=us-east1;n=demo;s=hello;cf=hello;v=${revision};${readiness}`;
      return {
        request: baseRequest(i),
        response: response(status(i), [["x-kwt-pod", pod]]),
        responseCode: status(i),
        connection: TO_REVISION,
      };
    },
  };
}

const noTracestate = (): HeaderList => [];

/** The three common cases first (the goals are stated on them), then the less common paths. */
export const PATH_WORKLOADS: Workload[] = [
  inbound(
    "inbound",
    "revision pod, from the gateway of its own cluster over mTLS, entry and hop stamps, traceparent",
    { sourceCluster: () => "east" },
  ),
  outbound(
    "outbound",
    "workload call with a valid traceparent (passes untouched), no tracestate",
    noTracestate,
  ),
  gateway("gateway", "request from outside, answered with a warm pod stamp (16 revisions)", { cold: false }),
  inbound("inbound-cross-cluster", "as inbound, hop stamps from 16 other clusters", {
    sourceCluster: (i) => `west-${i % PERIOD}`,
  }),
  inbound("inbound-error", "as inbound, every response a 503", {
    sourceCluster: () => "east",
    code: () => 503,
  }),
  outbound(
    "outbound-new-trace",
    "workload call without traceparent: the filter starts a trace",
    noTracestate,
    null,
  ),
  gateway("gateway-cold-start", "as gateway, the pod stamp says cold start", { cold: true }),
];

export interface ScalingFamily {
  /** What varies. */
  name: string;
  cases: Array<{ value: string; workload: Workload }>;
  /**
   * Each case also runs its own floor: where a case hands the module more bytes, the floor shows
   * how much of the change the harness's handing-in costs (it makes the same calls, nothing else).
   */
  withFloors?: boolean;
}

const tracestateMembers = (count: number): HeaderList =>
  count === 0
    ? []
    : [["tracestate", Array.from({ length: count }, (_, m) => `vendor${m}=value-${m}`).join(",")]];

/** The filter's default `maxSeries`. */
const DEFAULT_MAX_SERIES = 2_000;

/**
 * The live-label-set family's clock: a gateway worker serving 1,000 answers a second. With N
 * revisions in rotation each is answered every N ms, so its era is published to shared data at
 * every answer from 1,000 revisions on (at most once a second per revision), and the history of
 * last answers changes order as it would in production; a standing clock hid both.
 */
const LABEL_SET_REQUEST_INTERVAL_MS = 1;

/**
 * Live label sets: N revisions answering the gateway in rotation, each its own series of the
 * request-duration histogram (the pod stamp's revision is bounded by maxSeries only; a hop stamp's
 * source cluster would fold past maxSourceLabelValues and not make N series).
 */
function labelSets(count: number, maxSeries?: number): { value: string; workload: Workload } {
  const config = maxSeries === undefined ? "{}" : JSON.stringify({ maxSeries });
  const value =
    maxSeries !== undefined
      ? `${count} (maxSeries ${maxSeries})`
      : count > DEFAULT_MAX_SERIES
        ? `${count} (past maxSeries ${DEFAULT_MAX_SERIES})`
        : `${count}`;
  return {
    value,
    workload: {
      ...gateway(
        `label sets ${value}`,
        `gateway at ${(1_000 / LABEL_SET_REQUEST_INTERVAL_MS).toLocaleString("en-US")} answers a second, ${count} revisions in rotation, warm pod stamps, every response a 200`,
        { cold: false, revisions: count, code: () => 200 },
        config,
      ),
      requestIntervalMs: LABEL_SET_REQUEST_INTERVAL_MS,
    },
  };
}

/** Pods that answer the churn case's gateway once each and are gone: more than the default cap. */
const CHURNED_PODS = 3_000;
/** How long the churned pods have been gone when the live ones answer (a tick ends the pause). */
const CHURN_PAUSE_MS = 6 * 60_000;

/**
 * Pod churn: CHURNED_PODS pods of the 10 revisions answer once each (each its own ready time, as
 * Knative's scale-ups and -downs make them), then the traffic pauses for CHURN_PAUSE_MS and the
 * revisions' current pods answer in rotation, as in the 10-revision case (the churn and the pause
 * come in the warm-up): what the filter keeps of pods that no longer answer is what this case
 * shows. (`kwt bench --quick` warms up on 300 requests and runs 300 more, before the pause: there
 * it times the churn.)
 */
function podChurn(): { value: string; workload: Workload } {
  const revisions = 10;
  const asTenRevisions = labelSets(revisions).workload;
  const value = `${revisions} after ${CHURNED_PODS.toLocaleString("en-US")} pods came and went`;
  return {
    value,
    workload: {
      ...gateway(
        `label sets ${value}`,
        `as the 10-revision case, after ${CHURNED_PODS} pods of its revisions answered once each and stopped ${CHURN_PAUSE_MS / 60_000} minutes before`,
        {
          cold: false,
          revisions,
          code: () => 200,
          warmReadyMs: (i) => (i < CHURNED_PODS ? WARM_POD_READY_MS - CHURNED_PODS + i : WARM_POD_READY_MS),
        },
        asTenRevisions.pluginConfig,
      ),
      requestIntervalMs: LABEL_SET_REQUEST_INTERVAL_MS,
      pause: { afterRequest: CHURNED_PODS - 1, ms: CHURN_PAUSE_MS },
    },
  };
}

export const SCALING_FAMILIES: ScalingFamily[] = [
  {
    name: "live label sets",
    cases: [
      labelSets(10),
      labelSets(256),
      labelSets(1_000),
      labelSets(2_000),
      labelSets(4_000),
      labelSets(100_000, 100_000),
      podChurn(),
    ],
  },
  {
    name: "request headers",
    withFloors: true,
    cases: [10, 50, 100].map((count) => ({
      value: `${count}`,
      workload: inbound(`headers ${count}`, `inbound with ${count} request headers`, {
        sourceCluster: () => "east",
        extraHeaders: count,
      }),
    })),
  },
  {
    name: "tracestate",
    withFloors: true,
    cases: [
      ...[0, 8, 32].map((members) => ({
        value: members === 0 ? "none" : `${members} members, pass-through`,
        workload: outbound(`tracestate ${members} pass`, "outbound, valid 00 traceparent", () =>
          tracestateMembers(members),
        ),
      })),
      ...[8, 32].map((members) => ({
        value: `${members} members, rewrite`,
        workload: outbound(
          `tracestate ${members} rewrite`,
          "outbound, version 01 traceparent (downgraded: tracestate re-emitted)",
          () => tracestateMembers(members),
          "01",
        ),
      })),
    ],
  },
];
