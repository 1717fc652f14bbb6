/**
 * Scrape targets that expose every metric the dashboard and the alerts read, each with the labels
 * its writer gives it, for tests that evaluate the shipped PromQL against a real Prometheus:
 * - the filter's metrics as an Istio sidecar exports them: stats named the way the filter names them
 *   (`wasmcustom.<label>=.=<value>;.;...<metric>`, docs/filter.md), rendered by the harness's model
 *   of Envoy's /stats/prometheus with the mesh's extraStatTags, plus Envoy's Wasm runtime gauges;
 * - istio-agent's and istiod's metrics as their Prometheus exporters write them.
 */
import http from "node:http";
import { AdminServer, closeServer, listenOn, StatStore } from "../../../host-tests/harness/index.js";
import { FILTER_METRIC_LABELS } from "../../deploy/filter-contract.js";
import { FILTER_METRICS, ISTIO_AGENT_METRICS, ISTIOD_METRICS } from "../../dashboards/metrics.js";
import type { ScrapeTarget } from "./server.js";

type Labels = Record<string, string>;

const REVISION: Labels = {
  namespace_name: "shop",
  service_name: "checkout",
  configuration_name: "checkout",
  revision_name: "checkout-00001",
  destination_cluster: "east",
  destination_region: "us-east1",
};
const PAIR: Labels = {
  source_cluster: "west",
  source_region: "us-west1",
  destination_cluster: "east",
  destination_region: "us-east1",
};

/** The Envoy stat name the filter defines for `metric` with `labels` (Istio's tag-extraction format). */
export function filterStatName(metric: string, labels: Labels): string {
  const encoded = Object.entries(labels)
    .map(([label, value]) => `${label}=.=${value};.;`)
    .join("");
  return `wasmcustom.${encoded}${metric}`;
}

/** One sample of every filter metric, with the labels docs/filter.md gives it. */
export function populateFilterStats(store: StatStore, problems = 3n): void {
  const count = (metric: string, labels: Labels = {}): void =>
    store.counter(filterStatName(metric, labels)).add(3n);
  const observe = (metric: string, labels: Labels, milliseconds: bigint): void =>
    store.histogram(filterStatName(metric, labels)).record(milliseconds);
  const caller = { source_cluster: "west" };
  count(FILTER_METRICS.invocations, { ...REVISION, ...caller, response_code_class: "2xx" });
  count(FILTER_METRICS.errors, {
    ...REVISION,
    ...caller,
    response_code_class: "5xx",
    error_kind: "http_5xx",
  });
  count(FILTER_METRICS.errors, { ...REVISION, ...caller, response_code_class: "5xx", error_kind: "timeout" });
  count(FILTER_METRICS.coldStarts, REVISION);
  observe(FILTER_METRICS.coldStartDuration, REVISION, 4_200n);
  count(FILTER_METRICS.activatorProxied, REVISION);
  count(FILTER_METRICS.activatorUnverified, REVISION);
  observe(
    FILTER_METRICS.requestDuration,
    { ...REVISION, ...caller, response_code_class: "2xx", cold_start: "true" },
    4_300n,
  );
  count(FILTER_METRICS.crossClusterRequests, { ...PAIR, response_code_class: "2xx" });
  count(FILTER_METRICS.crossClusterRequests, { ...PAIR, response_code_class: "5xx" });
  observe(FILTER_METRICS.crossClusterHopDuration, PAIR, 35n);
  count(FILTER_METRICS.clockSkew, { source_cluster: "west", destination_cluster: "east" });
  count(FILTER_METRICS.stampsRejected, { reason: "untrusted" });
  count(FILTER_METRICS.traceparentRepaired, { reason: "malformed" });
  count(FILTER_METRICS.tracesStarted, { sampled: "true" });
  // Two workers' outbound samplers at 0.25 and 0.35: the dashboard shows their mean, 0.3.
  store.gauge(filterStatName(FILTER_METRICS.samplingProbability, { position: "outbound" })).set(600_000n);
  store.gauge(filterStatName(FILTER_METRICS.samplers, { position: "outbound" })).set(2n);
  count(FILTER_METRICS.spansExported);
  count(FILTER_METRICS.spansDropped, { reason: "queue_full" });
  // The filter's own health series (zero refusals, configuration valid for a healthy proxy: the series
  // exist, nothing to alert on).
  store.counter(filterStatName(FILTER_METRICS.seriesOverflow, {})).add(problems);
  store.counter(filterStatName(FILTER_METRICS.configRejected, {})).add(problems);
  store.gauge(filterStatName(FILTER_METRICS.configValid, { root_id: "kwt" })).set(problems > 0n ? 0n : 1n);
  // Envoy's own lifecycle stats of the V8 runtime (stats_handler.h: wasm.<runtime>.created/active).
  store.counter("wasm.envoy.wasm.runtime.v8.created").add(2n);
  store.gauge("wasm.envoy.wasm.runtime.v8.active").set(2n);
}

