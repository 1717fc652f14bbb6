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
import { counterIncrease, histogramQuantile, sumIncrease, sumRate } from "./promql.js";

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

/** A cold-start latency percentile means little over few events: at least this many in the window. */
export const COLD_START_SLOW_MIN_COUNT = 10;
/**
 * Error kinds that come from the application (its own 5xx, a failed gRPC status): a warning by
 * default, because a bug or an overloaded dependency is the service owner's to fix, not a page for
 * the platform. Set APPLICATION_ERROR_SEVERITY to "critical" to page on them too.
 */
export const APPLICATION_ERROR_KINDS = ["http_5xx", "grpc"] as const;
export const APPLICATION_ERROR_SEVERITY: AlertSpec["severity"] = "warning";

/** Where the runbooks live; `kwt observe-config --runbook-base URL` renders the rules with yours. */
export const DEFAULT_RUNBOOK_BASE =
  "https://github.com/knative-wasm-telemetry/knative-wasm-telemetry/blob/main/docs/operations.md";

/** The anchor GitHub-style Markdown renderers give the heading `### <name>`. */
export function runbookAnchor(alertName: string): string {
  return alertName.toLowerCase();
}

/**
 * The windows and `for:` durations the rules use, by their production value. The test profile maps
 * each to seconds so that a test with 1 s scrapes and evaluations sees alerts fire within seconds;
 * the expressions and thresholds stay the same.
 */
export interface RuleProfile {
  name: "production" | "test";
  duration(production: Duration): string;
}
export type Duration = "0m" | "1m" | "5m" | "10m" | "15m" | "30m" | "6h";

export const PRODUCTION_PROFILE: RuleProfile = { name: "production", duration: (d) => d };
const TEST_DURATIONS: Record<Duration, string> = {
  "0m": "0s",
  "1m": "5s",
  "5m": "5s",
  "10m": "10s",
  "15m": "15s",
  "30m": "30s",
  "6h": "60s",
};
export const TEST_PROFILE: RuleProfile = { name: "test", duration: (d) => TEST_DURATIONS[d] };

/** Every alert carries the cluster and region its series were recorded in (the agents' external labels). */
export const PLACE_LABELS = ["cluster", "region"] as const;
const PER_REVISION = [...PLACE_LABELS, ...REVISION_LABELS];
const PER_PAIR = [...PLACE_LABELS, ...CLUSTER_PAIR_LABELS];

const REVISION_WHERE =
  "{{ $labels.namespace_name }}/{{ $labels.revision_name }} (service {{ $labels.service_name }}, cluster {{ $labels.cluster }})";
const PAIR_WHERE =
  "{{ $labels.source_cluster }} ({{ $labels.source_region }}) → {{ $labels.destination_cluster }} ({{ $labels.destination_region }})";
const POD_WHERE = "{{ $labels.namespace }}/{{ $labels.pod }} (cluster {{ $labels.cluster }})";

