import { applyAll } from "../deploy/apply.js";
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
import { renderDocuments } from "../deploy/render.js";
import { booleanFlag, parseArgs } from "./args.js";
import { EXIT_FAILURE, EXIT_OK, projectRoot, type Command } from "./command.js";
import { renderTable } from "./output.js";

export const deployCommand: Command = {
  name: "deploy",
  summary:
    "render, validate and server-side apply the filter's WasmPlugin to every cluster in a clusters file",
  usage: `Usage: kwt deploy --clusters FILE [--image REF] [--digest sha256:...] [--dry-run] [--force]
                  [--cluster NAME]... [--concurrency N] [--timeout SECONDS]

For each cluster in FILE renders a WasmPlugin (pinned digest, failStrategy FAIL_OPEN, phase STATS,
pluginConfig = the file's config merged with the cluster's, checked against the filter's schema)
and, when configured, its pull Secret; validates every manifest against Istio 1.20's and 1.30's
CRD schemas; then applies them with server-side apply (field manager kwt) to all clusters at
once. Nothing is applied anywhere if any manifest is invalid. A failing cluster does not stop or
undo the others; rerunning converges.

Options:
${TARGET_FLAGS_USAGE}
${IMAGE_FLAGS_USAGE}
  --dry-run            print the manifests as multi-document YAML and contact no cluster
  --force              take over fields another field manager owns (after a conflict)

${KUBECONFIG_NOTE}

Exit status: 0 every cluster applied (or --dry-run printed); 1 something failed (details
printed); 2 bad command line.`,
  async run(argv) {
    const args = parseArgs(argv, { ...TARGET_FLAGS, ...IMAGE_FLAGS, "dry-run": "boolean", force: "boolean" });
    const options = readClusterOptions(args);
    const prepared = plansOrExit("deploy", projectRoot(), options, { requireDigest: true, withSecret: true });
    if (typeof prepared === "number") return prepared;
    if (booleanFlag(args, "dry-run")) {
      process.stdout.write(renderDocuments(prepared.plans));
      return EXIT_OK;
    }
    const outcomes = await applyAll(prepared.plans, {
      ...runOptions(options, "applied"),
      force: booleanFlag(args, "force"),
    });
    const rows = outcomes.map(({ target, result, error }) => [
      target.cluster,
      target.context,
      error ? "failed" : "ok",
      result ? result.map((object) => `${object.kind} ${object.action}`).join(", ") : "-",
    ]);
    console.log(renderTable([["CLUSTER", "CONTEXT", "RESULT", "OBJECTS"], ...rows]));
    reportFailures(outcomes);
    const applied = outcomes.filter((outcome) => !outcome.error).length;
    return summarize(applied, outcomes.length, "applied", "rerun to retry the failed ones")
      ? EXIT_OK
      : EXIT_FAILURE;
  },
};
