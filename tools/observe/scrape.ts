/**
 * What each cluster's agent scrapes, as data shared by every renderer (Prometheus agent, vmagent,
 * the Prometheus Operator's PodMonitor / ServiceMonitor, the demo and the real-engine test):
 *
 * - every sidecar's and gateway's merged endpoint `:15020/stats/prometheus` (Envoy's stats with the
 *   filter's, plus istio-agent's own, which hold the Wasm fetch metrics);
 * - istiod's `:15014/metrics`.
 *
 * Only the metrics the dashboard, the alert rules and the recording rules read are kept: the keep
 * list is derived from their expressions, never written down twice. Pure.
 */
import { ALERTS } from "../dashboards/alerts.js";
import { DASHBOARD_ROWS, TEMPLATE_VARIABLES } from "../dashboards/grafana.js";
import { sourceOfMetric, type MetricSource } from "../dashboards/metrics.js";
import { metricNamesIn } from "../dashboards/promql.js";
import { RECORDING_RULES } from "./recording.js";

export type ScrapeJobName = "kwt-proxies" | "kwt-istiod";

/** A relabelling step in Prometheus' own spelling (the operator's camelCase is derived from it). */
export interface RelabelRule {
  source_labels?: string[];
  separator?: string;
  regex?: string;
  target_label?: string;
  replacement?: string;
  action?: "keep" | "drop" | "replace";
}

export interface ScrapeJob {
  name: ScrapeJobName;
  metricsPath: string;
  /** The metric names kept after the scrape (exact names, histogram suffixes included). */
  keep: string[];
  /** Which writers' metrics this endpoint serves. */
  sources: MetricSource[];
  /** Kubernetes pod discovery, then these steps pick the container and rewrite the port. */
  podSelection: RelabelRule[];
}

/** Every expression the pane evaluates: dashboard panels and variables, alerts, recording rules. */
export function paneExpressions(): string[] {
  return [
    ...DASHBOARD_ROWS.flatMap((row) => row.panels.flatMap((panel) => panel.queries.map((q) => q.expr))),
    ...TEMPLATE_VARIABLES.map((variable) => variable.valuesOf.metric),
    ...ALERTS.map((alert) => alert.expr),
    ...RECORDING_RULES.map((rule) => rule.expr),
  ];
}

/** The metric names those expressions read, per writer, sorted. */
export function metricsReadBySource(): Map<MetricSource, string[]> {
  const bySource = new Map<MetricSource, Set<string>>();
  for (const expr of paneExpressions()) {
    for (const name of metricNamesIn(expr)) {
      const source = sourceOfMetric(name) as MetricSource;
      const names = bySource.get(source) ?? new Set<string>();
      names.add(name);
      bySource.set(source, names);
    }
  }
  return new Map([...bySource].map(([source, names]) => [source, [...names].sort()]));
}

/** Port rewrite: keep the discovered host (IPv4, or [IPv6]) and put `port` in place of the declared one. */
function rewritePort(port: number): RelabelRule {
  return {
    source_labels: ["__address__"],
    regex: "(.+):\\d+",
    replacement: `$1:${port}`,
    target_label: "__address__",
    action: "replace",
  };
}

/**
 * The `istio-proxy` container declares only Envoy's own port 15090 (`http-envoy-prom`); pick that one
 * target per pod and scrape the merged endpoint on 15020 instead, which adds istio-agent's metrics.
 * Sidecars and gateways both run the container under that name.
 */
const PROXY_SELECTION: RelabelRule[] = [
  {
    source_labels: ["__meta_kubernetes_pod_container_name", "__meta_kubernetes_pod_container_port_name"],
    separator: ";",
    regex: "istio-proxy;http-envoy-prom",
    action: "keep",
  },
  rewritePort(15020),
];

/** istiod's `discovery` container declares its xDS port 15010 but not 15014; pick it, scrape 15014. */
const ISTIOD_SELECTION: RelabelRule[] = [
  {
    source_labels: [
      "__meta_kubernetes_pod_label_app",
      "__meta_kubernetes_pod_container_name",
      "__meta_kubernetes_pod_container_port_number",
    ],
    separator: ";",
    regex: "istiod;discovery;15010",
    action: "keep",
  },
  rewritePort(15014),
];

/** The `pod` and `namespace` target labels the alert summaries and the filter-health panels use. */
export const POD_LABELS: RelabelRule[] = [
  { source_labels: ["__meta_kubernetes_namespace"], target_label: "namespace", action: "replace" },
  { source_labels: ["__meta_kubernetes_pod_name"], target_label: "pod", action: "replace" },
];

export function scrapeJobs(): ScrapeJob[] {
  const read = metricsReadBySource();
  const job = (
    name: ScrapeJobName,
    metricsPath: string,
    sources: MetricSource[],
    podSelection: RelabelRule[],
  ): ScrapeJob => ({
    name,
    metricsPath,
    sources,
    keep: sources.flatMap((source) => read.get(source) ?? []).sort(),
    podSelection,
  });
  return [
    job("kwt-proxies", "/stats/prometheus", ["filter", "istio-agent", "envoy"], PROXY_SELECTION),
    job("kwt-istiod", "/metrics", ["istiod"], ISTIOD_SELECTION),
  ];
}

/** The metric relabelling that drops everything the pane does not read. */
export function keepRule(job: ScrapeJob): RelabelRule {
  return { source_labels: ["__name__"], regex: job.keep.join("|"), action: "keep" };
}

/** Static targets standing in for discovery (the demo, the tests): address plus pod and namespace. */
export interface StaticTarget {
  address: string;
  pod: string;
  namespace: string;
}

/**
 * One `scrape_configs` entry. With `targets`, only the discovery block differs: static targets
 * carrying the pod and namespace labels instead of pod discovery and its selection; the path, the
 * interval and the keep list are the shipped ones.
 */
export function scrapeConfig(job: ScrapeJob, targets?: StaticTarget[]): Record<string, unknown> {
  const discovery =
    targets === undefined
      ? {
          kubernetes_sd_configs: [{ role: "pod" }],
          relabel_configs: [...job.podSelection, ...POD_LABELS],
        }
      : {
          static_configs: targets.map((target) => ({
            targets: [target.address],
            labels: { pod: target.pod, namespace: target.namespace },
          })),
        };
  return {
    job_name: job.name,
    metrics_path: job.metricsPath,
    ...discovery,
    metric_relabel_configs: [keepRule(job)],
  };
}
