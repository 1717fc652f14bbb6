/**
 * The alert rules, as data. Pure: renders the plain Prometheus rules file and the Prometheus
 * Operator's PrometheusRule from the same definitions (tools/dashboards/generate.ts writes them to
 * deploy/prometheus/). Thresholds are named constants; docs/operations.md explains each alert.
 */
import { stringify } from "yaml";
import {
  CLUSTER_PAIR_LABELS,
  FILTER_METRICS,
  ISTIO_AGENT_METRICS,
  ISTIOD_METRICS,
  REVISION_LABELS,
} from "./metrics.js";
import { by, histogramQuantile, sumRate } from "./promql.js";

export interface AlertSpec {
  name: string;
  group: string;
  severity: "warning" | "critical";
  /** How long the condition must hold before the alert fires. */
  for: string;
  expr: string;
  /**
   * The parts of `expr` that return the measured values before any threshold: each must return
   * series whenever the metrics exist, so a test can catch a wrong metric or label name even
   * though the alert itself does not fire.
   */
  signals: string[];
  summary: string;
  description: string;
}

/** A cold-start "spike": at least this many cold-started requests in 10 minutes... */
export const COLD_START_SPIKE_MIN_COUNT = 20;
/** ...and a 10-minute rate this many times the revision's 6-hour average. */
export const COLD_START_SPIKE_FACTOR = 3;
/** p95 of the cold-start wait, seconds (a bucket bound of Envoy's default histogram). */
export const COLD_START_P95_SECONDS = 10;
/** Error ratio over 5 minutes, and the request rate below which a ratio means little. */
export const ERROR_RATIO = 0.05;
export const ERROR_RATIO_MIN_REQUESTS_PER_SECOND = 0.05;
/** p95 of a cross-cluster hop, milliseconds (a bucket bound of Envoy's default histogram). */
export const HOP_P95_MILLISECONDS = 250;
/** p99 of istiod's proxy convergence time, seconds (a bucket bound of pilot_proxy_convergence_time). */
export const CONVERGENCE_P99_SECONDS = 10;

export const RUNBOOK_DOCUMENT = "docs/operations.md";

/** The anchor GitHub-style Markdown renderers give the heading `### <name>`. */
export function runbookAnchor(alertName: string): string {
  return alertName.toLowerCase();
}

const REVISION_WHERE =
  "{{ $labels.namespace_name }}/{{ $labels.revision_name }} (service {{ $labels.service_name }}, cluster {{ $labels.destination_cluster }})";
const PAIR_WHERE =
  "{{ $labels.source_cluster }} ({{ $labels.source_region }}) → {{ $labels.destination_cluster }} ({{ $labels.destination_region }})";

const coldStartsIn10m = `sum ${by(REVISION_LABELS)} (increase(${FILTER_METRICS.coldStarts}[10m]))`;
const coldStartRate10m = sumRate(FILTER_METRICS.coldStarts, [], REVISION_LABELS, "10m");
const coldStartRate6h = sumRate(FILTER_METRICS.coldStarts, [], REVISION_LABELS, "6h");
const coldStartP95Seconds = `${histogramQuantile(0.95, FILTER_METRICS.coldStartDuration, [], REVISION_LABELS, "30m")} / 1000`;
// A client going away (downstream_reset) is not the revision's fault.
const errorRate = sumRate(FILTER_METRICS.errors, ['error_kind!="downstream_reset"'], REVISION_LABELS, "5m");
const invocationRate = sumRate(FILTER_METRICS.invocations, [], REVISION_LABELS, "5m");
const hopP95 = histogramQuantile(
  0.95,
  FILTER_METRICS.crossClusterHopDuration,
  [],
  CLUSTER_PAIR_LABELS,
  "10m",
);
const overflowIn10m = `increase(${FILTER_METRICS.seriesOverflow}[10m])`;
const configRejectsIn15m = `increase(${FILTER_METRICS.configRejected}[15m])`;
const failedFetchesIn15m = `increase(${ISTIO_AGENT_METRICS.wasmRemoteFetches}{result!="success"}[15m])`;
const convergenceP99 = histogramQuantile(0.99, ISTIOD_METRICS.proxyConvergenceTime, [], [], "10m");

