/**
 * Every PromQL expression the dashboard and the alert rules ship, in a form a real Prometheus can
 * evaluate: Grafana's variables replaced ("All" for the label filters, a fixed window for
 * $__rate_interval), template variable queries turned into PromQL, and for each alert the parts that
 * measure before any threshold (AlertSpec.signals).
 */
import { ALERTS, type AlertSpec } from "../../dashboards/alerts.js";
import { DASHBOARD_ROWS, substituteVariables, TEMPLATE_VARIABLES } from "../../dashboards/grafana.js";
import { sourceOfMetric, type MetricSource } from "../../dashboards/metrics.js";
import { metricNamesIn } from "../../dashboards/promql.js";

export { metricNamesIn, substituteVariables };

export interface ShippedExpression {
  /** Where it comes from, for messages: `dashboard: <panel> [A]`, `alert: <name> signal 1`, ... */
  origin: string;
  expr: string;
  /** Who writes the metrics it reads (a scrape target of that kind must be present for data). */
  sources: MetricSource[];
  /** Labels the result must carry: its grouping labels and those its legend shows. */
  labels: string[];
}

function sourcesOf(expr: string): MetricSource[] {
  const sources = new Set<MetricSource>();
  for (const name of metricNamesIn(expr)) sources.add(sourceOfMetric(name) as MetricSource);
  return [...sources].sort();
}

/**
 * The labels of every `by (...)` clause except `le` (histogram_quantile consumes it), and those in a
 * legend's `{{label}}`. The expressions here never aggregate a grouping label away again, so each
 * must appear in the result.
 */
export function labelsInResult(expr: string, legend = ""): string[] {
  const labels = new Set<string>();
  for (const match of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
    for (const label of (match[1] as string).split(",")) labels.add(label.trim());
  }
  for (const match of legend.matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g))
    labels.add(match[1] as string);
  labels.delete("le");
  labels.delete("");
  return [...labels];
}

function shipped(origin: string, expr: string, legend = ""): ShippedExpression {
  return { origin, expr, sources: sourcesOf(expr), labels: labelsInResult(expr, legend) };
}

/** Panel queries and template variable queries of the dashboard. */
export function dashboardExpressions(window: string): ShippedExpression[] {
  const variables = TEMPLATE_VARIABLES.map((variable) => {
    const { metric, label, matchers } = variable.valuesOf;
    // label_values(metric{...}, label) lists the label's values; empty means the label is missing.
    // Kept per cluster and region too, so a multi-cluster test sees where each value comes from.
    const query = `group by (cluster, region, ${label}) (${metric}{${[...matchers, `${label}!=""`].join(", ")}})`;
    return shipped(`dashboard variable ${variable.name}`, substituteVariables(query, window));
  });
  const panels = DASHBOARD_ROWS.flatMap((row) =>
    row.panels.flatMap((panel) =>
      panel.queries.map((query, index) =>
        shipped(
          `dashboard panel "${panel.title}" query ${index + 1}`,
          substituteVariables(query.expr, window),
          query.legend,
        ),
      ),
    ),
  );
  return [...variables, ...panels];
}

/** Each alert's signals: what it measures, before the threshold. */
export function alertSignalExpressions(alerts: readonly AlertSpec[] = ALERTS): ShippedExpression[] {
  return alerts.flatMap((alert) =>
    alert.signals.map((signal, index) => shipped(`alert ${alert.name} signal ${index + 1}`, signal)),
  );
}
