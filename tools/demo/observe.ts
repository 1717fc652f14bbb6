// `kwt demo --observe`: the demo's proxies scraped by one agent per cluster into a central store,
// the rules evaluated there, Alertmanager delivering; and what the central store then answers.

import { DASHBOARD_ROWS, substituteVariables } from "../dashboards/grafana.js";
import { FILTER_METRICS } from "../dashboards/metrics.js";
import { DEFAULT_QUEUE_INPUTS } from "../observe/bundle.js";
import type { Sample } from "../observe/engines.js";
import type { ObservedCluster, ObservePipeline } from "../observe/pipeline.js";
import type { DeliveredAlert } from "../observe/webhook.js";
import { parseExposition } from "./exposition.js";
import { APP_PATHS, send, type DemoMesh, type MeshProxy } from "./mesh.js";
import { EAST, REVISION, WEST } from "./scenario.js";

/** Scrape and evaluation interval of the demo's engines. */
export const OBSERVE_INTERVAL_SECONDS = 1;
/** The window the dashboard's $__rate_interval stands for in the printed queries. */
export const OBSERVE_WINDOW = "30s";

/** The pod and namespace Kubernetes would report for each demo proxy, and its cluster. */
function podOf(proxy: MeshProxy): { pod: string; namespace: string; place: typeof EAST | typeof WEST } {
  if (proxy.name.startsWith("west")) return { pod: "checkout-demo", namespace: "shop", place: WEST };
  if (proxy.name.includes("gateway"))
    return { pod: "istio-ingressgateway-demo", namespace: "istio-system", place: EAST };
  return { pod: `${REVISION.revision}-deployment-demo`, namespace: REVISION.namespace, place: EAST };
}

/** The demo's clusters as the pipeline scrapes them: each proxy's admin endpoint, as its pod. */
export function observedClusters(mesh: DemoMesh): ObservedCluster[] {
  return [EAST, WEST].map((place) => {
    const proxies = mesh.proxies.filter((proxy) => podOf(proxy).place === place);
    return {
      place: { ...place },
      pods: proxies.length,
      targets: {
        "kwt-proxies": proxies.map((proxy) => {
          const admin = proxy.proxy.adminAddress;
          return { address: `${admin?.host}:${admin?.port}`, ...podOf(proxy) };
        }),
      },
    };
  });
}

/**
 * Keeps traffic flowing while the engines watch: through the gateway, healthy requests with the
 * application's errors among them (about 14%, above the error-ratio alert's 5%), and cross-cluster
 * calls from west. Resolves when stop() was called.
 */
export function steadyTraffic(mesh: DemoMesh, west: MeshProxy): { stop: () => Promise<void> } {
  let running = true;
  const done = (async () => {
    while (running) {
      const round = [
        ...Array.from({ length: 10 }, () => send(mesh.eastGateway, APP_PATHS.ok)),
        send(mesh.eastGateway, APP_PATHS.http5xx),
        send(mesh.eastGateway, APP_PATHS.grpcError, { "content-type": "application/grpc" }),
        send(west.proxy.listenAddress, APP_PATHS.ok),
        send(west.proxy.listenAddress, APP_PATHS.ok),
      ];
      await Promise.all(round);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
    },
  };
}

/** The dashboard's headline panels, by title: what --once prints from the central store. */
export const HEADLINE_PANELS = [
  "Cold starts per minute",
  "Invocations per second",
  "Error ratio per revision by error kind",
  "Traffic matrix (requests per second)",
  "Hop latency p50 / p95 per cluster pair",
  "Latency p95: cold vs warm",
] as const;

export interface HeadlineQuery {
  panel: string;
  legend: string;
  expr: string;
}

export function headlineQueries(): HeadlineQuery[] {
  const panels = DASHBOARD_ROWS.flatMap((row) => row.panels);
  return HEADLINE_PANELS.flatMap((title) => {
    const panel = panels.find((candidate) => candidate.title === title);
    if (!panel) throw new Error(`demo: the dashboard has no panel "${title}"`);
    return panel.queries.map((query) => ({
      panel: title,
      legend: query.legend,
      expr: substituteVariables(query.expr, OBSERVE_WINDOW),
    }));
  });
}

/** A legend with Grafana's `{{label}}` filled in from a result's labels. */
export function fillLegend(legend: string, labels: Record<string, string>): string {
  return legend.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_, label: string) => labels[label] ?? "");
}

