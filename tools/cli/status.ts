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
import { booleanFlag, integerFlag, parseArgs, UsageError } from "./args.js";
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
  type ClusterReport,
  type ClusterRow,
} from "./cluster-report.js";
import { projectRoot, type Command } from "./command.js";

function shortDigest(digest: string | undefined): string {
  return digest ? digest.slice(0, "sha256:".length + 12) : "-";
}

/** What differs from what kwt deploy would apply (empty when in sync or absent). */
function mismatches(status: PluginStatus): string[] {
  if (!status.present) return [];
  return [
    ...(status.digestMatches === false ? ["digest"] : []),
    ...status.differences,
    ...(status.pullSecretPresent === false ? ["pull secret missing"] : []),
  ];
}

interface StatusRow extends ClusterRow {
  /** present, absent, or unknown (the cluster could not be read). */
  plugin: "present" | "absent" | "unknown";
  digest?: string;
  mismatches: string[];
  /** With --data-plane: what the sampled sidecars said. */
  dataPlane?: Omit<DataPlaneRow, "cluster" | "context">;
}

function statusRow(
  cluster: string,
  context: string,
  status: PluginStatus | undefined,
  error?: string,
): StatusRow {
  const base = { cluster, context };
  if (error || !status) {
    return {
      ...base,
      ok: false,
      result: "unreadable",
      reason: error ?? "no answer",
      plugin: "unknown",
      mismatches: [],
    };
  }
  const wrong = mismatches(status);
  const ok = inSync(status);
  const reason = !status.present
    ? "no WasmPlugin yet: kwt deploy creates it"
    : ok
      ? undefined
      : `kwt deploy would change: ${wrong.join(", ")}`;
  return {
    ...base,
    ok,
    result: !status.present ? "absent" : ok ? "in-sync" : "differs",
    ...(reason ? { reason } : {}),
    ...(status.digest ? { digest: status.digest } : {}),
    plugin: status.present ? "present" : "absent",
    mismatches: wrong,
  };
}

/** Deploying fixes drift; it does not fix a cluster that could not be read. */
function advice(rows: StatusRow[]): string {
  const unreadable = rows.filter((row) => row.result === "unreadable").length;
  const drifted = rows.filter((row) => !row.ok).length - unreadable;
  const deploy = unreadable
    ? `kwt deploy brings the ${drifted} that differ in line`
    : "kwt deploy brings them in line";
  const read = `${unreadable} could not be read: fix what REASON says and rerun`;
  return [...(drifted ? [deploy] : []), ...(unreadable ? [read] : [])].join("; ");
}

/** One cluster's sampled sidecars: a row of the data-plane table, and `dataPlane` of the status row. */
interface DataPlaneRow extends ClusterRow {
  result: "healthy" | "problems" | "unreadable";
  /** What the sampled sidecars said; absent when the cluster could not be read. */
  sample?: DataPlaneStatus;
}

function dataPlaneRow({ target, result, error }: ClusterOutcome<ClusterPlan, DataPlaneStatus>): DataPlaneRow {
  const base = { cluster: target.cluster, context: target.context };
  if (!result) return { ...base, ok: false, result: "unreadable", reason: error ?? "no answer" };
  const ok = result.problems.length === 0;
  return {
    ...base,
    ok,
    result: ok ? "healthy" : "problems",
    ...(ok ? {} : { reason: result.problems.join("; ") }),
    sample: result,
  };
}

const DATA_PLANE_ADVICE = "fix what REASON says (each problem names its pod) and rerun";

/** A data-plane table cell from the sample, or `unread` when the cluster could not be read. */
function sampleCell(
  cell: keyof ReturnType<typeof dataPlaneCells>,
  unread: string,
): (row: DataPlaneRow) => string {
  return (row) => (row.sample ? dataPlaneCells(row.sample)[cell] : unread);
}

const DATA_PLANE_COLUMNS = [
  { header: "SIDECARS", cell: sampleCell("sidecars", "unknown") },
  { header: "FETCHES", cell: sampleCell("fetches", "-") },
  { header: "CACHE", cell: sampleCell("cache", "-") },
  { header: "CONFIG VALID", cell: sampleCell("config", "-") },
];

