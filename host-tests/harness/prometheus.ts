// /stats/prometheus as Envoy 1.24+ writes it, with the tag extraction an Istio sidecar configures.
//
// Tag extraction (Envoy TagProducerImpl): every rule's regex is searched in the full stat name; the
// first capture group is cut out of the name, the second (else the first) is the tag value. Rules
// run in configuration order; of several rules with one tag name only the first that matches counts.
// The cut name is the metric name: the custom namespace `wasmcustom.` is stripped, the rest
// sanitised to [a-zA-Z0-9_] and written without Envoy's `envoy_` prefix (skipped if it would start
// with a digit). Families are sorted by name, series within a family by full stat name, types in
// the order counters, gauges, histograms; no HELP lines and no blank lines between families.

/** A tag rule from bootstrap stats_config.stats_tags. */
export interface TagExtractor {
  name: string;
  regex: RegExp;
}

export interface Tag {
  name: string;
  value: string;
}

export interface StatsSnapshot {
  counters: Array<{ name: string; value: bigint }>;
  gauges: Array<{ name: string; value: bigint }>;
  histograms: Array<{
    name: string;
    buckets: Array<{ le: number; count: bigint }>;
    sum: number;
    count: bigint;
  }>;
}

/** pilot-agent always puts these in front of the mesh's and the pod's extraStatTags (pkg/bootstrap/config.go). */
export const ISTIO_DEFAULT_STAT_TAGS: readonly string[] = [
  "reporter",
  "source_namespace",
  "source_workload",
  "source_workload_namespace",
  "source_principal",
  "source_app",
  "source_version",
  "source_cluster",
  "destination_namespace",
  "destination_workload",
  "destination_workload_namespace",
  "destination_principal",
  "destination_app",
  "destination_version",
  "destination_service",
  "destination_service_name",
  "destination_service_namespace",
  "destination_port",
  "destination_cluster",
  "request_protocol",
  "request_operation",
  "request_host",
  "response_flags",
  "grpc_response_status",
  "connection_security_policy",
  "permissive_response_code",
  "permissive_response_policyid",
  "source_canonical_service",
  "destination_canonical_service",
  "source_canonical_revision",
  "destination_canonical_revision",
];

// The fixed rules of Istio's envoy_bootstrap.json, in its order, around the extraStatTags rules. The
// rules anchored to other stat prefixes (^cluster., ^tcp., ^listener., ^http., ^mongo.) can never
// match a wasmcustom stat and are left out.
const ISTIO_RULES_BEFORE_EXTRA_TAGS: ReadonlyArray<[name: string, regex: string]> = [
  ["response_code", String.raw`_rq(_(\d{3}))$`],
  ["response_code_class", String.raw`_rq(_(\dxx))$`],
];
const ISTIO_RULES_AFTER_EXTRA_TAGS: ReadonlyArray<[name: string, regex: string]> = [
  ["cache", String.raw`(cache\.(.+?)\.)`],
  ["component", String.raw`(component\.(.+?)\.)`],
  ["tag", String.raw`(tag\.(.+?);\.)`],
  ["wasm_filter", String.raw`(wasm_filter\.(.+?)\.)`],
  ["authz_enforce_result", String.raw`rbac(\.(allowed|denied))`],
  ["authz_dry_run_action", String.raw`(\.istio_dry_run_(allow|deny)_)`],
  ["authz_dry_run_result", String.raw`(\.shadow_(allowed|denied))`],
];

function compileRule(name: string, source: string): TagExtractor {
  try {
    // "d" gives the capture groups' positions; Envoy's std::regex is ECMAScript, like RegExp.
    return { name, regex: new RegExp(source, "d") };
  } catch (error) {
    throw new Error(`stat tag '${name}': regex ${source} does not compile: ${(error as Error).message}`);
  }
}

/** The rule Istio writes for one extraStatTags entry. */
export function extraStatTagRegex(tag: string): string {
  return `(${tag}=\\.=(.*?);\\.;)`;
}

/** The tag rules of an Istio sidecar whose extraStatTags are `extraStatTags`. */
export function istioTagExtractors(
  extraStatTags: readonly string[],
  includeIstioDefaults: boolean,
): TagExtractor[] {
  const tags = includeIstioDefaults ? [...ISTIO_DEFAULT_STAT_TAGS, ...extraStatTags] : [...extraStatTags];
  const rules = tags.filter((tag) => tag !== "").map((tag) => compileRule(tag, extraStatTagRegex(tag)));
  if (!includeIstioDefaults) return rules;
  return [
    ...ISTIO_RULES_BEFORE_EXTRA_TAGS.map(([name, regex]) => compileRule(name, regex)),
    ...rules,
    ...ISTIO_RULES_AFTER_EXTRA_TAGS.map(([name, regex]) => compileRule(name, regex)),
  ];
}

/** Envoy TagProducerImpl::produceTags: the tags of a stat and its name with the tag text cut out. */
export function extractTags(
  statName: string,
  extractors: readonly TagExtractor[],
): { tagExtractedName: string; tags: Tag[] } {
  const tags: Tag[] = [];
  const cuts: Array<[start: number, end: number]> = [];
  const extractedNames = new Set<string>();
  for (const extractor of extractors) {
    if (extractedNames.has(extractor.name)) continue;
    const match = extractor.regex.exec(statName);
    const removed = match?.indices?.[1];
    if (!match || !removed) continue;
    tags.push({ name: extractor.name, value: (match.length > 2 ? match[2] : match[1]) ?? "" });
    cuts.push(removed);
    extractedNames.add(extractor.name);
  }
  return { tagExtractedName: removeRanges(statName, cuts), tags };
}

