import {
  IMAGE_FLAGS,
  IMAGE_FLAGS_USAGE,
  KUBECONFIG_NOTE,
  readClusterOptions,
  runOptions,
  TARGET_FLAGS,
  TARGET_FLAGS_USAGE,
} from "../deploy/prepare.js";
import { plansOrExit, reportFailures, summarize } from "../deploy/report.js";
import { inSync, readStatuses, type PluginStatus } from "../deploy/status.js";
import { parseArgs } from "./args.js";
import { EXIT_FAILURE, EXIT_OK, projectRoot, type Command } from "./command.js";
import { renderTable } from "./output.js";

function shortDigest(digest: string | undefined): string {
  return digest ? digest.slice(0, "sha256:".length + 12) : "-";
}

function matchColumn(status: PluginStatus): string {
  if (!status.present) return "-";
  const wrong = [
    ...(status.digestMatches === false ? ["digest"] : []),
    ...status.differences,
    ...(status.pullSecretPresent === false ? ["pull secret missing"] : []),
  ];
  return wrong.length ? `no: ${wrong.join(", ")}` : "yes";
}

export const statusCommand: Command = {
  name: "status",
  summary: "per cluster: is the WasmPlugin there, which digest it pins, does it match the clusters file",
  usage: `Usage: kwt status --clusters FILE [--image REF] [--digest sha256:...] [--cluster NAME]...
                  [--concurrency N] [--timeout SECONDS]

Reads the WasmPlugin kwt deploy would manage in each cluster of FILE and compares it with what
kwt deploy would apply now: the pinned digest (when --digest or digest: is given), every spec
field kwt sets, and the pull Secret it names. Changes nothing.

Options:
${TARGET_FLAGS_USAGE}
${IMAGE_FLAGS_USAGE}

${KUBECONFIG_NOTE}

Exit status: 0 every cluster in sync; 1 a cluster is missing the plugin, differs, or could not
be read (details printed); 2 bad command line.`,
  async run(argv) {
    const options = readClusterOptions(parseArgs(argv, { ...TARGET_FLAGS, ...IMAGE_FLAGS }));
    const prepared = plansOrExit("status", projectRoot(), options, {
      requireDigest: false,
      withSecret: false,
    });
    if (typeof prepared === "number") return prepared;
    const outcomes = await readStatuses(prepared.plans, runOptions(options, "read"));
    const rows = outcomes.map(({ target, result, error }) => [
      target.cluster,
      target.context,
      error ? "unknown" : result!.present ? "present" : "absent",
      shortDigest(result?.digest),
      result ? matchColumn(result) : "-",
    ]);
    console.log(renderTable([["CLUSTER", "CONTEXT", "PLUGIN", "DIGEST", "MATCHES"], ...rows]));
    reportFailures(outcomes);
    if (prepared.plans[0]?.digest === undefined) {
      console.log("digest not compared: pass --digest sha256:... or set digest: in the clusters file");
    }
    const synced = outcomes.filter((outcome) => outcome.result && inSync(outcome.result)).length;
    return summarize(synced, outcomes.length, "in sync", "kwt deploy brings them in line")
      ? EXIT_OK
      : EXIT_FAILURE;
  },
};