/** For scripts, one row per cluster: the status row with its data-plane row; ok only when both are. */
function withDataPlane(row: StatusRow, dataPlane: DataPlaneRow): StatusRow {
  const { cluster: _cluster, context: _context, ...sidecars } = dataPlane;
  const reasons = [row.reason, dataPlane.reason && `data plane: ${dataPlane.reason}`].filter(Boolean);
  return {
    ...row,
    ok: row.ok && dataPlane.ok,
    ...(reasons.length ? { reason: reasons.join("; ") } : {}),
    dataPlane: sidecars,
  };
}

export const statusCommand: Command = {
  name: "status",
  summary: "per cluster: is the WasmPlugin there, which digest it pins, does it match the clusters file",
  usage: `Usage: kwt status --clusters FILE [--image REF] [--digest sha256:...] [--cluster NAME]...
                  [--concurrency N] [--timeout SECONDS] [--data-plane [--sample N]] [-o json|yaml]

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
${OUTPUT_FLAGS_USAGE}

${KUBECONFIG_NOTE}

Exit status: 0 every cluster in sync (and, with --data-plane, no problem in the sample); 1 a
cluster is missing the plugin, differs, could not be read, or a sampled proxy has a problem
(details printed); 2 bad command line.`,
  flags: { ...TARGET_FLAGS, ...IMAGE_FLAGS, ...OUTPUT_FLAGS, "data-plane": "boolean", sample: "string" },
  async run(argv) {
    const args = parseArgs(argv, this.flags);
    const options = readClusterOptions(args);
    const format = outputFormat(args);
    const dataPlane = booleanFlag(args, "data-plane");
    const sample = integerFlag(args, "sample", 1, 100);
    if (sample !== undefined && !dataPlane) throw new UsageError("--sample goes with --data-plane");
    const prepared = plansOrExit("status", projectRoot(), options, {
      requireDigest: false,
      withSecret: false,
    });
    if (typeof prepared === "number") return prepared;
    const outcomes = await readStatuses(prepared.plans, runOptions(options, "read"));
    const rows = outcomes.map(({ target, result, error }) =>
      statusRow(target.cluster, target.context, result, error),
    );
    const notes =
      prepared.plans[0]?.digest === undefined
        ? ["digest not compared: pass --digest sha256:... or set digest: in the clusters file"]
        : [];
    const report: ClusterReport<StatusRow> = {
      command: "status",
      rows,
      what: "in sync",
      advice,
      notes,
      columns: [
        { header: "PLUGIN", cell: (row) => row.plugin },
        { header: "DIGEST", cell: (row) => shortDigest(row.digest) },
        {
          header: "MATCHES",
          cell: (row) =>
            row.plugin !== "present"
              ? "-"
              : row.mismatches.length
                ? `no: ${row.mismatches.join(", ")}`
                : "yes",
        },
      ],
    };
    if (!dataPlane) return printClusterReport(format, report);
    const proxies = await readDataPlane(prepared.plans, {
      ...runOptions(options, "sidecars read"),
      sample: sample ?? 5,
    });
    const sidecarRows = proxies.map(dataPlaneRow);
    if (format !== "table") {
      return printClusterReport(format, {
        ...report,
        rows: rows.map((row, index) => withDataPlane(row, sidecarRows[index]!)),
        what: "in sync with a healthy data plane sample",
        advice: () =>
          [advice(rows), sidecarRows.some((row) => !row.ok) ? `data plane: ${DATA_PLANE_ADVICE}` : ""]
            .filter(Boolean)
            .join("; "),
      });
    }
    const controlPlane = printClusterReport(format, report);
    console.log("");
    const proxiesSaid = printClusterReport(format, {
      command: "status",
      rows: sidecarRows,
      what: "with a healthy data plane sample",
      advice: () => DATA_PLANE_ADVICE,
      columns: DATA_PLANE_COLUMNS,
    });
    return Math.max(controlPlane, proxiesSaid);
  },
};