/** The alert rules with the windows and `for:` durations of `profile`. */
export function alertSpecs(profile: RuleProfile = PRODUCTION_PROFILE): AlertSpec[] {
  const w = (d: Duration): string => profile.duration(d);
  const coldStartsIn10m = sumIncrease(FILTER_METRICS.coldStarts, [], PER_REVISION, w("10m"));
  const coldStartRate10m = sumRate(FILTER_METRICS.coldStarts, [], PER_REVISION, w("10m"));
  const coldStartRate6h = sumRate(FILTER_METRICS.coldStarts, [], PER_REVISION, w("6h"));
  const coldStartP95Seconds = `${histogramQuantile(0.95, FILTER_METRICS.coldStartDuration, [], PER_REVISION, w("30m"))} / 1000`;
  const timedColdStartsIn30m = sumIncrease(
    `${FILTER_METRICS.coldStartDuration}_count`,
    [],
    PER_REVISION,
    w("30m"),
  );
  const applicationKinds = `error_kind=~"${APPLICATION_ERROR_KINDS.join("|")}"`;
  // A client going away (downstream_reset) is nobody's fault here; application errors alert apart.
  const platformErrorRate = sumRate(
    FILTER_METRICS.errors,
    [`error_kind!~"downstream_reset|${APPLICATION_ERROR_KINDS.join("|")}"`],
    PER_REVISION,
    w("5m"),
  );
  const applicationErrorRate = sumRate(FILTER_METRICS.errors, [applicationKinds], PER_REVISION, w("5m"));
  const invocationRate = sumRate(FILTER_METRICS.invocations, [], PER_REVISION, w("5m"));
  const hopP95 = histogramQuantile(0.95, FILTER_METRICS.crossClusterHopDuration, [], PER_PAIR, w("10m"));
  const overflowIn10m = counterIncrease(FILTER_METRICS.seriesOverflow, [], w("10m"));
  const configRejectsIn15m = counterIncrease(FILTER_METRICS.configRejected, [], w("15m"));
  const fetchesIn15m = (matchers: string[]) =>
    counterIncrease(ISTIO_AGENT_METRICS.wasmRemoteFetches, matchers, w("15m"));
  const convergenceP99 = histogramQuantile(
    0.99,
    ISTIOD_METRICS.proxyConvergenceTime,
    [],
    PLACE_LABELS,
    w("10m"),
  );
  const errorRatioAlert = (
    name: string,
    severity: AlertSpec["severity"],
    errorRate: string,
    which: string,
  ): AlertSpec => ({
    name,
    group: "kwt.knative",
    severity,
    for: w("10m"),
    expr: `(${errorRate} / ${invocationRate} > ${ERROR_RATIO})\nand\n(${invocationRate} > ${ERROR_RATIO_MIN_REQUESTS_PER_SECOND})`,
    signals: [errorRate, invocationRate],
    summary: `High ${which} error ratio on ${REVISION_WHERE}`,
    description: `{{ $value | humanizePercentage }} of the invocations of ${REVISION_WHERE} failed with ${which} errors over the last 5 minutes (threshold ${ERROR_RATIO * 100}%). The dashboard's error-kind panel says which kind.`,
  });

  return [
    {
      name: "KwtColdStartSpike",
      group: "kwt.knative",
      severity: "warning",
      for: w("5m"),
      expr: `(${coldStartsIn10m} >= ${COLD_START_SPIKE_MIN_COUNT})\nand\n(${coldStartRate10m} > ${COLD_START_SPIKE_FACTOR} * ${coldStartRate6h})`,
      signals: [coldStartsIn10m, coldStartRate6h],
      summary: `Cold-start spike on ${REVISION_WHERE}`,
      description: `About {{ $value | humanize }} requests to ${REVISION_WHERE} waited for a new pod in the last 10 minutes, more than ${COLD_START_SPIKE_FACTOR} times the revision's 6-hour average.`,
    },
    {
      name: "KwtColdStartSlow",
      group: "kwt.knative",
      severity: "warning",
      for: w("15m"),
      expr: `(${coldStartP95Seconds} > ${COLD_START_P95_SECONDS})\nand\n(${timedColdStartsIn30m} >= ${COLD_START_SLOW_MIN_COUNT})`,
      signals: [coldStartP95Seconds, timedColdStartsIn30m],
      summary: `Slow cold starts on ${REVISION_WHERE}`,
      description: `The 95th percentile of cold-start waits on ${REVISION_WHERE} over the last 30 minutes is {{ $value | humanizeDuration }} (threshold ${COLD_START_P95_SECONDS}s, at least ${COLD_START_SLOW_MIN_COUNT} timed cold starts).`,
    },
    errorRatioAlert("KwtInvocationErrorRatioHigh", "critical", platformErrorRate, "mesh"),
    errorRatioAlert(
      "KwtApplicationErrorRatioHigh",
      APPLICATION_ERROR_SEVERITY,
      applicationErrorRate,
      "application",
    ),
    {
      name: "KwtCrossClusterHopLatencyHigh",
      group: "kwt.mesh",
      severity: "warning",
      for: w("15m"),
      expr: `${hopP95} > ${HOP_P95_MILLISECONDS}`,
      signals: [hopP95],
      summary: `Slow cross-cluster hops ${PAIR_WHERE}`,
      description: `The 95th percentile of hop latency ${PAIR_WHERE} over the last 10 minutes is {{ $value | printf "%.0f" }} ms (threshold ${HOP_P95_MILLISECONDS} ms).`,
    },
    {
      name: "KwtSeriesOverflow",
      group: "kwt.filter",
      severity: "warning",
      for: w("5m"),
      expr: `${overflowIn10m} > 0`,
      signals: [overflowIn10m],
      summary: `kwt filter refused label sets on ${POD_WHERE}`,
      description: `The filter on ${POD_WHERE} recorded about {{ $value | humanize }} label sets in its overflow series in the last 10 minutes: more label combinations than maxSeries allows. Their detail is lost.`,
    },
    {
      name: "KwtConfigRejected",
      group: "kwt.filter",
      severity: "warning",
      for: w("0m"),
      expr: `${configRejectsIn15m} > 0`,
      signals: [configRejectsIn15m],
      summary: `kwt filter refused its configuration on ${POD_WHERE}`,
      description: `The filter refused a configuration on ${POD_WHERE} in the last 15 minutes: it keeps its last valid configuration, or runs with the defaults if it never had one; no request fails because of it. The proxy log has a line starting 'kwt: invalid configuration:'.`,
    },
    {
      name: "KwtConfigNotInForce",
      group: "kwt.filter",
      severity: "warning",
      for: w("1m"),
      expr: `${FILTER_METRICS.configValid} == 0`,
      signals: [FILTER_METRICS.configValid],
      summary: `kwt filter on ${POD_WHERE} is not running the configuration it was given`,
      description: `The filter's root {{ $labels.root_id }} on ${POD_WHERE} refused the configuration it was given and runs on its last valid one or the defaults (kwt_config_valid is 0). The proxy log has a line starting 'kwt: invalid configuration:'.`,
    },
    {
      name: "KwtWasmModuleFetchFailing",
      group: "kwt.platform",
      severity: "warning",
      for: w("5m"),
      expr: `${fetchesIn15m(['result!="success"'])} > 0`,
      signals: [fetchesIn15m([])],
      summary: `istio-agent cannot fetch a Wasm module on ${POD_WHERE}`,
      description: `istio-agent on ${POD_WHERE} failed to fetch a Wasm module ({{ $labels.result }}) in the last 15 minutes. With failStrategy FAIL_OPEN the proxy serves traffic without the filter: no telemetry from it.`,
    },
    {
      name: "KwtMeshConvergenceSlow",
      group: "kwt.platform",
      severity: "warning",
      for: w("15m"),
      expr: `${convergenceP99} > ${CONVERGENCE_P99_SECONDS}`,
      signals: [convergenceP99],
      summary: "Istio proxies in cluster {{ $labels.cluster }} take long to receive configuration",
      description: `The 99th percentile of istiod's proxy convergence time in cluster {{ $labels.cluster }} over the last 10 minutes is {{ $value | humanizeDuration }} (threshold ${CONVERGENCE_P99_SECONDS}s): WasmPlugin and other changes reach proxies late.`,
    },
  ];
}

