import { applyAll, type AppliedObject } from "../deploy/apply.js";
import { gatewayWarning } from "../deploy/gateway-coverage.js";
import { renderDocuments } from "../deploy/render.js";
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
import { EXIT_OK, projectRoot, type Command } from "./command.js";

interface DeployRow extends ClusterRow {
  objects: AppliedObject[];
}

export const deployCommand: Command = {
  name: "deploy",
  summary:
    "render, validate and server-side apply the filter's WasmPlugin to every cluster in a clusters file",
  usage: `Usage: kwt deploy --clusters FILE [--image REF] [--digest sha256:...] [--dry-run] [--force]
                  [--cluster NAME]... [--concurrency N] [--timeout SECONDS] [-o json|yaml]

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
${OUTPUT_FLAGS_USAGE}

${KUBECONFIG_NOTE}

Exit status: 0 every cluster applied (or --dry-run printed); 1 something failed (details
printed); 2 bad command line.`,
  flags: { ...TARGET_FLAGS, ...IMAGE_FLAGS, ...OUTPUT_FLAGS, "dry-run": "boolean", force: "boolean" },
  async run(argv) {
    const args = parseArgs(argv, this.flags);
    const options = readClusterOptions(args);
    const format = outputFormat(args);
    const prepared = plansOrExit("deploy", projectRoot(), options, { requireDigest: true, withSecret: true });
    if (typeof prepared === "number") return prepared;
    const warning = gatewayWarning(prepared.plans);
    if (warning) console.error(`kwt deploy: warning: ${warning}`);
    if (booleanFlag(args, "dry-run")) {
      process.stdout.write(renderDocuments(prepared.plans));
      return EXIT_OK;
    }
    const outcomes = await applyAll(prepared.plans, {
      ...runOptions(options, "applied"),
      force: booleanFlag(args, "force"),
    });
    const rows = outcomes.map(({ target, result, error }): DeployRow => ({
      cluster: target.cluster,
      context: target.context,
      ok: !error,
      result: error ? "failed" : "applied",
      ...(error ? { reason: error } : {}),
      objects: result ?? [],
    }));
    return printClusterReport(format, {
      command: "deploy",
      rows,
      what: "applied",
      advice: () => "rerun to retry the failed ones",
      columns: [
        { header: "RESULT", cell: (row) => (row.ok ? "ok" : "failed") },
        {
          header: "OBJECTS",
          cell: (row) => row.objects.map((object) => `${object.kind} ${object.action}`).join(", ") || "-",
        },
      ],
    });
  },
};
