/**
 * How the cluster commands (deploy, status, doctor, ...) report: one row per cluster, as a table
 * whose last column says why a cluster is not fine, or as JSON/YAML for scripts (docs/cli.md).
 */
import { stringify } from "yaml";
import {
  InvalidInputError,
  preparePlans,
  type ClusterCommandOptions,
  type Prepared,
} from "../deploy/cluster-selection.js";
import {
  ClusterError,
  loadKubeConfig,
  type ClusterOutcome,
  type ClusterTarget,
  type RunOptions,
} from "../deploy/kube.js";
import { stringFlag, UsageError, type FlagSpec, type ParsedArgs } from "./args.js";
import { EXIT_FAILURE, EXIT_OK, InputError, kwtVersion } from "./command.js";
import { Progress, renderTable, style } from "./output.js";

/** Bumped only when a field changes meaning or disappears; new fields may appear in any version. */
export const REPORT_VERSION = 1;

export const OUTPUT_FORMATS = ["table", "json", "yaml"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const OUTPUT_FLAGS: FlagSpec = { output: { kind: "string", short: "o" } };
export const OUTPUT_FLAGS_USAGE = `  -o, --output FORMAT  table (default), json or yaml (the shape: docs/cli.md)`;

export function outputFormat(args: ParsedArgs): OutputFormat {
  const format = stringFlag(args, "output") ?? "table";
  if (!(OUTPUT_FORMATS as readonly string[]).includes(format)) {
    throw new UsageError(`--output must be one of ${OUTPUT_FORMATS.join(", ")}, got '${format}'`);
  }
  return format as OutputFormat;
}

/** What every command's per-cluster row holds; each command adds its own fields. */
export interface ClusterRow {
  cluster: string;
  context: string;
  /** This cluster is as it should be (the exit code is 0 only when every row is). */
  ok: boolean;
  /** One word: what happened, e.g. applied, failed, in-sync, unreadable. */
  result: string;
  /** Why the cluster is not ok, in a sentence that says what to do; absent when ok. */
  reason?: string;
}

export interface ClusterReport<R extends ClusterRow> {
  command: string;
  rows: R[];
  /** Closes "N of M clusters ...", e.g. "applied". */
  what: string;
  /** What to do when some row is not ok, chosen from the rows. */
  advice: (rows: R[]) => string;
  /** Lines printed under the table (and given as `notes` to scripts). */
  notes?: string[];
  /** The human form; defaults to a table of `columns` with a REASON column last. */
  text?: (rows: R[]) => string;
  columns?: { header: string; cell: (row: R) => string }[];
}

/** A -o json|yaml document: `version`, `kwtVersion` and `command`, then the command's own fields. */
export function writeReportDocument(
  format: Exclude<OutputFormat, "table">,
  command: string,
  body: Record<string, unknown>,
): void {
  const document = { version: REPORT_VERSION, kwtVersion: kwtVersion(), command, ...body };
  process.stdout.write(format === "json" ? `${JSON.stringify(document, null, 2)}\n` : stringify(document));
}

/** A table of the rows, REASON last (only when some row has one). */
export function clusterTable<R extends ClusterRow>(
  rows: R[],
  columns: { header: string; cell: (row: R) => string }[],
): string {
  const all = [
    { header: "CLUSTER", cell: (row: R) => row.cluster },
    { header: "CONTEXT", cell: (row: R) => row.context },
    ...columns,
    ...(rows.some((row) => row.reason) ? [{ header: "REASON", cell: (row: R) => row.reason ?? "" }] : []),
  ];
  return renderTable([all.map((column) => column.header), ...rows.map((row) => all.map((c) => c.cell(row)))]);
}

/** Prints the report in `format` and gives the exit code: 0 when every row is ok, else 1. */
export function printClusterReport<R extends ClusterRow>(
  format: OutputFormat,
  report: ClusterReport<R>,
): number {
  const good = report.rows.filter((row) => row.ok).length;
  const total = report.rows.length;
  const counted = `${good} of ${total} cluster${total === 1 ? "" : "s"} ${report.what}`;
  const summary = good === total ? counted : `${counted}; ${report.advice(report.rows)}`;
  if (format === "table") {
    console.log(report.text ? report.text(report.rows) : clusterTable(report.rows, report.columns ?? []));
    for (const note of report.notes ?? []) console.log(note);
    console.log(style(summary, good === total ? "green" : "red"));
  } else {
    writeReportDocument(format, report.command, {
      clusters: report.rows,
      summary: { total, ok: good, message: summary },
      notes: report.notes ?? [],
    });
  }
  return good === total ? EXIT_OK : EXIT_FAILURE;
}

/** Prints an InvalidInputError and gives the exit code; any other error passes through. */
export function reportInvalidInput(command: string, error: unknown): number {
  if (!(error instanceof InvalidInputError)) throw error;
  console.error(`kwt ${command}: nothing done; fix ${error.problems.length === 1 ? "this" : "these"} first:`);
  for (const problem of error.problems) console.error(`  - ${problem}`);
  return EXIT_FAILURE;
}

/** The plans, or (after saying why there are none) the exit code. */
export function plansOrExit(
  command: string,
  root: string,
  options: ClusterCommandOptions,
  mode: { requireDigest: boolean; withSecret: boolean },
): Prepared | number {
  try {
    return preparePlans(root, options, mode);
  } catch (error) {
    return reportInvalidInput(command, error);
  }
}

/**
 * Run options with one progress line per finished cluster (on stderr): "failed", or `done` (a
 * word, or a word chosen from the outcome, e.g. doctor's "checks failed").
 */
export function runOptions(
  options: ClusterCommandOptions,
  done: string | ((outcome: ClusterOutcome<ClusterTarget, unknown>) => string),
): RunOptions {
  const progress = new Progress();
  let kubeConfig: RunOptions["kubeConfig"];
  try {
    kubeConfig = loadKubeConfig();
  } catch (error) {
    if (error instanceof ClusterError) throw new InputError(error.message);
    throw error;
  }
  return {
    kubeConfig,
    concurrency: options.concurrency,
    timeoutMs: options.timeoutMs,
    onDone: (outcome, finished, total) => {
      progress.step(
        `[${finished}/${total}] ${outcome.target.cluster}: ${outcome.error ? "failed" : typeof done === "string" ? done : done(outcome)}`,
      );
      if (finished === total) progress.done();
    },
  };
}