export function renderHeadlines(results: Array<{ query: HeadlineQuery; samples: Sample[] }>): string {
  const lines: string[] = [];
  let panel = "";
  for (const { query, samples } of results) {
    if (query.panel !== panel) {
      panel = query.panel;
      lines.push(`  ${panel}`);
    }
    if (samples.length === 0) lines.push("    (no series)");
    const rows = samples
      .map((sample) => ({ name: fillLegend(query.legend, sample.metric), value: Number(sample.value[1]) }))
      .sort((a, b) => a.name.localeCompare(b.name));
    for (const row of rows)
      lines.push(`    ${row.name.padEnd(56)} ${Number.isNaN(row.value) ? "NaN" : row.value.toFixed(3)}`);
  }
  return lines.join("\n");
}

export function renderDelivered(alerts: DeliveredAlert[]): string {
  if (alerts.length === 0) return "  (none)";
  return alerts
    .map(
      (alert) =>
        `  ${alert.status.padEnd(8)} ${alert.path.padEnd(14)} ${alert.labels.alertname}: ${alert.annotations.summary ?? ""}`,
    )
    .join("\n");
}

/** Names of the filter's metric families, as regex alternatives (histograms with their suffixes). */
const FILTER_NAME_PATTERN = Object.values(FILTER_METRICS)
  .map((name) => `${name}(_bucket|_sum|_count)?`)
  .join("|");

export interface FilterCost {
  cluster: string;
  pod: string;
  /** Series of the filter's metrics the central store holds for the pod. */
  series: number;
  /** Bytes of those series in one scrape of the pod's exposition. */
  scrapeBytes: number;
  /** The same series on the remote-write wire per scrape, at the agent's measured bytes per sample. */
  remoteWriteBytes: number;
}

/** Per-second figures are given at the shipped agents' scrape interval. */
const COST_INTERVAL_SECONDS = DEFAULT_QUEUE_INPUTS.scrapeIntervalSeconds;

/** Bytes the filter's lines take in one exposition text. */
export function filterExpositionBytes(text: string): number {
  const pattern = new RegExp(`^(${FILTER_NAME_PATTERN})[{ ]`);
  return text
    .split("\n")
    .filter((line) => pattern.test(line))
    .reduce((bytes, line) => bytes + Buffer.byteLength(line) + 1, 0);
}

/** The agent's own figures: bytes it sent over samples it sent (Prometheus agent or vmagent). */
export function wireBytesPerSample(agentMetrics: string): number | undefined {
  const samples = parseExposition(agentMetrics);
  const sum = (name: string) =>
    samples.filter((s) => s.name === name).reduce((total, s) => total + s.value, 0);
  const [bytes, sent] =
    sum("prometheus_remote_storage_samples_total") > 0
      ? [sum("prometheus_remote_storage_bytes_total"), sum("prometheus_remote_storage_samples_total")]
      : [sum("vmagent_remotewrite_block_size_bytes_sum"), sum("vmagent_remotewrite_block_size_rows_sum")];
  return sent > 0 ? bytes / sent : undefined;
}

/** What the filter's metrics cost per pod: series in the central store, bytes scraped and written. */
export async function measureFilterCost(
  pipeline: ObservePipeline,
  clusters: ObservedCluster[],
  agentMetrics: (cluster: string) => Promise<string>,
): Promise<FilterCost[]> {
  const series = await pipeline.query(`count by (cluster, pod) ({__name__=~"${FILTER_NAME_PATTERN}"})`);
  const costs: FilterCost[] = [];
  for (const cluster of clusters) {
    const perSample = wireBytesPerSample(await agentMetrics(cluster.place.cluster)) ?? 0;
    for (const target of cluster.targets["kwt-proxies"] ?? []) {
      const count = Number(
        series.find((s) => s.metric.cluster === cluster.place.cluster && s.metric.pod === target.pod)
          ?.value[1] ?? 0,
      );
      const exposition = await (await fetch(`http://${target.address}/stats/prometheus`)).text();
      costs.push({
        cluster: cluster.place.cluster,
        pod: target.pod,
        series: count,
        scrapeBytes: filterExpositionBytes(exposition),
        remoteWriteBytes: count * perSample,
      });
    }
  }
  return costs;
}

export function renderCosts(costs: FilterCost[]): string {
  const header = `  per pod; B/s at the shipped ${COST_INTERVAL_SECONDS} s scrape interval`;
  return [
    header,
    ...costs.map(
      (cost) =>
        `  ${`${cost.cluster}/${cost.pod}`.padEnd(40)} ${String(cost.series).padStart(4)} series  ` +
        `${cost.scrapeBytes.toFixed(0).padStart(6)} B/scrape (${(cost.scrapeBytes / COST_INTERVAL_SECONDS).toFixed(0)} B/s)  ` +
        `${cost.remoteWriteBytes.toFixed(0).padStart(5)} B remote-written/scrape (${(cost.remoteWriteBytes / COST_INTERVAL_SECONDS).toFixed(0)} B/s)`,
    ),
  ].join("\n");
}