/**
 * One tick of healthy traffic on the revision: 100 invocations with 1% timeouts and 1% application
 * 5xx, one fast cold start (4.2 s), cross-cluster calls with fast hops. Below every alert threshold.
 */
export function addQuietTraffic(store: StatStore): void {
  const caller = { source_cluster: "west" };
  const add = (metric: string, labels: Labels, n: bigint): void =>
    store.counter(filterStatName(metric, labels)).add(n);
  const observe = (metric: string, labels: Labels, milliseconds: bigint): void =>
    store.histogram(filterStatName(metric, labels)).record(milliseconds);
  add(FILTER_METRICS.invocations, { ...REVISION, ...caller, response_code_class: "2xx" }, 98n);
  add(FILTER_METRICS.invocations, { ...REVISION, ...caller, response_code_class: "5xx" }, 2n);
  for (const kind of ["timeout", "http_5xx"]) {
    add(FILTER_METRICS.errors, { ...REVISION, ...caller, response_code_class: "5xx", error_kind: kind }, 1n);
  }
  add(FILTER_METRICS.coldStarts, REVISION, 1n);
  observe(FILTER_METRICS.coldStartDuration, REVISION, 4_200n);
  add(FILTER_METRICS.activatorProxied, REVISION, 1n);
  add(FILTER_METRICS.activatorUnverified, REVISION, 1n);
  observe(
    FILTER_METRICS.requestDuration,
    { ...REVISION, ...caller, response_code_class: "2xx", cold_start: "true" },
    4_300n,
  );
  add(FILTER_METRICS.crossClusterRequests, { ...PAIR, response_code_class: "2xx" }, 10n);
  add(FILTER_METRICS.crossClusterRequests, { ...PAIR, response_code_class: "5xx" }, 1n);
  observe(FILTER_METRICS.crossClusterHopDuration, PAIR, 35n);
  add(FILTER_METRICS.clockSkew, { source_cluster: "west", destination_cluster: "east" }, 1n);
  add(FILTER_METRICS.stampsRejected, { reason: "untrusted" }, 1n);
  add(FILTER_METRICS.traceparentRepaired, { reason: "malformed" }, 1n);
  add(FILTER_METRICS.tracesStarted, { sampled: "true" }, 1n);
  add(FILTER_METRICS.spansExported, {}, 1n);
  add(FILTER_METRICS.spansDropped, { reason: "queue_full" }, 1n);
  store.counter("wasm.envoy.wasm.runtime.v8.created").add(1n);
}

/** A burst of `count` slow cold starts (`milliseconds` each) on the revision. */
export function addSlowColdStarts(store: StatStore, count: number, milliseconds: bigint): void {
  for (let i = 0; i < count; i++) {
    store.counter(filterStatName(FILTER_METRICS.coldStarts, REVISION)).add(1n);
    store.histogram(filterStatName(FILTER_METRICS.coldStartDuration, REVISION)).record(milliseconds);
  }
}

/** istio-agent's Wasm metrics as its exporter writes them (counters without `_total`), `n` successes. */
export function istioAgentExposition(n = 4, failures = 1): string {
  return [
    `# TYPE ${ISTIO_AGENT_METRICS.wasmRemoteFetches} counter`,
    `${ISTIO_AGENT_METRICS.wasmRemoteFetches}{result="success"} ${n}`,
    `${ISTIO_AGENT_METRICS.wasmRemoteFetches}{result="download_failure"} ${failures}`,
    `# TYPE ${ISTIO_AGENT_METRICS.wasmConfigConversions} counter`,
    `${ISTIO_AGENT_METRICS.wasmConfigConversions}{result="success"} ${n}`,
    `# TYPE ${ISTIO_AGENT_METRICS.wasmCacheEntries} gauge`,
    `${ISTIO_AGENT_METRICS.wasmCacheEntries} 1`,
    `# TYPE ${ISTIO_AGENT_METRICS.wasmCacheLookups} counter`,
    `${ISTIO_AGENT_METRICS.wasmCacheLookups}{hit="true"} ${n}`,
    "",
  ].join("\n");
}

