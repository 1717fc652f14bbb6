import { diagnoseAll, type CheckLevel, type DoctorTarget } from "../deploy/doctor.js";
import {
  KUBECONFIG_NOTE,
  readClusterOptions,
  readTargets,
  runOptions,
  TARGET_FLAGS,
  TARGET_FLAGS_USAGE,
} from "../deploy/prepare.js";
import { reportInvalidInput, summarize } from "../deploy/report.js";
import { parseArgs } from "./args.js";
import { EXIT_FAILURE, EXIT_OK, type Command } from "./command.js";
import { style, type Style } from "./output.js";

const LEVEL_STYLE: Record<CheckLevel, Style> = { ok: "green", warn: "yellow", fail: "red" };

export const doctorCommand: Command = {
  name: "doctor",
  summary:
    "check each cluster makes the filter's metrics visible (Istio version, extraStatTags, stats inclusion)",
  usage: `Usage: kwt doctor --clusters FILE [--cluster NAME]... [--concurrency N] [--timeout SECONDS]

For each cluster in FILE reads istiod's Deployment (for the Istio version) and the mesh config
ConfigMap (istio, or istio-<revision>) and checks:
  Istio version     1.20 to 1.30, the releases kwt validates WasmPlugins against
  extraStatTags     lists every label the filter's metrics carry (else the values stay in the names)
  stats inclusion   the proxies' stats matcher exports wasmcustom.*
For each failed check it prints the exact change to make. Changes nothing.

Options:
${TARGET_FLAGS_USAGE}

${KUBECONFIG_NOTE}

Exit status: 0 no check failed (warnings allowed); 1 a check failed or a cluster could not be
read; 2 bad command line.`,
  async run(argv) {
    const options = readClusterOptions(parseArgs(argv, TARGET_FLAGS));
    let targets: DoctorTarget[];
    try {
      targets = readTargets(options);
    } catch (error) {
      return reportInvalidInput("doctor", error);
    }
    const outcomes = await diagnoseAll(targets, runOptions(options, "checked"));
    let failing = 0;
    for (const { target, result, error } of outcomes) {
      console.log(`${target.cluster} (context ${target.context})`);
      if (error) console.log(`  ${style("FAIL", "red")}  ${error}`);
      for (const check of result ?? []) {
        console.log(
          `  ${style(check.level.toUpperCase().padEnd(4), LEVEL_STYLE[check.level])}  ${check.name.padEnd(15)}  ${check.detail}`,
        );
        if (check.fix) console.log(`        fix: ${check.fix.replaceAll("\n", "\n        ")}`);
      }
      if (error || result?.some((check) => check.level === "fail")) failing++;
    }
    const healthy = outcomes.length - failing;
    return summarize(healthy, outcomes.length, "without problems", "apply the fixes above")
      ? EXIT_OK
      : EXIT_FAILURE;
  },
};
