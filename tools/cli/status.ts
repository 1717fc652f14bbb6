import { inSync, readStatuses, type PluginStatus } from "../deploy/status.js";
import { parseArgs } from "./args.js";
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

function shortDigest(digest: string | undefined): string {
  return digest ? digest.slice(0, "sha256:".length + 12) : "-";
}

/** What differs from what kwt deploy would apply (empty when in sync or absent). */
function mismatches(status: PluginStatus): string[] {
  if (!status.present) return [];
  return [
    ...(status.digestMatches === false ? ["digest"] : []),
    ...status.differences,
    ...(status.pullSecretPresent === false ? ["pull secret missing"] : []),
  ];
}

interface StatusRow extends ClusterRow {
  /** present, absent, or unknown (the cluster could not be read). */
  plugin: "present" | "absent" | "unknown";
  digest?: string;
  mismatches: string[];
}

function statusRow(
  cluster: string,
  context: string,
  status: PluginStatus | undefined,
  error?: string,
): StatusRow {
  const base = { cluster, context };
  if (error || !status) {
    return {
      ...base,
      ok: false,
      result: "unreadable",
      reason: error ?? "no answer",
      plugin: "unknown",
      mismatches: [],
    };
  }
  const wrong = mismatches(status);
  const ok = inSync(status);
  const reason = !status.present
    ? "no WasmPlugin yet: kwt deploy creates it"
    : ok
      ? undefined
      : `kwt deploy would change: ${wrong.join(", ")}`;
  return {
    ...base,
    ok,
    result: !status.present ? "absent" : ok ? "in-sync" : "differs",
    ...(reason ? { reason } : {}),
    ...(status.digest ? { digest: status.digest } : {}),
    plugin: status.present ? "present" : "absent",
    mismatches: wrong,
  };
}

/** Deploying fixes drift; it does not fix a cluster that could not be read. */
function advice(rows: StatusRow[]): string {
  const unreadable = rows.filter((row) => row.result === "unreadable").length;
  const drifted = rows.filter((row) => !row.ok).length - unreadable;
  const deploy = unreadable
    ? `kwt deploy brings the ${drifted} that differ in line`
    : "kwt deploy brings them in line";
  const read = `${unreadable} could not be read: fix what REASON says and rerun`;
  return [...(drifted ? [deploy] : []), ...(unreadable ? [read] : [])].join("; ");
}

export const statusCommand: Command = {
  name: "status",
  summary: "per cluster: is the WasmPlugin there, which digest it pins, does it match the clusters file",
  usage: `Usage: kwt status --clusters FILE [--image REF] [--digest sha256:...] [--cluster NAME]...
                  [--concurrency N] [--timeout SECONDS] [-o json|yaml]

Reads the WasmPlugin kwt deploy would manage in each cluster of FILE and compares it with what
kwt deploy would apply now: the pinned digest (when --digest or digest: is given), every spec
field kwt sets, and the pull Secret it names. Changes nothing.

Options:
${TARGET_FLAGS_USAGE}
${IMAGE_FLAGS_USAGE}
${OUTPUT_FLAGS_USAGE}

${KUBECONFIG_NOTE}

Exit status: 0 every cluster in sync; 1 a cluster is missing the plugin, differs, or could not
be read (details printed); 2 bad command line.`,
  flags: { ...TARGET_FLAGS, ...IMAGE_FLAGS, ...OUTPUT_FLAGS },
  async run(argv) {
    const args = parseArgs(argv, this.flags);
    const options = readClusterOptions(args);
    const format = outputFormat(args);
    const prepared = plansOrExit("status", projectRoot(), options, {
      requireDigest: false,
      withSecret: false,
    });
    if (typeof prepared === "number") return prepared;
    const outcomes = await readStatuses(prepared.plans, runOptions(options, "read"));
    const rows = outcomes.map(({ target, result, error }) =>
      statusRow(target.cluster, target.context, result, error),
    );
    const notes =
      prepared.plans[0]?.digest === undefined
        ? ["digest not compared: pass --digest sha256:... or set digest: in the clusters file"]
        : [];
    return printClusterReport(format, {
      command: "status",
      rows,
      what: "in sync",
      advice,
      notes,
      columns: [
        { header: "PLUGIN", cell: (row) => row.plugin },
        { header: "DIGEST", cell: (row) => shortDigest(row.digest) },
        {
          header: "MATCHES",
          cell: (row) =>
            row.plugin !== "present"
              ? "-"
              : row.mismatches.length
                ? `no: ${row.mismatches.join(", ")}`
                : "yes",
        },
      ],
    });
  },
};
