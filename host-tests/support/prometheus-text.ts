// Reads /stats/prometheus text in tests (the harness's StatStore or a `kwt run` admin port): the
// sample lines of one metric, and the value of one series.

import { isDeepStrictEqual } from "node:util";
import { parseExposition } from "../../tools/demo/exposition.js";

/** Every sample line of `metric` (`metric{...} value`), in the order of the text. */
export function seriesLines(text: string, metric: string): string[] {
  return text.split("\n").filter((line) => line.startsWith(`${metric}{`));
}

/**
 * The value of one series, e.g. `kwt_traces_started_total{sampled="true"}`, labels in any order
 * (Envoy writes them in tag-extraction order).
 */
export function seriesValue(text: string, series: string): number | undefined {
  const [wanted] = parseExposition(`${series} 0`);
  return parseExposition(text).find(
    (sample) => sample.name === wanted!.name && isDeepStrictEqual(sample.labels, wanted!.labels),
  )?.value;
}
