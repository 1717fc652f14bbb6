/** Small PromQL builders shared by the dashboard and the alert rules, so both ask the same questions. */
import { sourceOfMetric } from "./metrics.js";

/** `{a=~"x", b="y"}` from matcher strings; "" when there are none. */
export function selector(matchers: readonly string[]): string {
  return matchers.length === 0 ? "" : `{${matchers.join(", ")}}`;
}

export function by(labels: readonly string[]): string {
  return `by (${labels.join(", ")})`;
}

/** `sum by (labels) (rate(metric{matchers}[window]))`; without labels a plain `sum(...)`. */
export function sumRate(
  metric: string,
  matchers: readonly string[],
  labels: readonly string[],
  window: string,
): string {
  const grouping = labels.length === 0 ? "" : ` ${by(labels)}`;
  return `sum${grouping} (rate(${metric}${selector(matchers)}[${window}]))`;
}

/** Quantile `q` of an Envoy histogram family over `window`, per `labels`. */
export function histogramQuantile(
  q: number,
  family: string,
  matchers: readonly string[],
  labels: readonly string[],
  window: string,
): string {
  return `histogram_quantile(${q}, ${sumRate(`${family}_bucket`, matchers, [...labels, "le"], window)})`;
}

/** Matchers `label=~"$variable"` for Grafana template variables (multi-value and "All" become regexes). */
export function variableMatchers(pairs: ReadonlyArray<[label: string, variable: string]>): string[] {
  return pairs.map(([label, variable]) => `${label}=~"$${variable}"`);
}
/** The known metric names an expression reads (identifiers that are not function calls). */
export function metricNamesIn(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const names = new Set<string>();
  for (const match of withoutStrings.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)) {
    const name = match[1] as string;
    if (sourceOfMetric(name) !== undefined) names.add(name);
  }
  return [...names];
}
