import { deleteAll, deletionTargets } from "../deploy/delete.js";
import {
  InvalidInputError,
  KUBECONFIG_NOTE,
  readClusterFile,
  readClusterOptions,
  runOptions,
  TARGET_FLAGS,
  TARGET_FLAGS_USAGE,
} from "../deploy/prepare.js";
import { reportFailures, reportInvalidInput, summarize } from "../deploy/report.js";
import { parseArgs, type FlagSpec } from "./args.js";
import { EXIT_FAILURE, EXIT_OK, type Command } from "./command.js";
import { renderTable, style } from "./output.js";

const DELETE_FLAGS: FlagSpec = { ...TARGET_FLAGS };

export const deleteCommand: Command = {
  name: "delete",
  summary: "per cluster, remove the WasmPlugin and pull Secret kwt created (never one it did not)",
  usage: `Usage: kwt delete --clusters FILE [--cluster NAME]... [--concurrency N] [--timeout SECONDS]

Removes from each cluster of FILE the WasmPlugin (the file's name: and namespace:) and, when
the file names a pullSecret, that Secret, if kwt created them: the object carries kwt's labels
(app.kubernetes.io/managed-by=kwt, app.kubernetes.io/name=kwt-filter) and field manager kwt
applied it (managedFields). Anything else under the same name is kept, and the table says why;
the Secret is kept while a WasmPlugin that may use it stays. Each delete names the uid and
resourceVersion kwt read, so an object replaced in between is not removed. Already gone counts
as done: rerunning is safe.

Options:
${TARGET_FLAGS_USAGE}

${KUBECONFIG_NOTE}

Exit status: 0 every cluster done (deleted, absent, or kept because kwt did not create it);
1 a cluster failed (details printed); 2 bad command line.`,
  async run(argv) {
    const options = readClusterOptions(parseArgs(argv, DELETE_FLAGS));
    let planned: ReturnType<typeof deletionTargets>;
    try {
      planned = deletionTargets(readClusterFile(options), options.only);
      if (planned.problems.length > 0) throw new InvalidInputError(planned.problems);
    } catch (error) {
      return reportInvalidInput("delete", error);
    }
    const outcomes = await deleteAll(planned.targets, runOptions(options, "done"));
    const rows = outcomes.map(({ target, result, error }) => [
      target.cluster,
      target.context,
      error ? "failed" : "done",
      result ? result.map((object) => `${object.kind} ${object.action}`).join(", ") : "-",
    ]);
    console.log(renderTable([["CLUSTER", "CONTEXT", "RESULT", "OBJECTS"], ...rows]));
    for (const { target, result } of outcomes) {
      for (const object of result ?? []) {
        if (object.reason) {
          console.log(
            `${style("kept", "yellow")} ${target.cluster}: ${object.kind} ${object.namespace}/${object.name}: ${object.reason}`,
          );
        }
      }
    }
    reportFailures(outcomes);
    const done = outcomes.filter((outcome) => !outcome.error).length;
    return summarize(done, outcomes.length, "done", "rerun to retry the failed ones")
      ? EXIT_OK
      : EXIT_FAILURE;
  },
};