export const ALERTS: AlertSpec[] = [
  {
    name: "KwtColdStartSpike",
    group: "kwt.knative",
    severity: "warning",
    for: "5m",
    expr: `(${coldStartsIn10m} >= ${COLD_START_SPIKE_MIN_COUNT})\nand\n(${coldStartRate10m} > ${COLD_START_SPIKE_FACTOR} * ${coldStartRate6h})`,
    signals: [coldStartsIn10m, coldStartRate6h],
    summary: `Cold-start spike on ${REVISION_WHERE}`,
    description: `About {{ $value | humanize }} requests to ${REVISION_WHERE} waited for a new pod in the last 10 minutes, more than ${COLD_START_SPIKE_FACTOR} times the revision's 6-hour average.`,
  },
  {
    name: "KwtColdStartSlow",
    group: "kwt.knative",
    severity: "warning",
    for: "15m",
    expr: `${coldStartP95Seconds} > ${COLD_START_P95_SECONDS}`,
    signals: [coldStartP95Seconds],
    summary: `Slow cold starts on ${REVISION_WHERE}`,
    description: `The 95th percentile of cold-start waits on ${REVISION_WHERE} over the last 30 minutes is {{ $value | humanizeDuration }} (threshold ${COLD_START_P95_SECONDS}s).`,
  },
  {
    name: "KwtInvocationErrorRatioHigh",
    group: "kwt.knative",
    severity: "critical",
    for: "10m",
    expr: `(${errorRate} / ${invocationRate} > ${ERROR_RATIO})\nand\n(${invocationRate} > ${ERROR_RATIO_MIN_REQUESTS_PER_SECOND})`,
    signals: [errorRate, invocationRate],
    summary: `High error ratio on ${REVISION_WHERE}`,
    description: `{{ $value | humanizePercentage }} of the invocations of ${REVISION_WHERE} failed over the last 5 minutes (threshold ${ERROR_RATIO * 100}%, client resets not counted). The dashboard's error-kind panel says which kind.`,
  },
  {
    name: "KwtCrossClusterHopLatencyHigh",
    group: "kwt.mesh",
    severity: "warning",
    for: "15m",
    expr: `${hopP95} > ${HOP_P95_MILLISECONDS}`,
    signals: [hopP95],
    summary: `Slow cross-cluster hops ${PAIR_WHERE}`,
    description: `The 95th percentile of hop latency ${PAIR_WHERE} over the last 10 minutes is {{ $value | printf "%.0f" }} ms (threshold ${HOP_P95_MILLISECONDS} ms).`,
  },
  {
    name: "KwtSeriesOverflow",
    group: "kwt.filter",
    severity: "warning",
    for: "5m",
    expr: `${overflowIn10m} > 0`,
    signals: [overflowIn10m],
    summary: "kwt filter refused label sets on {{ $labels.instance }}",
    description:
      "The filter on {{ $labels.instance }} recorded about {{ $value | humanize }} label sets in its overflow series in the last 10 minutes: more label combinations than maxSeries allows. Their detail is lost.",
  },
  {
    name: "KwtConfigRejected",
    group: "kwt.filter",
    severity: "warning",
    for: "0m",
    expr: `${configRejectsIn15m} > 0`,
    signals: [configRejectsIn15m],
    summary: "kwt filter refused its configuration on {{ $labels.instance }}",
    description:
      "proxy_on_configure refused a configuration on {{ $labels.instance }} in the last 15 minutes: the proxy keeps the previous configuration, or runs without the filter if it never loaded. The proxy log has a line starting 'kwt: invalid configuration:'.",
  },
  {
    name: "KwtWasmModuleFetchFailing",
    group: "kwt.platform",
    severity: "warning",
    for: "5m",
    expr: `${failedFetchesIn15m} > 0`,
    signals: [`increase(${ISTIO_AGENT_METRICS.wasmRemoteFetches}[15m])`],
    summary: "istio-agent cannot fetch a Wasm module on {{ $labels.instance }}",
    description:
      "istio-agent on {{ $labels.instance }} failed to fetch a Wasm module ({{ $labels.result }}) in the last 15 minutes. With failStrategy FAIL_OPEN the proxy serves traffic without the filter: no telemetry from it.",
  },
  {
    name: "KwtMeshConvergenceSlow",
    group: "kwt.platform",
    severity: "warning",
    for: "15m",
    expr: `${convergenceP99} > ${CONVERGENCE_P99_SECONDS}`,
    signals: [convergenceP99],
    summary: "Istio proxies take long to receive configuration",
    description: `The 99th percentile of istiod's proxy convergence time over the last 10 minutes is {{ $value | humanizeDuration }} (threshold ${CONVERGENCE_P99_SECONDS}s): WasmPlugin and other changes reach proxies late.`,
  },
];

interface PrometheusRule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** The `groups` of a Prometheus rules file, in the order the groups first appear in ALERTS. */
export function ruleGroups(): Array<{ name: string; rules: PrometheusRule[] }> {
  const groups = new Map<string, PrometheusRule[]>();
  for (const alert of ALERTS) {
    const rules = groups.get(alert.group) ?? [];
    rules.push({
      alert: alert.name,
      expr: alert.expr,
      for: alert.for,
      labels: { severity: alert.severity, component: "kwt" },
      annotations: {
        summary: alert.summary,
        description: alert.description,
        runbook_url: `${RUNBOOK_DOCUMENT}#${runbookAnchor(alert.name)}`,
      },
    });
    groups.set(alert.group, rules);
  }
  return [...groups].map(([name, rules]) => ({ name, rules }));
}

const GENERATED_HEADER =
  "# Generated by tools/dashboards/generate.ts from tools/dashboards/alerts.ts; do not edit.";

export function renderRulesFile(): string {
  return `${GENERATED_HEADER}\n${stringify({ groups: ruleGroups() }, { lineWidth: 0 })}`;
}

export function renderPrometheusRule(): string {
  const resource = {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: {
      name: "kwt",
      labels: {
        "app.kubernetes.io/name": "kwt-filter",
        "app.kubernetes.io/part-of": "knative-wasm-telemetry",
        // The label kube-prometheus-stack's default ruleSelector matches is its release name; add
        // yours (kubectl label, or a kustomize patch) if your Prometheus selects rules by label.
        role: "alert-rules",
      },
    },
    spec: { groups: ruleGroups() },
  };
  return `${GENERATED_HEADER}\n${stringify(resource, { lineWidth: 0 })}`;
}
