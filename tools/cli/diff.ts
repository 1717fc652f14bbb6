import { describeChange, dryRunAll } from "../deploy/diff.js";
import {
  IMAGE_FLAGS,
  IMAGE_FLAGS_USAGE,
  KUBECONFIG_NOTE,
  readClusterOptions,
  runOptions,
  TARGET_FLAGS,
  TARGET_FLAGS_USAGE,
} from "../deploy/prepare.js";
import { plansOrExit, summarize } from "../deploy/report.js";
import { booleanFlag, parseArgs, type FlagSpec } from "./args.js";
import { EXIT_FAILURE, EXIT_OK, projectRoot, type Command } from "./command.js";
import { style } from "./output.js";

const DIFF_FLAGS: FlagSpec = { ...TARGET_FLAGS, ...IMAGE_FLAGS, force: "boolean" };

export const diffCommand: Command = {
  name: "diff",
  summary: "per cluster, what kwt deploy would change, as the cluster's own server-side dry run says",
  usage: `Usage: kwt diff --clusters FILE [--image REF] [--digest sha256:...] [--force] [--cluster NAME]...
                [--concurrency N] [--timeout SECONDS]

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

${KUBECONFIG_NOTE}

Exit status: 0 every cluster answered (with or without changes); 1 a cluster refused the dry run
or could not be reached (details printed); 2 bad command line.`,
  async run(argv) {
    const args = parseArgs(argv, DIFF_FLAGS);
    const options = readClusterOptions(args);
    const prepared = plansOrExit("diff", projectRoot(), options, { requireDigest: true, withSecret: true });
    if (typeof prepared === "number") return prepared;
    const outcomes = await dryRunAll(prepared.plans, {
      ...runOptions(options, "dry run done"),
      force: booleanFlag(args, "force"),
    });
    for (const { target, result, error } of outcomes) {
      console.log(`${target.cluster} (context ${target.context})`);
      if (error) console.log(`  ${style("refused", "red")}: ${error}`);
      for (const change of result ?? []) for (const line of describeChange(change)) console.log(`  ${line}`);
    }
    const answered = outcomes.filter((outcome) => !outcome.error);
    const changing = answered.filter((outcome) =>
      outcome.result!.some((change) => change.action !== "unchanged"),
    ).length;
    const ok = summarize(
      answered.length,
      outcomes.length,
      `diffed, ${changing} with changes`,
      "see why above; nothing was changed anywhere",
    );
    return ok ? EXIT_OK : EXIT_FAILURE;
  },
};
