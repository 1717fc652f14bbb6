import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { dockerConfigPath, loadCredentials } from "../oci/auth.js";
import {
  IMAGE_FLAGS,
  IMAGE_FLAGS_USAGE,
  KUBECONFIG_NOTE,
  readClusterOptions,
  runOptions,
  TARGET_FLAGS,
  TARGET_FLAGS_USAGE,
  type Prepared,
} from "../deploy/prepare.js";
import { checkRegistry } from "../deploy/registry-check.js";
import { plansOrExit, summarize } from "../deploy/report.js";
import { renderClusterDocuments, renderClusterFiles } from "../deploy/render.js";
import { rollout, type RolloutRow } from "../deploy/rollout.js";
import { booleanFlag, parseArgs, stringFlag, UsageError, type FlagSpec, type ParsedArgs } from "./args.js";
import { EXIT_FAILURE, EXIT_OK, projectRoot, type Command } from "./command.js";
import { renderTable, style } from "./output.js";

const DEPLOY_FLAGS: FlagSpec = {
  ...TARGET_FLAGS,
  ...IMAGE_FLAGS,
  "dry-run": "boolean",
  "output-dir": "string",
  force: "boolean",
  "keep-going": "boolean",
  "plain-http": "boolean",
};

/** --dry-run: to stdout (one cluster only: piped to kubectl it must not land on the wrong one) or to DIR. */
function printDryRun(prepared: Prepared, outputDir: string | undefined): number {
  if (outputDir === undefined) {
    if (prepared.plans.length > 1) {
      throw new UsageError(
        `--dry-run prints one cluster to stdout, and ${prepared.plans.length} are selected (${prepared.plans.map((plan) => plan.cluster).join(", ")}): pass --cluster NAME, or --output-dir DIR for one file per cluster`,
      );
    }
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
  try {
    const credentials = await loadCredentials(image.registry, dockerConfigPath());
    return await checkRegistry(image, prepared.plans[0]!.digest!, {
      credentials,
      plainHttp: booleanFlag(args, "plain-http"),
      timeoutMs,
    });
  } catch (error) {
    return [`${image.registry}: cannot read the registry credentials: ${(error as Error).message}`];
  }
}

function reportRows(rows: RolloutRow[]): void {
  const table = rows.map((row) => [
    row.cluster,
    row.context,
    row.result,
    row.objects.length ? row.objects.join(", ") : "-",
  ]);
  console.log(renderTable([["CLUSTER", "CONTEXT", "RESULT", "OBJECTS"], ...table]));
  for (const row of rows) {
    if (row.reason) {
      const word = style(row.result, row.result === "failed" ? "red" : "yellow", process.stderr);
      console.error(`${word} ${row.cluster} (${row.context}): ${row.reason}`);
    }
  }
}

export const deployCommand: Command = {
  name: "deploy",
  summary:
    "render, validate, check (registry, server-side dry run) and server-side apply the filter's WasmPlugin to every cluster",
  usage: `Usage: kwt deploy --clusters FILE [--image REF] [--digest sha256:...] [--force] [--keep-going]
                  [--plain-http] [--cluster NAME]... [--concurrency N] [--timeout SECONDS]
       kwt deploy --clusters FILE --dry-run [--output-dir DIR] [--cluster NAME]...

For each cluster in FILE renders a WasmPlugin (pinned digest, failStrategy FAIL_OPEN, phase STATS,
pluginConfig = the file's config merged with the cluster's, checked against the filter's schema)
and, when configured, its pull Secret; validates every manifest against Istio 1.20's and 1.30's
CRD schemas. Nothing is applied anywhere if any manifest is invalid. Then, before touching any
cluster, checks that the registry has the image: the pinned digest, and the tag pointing at it
(with the credentials kwt push uses: Docker's config.json). Then a server-side dry run
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
  --plain-http         talk HTTP, not HTTPS, to a registry that is not on loopback

${KUBECONFIG_NOTE}

Exit status: 0 every cluster applied (or --dry-run printed); 1 something failed, or nothing was
applied because the registry check or a cluster's dry run failed (details printed); 2 bad
command line.`,
  async run(argv) {
    const args = parseArgs(argv, DEPLOY_FLAGS);
    const options = readClusterOptions(args);
    const dryRun = booleanFlag(args, "dry-run");
    const outputDir = stringFlag(args, "output-dir");
    if (outputDir !== undefined && !dryRun) throw new UsageError("--output-dir goes with --dry-run");
    const prepared = plansOrExit("deploy", projectRoot(), options, { requireDigest: true, withSecret: true });
    if (typeof prepared === "number") return prepared;
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
    reportRows(rows);
    const applied = rows.filter((row) => row.result === "applied").length;
    const advice = rows.some((row) => row.result === "skipped")
      ? "fix the failed clusters and rerun, or rerun with --keep-going"
      : "rerun to retry the failed ones";
    return summarize(applied, rows.length, "applied", advice) ? EXIT_OK : EXIT_FAILURE;
  },
};
