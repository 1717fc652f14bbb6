/**
 * `kwt status --data-plane`: did the proxies actually load the filter? For a bounded sample of
 * pods with an Istio sidecar per cluster, kwt reads the merged metrics endpoint
 * (`:15020/stats/prometheus`: Envoy's stats plus istio-agent's) through the API server's pod proxy,
 * a few pods at a time, and reads three things:
 * - istio-agent's `istio_agent_wasm_remote_fetch_count` by `result` (anything but `success` is a
 *   failed module download, e.g. `download_failure`, `checksum_mismatched`);
 * - istio-agent's `istio_agent_wasm_cache_entries` (0: no module in the agent's cache);
 * - the filter's `kwt_config_valid` gauge, per root: 1 when the configuration in force is the one
 *   given, 0 when it was rejected. Filter versions before the gauge existed do not report it.
 * Parsing and summarising are pure; `readDataPlane` does the requests.
 */
import { parseExposition, sumBy, total, type Sample } from "../demo/exposition.js";
import {
  mapWithConcurrency,
  runOnClusters,
  type ClusterClient,
  type ClusterOutcome,
  type RunOptions,
} from "./kube.js";
import type { ClusterPlan } from "./plan.js";

export const FETCH_METRIC = "istio_agent_wasm_remote_fetch_count";
export const CACHE_METRIC = "istio_agent_wasm_cache_entries";
export const CONFIG_VALID_METRIC = "kwt_config_valid";
/** Set on every pod Istio injected a sidecar into. */
export const SIDECAR_LABEL = "security.istio.io/tlsMode=istio";
/** istio-agent's merged Prometheus endpoint. */
export const MERGED_METRICS = { port: 15020, path: "stats/prometheus" };
/** Pods read at once in one cluster (clusters themselves run --concurrency at once). */
export const POD_READS_AT_ONCE = 4;

/**
 * Only the lines of the metrics kwt reads: those come from istio-agent and Envoy in the plain form
 * the parser takes, while the application's own metrics merged into the endpoint may not.
 */
function wantedSamples(text: string): Sample[] {
  const names = [FETCH_METRIC, CACHE_METRIC, CONFIG_VALID_METRIC];
  const lines = text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => names.some((name) => line.startsWith(`${name}{`) || line.startsWith(`${name} `)));
  return parseExposition(lines.join("\n"));
}

export interface ProxyReading {
  /** Module fetches by istio-agent's `result` label. */
  fetches: Record<string, number>;
  cacheEntries?: number;
  /** `kwt_config_valid` per root (its labels rendered), or undefined when the filter does not report it. */
  configValid?: { series: string; value: number }[];
}

function renderLabels(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  return entries.length ? `{${entries.map(([key, value]) => `${key}="${value}"`).join(",")}}` : "";
}

/** Pure: what one sidecar's metrics say about the filter. */
export function readProxyMetrics(text: string): ProxyReading {
  const samples = wantedSamples(text);
  const fetches = Object.fromEntries(
    [...sumBy(samples, FETCH_METRIC, ["result"]).values()].map((group) => [
      group.labels.result || "unknown",
      group.value,
    ]),
  );
  const hasCache = samples.some((entry) => entry.name === CACHE_METRIC);
  const valid = samples.filter((entry) => entry.name === CONFIG_VALID_METRIC);
  return {
    fetches,
    ...(hasCache && { cacheEntries: total(samples, CACHE_METRIC) }),
    ...(valid.length && {
      configValid: valid.map((entry) => ({
        series: `${CONFIG_VALID_METRIC}${renderLabels(entry.labels)}`,
        value: entry.value,
      })),
    }),
  };
}

export interface PodReading {
  /** `namespace/name`. */
  pod: string;
  reading?: ProxyReading;
  /** Why its metrics could not be read. */
  error?: string;
}

export interface DataPlaneStatus {
  /** Sidecar pods in the sample, and how many of them answered. */
  sampled: number;
  read: number;
  /** Fetches summed over the pods read, by result. */
  fetches: Record<string, number>;
  /** Pods read whose agent has at least one module cached. */
  podsWithCachedModule: number;
  /** Pods whose filter reports kwt_config_valid; undefined when none does (older filter). */
  configReported?: number;
  /** Each problem, naming its pod: failed fetches, rejected configurations, unreadable metrics. */
  problems: string[];
}

function describeFetches(fetches: Record<string, number>): string {
  return Object.entries(fetches)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([result, count]) => `${result} ${count}`)
    .join(", ");
}

