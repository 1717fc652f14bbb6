import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Prepared } from "../deploy/cluster-selection.js";
import { gatewayWarning } from "../deploy/gateway-coverage.js";
import { checkRegistry } from "../deploy/registry-check.js";
import { renderClusterDocuments, renderClusterFiles } from "../deploy/render.js";
import { rollout, type RolloutResult, type RolloutRow } from "../deploy/rollout.js";
import { booleanFlag, parseArgs, stringFlag, UsageError, type ParsedArgs } from "./args.js";
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
import { EXIT_FAILURE, EXIT_OK, InputError, projectRoot, type Command } from "./command.js";
import {
  CREDENTIALS_NOTE,
  REGISTRY_FLAGS,
  REGISTRY_FLAGS_USAGE,
  registryAccess,
  retryPolicy,
  type RegistryAccess,
} from "./registry-flags.js";

/** --dry-run: to stdout (one cluster only: piped to kubectl it must not land on the wrong one) or to DIR. */
function printDryRun(prepared: Prepared, outputDir: string | undefined): number {
  if (outputDir === undefined) {
    process.stdout.write(prepared.plans.map(renderClusterDocuments).join(""));
    return EXIT_OK;
  }
  const files = renderClusterFiles(prepared.plans);
  mkdirSync(outputDir, { recursive: true });
  for (const { file, cluster, text } of files) {
    const target = path.join(outputDir, file);
    writeFileSync(target, text);
    console.log(`cluster ${cluster}: ${target}`);
  }
  return EXIT_OK;
}

async function registryProblems(prepared: Prepared, args: ParsedArgs, timeoutMs: number): Promise<string[]> {
  const { image } = prepared;
  let access: RegistryAccess;
  try {
    access = await registryAccess(args, image);
  } catch (error) {
    // A wrong flag or an unreadable --ca-file is the command line's fault: say so as push does.
    if (error instanceof UsageError || error instanceof InputError) throw error;
    return [`${image.registry}: cannot read the registry credentials: ${(error as Error).message}`];
  }
  return await checkRegistry(image, prepared.plans[0]!.digest!, {
    ...access,
    timeoutMs,
    retry: retryPolicy(args),
  });
}

interface DeployRow extends ClusterRow, Omit<RolloutRow, "result"> {
  result: RolloutResult;
}

export const deployCommand: Command = {
  name: "deploy",
  summary:
    "render, validate, check (registry, server-side dry run) and server-side apply the filter's WasmPlugin to every cluster",
  usage: `Usage: kwt deploy --clusters FILE [--image REF] [--digest sha256:...] [--force] [--keep-going]
                  [--cluster NAME]... [--concurrency N] [--timeout SECONDS] [-o json|yaml]
                  [--plain-http | --insecure | --ca-file PEM] [--username U --password-stdin]
                  [--retries N]
       kwt deploy --clusters FILE --dry-run [--output-dir DIR] [--cluster NAME]...

For each cluster in FILE renders a WasmPlugin (pinned digest, failStrategy FAIL_OPEN, phase STATS,
pluginConfig = the file's config merged with the cluster's, checked against the filter's schema)
and, when configured, its pull Secret; validates every manifest against Istio 1.20's and 1.30's
CRD schemas. Nothing is applied anywhere if any manifest is invalid. Then, before touching any
cluster, checks that the registry has the image: the pinned digest, and the tag pointing at it
(reached and authenticated as kwt push does: the same registry flags, else Docker's
config.json). Then a server-side dry run
(dryRun=All) on every cluster, so each cluster's own CRD schema and admission webhooks decide;
if one refuses or cannot be reached, nothing is applied anywhere unless --keep-going. Then
server-side apply (field manager kwt) to all clusters at once. Rerunning converges, also after a
partial apply with --keep-going.

Options:
${TARGET_FLAGS_USAGE}
${IMAGE_FLAGS_USAGE}
  --dry-run            contact no cluster and no registry: print the manifests as YAML; to stdout
                       only for one cluster (--cluster NAME, or a file with one), else exit 2
  --output-dir DIR     with --dry-run: write DIR/<cluster>.yaml per cluster, each holding only
                       that cluster's objects (for kubectl --context ... apply -f)
                       A pull Secret is never printed: a comment says it would be created or
                       updated, its content redacted.
  --force              take over fields another field manager owns (after a conflict)
  --keep-going         apply to the clusters whose dry run passed even if others refused
${OUTPUT_FLAGS_USAGE}

The registry check:
${REGISTRY_FLAGS_USAGE}

${CREDENTIALS_NOTE}

${KUBECONFIG_NOTE}

Exit status: 0 every cluster applied (or --dry-run printed); 1 something failed, or nothing was
applied because the registry check or a cluster's dry run failed (details printed); 2 bad
command line.`,
  flags: {
    ...TARGET_FLAGS,
    ...IMAGE_FLAGS,
    ...OUTPUT_FLAGS,
    "dry-run": "boolean",
    "output-dir": "string",
    force: "boolean",
    "keep-going": "boolean",
    ...REGISTRY_FLAGS,
  },
  async run(argv) {
    const args = parseArgs(argv, this.flags);
    const options = readClusterOptions(args);
    const format = outputFormat(args);
    const dryRun = booleanFlag(args, "dry-run");
    const outputDir = stringFlag(args, "output-dir");
    if (outputDir !== undefined && !dryRun) throw new UsageError("--output-dir goes with --dry-run");
    const prepared = plansOrExit("deploy", projectRoot(), options, { requireDigest: true, withSecret: true });
    if (typeof prepared === "number") return prepared;
    if (dryRun && outputDir === undefined && prepared.plans.length > 1) {
      throw new UsageError(
        `--dry-run prints one cluster to stdout, and ${prepared.plans.length} are selected (${prepared.plans.map((plan) => plan.cluster).join(", ")}): pass --cluster NAME, or --output-dir DIR for one file per cluster`,
      );
    }
    const warning = gatewayWarning(prepared.plans);
    if (warning) console.error(`kwt deploy: warning: ${warning}`);
    if (dryRun) return printDryRun(prepared, outputDir);

    const problems = await registryProblems(prepared, args, options.timeoutMs);
    if (problems.length > 0) {
      console.error("kwt deploy: nothing applied anywhere; the registry check failed:");
      for (const problem of problems) console.error(`  - ${problem}`);
      return EXIT_FAILURE;
    }
    const rows = await rollout(prepared.plans, {
      ...runOptions(options, "done"),
      force: booleanFlag(args, "force"),
      keepGoing: booleanFlag(args, "keep-going"),
    });
    return printClusterReport(format, {
      command: "deploy",
      rows: rows.map((row): DeployRow => ({ ...row, ok: row.result === "applied" })),
      what: "applied",
      advice: (rows) =>
        rows.some((row) => row.result === "skipped")
          ? "fix the failed clusters and rerun, or rerun with --keep-going"
          : "rerun to retry the failed ones",
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
