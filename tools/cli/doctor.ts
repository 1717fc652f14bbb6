import { diagnoseAll, type Check, type CheckLevel, type DoctorTarget } from "../deploy/doctor.js";
import { readTargets } from "../deploy/cluster-selection.js";
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
import { type Command } from "./command.js";
import { style, type Style } from "./output.js";

const LEVEL_STYLE: Record<CheckLevel, Style> = { ok: "green", warn: "yellow", fail: "red" };

interface DoctorRow extends ClusterRow {
  checks: Check[];
}

function doctorRow(target: DoctorTarget, checks: Check[] | undefined, error: string | undefined): DoctorRow {
  const base = { cluster: target.cluster, context: target.context, checks: checks ?? [] };
  if (error || !checks) return { ...base, ok: false, result: "unreadable", reason: error ?? "no answer" };
  const failed = checks.filter((check) => check.level === "fail");
  if (failed.length === 0) return { ...base, ok: true, result: "ok" };
  return {
    ...base,
    ok: false,
    result: "problems",
    reason: `${failed.length} check${failed.length === 1 ? "" : "s"} failed: ${failed.map((check) => check.name).join(", ")}`,
  };
}

/** Each cluster, then one line per check with its fix; an unreadable cluster gets its one reason. */
function doctorText(rows: DoctorRow[]): string {
  const lines: string[] = [];
  for (const row of rows) {
    lines.push(`${row.cluster} (context ${row.context})`);
    if (row.result === "unreadable") lines.push(`  ${style("FAIL", "red")}  ${row.reason}`);
    for (const check of row.checks) {
      lines.push(
        `  ${style(check.level.toUpperCase().padEnd(4), LEVEL_STYLE[check.level])}  ${check.name.padEnd(15)}  ${check.detail}`,
      );
      if (check.fix) lines.push(`        fix: ${check.fix.replaceAll("\n", "\n        ")}`);
    }
  }
  return lines.join("\n");
}

export const doctorCommand: Command = {
  name: "doctor",
  summary:
    "check each cluster makes the filter's metrics visible and true (Istio version, extraStatTags, stats inclusion, activator sidecar)",
  usage: `Usage: kwt doctor --clusters FILE [--cluster NAME]... [--concurrency N] [--timeout SECONDS]
                  [-o json|yaml]

For each cluster in FILE reads istiod's Deployment (for the Istio version) and the mesh config
ConfigMap (istio, or istio-<revision>), lists the activator's pods, and checks:
  Istio version     1.20 to 1.30, the releases kwt validates WasmPlugins against
  extraStatTags     lists every label the filter's metrics carry (else the values stay in the names)
  stats inclusion   the proxies' stats matcher exports wasmcustom.*
  activator         the activator's pods (knative-serving, app=activator) have an Istio sidecar, so
                    the filter can verify cold starts (a warning otherwise, and when it may not
                    list those pods: that needs deploy/rbac/kwt-data-plane.yaml)
For each failed check it prints the exact change to make. Changes nothing.

Options:
${TARGET_FLAGS_USAGE}
${OUTPUT_FLAGS_USAGE}

${KUBECONFIG_NOTE}

Exit status: 0 no check failed (warnings allowed); 1 a check failed or a cluster could not be
read; 2 bad command line.`,
  flags: { ...TARGET_FLAGS, ...OUTPUT_FLAGS },
  async run(argv) {
    const args = parseArgs(argv, this.flags);
    const options = readClusterOptions(args);
    const format = outputFormat(args);
    let targets: DoctorTarget[];
    try {
      targets = readTargets(options);
    } catch (error) {
      return reportInvalidInput("doctor", error);
    }
    const outcomes = await diagnoseAll(
      targets,
      runOptions(options, (outcome) =>
        (outcome.result as Check[]).some((check) => check.level === "fail") ? "checks failed" : "checked",
      ),
    );
    return printClusterReport(format, {
      command: "doctor",
      rows: outcomes.map(({ target, result, error }) => doctorRow(target, result, error)),
      what: "without problems",
      advice: (rows) =>
        rows.some((row) => row.result === "problems")
          ? "apply the fixes above"
          : "fix what stops kwt from reading them and rerun",
      text: doctorText,
    });
  },
};
