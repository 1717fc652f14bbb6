// The pure parts of `kwt demo --observe`: which dashboard queries it prints, how it fills legends,
// and how it measures what the filter's metrics cost.
import { describe, expect, it } from "vitest";
import {
  fillLegend,
  filterExpositionBytes,
  HEADLINE_PANELS,
  headlineQueries,
  wireBytesPerSample,
} from "./observe.js";

describe("kwt demo --observe", () => {
  it("prints the dashboard's own queries for each headline panel, variables resolved", () => {
    const queries = headlineQueries();
    expect([...new Set(queries.map((query) => query.panel))]).toEqual([...HEADLINE_PANELS]);
    for (const { expr } of queries) {
      expect(expr).not.toMatch(/\$/);
      expect(expr).toContain('cluster=~".*"');
    }
  });

  it("fills Grafana legends from a result's labels", () => {
    expect(
      fillLegend("{{source_cluster}} → {{ destination_cluster }} {{missing}}", {
        source_cluster: "west",
        destination_cluster: "east",
      }),
    ).toBe("west → east ");
  });

  it("counts only the filter's lines of an exposition", () => {
    const filterLine = 'knative_invocations_total{revision_name="r"} 3';
    const text = [
      "# TYPE knative_invocations_total counter",
      filterLine,
      "envoy_cluster_upstream_rq_total 9",
      "",
    ].join("\n");
    expect(filterExpositionBytes(text)).toBe(filterLine.length + 1);
  });

  it("takes bytes per sample from either agent's own metrics", () => {
    expect(
      wireBytesPerSample(
        "prometheus_remote_storage_bytes_total 3200\nprometheus_remote_storage_samples_total 100\n",
      ),
    ).toBe(32);
    expect(
      wireBytesPerSample(
        "vmagent_remotewrite_block_size_bytes_sum 900\nvmagent_remotewrite_block_size_rows_sum 25\n",
      ),
    ).toBe(36);
    expect(wireBytesPerSample("up 1\n")).toBeUndefined();
  });
});