/** Pure: one cluster's data-plane status from its sampled pods. */
export function summarizeDataPlane(pods: PodReading[]): DataPlaneStatus {
  const status: DataPlaneStatus = {
    sampled: pods.length,
    read: 0,
    fetches: {},
    podsWithCachedModule: 0,
    problems: [],
  };
  if (pods.length === 0) status.problems.push("no running pod with an Istio sidecar matches the WasmPlugin");
  for (const { pod, reading, error } of pods) {
    if (!reading) {
      status.problems.push(`pod ${pod}: metrics not readable: ${error ?? "no answer"}`);
      continue;
    }
    status.read++;
    for (const [result, count] of Object.entries(reading.fetches)) {
      status.fetches[result] = (status.fetches[result] ?? 0) + count;
    }
    const failed = Object.fromEntries(
      Object.entries(reading.fetches).filter(([result, count]) => result !== "success" && count > 0),
    );
    if (Object.keys(failed).length)
      status.problems.push(`pod ${pod}: module fetch failed (${describeFetches(failed)})`);
    if ((reading.cacheEntries ?? 0) > 0) status.podsWithCachedModule++;
    else status.problems.push(`pod ${pod}: no Wasm module in istio-agent's cache`);
    if (reading.configValid) {
      status.configReported = (status.configReported ?? 0) + 1;
      const rejected = reading.configValid.filter((entry) => entry.value !== 1).map((entry) => entry.series);
      if (rejected.length)
        status.problems.push(
          `pod ${pod}: configuration rejected, not the one given (${rejected.join(", ")} = 0)`,
        );
    }
  }
  return status;
}

/** Pure: one table cell each for fetches, cache and configuration validity. */
export function dataPlaneCells(status: DataPlaneStatus): {
  sidecars: string;
  fetches: string;
  cache: string;
  config: string;
} {
  const config =
    status.configReported === undefined
      ? status.read === 0
        ? "-"
        : "not reported by this filter version"
      : `reported by ${status.configReported} of ${status.read}`;
  return {
    sidecars: `${status.read} of ${status.sampled} read`,
    fetches: describeFetches(status.fetches) || "-",
    cache: `${status.podsWithCachedModule} of ${status.read} cached`,
    config,
  };
}

/** Pure: where to look for the plugin's pods: all namespaces when it sits in Istio's root namespace. */
export function podQuery(plan: ClusterPlan, sample: number): { path: string; query: Record<string, string> } {
  const namespace = plan.wasmPlugin.metadata.namespace;
  const spec = plan.wasmPlugin.spec as { selector?: { matchLabels?: Record<string, string> } };
  const selector = [
    SIDECAR_LABEL,
    ...Object.entries(spec.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`),
  ];
  const meshWide = namespace === plan.istio.namespace;
  return {
    path: meshWide ? "/api/v1/pods" : `/api/v1/namespaces/${namespace}/pods`,
    query: {
      labelSelector: selector.join(","),
      fieldSelector: "status.phase=Running",
      limit: String(sample),
    },
  };
}

interface PodList {
  items?: { metadata?: { name?: string; namespace?: string } }[];
}

async function readPod(client: ClusterClient, namespace: string, name: string): Promise<PodReading> {
  const pod = `${namespace}/${name}`;
  const path = `/api/v1/namespaces/${namespace}/pods/${name}:${MERGED_METRICS.port}/proxy/${MERGED_METRICS.path}`;
  try {
    const text = await client.getRaw(
      path,
      {},
      `reading pod ${pod}'s metrics`,
      `get pods/proxy in namespace ${namespace} (deploy/rbac/kwt-data-plane.yaml)`,
    );
    return { pod, reading: readProxyMetrics(text) };
  } catch (error) {
    return { pod, error: (error as Error).message };
  }
}

async function dataPlaneOf(
  client: ClusterClient,
  plan: ClusterPlan,
  sample: number,
): Promise<DataPlaneStatus> {
  const { path, query } = podQuery(plan, sample);
  const where =
    path === "/api/v1/pods" ? "all namespaces" : `namespace ${plan.wasmPlugin.metadata.namespace}`;
  const list = JSON.parse(
    await client.getRaw(
      path,
      query,
      "listing sidecar pods",
      `list pods in ${where} (deploy/rbac/kwt-data-plane.yaml)`,
    ),
  ) as PodList;
  const pods = (list.items ?? []).slice(0, sample).map((item) => item.metadata ?? {});
  const readings = await mapWithConcurrency(pods, POD_READS_AT_ONCE, (pod) =>
    readPod(client, pod.namespace ?? "", pod.name ?? ""),
  );
  return summarizeDataPlane(readings);
}

export function readDataPlane(
  plans: ClusterPlan[],
  options: RunOptions & { sample: number },
): Promise<ClusterOutcome<ClusterPlan, DataPlaneStatus>[]> {
  return runOnClusters(plans, options, (client, plan) => dataPlaneOf(client, plan, options.sample));
}