function histogramLines(family: string, labels: string, bounds: number[], count: number): string[] {
  const prefix = labels === "" ? "" : `${labels},`;
  return [
    `# TYPE ${family} histogram`,
    ...bounds.map((le) => `${family}_bucket{${prefix}le="${le}"} ${count}`),
    `${family}_bucket{${prefix}le="+Inf"} ${count}`,
    `${family}_sum{${labels}} ${count * 0.2}`,
    `${family}_count{${labels}} ${count}`,
  ];
}

/** istiod's xDS metrics (pilot/pkg/xds/monitoring.go bucket bounds, seconds), `n` pushes. */
export function istiodExposition(n = 5): string {
  return [
    ...histogramLines(ISTIOD_METRICS.proxyConvergenceTime, "", [0.1, 0.5, 1, 3, 5, 10, 20, 30], n),
    ...histogramLines(ISTIOD_METRICS.xdsPushTime, 'type="cds"', [0.01, 0.1, 0.5, 1, 3, 5, 10, 20, 30], n),
    `# TYPE ${ISTIOD_METRICS.xdsPushes} counter`,
    `${ISTIOD_METRICS.xdsPushes}{type="cds"} ${n}`,
    `# TYPE ${ISTIOD_METRICS.xdsRejects} counter`,
    `${ISTIOD_METRICS.xdsRejects}{type="lds"} 1`,
    `# TYPE ${ISTIOD_METRICS.xdsInternalErrors} counter`,
    `${ISTIOD_METRICS.xdsInternalErrors} 0`,
    "",
  ].join("\n");
}

export interface FixtureTargets {
  targets: ScrapeTarget[];
  /** The sidecar's stats: a test adds to them to script traffic after the start. */
  stats: StatStore;
  close(): Promise<void>;
}

/** Where a series was recorded, as each cluster's agent labels it (external labels). */
export interface Place {
  cluster: string;
  region: string;
}

/** The targets with `cluster` and `region` target labels: a single Prometheus standing in for the agents. */
export function labelledWithPlace(targets: ScrapeTarget[], place: Place): ScrapeTarget[] {
  return targets.map((target) => ({ ...target, labels: { ...target.labels, ...place } }));
}

const SIDECAR_POD = { namespace: "shop", pod: "checkout-00001-deployment-7d9c4-x2x5q" };
const ISTIOD_POD = { namespace: "istio-system", pod: "istiod-6b8f7c9d4-q7k2m" };

/** Serves exposition text on every path (what `text()` gives at each scrape). */
async function serveText(text: () => string): Promise<{ address: string; close: () => Promise<void> }> {
  const server = http.createServer((_request, response) => {
    response.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
    response.end(text());
  });
  const bound = await listenOn(server, { host: "127.0.0.1", port: 0 });
  return { address: `${bound.host}:${bound.port}`, close: () => closeServer(server) };
}

/**
 * With `steadyTrafficMs`, a healthy proxy: quiet traffic every tick and the health counters at zero.
 *
 * Three loopback targets: a sidecar's Envoy admin (the harness's, with the mesh's extraStatTags),
 * an istio-agent and an istiod, with the `pod` and `namespace` labels Kubernetes discovery gives them.
 */
export async function startFixtureTargets(
  options: { steadyTrafficMs?: number } = {},
): Promise<FixtureTargets> {
  const stats = new StatStore({ extraStatTags: [...FILTER_METRIC_LABELS] });
  const steady = options.steadyTrafficMs !== undefined;
  populateFilterStats(stats, steady ? 0n : 3n);
  // Steady traffic makes every rate and quantile defined (a store may drop NaN results); the filter's
  // health counters stay flat, so no alert fires on it.
  let ticks = 0;
  const ticker =
    options.steadyTrafficMs === undefined
      ? undefined
      : setInterval(() => {
          ticks += 1;
          addQuietTraffic(stats);
        }, options.steadyTrafficMs);
  const admin = await AdminServer.start({
    address: { host: "127.0.0.1", port: 0 },
    stats,
    isReady: () => true,
  });
  const agent = await serveText(() => istioAgentExposition(4 + ticks, steady ? 0 : 1));
  const istiod = await serveText(() => istiodExposition(5 + ticks));
  return {
    targets: [
      {
        job: "sidecar",
        address: `${admin.address.host}:${admin.address.port}`,
        metricsPath: "/stats/prometheus",
        labels: SIDECAR_POD,
      },
      // The merged endpoint :15020 serves istio-agent's metrics with the sidecar's: same pod.
      { job: "istio-agent", address: agent.address, labels: SIDECAR_POD },
      { job: "istiod", address: istiod.address, labels: ISTIOD_POD },
    ],
    stats,
    close: async () => {
      clearInterval(ticker);
      await Promise.all([admin.close(), agent.close(), istiod.close()]);
    },
  };
}
