// Turns the proxies' Prometheus text into the demo's summary, and the summary into readable text.

import { renderTable } from "../cli/output.js";
import { firstColdStartLine } from "./access-log.js";
import { parseExposition, sumBy, total, type Sample } from "./exposition.js";
import type { Summary } from "./scenario.js";

export interface ProxyExposition {
  name: string;
  text: string;
}

function mean(sum: number, count: number): number {
  return count === 0 ? 0 : sum / count;
}

/** The summary of the proxies' metrics and of the gateway's access log (`gatewayAccessLog`). */
export function summarise(expositions: ProxyExposition[], gatewayAccessLog: readonly string[]): Summary {
  const summary: Summary = {
    coldStarts: [],
    invocations: [],
    errors: [],
    activatorProxied: [],
    crossCluster: [],
    clientLatency: [],
    traces: [],
    groundTruth: [],
    coldStartLogLine: firstColdStartLine(gatewayAccessLog),
  };
  const all: Sample[] = [];
  for (const { name, text } of expositions) {
    const samples = parseExposition(text);
    all.push(...samples);
    const started = total(samples, "kwt_traces_started_total");
    const repaired = total(samples, "kwt_traceparent_repaired_total");
    if (started > 0 || repaired > 0) summary.traces.push({ proxy: name, started, repaired });
    for (const coldStart of [true, false]) {
      const match = { cold_start: String(coldStart) };
      const count = total(samples, "knative_request_duration_milliseconds_count", match);
      const sum = total(samples, "knative_request_duration_milliseconds_sum", match);
      if (count > 0) summary.clientLatency.push({ proxy: name, coldStart, count, meanMs: mean(sum, count) });
    }
  }

  const rev = ["revision_name", "destination_cluster"];
  for (const { labels, value } of sumBy(all, "knative_cold_starts_total", rev).values()) {
    const match = { revision_name: labels.revision_name!, destination_cluster: labels.destination_cluster! };
    const timed = total(all, "knative_cold_start_duration_milliseconds_count", match);
    const sum = total(all, "knative_cold_start_duration_milliseconds_sum", match);
    summary.coldStarts.push({
      revision: labels.revision_name!,
      cluster: labels.destination_cluster!,
      count: value,
      timed,
      meanMs: mean(sum, timed),
    });
  }
  for (const { labels, value } of sumBy(all, "knative_invocations_total", [
    "revision_name",
    "source_cluster",
    "response_code_class",
  ]).values()) {
    summary.invocations.push({
      revision: labels.revision_name!,
      sourceCluster: labels.source_cluster!,
      codeClass: labels.response_code_class!,
      count: value,
    });
  }
  for (const { labels, value } of sumBy(all, "knative_errors_total", [
    "revision_name",
    "error_kind",
  ]).values()) {
    summary.errors.push({ revision: labels.revision_name!, errorKind: labels.error_kind!, count: value });
  }
  for (const { labels, value } of sumBy(all, "knative_activator_proxied_total", ["revision_name"]).values()) {
    summary.activatorProxied.push({ revision: labels.revision_name!, count: value });
  }
  for (const { labels, value } of sumBy(all, "mesh_cross_cluster_requests_total", [
    "source_cluster",
    "destination_cluster",
  ]).values()) {
    summary.crossCluster.push({
      source: labels.source_cluster!,
      destination: labels.destination_cluster!,
      count: value,
    });
  }
  return summary;
}

function section(title: string, rows: string[][]): string {
  return rows.length <= 1 ? `${title}\n  (none)` : `${title}\n${indent(renderTable(rows))}`;
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => `  ${line}`)
    .join("\n");
}

export function renderSummary(summary: Summary): string {
  return [
    section("Cold starts per revision", [
      ["revision", "cluster", "cold starts", "timed", "mean wait (ms)"],
      ...summary.coldStarts.map((c) => [
        c.revision,
        c.cluster,
        `${c.count}`,
        `${c.timed}`,
        c.meanMs.toFixed(0),
      ]),
    ]),
    section("Invocations per revision and calling cluster", [
      ["revision", "from cluster", "class", "count"],
      ...summary.invocations.map((i) => [i.revision, i.sourceCluster, i.codeClass, `${i.count}`]),
    ]),
    section("Errors per revision", [
      ["revision", "error kind", "count"],
      ...summary.errors.map((e) => [e.revision, e.errorKind, `${e.count}`]),
    ]),
    section("Through the activator without a cold start (proxy mode)", [
      ["revision", "count"],
      ...summary.activatorProxied.map((a) => [a.revision, `${a.count}`]),
    ]),
    section("Cross-cluster requests", [
      ["from", "to", "count"],
      ...summary.crossCluster.map((c) => [c.source, c.destination, `${c.count}`]),
    ]),
    section("Client-visible latency", [
      ["measured at", "cold start", "requests", "mean (ms)"],
      ...summary.clientLatency.map((l) => [l.proxy, `${l.coldStart}`, `${l.count}`, l.meanMs.toFixed(0)]),
    ]),
    section("Traces", [
      ["proxy", "started", "repaired"],
      ...summary.traces.map((t) => [t.proxy, `${t.started}`, `${t.repaired}`]),
    ]),
    section("Ground truth next to what the filter measured", [
      ["what", "truth", "filter", ""],
      ...summary.groundTruth.map((row) => [
        row.what,
        `${row.truth}`,
        row.filter === null ? "-" : `${row.filter}`,
        row.filter === null ? "not measured" : row.filter === row.truth ? "" : "differs",
      ]),
    ]),
    `A cold start in the gateway's access log\n  ${summary.coldStartLogLine ?? "(none)"}`,
  ].join("\n\n");
}
