import { describeChange, dryRunAll, type ObjectChange } from "../deploy/diff.js";
import { booleanFlag, parseArgs } from "./args.js";
import {
  IMAGE_FLAGS,
  IMAGE_FLAGS_USAGE,
  KUBECONFIG_NOTE,
  readClusterOptions,
  TARGET_FLAGS,
  TARGET_FLAGS_USAGE,
} from "./cluster-flags.js";
import {
  OUTPUT_FLAGS,
  OUTPUT_FLAGS_USAGE,
  outputFormat,
  plansOrExit,
  printClusterReport,
  runOptions,
  type ClusterRow,
} from "./cluster-report.js";
import { projectRoot, type Command } from "./command.js";
import { style } from "./output.js";

interface DiffRow extends ClusterRow {
  /** `changes`: apply would create or change an object; `refused`: the dry run failed (reason). */
  result: "changes" | "unchanged" | "refused";
  /** Per object, in apply order; a Secret's values are never included. */
  changes: ObjectChange[];
}

function diffRow(cluster: string, context: string, changes?: ObjectChange[], error?: string): DiffRow {
  const base = { cluster, context };
  if (error || !changes)
    return { ...base, ok: false, result: "refused", reason: error ?? "no answer", changes: [] };
  const changing = changes.some((change) => change.action !== "unchanged");
  return { ...base, ok: true, result: changing ? "changes" : "unchanged", changes };
}

/** Per cluster, its dry run's refusal or each object's change, field by field. */
function diffText(rows: DiffRow[]): string {
  const lines: string[] = [];
  for (const row of rows) {
    lines.push(`${row.cluster} (context ${row.context})`);
    if (row.reason) lines.push(`  ${style("refused", "red")}: ${row.reason}`);
    for (const change of row.changes) for (const line of describeChange(change)) lines.push(`  ${line}`);
  }
  return lines.join("\n");
}

export const diffCommand: Command = {
  name: "diff",
  summary: "per cluster, what kwt deploy would change, as the cluster's own server-side dry run says",
  usage: `Usage: kwt diff --clusters FILE [--image REF] [--digest sha256:...] [--force] [--cluster NAME]...
                [--concurrency N] [--timeout SECONDS] [-o json|yaml]

Renders what kwt deploy would apply to each cluster of FILE (validated the same way) and sends
it as a server-side apply with dryRun=All: the cluster's API server runs its own CRD schema,
defaulting and admission webhooks, and answers with the objects as they would be, storing
nothing. Prints, per cluster and object, whether it would be created, changed (each field:
+ added, ~ changed, - removed) or left unchanged. A Secret's data is shown only as changed,
never its values. A refusal (schema, admission, a field owned by another manager) is named per
cluster.

Options:
${TARGET_FLAGS_USAGE}
${IMAGE_FLAGS_USAGE}
  --force              show what taking over fields another field manager owns would do
${OUTPUT_FLAGS_USAGE}

${KUBECONFIG_NOTE}

Exit status: 0 every cluster answered (with or without changes); 1 a cluster refused the dry run
or could not be reached (details printed); 2 bad command line.`,
  flags: { ...TARGET_FLAGS, ...IMAGE_FLAGS, ...OUTPUT_FLAGS, force: "boolean" },
  async run(argv) {
    const args = parseArgs(argv, this.flags);
    const options = readClusterOptions(args);
    const format = outputFormat(args);
    const prepared = plansOrExit("diff", projectRoot(), options, { requireDigest: true, withSecret: true });
    if (typeof prepared === "number") return prepared;
    const outcomes = await dryRunAll(prepared.plans, {
      ...runOptions(options, "dry run done"),
      force: booleanFlag(args, "force"),
    });
    const rows = outcomes.map(({ target, result, error }) =>
      diffRow(target.cluster, target.context, result, error),
    );
    const changing = rows.filter((row) => row.result === "changes").length;
    return printClusterReport(format, {
      command: "diff",
      rows,
      what: `diffed, ${changing} with changes`,
      advice: () => "see why above; nothing was changed anywhere",
      text: diffText,
    });
  },
};