function removeRanges(text: string, ranges: Array<[number, number]>): string {
  // Rules may overlap; Envoy merges the cut intervals before removing them.
  const merged: Array<[number, number]> = [];
  for (const [start, end] of [...ranges].sort((a, b) => a[0] - b[0])) {
    const last = merged[merged.length - 1];
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  let kept = "";
  let from = 0;
  for (const [start, end] of merged) {
    kept += text.slice(from, start);
    from = end;
  }
  return kept + text.slice(from);
}

/** Envoy's custom stat namespace for Wasm metrics: exported without the envoy_ prefix. */
const CUSTOM_NAMESPACE_PREFIX = "wasmcustom.";

/** Prometheus names allow [a-zA-Z0-9_]; Envoy replaces everything else by "_". */
export function sanitizeName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, "_");
}

/** Label values escape backslash, newline and double quote, as Prometheus' own text writer does. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** PrometheusStatsFormatter::metricName; undefined when Envoy leaves the family out. */
export function prometheusMetricName(tagExtractedName: string): string | undefined {
  if (!tagExtractedName.startsWith(CUSTOM_NAMESPACE_PREFIX)) return `envoy_${sanitizeName(tagExtractedName)}`;
  const name = sanitizeName(tagExtractedName.slice(CUSTOM_NAMESPACE_PREFIX.length));
  return name === "" || /^[0-9]/.test(name) ? undefined : name;
}

const SIGNIFICANT_DIGITS = 32;

/** C's printf("%.32g"): what Envoy's fmt "{:.32g}" prints for bucket bounds and sums. */
export function formatDouble(value: number): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? "nan" : value > 0 ? "inf" : "-inf";
  if (value === 0) return Object.is(value, -0) ? "-0" : "0";
  const [mantissa = "", exponentText = "0"] = value.toExponential(SIGNIFICANT_DIGITS - 1).split("e");
  const exponent = Number(exponentText);
  const negative = mantissa.startsWith("-");
  const digits = mantissa.replace("-", "").replace(".", "");
  const sign = negative ? "-" : "";
  if (exponent < -4 || exponent >= SIGNIFICANT_DIGITS) {
    const fraction = digits.slice(1).replace(/0+$/, "");
    const exponentSign = exponent < 0 ? "-" : "+";
    const exponentDigits = String(Math.abs(exponent)).padStart(2, "0");
    return `${sign}${digits[0]}${fraction ? `.${fraction}` : ""}e${exponentSign}${exponentDigits}`;
  }
  const padded = exponent < 0 ? "0".repeat(-exponent) + digits : digits;
  const pointAt = exponent < 0 ? 1 : exponent + 1;
  const integer = padded.slice(0, pointAt);
  const fraction = padded.slice(pointAt).replace(/0+$/, "");
  return `${sign}${integer}${fraction ? `.${fraction}` : ""}`;
}

/** Envoy orders stat names by their dot-separated tokens, each compared bytewise (SymbolTable::lessThan). */
export function compareStatNames(a: string, b: string): number {
  const left = a.split(".");
  const right = b.split(".");
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const order = Buffer.compare(Buffer.from(left[i] as string), Buffer.from(right[i] as string));
    if (order !== 0) return order;
  }
  return left.length - right.length;
}

function formatTags(tags: readonly Tag[]): string {
  return tags.map((tag) => `${sanitizeName(tag.name)}="${escapeLabelValue(tag.value)}"`).join(",");
}

interface Series<T> {
  statName: string;
  tags: Tag[];
  stat: T;
}

function renderFamilies<T extends { name: string }>(
  stats: readonly T[],
  type: "counter" | "gauge" | "histogram",
  extractors: readonly TagExtractor[],
  renderSeries: (metricName: string, series: Series<T>) => string[],
): string[] {
  const families = new Map<string, Array<Series<T>>>();
  for (const stat of stats) {
    const { tagExtractedName, tags } = extractTags(stat.name, extractors);
    const family = families.get(tagExtractedName) ?? [];
    family.push({ statName: stat.name, tags, stat });
    families.set(tagExtractedName, family);
  }
  const lines: string[] = [];
  for (const familyName of [...families.keys()].sort(compareStatNames)) {
    const metricName = prometheusMetricName(familyName);
    if (metricName === undefined) continue;
    lines.push(`# TYPE ${metricName} ${type}`);
    const members = (families.get(familyName) ?? []).sort((a, b) => compareStatNames(a.statName, b.statName));
    for (const series of members) lines.push(...renderSeries(metricName, series));
  }
  return lines;
}

/** The /stats/prometheus body for these stats. */
export function renderPrometheus(snapshot: StatsSnapshot, extractors: readonly TagExtractor[]): string {
  const numeric = (metricName: string, series: Series<{ value: bigint }>): string[] => [
    `${metricName}{${formatTags(series.tags)}} ${series.stat.value}`,
  ];
  const lines = [
    ...renderFamilies(snapshot.counters, "counter", extractors, numeric),
    ...renderFamilies(snapshot.gauges, "gauge", extractors, numeric),
    ...renderFamilies(snapshot.histograms, "histogram", extractors, (metricName, series) => {
      const tags = formatTags(series.tags);
      const bucketTags = tags === "" ? "" : `${tags},`;
      const { buckets, sum, count } = series.stat;
      return [
        ...buckets.map(
          (bucket) => `${metricName}_bucket{${bucketTags}le="${formatDouble(bucket.le)}"} ${bucket.count}`,
        ),
        `${metricName}_bucket{${bucketTags}le="+Inf"} ${count}`,
        `${metricName}_sum{${tags}} ${formatDouble(sum)}`,
        `${metricName}_count{${tags}} ${count}`,
      ];
    }),
  ];
  return lines.map((line) => `${line}\n`).join("");
}
