/** Small PromQL builders shared by the dashboard and the alert rules, so both ask the same questions. */
import { sourceOfMetric } from "./metrics.js";

/** Grafana's window for rate(): at least four scrape intervals, adapted to the zoom. */
export const GRAFANA_RATE_INTERVAL = "$__rate_interval";
/** The same window in milliseconds: a number Grafana substitutes, to divide by. */
export const GRAFANA_RATE_INTERVAL_MS = "$__rate_interval_ms";

const DURATION_UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3_600, d: 86_400 };

/** Seconds in a PromQL duration such as `10s`, `5m` or `1h30m`. */
export function durationSeconds(duration: string): number {
  const parts = [...duration.matchAll(/(\d+)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join("") !== duration) {
    throw new RangeError(`not a PromQL duration: '${duration}' (expected e.g. 30s, 5m, 6h)`);
  }
  return parts.reduce(
    (sum, part) => sum + Number(part[1]) * (DURATION_UNIT_SECONDS[part[2] as string] as number),
    0,
  );
}

/** The window's length in seconds as PromQL: a number, or Grafana's milliseconds variable / 1000. */
function windowSecondsExpr(window: string): string {
  return window === GRAFANA_RATE_INTERVAL
    ? `(${GRAFANA_RATE_INTERVAL_MS} / 1000)`
    : String(durationSeconds(window));
}

/** `{a=~"x", b="y"}` from matcher strings; "" when there are none. */
export function selector(matchers: readonly string[]): string {
  return matchers.length === 0 ? "" : `{${matchers.join(", ")}}`;
}

export function by(labels: readonly string[]): string {
  return `by (${labels.join(", ")})`;
}

/**
 * How much each series of a counter grew over `window`, counting a series born inside the window
 * from 0. The filter defines most series on their first event, on a new pod in its first
 * milliseconds, seconds before Prometheus first scrapes it: the series' first sample already holds
 * N, and `increase()` (which only sees growth between samples) gives 0 for it. So:
 *
 * - a series that existed at the window's start (`x offset w` finds it) grew by `increase(x[w])`;
 * - any other series was born in the window from an unseen 0: it grew by its largest value in the
 *   window (its last one, counters being monotonic).
 *
 * The newborn side excludes what existed at the window's start, so a series that ends inside the
 * window (a pod's last scrape: its one sample there gives no increase) is not taken for a newborn
 * and counted whole. The two sides never hold the same series, so nothing is counted twice, and the newborn side does
 * not use `increase()`, whose treatment of a series' first sample differs between engines
 * (VictoriaMetrics guesses a start from 0 for small first values, Prometheus never does).
 * Parenthesised: safe to use as an operand.
 */
export function counterIncrease(metric: string, matchers: readonly string[], window: string): string {
  const series = `${metric}${selector(matchers)}`;
  return `((increase(${series}[${window}]) and ${series} offset ${window}) or (max_over_time(${series}[${window}]) unless ${series} offset ${window}))`;
}

/** Per-second rate of each series over `window`, newborn series counted from 0 (counterIncrease). */
export function counterRate(metric: string, matchers: readonly string[], window: string): string {
  return `(${counterIncrease(metric, matchers, window)} / ${windowSecondsExpr(window)})`;
}

function grouped(labels: readonly string[]): string {
  return labels.length === 0 ? "" : ` ${by(labels)}`;
}

/** `sum by (labels)` of counterIncrease; without labels a plain `sum`. */
export function sumIncrease(
  metric: string,
  matchers: readonly string[],
  labels: readonly string[],
  window: string,
): string {
  return `sum${grouped(labels)} ${counterIncrease(metric, matchers, window)}`;
}

/** `sum by (labels)` of counterRate (a rate that counts newborn series); without labels a plain `sum`. */
export function sumRate(
  metric: string,
  matchers: readonly string[],
  labels: readonly string[],
  window: string,
): string {
  return `sum${grouped(labels)} ${counterRate(metric, matchers, window)}`;
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
