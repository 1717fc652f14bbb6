// Reads /stats/prometheus text in tests (the harness's StatStore or a `kwt run` admin port): the
// sample lines of one metric, and the value of one series.

/** `name{a="1",b="2"}` with its labels sorted: Envoy writes labels in tag-extraction order. */
function canonicalSeries(series: string): string {
  const brace = series.indexOf("{");
  if (brace < 0) return series;
  const labels = series.slice(brace + 1, -1);
  const pairs = labels.length === 0 ? [] : (labels.match(/[a-z_]+="[^"]*"/g) ?? []);
  return `${series.slice(0, brace)}{${[...pairs].sort().join(",")}}`;
}

/** Every sample line of `metric` (`metric{...} value`), in the order of the text. */
export function seriesLines(text: string, metric: string): string[] {
  return text.split("\n").filter((line) => line.startsWith(`${metric}{`));
}

/** The value of one series, e.g. `kwt_traces_started_total{sampled="true"}`, labels in any order. */
export function seriesValue(text: string, series: string): number | undefined {
  const wanted = canonicalSeries(series);
  for (const line of text.split("\n")) {
    const space = line.lastIndexOf(" ");
    if (space > 0 && canonicalSeries(line.slice(0, space)) === wanted) return Number(line.slice(space + 1));
  }
  return undefined;
}
