// Forged values cannot push a revision's real series out: source clusters and regions from hop
// stamps are bounded per dimension and root context (maxSourceLabelValues, the rest recorded as `_other`),
// or by knownClusters / knownRegions when set, so the series cap is never reached by invented names.

import { describe, expect, it } from "vitest";

import { seriesLines } from "../support/prometheus-text.js";
import { LAYOUTS, REQUEST, REV, T0_MS, exchange, loadProxy, metricValue } from "./setup.js";
import type { Plugin } from "../harness/plugin.js";

const FORGED = 700;

/** One request per invented cluster and region, each with a valid hop stamp over mTLS. */
function sendForgedHops(plugin: Plugin, cluster: (i: number) => string): void {
  for (let i = 0; i < FORGED; i++) {
    const stamp = `1;c=${cluster(i)};r=region-${i};t=${T0_MS}`;
    exchange(plugin, [...REQUEST, ["x-kwt-hop", stamp]], { status: 200 });
  }
}

/** The distinct values of `label` among the series of `metric`. */
function labelValues(plugin: Plugin, metric: string, label: string): Set<string> {
  const pattern = new RegExp(`[{,]${label}="([^"]*)"`);
  return new Set(
    seriesLines(plugin.stats.prometheusText(), metric).map((line) => pattern.exec(line)?.[1] ?? "?"),
  );
}

const REAL_503 = `knative_errors_total{${REV},source_cluster="",response_code_class="5xx",error_kind="http_5xx"}`;

describe.each(LAYOUTS)("source labels from hop stamps (%s layout)", (layout) => {
  it("folds invented clusters and regions past 32 into _other; the revision's 503 keeps its series", async () => {
    const plugin = await loadProxy({ layout, position: "inbound" });
    sendForgedHops(plugin, (i) => `forged-${i}`);
    exchange(plugin, REQUEST, { status: 503 });

    // Streams alternate between the two workers; each worker's root context admits its own first 32 values.
    expect(plugin.workerCount).toBe(2);
    const admitted = 2 * 32;
    expect(metricValue(plugin, REAL_503)).toBe(1);
    expect(metricValue(plugin, "kwt_series_overflow_total{}")).toBeUndefined();
    const clusters = labelValues(plugin, "mesh_cross_cluster_requests_total", "source_cluster");
    expect(clusters.size).toBe(admitted + 1);
    expect(clusters.has("_other")).toBe(true);
    const regions = labelValues(plugin, "mesh_cross_cluster_requests_total", "source_region");
    expect(regions.size).toBe(admitted + 1);
    expect(
      metricValue(
        plugin,
        `knative_invocations_total{${REV},source_cluster="_other",response_code_class="2xx"}`,
      ),
    ).toBe(FORGED - admitted);
    expect(
      metricValue(
        plugin,
        `knative_invocations_total{${REV},source_cluster="forged-0",response_code_class="2xx"}`,
      ),
    ).toBe(1);
  });

  it("takes maxSourceLabelValues from the configuration", async () => {
    const plugin = await loadProxy({ layout, position: "inbound", config: { maxSourceLabelValues: 2 } });
    sendForgedHops(plugin, (i) => `forged-${i}`);
    // Worker one sees the even clusters, worker two the odd ones: two each.
    expect(plugin.workerCount).toBe(2);
    expect(labelValues(plugin, "knative_invocations_total", "source_cluster")).toEqual(
      new Set(["forged-0", "forged-1", "forged-2", "forged-3", "_other"]),
    );
  });

  it("with knownClusters set, admits only those clusters and still bounds the regions", async () => {
    const plugin = await loadProxy({ layout, position: "inbound", config: { knownClusters: ["cluster-b"] } });
    sendForgedHops(plugin, (i) => (i % 2 === 0 ? "cluster-b" : `forged-${i}`));
    exchange(plugin, REQUEST, { status: 503 });

    expect(metricValue(plugin, REAL_503)).toBe(1);
    expect(metricValue(plugin, `kwt_stamps_rejected_total{reason="unknown_cluster"}`)).toBe(FORGED / 2);
    expect(labelValues(plugin, "mesh_cross_cluster_requests_total", "source_cluster")).toEqual(
      new Set(["cluster-b"]),
    );
    // Every cluster-b hop (even i) lands on the first of the two workers: one VM's 32 regions.
    expect(plugin.workerCount).toBe(2);
    expect(labelValues(plugin, "mesh_cross_cluster_requests_total", "source_region").size).toBe(33);
  });
});