/** The production rules: what deploy/prometheus/ ships. */
export const ALERTS: AlertSpec[] = alertSpecs();

interface PrometheusRule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** The `groups` of a Prometheus rules file, in the order the groups first appear in ALERTS. */
export function ruleGroups(
  alerts: readonly AlertSpec[] = ALERTS,
  runbookBase: string = DEFAULT_RUNBOOK_BASE,
): Array<{ name: string; rules: PrometheusRule[] }> {
  const groups = new Map<string, PrometheusRule[]>();
  for (const alert of alerts) {
    const rules = groups.get(alert.group) ?? [];
    rules.push({
      alert: alert.name,
      expr: alert.expr,
      for: alert.for,
      labels: { severity: alert.severity, component: "kwt" },
      annotations: {
        summary: alert.summary,
        description: alert.description,
        runbook_url: `${runbookBase}#${runbookAnchor(alert.name)}`,
      },
    });
    groups.set(alert.group, rules);
  }
  return [...groups].map(([name, rules]) => ({ name, rules }));
}

const GENERATED_HEADER =
  "# Generated by tools/dashboards/generate.ts from tools/dashboards/alerts.ts; do not edit.";

export function renderRulesFile(
  alerts: readonly AlertSpec[] = ALERTS,
  runbookBase: string = DEFAULT_RUNBOOK_BASE,
): string {
  return `${GENERATED_HEADER}\n${stringify({ groups: ruleGroups(alerts, runbookBase) }, { lineWidth: 0 })}`;
}

/** The same rules with the test profile's windows and `for:` (deploy/prometheus/tests/). */
export function renderTestProfileRulesFile(): string {
  return renderRulesFile(alertSpecs(TEST_PROFILE));
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
