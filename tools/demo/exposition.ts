// Reads Envoy's /stats/prometheus text back into samples: the demo's summary, and the tests' series lookups.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function unescapeLabelValue(text: string): string {
  return text.replace(/\\(.)/g, (_, escaped: string) => (escaped === "n" ? "\n" : escaped));
}

export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = SAMPLE_LINE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(LABEL)) labels[key!] = unescapeLabelValue(value!);
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** Sum of the samples named `name` whose labels include `match`, grouped by the `by` labels. */
export function sumBy(
  samples: Sample[],
  name: string,
  by: string[],
  match: Record<string, string> = {},
): Map<string, { labels: Record<string, string>; value: number }> {
  const groups = new Map<string, { labels: Record<string, string>; value: number }>();
  for (const sample of samples) {
    if (sample.name !== name) continue;
    if (Object.entries(match).some(([key, value]) => sample.labels[key] !== value)) continue;
    const labels = Object.fromEntries(by.map((key) => [key, sample.labels[key] ?? ""]));
    const key = JSON.stringify(labels);
    const group = groups.get(key) ?? { labels, value: 0 };
    group.value += sample.value;
    groups.set(key, group);
  }
  return groups;
}

/** Sum of the samples named `name` whose labels include `match` (0 when there are none). */
export function total(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return sumBy(samples, name, [], match).get("{}")?.value ?? 0;
}
