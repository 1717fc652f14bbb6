/**
 * The filter's metric catalog, deploy/filter-metrics.json: read and checked here, for the generator
 * and for anything that needs the families at run time.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const METRIC_CATALOG_FILE = "deploy/filter-metrics.json";

export type MetricKind = "counter" | "gauge" | "histogram";
/** In the order of MetricKind in assembly/metricfamily.ts, whose values are these indexes. */
export const KINDS: readonly MetricKind[] = ["counter", "gauge", "histogram"];

export interface LabelEntry {
  name: string;
  description: string;
}

export interface MetricEntry {
  /** The camelCase key in FILTER_METRICS; its SCREAMING_SNAKE form names the AssemblyScript family. */
  id: string;
  name: string;
  kind: MetricKind;
  /** As written in the catalog: label names and label group names. */
  labels: string[];
  /** Known values of some labels, for the docs. */
  values?: Record<string, string[]>;
  /** One line for the README table. */
  summary: string;
  /** Where and when the filter records it, for docs/filter.md. */
  recordedAt: string;
}

export interface MetricCatalog {
  pluginName: string;
  /** Filter-state values the filter sets on a stream for access logs (`wasm.<name>`). */
  accessLogFields: LabelEntry[];
  labels: LabelEntry[];
  labelGroups: Record<string, string[]>;
  metrics: MetricEntry[];
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** A group name: upper case, so it cannot be mistaken for a label. */
export const isGroupName = (entry: string): boolean => /^[A-Z][A-Z_]*$/.test(entry);

/** A metric's labels in encoding order, groups expanded. */
export function expandLabels(catalog: MetricCatalog, metric: MetricEntry): string[] {
  return metric.labels.flatMap((entry) =>
    isGroupName(entry) ? (catalog.labelGroups[entry] ?? []) : [entry],
  );
}

/** Every problem of the catalog, each naming the entry and what is expected; empty when valid. */
export function catalogProblems(catalog: MetricCatalog): string[] {
  const problems: string[] = [];
  const declared = catalog.labels.map((label) => label.name);
  const check = (where: string, label: string): void => {
    if (!declared.includes(label)) problems.push(`${where}: label ${label} is not declared in "labels"`);
  };
  for (const [group, labels] of Object.entries(catalog.labelGroups)) {
    if (!isGroupName(group)) problems.push(`labelGroups.${group}: expected an upper-case group name`);
    for (const label of labels) check(`labelGroups.${group}`, label);
  }
  const used = new Set<string>();
  const names = new Set<string>();
  const ids = new Set<string>();
  for (const metric of catalog.metrics) {
    const where = `metrics[${metric.id}]`;
    if (!/^[a-z][A-Za-z0-9]*$/.test(metric.id) || ids.has(metric.id)) {
      problems.push(`${where}: expected a unique camelCase id`);
    }
    if (!/^[a-z][a-z0-9_]*$/.test(metric.name) || names.has(metric.name)) {
      problems.push(`${where}: name ${metric.name}: expected a unique lower-case Prometheus name`);
    }
    if (!KINDS.includes(metric.kind))
      problems.push(`${where}: kind ${metric.kind}: expected one of ${KINDS.join(", ")}`);
    ids.add(metric.id);
    names.add(metric.name);
    for (const entry of metric.labels) {
      if (isGroupName(entry) && !(entry in catalog.labelGroups)) {
        problems.push(`${where}: label group ${entry} is not in "labelGroups"`);
      }
    }
    const labels = expandLabels(catalog, metric);
    for (const label of labels) {
      check(where, label);
      used.add(label);
    }
    if (new Set(labels).size !== labels.length) problems.push(`${where}: a label appears twice`);
    for (const label of Object.keys(metric.values ?? {})) {
      if (!labels.includes(label))
        problems.push(`${where}: values of ${label}, which the metric does not carry`);
    }
  }
  for (const field of catalog.accessLogFields) {
    // Envoy prints it as %FILTER_STATE(wasm.<name>:PLAIN)%; Istio's own keys hold "peer" or "istio".
    if (!/^kwt_[a-z0-9_]+$/.test(field.name) || /peer|istio/.test(field.name)) {
      problems.push(
        `accessLogFields: ${field.name}: expected kwt_ and lower-case letters, digits, _ (no peer, no istio)`,
      );
    }
  }
  for (const label of declared) {
    if (!used.has(label)) problems.push(`labels: ${label} is declared but no metric carries it`);
  }
  return problems;
}

/** The catalog from the checkout; throws with every problem when it is not valid. */
export function loadMetricCatalog(file = path.join(root, METRIC_CATALOG_FILE)): MetricCatalog {
  const catalog = JSON.parse(readFileSync(file, "utf8")) as MetricCatalog;
  const problems = catalogProblems(catalog);
  if (problems.length > 0) throw new Error(`${file}:\n  ${problems.join("\n  ")}`);
  return catalog;
}
