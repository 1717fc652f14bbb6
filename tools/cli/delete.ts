import { InvalidInputError, readClusterFile } from "../deploy/cluster-selection.js";
import { deleteAll, deletionTargets, type DeletedObject } from "../deploy/delete.js";
import { parseArgs } from "./args.js";
import { KUBECONFIG_NOTE, readClusterOptions, TARGET_FLAGS, TARGET_FLAGS_USAGE } from "./cluster-flags.js";
import {
  OUTPUT_FLAGS,
  OUTPUT_FLAGS_USAGE,
  outputFormat,
  printClusterReport,
  reportInvalidInput,
  runOptions,
  type ClusterRow,
} from "./cluster-report.js";
import type { Command } from "./command.js";

interface DeleteRow extends ClusterRow {
  result: "done" | "failed";
  /** Each object kwt may have created there: deleted, absent, or kept (with why). */
  objects: DeletedObject[];
}

export const deleteCommand: Command = {
  name: "delete",
  summary: "per cluster, remove the WasmPlugin and pull Secret kwt created (never one it did not)",
  usage: `Usage: kwt delete --clusters FILE [--cluster NAME]... [--concurrency N] [--timeout SECONDS]
                  [-o json|yaml]

Removes from each cluster of FILE the WasmPlugin (the file's name: and namespace:) and, when
the file names a pullSecret, that Secret, if kwt created them: the object carries kwt's labels
(app.kubernetes.io/managed-by=kwt, app.kubernetes.io/name=kwt-filter) and field manager kwt
applied it (managedFields). Anything else under the same name is kept, and a line under the
table says why; the Secret is kept while a WasmPlugin that may use it stays. Each delete names
the uid and resourceVersion kwt read, so an object replaced in between is not removed. Already
gone counts as done: rerunning is safe.

Options:
${TARGET_FLAGS_USAGE}
${OUTPUT_FLAGS_USAGE}

${KUBECONFIG_NOTE}

Exit status: 0 every cluster done (deleted, absent, or kept because kwt did not create it);
1 a cluster failed (details printed); 2 bad command line.`,
  flags: { ...TARGET_FLAGS, ...OUTPUT_FLAGS },
  async run(argv) {
    const args = parseArgs(argv, this.flags);
    const options = readClusterOptions(args);
    const format = outputFormat(args);
    let planned: ReturnType<typeof deletionTargets>;
    try {
      planned = deletionTargets(readClusterFile(options), options.only);
      if (planned.problems.length > 0) throw new InvalidInputError(planned.problems);
    } catch (error) {
      return reportInvalidInput("delete", error);
    }
    const outcomes = await deleteAll(planned.targets, runOptions(options, "done"));
    const rows = outcomes.map(({ target, result, error }): DeleteRow => ({
      cluster: target.cluster,
      context: target.context,
      ok: !error,
      result: error ? "failed" : "done",
      ...(error ? { reason: error } : {}),
      objects: result ?? [],
    }));
    const kept = rows.flatMap((row) =>
      row.objects
        .filter((object) => object.reason)
        .map(
          (object) =>
            `kept ${row.cluster}: ${object.kind} ${object.namespace}/${object.name}: ${object.reason}`,
        ),
    );
    return printClusterReport(format, {
      command: "delete",
      rows,
      what: "done",
      advice: () => "rerun to retry the failed ones",
      notes: kept,
      columns: [
        { header: "RESULT", cell: (row) => row.result },
        {
          header: "OBJECTS",
          cell: (row) => row.objects.map((object) => `${object.kind} ${object.action}`).join(", ") || "-",
        },
      ],
    });
  },
};
