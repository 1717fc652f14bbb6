/**
 * The metric names the dashboard and the alert rules query, as Prometheus sees them.
 *
 * The filter's names come from its catalog, deploy/filter-metrics.json (Envoy writes `wasmcustom.*`
 * stats without the `envoy_` prefix; histograms get `_bucket`, `_sum`, `_count`). The others are what Istio and Envoy
 * export, checked against their sources:
 * - istio-agent: istio/istio pkg/wasm/monitoring.go, registered under the `istio_agent_` prefix
 *   (pilot/cmd/pilot-agent/status/server.go); Istio's exporter writes counters without `_total`.
 * - Envoy: source/extensions/common/wasm/stats_handler.h, `wasm.<runtime>.created` / `.active`
 *   in the root scope, runtime `envoy.wasm.runtime.v8`; exported with the `envoy_` prefix.
 * - istiod: pilot/pkg/xds/monitoring.go and pkg/xds/monitoring.go (seconds, counters without `_total`).
 */
import { FILTER_LABEL_GROUPS, FILTER_METRICS } from "../deploy/filter-contract.js";

/** Who writes a metric: decides which scrape target a test must provide for it. */
export type MetricSource = "filter" | "istio-agent" | "envoy" | "istiod";

/** The filter's metrics, generated from its catalog (deploy/filter-metrics.json). */
export { FILTER_METRICS } from "../deploy/filter-contract.js";

export const ISTIO_AGENT_METRICS = {
  wasmRemoteFetches: "istio_agent_wasm_remote_fetch_count",
  wasmConfigConversions: "istio_agent_wasm_config_conversion_count",
  wasmCacheEntries: "istio_agent_wasm_cache_entries",
  wasmCacheLookups: "istio_agent_wasm_cache_lookup_count",
} as const;

export const ENVOY_METRICS = {
  wasmV8VmsActive: "envoy_wasm_envoy_wasm_runtime_v8_active",
  wasmV8VmsCreated: "envoy_wasm_envoy_wasm_runtime_v8_created",
} as const;

export const ISTIOD_METRICS = {
  proxyConvergenceTime: "pilot_proxy_convergence_time",
  xdsPushTime: "pilot_xds_push_time",
  xdsPushes: "pilot_xds_pushes",
  xdsRejects: "pilot_total_xds_rejects",
  xdsInternalErrors: "pilot_total_xds_internal_errors",
} as const;

const SOURCES: ReadonlyArray<[MetricSource, Record<string, string>]> = [
  ["filter", FILTER_METRICS],
  ["istio-agent", ISTIO_AGENT_METRICS],
  ["envoy", ENVOY_METRICS],
  ["istiod", ISTIOD_METRICS],
];

/** Which source writes `metric` (a family name, or one of a histogram's `_bucket/_sum/_count`). */
export function sourceOfMetric(metric: string): MetricSource | undefined {
  const family = metric.replace(/_(bucket|sum|count)$/, "");
  for (const [source, names] of SOURCES) {
    const known = Object.values(names);
    if (known.includes(metric) || known.includes(family)) return source;
  }
  return undefined;
}

/** The revision labels (REV in docs/filter.md) every Knative metric of the filter carries. */
export const REVISION_LABELS = [
  "destination_cluster",
  "destination_region",
  "namespace_name",
  "service_name",
  "revision_name",
] as const;

/** The labels of the cross-cluster metrics that identify a cluster pair. */
export const CLUSTER_PAIR_LABELS = FILTER_LABEL_GROUPS.CLUSTER_PAIR;
