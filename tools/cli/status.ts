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
import {
  CACHE_METRIC,
  CONFIG_VALID_METRIC,
  dataPlaneCells,
  FETCH_METRIC,
  POD_READS_AT_ONCE,
  readDataPlane,
  type DataPlaneStatus,
} from "../deploy/data-plane.js";
import type { ClusterOutcome } from "../deploy/kube.js";
import type { ClusterPlan } from "../deploy/plan.js";
import { inSync, readStatuses, type PluginStatus } from "../deploy/status.js";
import { booleanFlag, integerFlag, parseArgs, UsageError, type FlagSpec } from "./args.js";
import { EXIT_FAILURE, EXIT_OK, projectRoot, type Command } from "./command.js";
import { renderTable, style } from "./output.js";

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

const STATUS_FLAGS: FlagSpec = { ...TARGET_FLAGS, ...IMAGE_FLAGS, "data-plane": "boolean", sample: "string" };

/** The data-plane table and, per cluster, each problem by pod; true when there are none. */
function reportDataPlane(outcomes: ClusterOutcome<ClusterPlan, DataPlaneStatus>[]): boolean {
  const rows = outcomes.map(({ target, result, error }) => {
    const cells = result ? dataPlaneCells(result) : undefined;
    return [
      target.cluster,
      error ? "unknown" : cells!.sidecars,
      cells?.fetches ?? "-",
      cells?.cache ?? "-",
      cells?.config ?? "-",
    ];
  });
  console.log("");
  console.log(renderTable([["CLUSTER", "SIDECARS", "FETCHES", "CACHE", "CONFIG VALID"], ...rows]));
  reportFailures(outcomes);
  for (const { target, result } of outcomes) {
    for (const problem of result?.problems ?? [])
      console.log(`${style("problem", "red")} ${target.cluster}: ${problem}`);
  }
  return outcomes.every((outcome) => outcome.result && outcome.result.problems.length === 0);
}

export const statusCommand: Command = {
  name: "status",
  summary: "per cluster: is the WasmPlugin there, which digest it pins, does it match the clusters file",
  usage: `Usage: kwt status --clusters FILE [--image REF] [--digest sha256:...] [--cluster NAME]...
                  [--concurrency N] [--timeout SECONDS] [--data-plane [--sample N]]

Reads the WasmPlugin kwt deploy would manage in each cluster of FILE and compares it with what
kwt deploy would apply now: the pinned digest (when --digest or digest: is given), every spec
field kwt sets, and the pull Secret it names. Changes nothing.

With --data-plane, also asks the proxies whether they loaded it: for up to N running pods with
an Istio sidecar (label security.istio.io/tlsMode=istio, plus the plugin's selector; all
namespaces when the plugin is in Istio's root namespace) it reads the merged metrics endpoint
:15020/stats/prometheus through the API server's pod proxy, ${POD_READS_AT_ONCE} pods at a time per cluster:
istio-agent's ${FETCH_METRIC} by result, ${CACHE_METRIC}, and the filter's
${CONFIG_VALID_METRIC} gauge per root ("not reported by this filter version" when absent). Fetch
failures, empty caches, rejected configurations and unreadable pods are named per cluster. This
needs permission to get pods/proxy, a high privilege kwt's base Role does not grant: see
deploy/rbac/kwt-data-plane.yaml.

Options:
${TARGET_FLAGS_USAGE}
${IMAGE_FLAGS_USAGE}
  --data-plane         also read the sidecars' Wasm and filter metrics (needs pods/proxy)
  --sample N           sidecar pods read per cluster with --data-plane (1-100, default 5)

${KUBECONFIG_NOTE}

Exit status: 0 every cluster in sync (and, with --data-plane, no problem in the sample); 1 a
cluster is missing the plugin, differs, could not be read, or a sampled proxy has a problem
(details printed); 2 bad command line.`,
  async run(argv) {
    const args = parseArgs(argv, STATUS_FLAGS);
    const options = readClusterOptions(args);
    const dataPlane = booleanFlag(args, "data-plane");
    const sample = integerFlag(args, "sample", 1, 100);
    if (sample !== undefined && !dataPlane) throw new UsageError("--sample goes with --data-plane");
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
    const controlPlane = summarize(synced, outcomes.length, "in sync", "kwt deploy brings them in line");
    if (!dataPlane) return controlPlane ? EXIT_OK : EXIT_FAILURE;
    const proxies = await readDataPlane(prepared.plans, {
      ...runOptions(options, "sidecars read"),
      sample: sample ?? 5,
    });
    const healthy = reportDataPlane(proxies);
    const clean = proxies.filter((outcome) => outcome.result && outcome.result.problems.length === 0).length;
    summarize(clean, proxies.length, "with a healthy data plane sample", "see the problems above");
    return controlPlane && healthy ? EXIT_OK : EXIT_FAILURE;
  },
};
