// The receiving side: a stamp from another cluster makes a cross-cluster request, counted with
// exact label values; untrusted or unknown stamps are refused and counted.

import { describe, expect, it } from "vitest";

import { ManualClock } from "../harness/clock.js";
import type { Plugin } from "../harness/plugin.js";
import type { HeaderList } from "../harness/types.js";
import { seriesLines } from "../support/prometheus-text.js";
import { BASE_REQUEST, CLUSTER_A, CLUSTER_B, exchange, loadProxy, metricValue, onlyValue } from "./setup.js";

const NOW_MS = 1_700_000_000_000;
const HOP_LABELS =
  'source_cluster="cluster-a",source_region="eu-west1",destination_cluster="cluster-b",destination_region="us-east1"';
const REQUESTS_2XX = `mesh_cross_cluster_requests_total{${HOP_LABELS},response_code_class="2xx"}`;

function podSidecarB(config: Record<string, unknown> = {}): Promise<Plugin> {
  return loadProxy({
    place: CLUSTER_B,
    position: "inbound",
    revision: true,
    clock: new ManualClock(NOW_MS),
    config,
  });
}

function receive(plugin: Plugin, extra: HeaderList, mtls: boolean, responseCode = 200): void {
  exchange(plugin, [...BASE_REQUEST, ...extra], { fromMesh: mtls, status: responseCode });
}

function hopFromA(sentMs: number): HeaderList {
  return [["x-kwt-hop", `1;c=cluster-a;r=eu-west1;t=${sentMs}`]];
}

describe("cross-cluster requests", () => {
  it("counts a request stamped in another cluster and records the hop duration", async () => {
    const plugin = await podSidecarB();
    receive(plugin, hopFromA(NOW_MS - 300), true);
    receive(plugin, hopFromA(NOW_MS - 40), true, 503);
    expect(metricValue(plugin, REQUESTS_2XX)).toBe(1);
    expect(
      metricValue(plugin, `mesh_cross_cluster_requests_total{${HOP_LABELS},response_code_class="5xx"}`),
    ).toBe(1);
    const hopHistogram = `mesh_cross_cluster_hop_duration_milliseconds`;
    expect(metricValue(plugin, `${hopHistogram}_count{${HOP_LABELS}}`)).toBe(2);
    expect(metricValue(plugin, `${hopHistogram}_bucket{${HOP_LABELS},le="25"}`)).toBe(0);
    expect(metricValue(plugin, `${hopHistogram}_bucket{${HOP_LABELS},le="50"}`)).toBe(1);
    expect(metricValue(plugin, `${hopHistogram}_bucket{${HOP_LABELS},le="250"}`)).toBe(1);
    expect(metricValue(plugin, `${hopHistogram}_bucket{${HOP_LABELS},le="500"}`)).toBe(2);
    // The invocation is attributed to the source cluster too (part 1's metric).
    expect(plugin.stats.prometheusText()).toContain('source_cluster="cluster-a"');
    plugin.close();
  });

  it("clamps a send time in the future to 0 and counts clock skew", async () => {
    const plugin = await podSidecarB();
    receive(plugin, hopFromA(NOW_MS + 5000), true);
    expect(
      metricValue(plugin, 'kwt_clock_skew_total{source_cluster="cluster-a",destination_cluster="cluster-b"}'),
    ).toBe(1);
    expect(metricValue(plugin, `mesh_cross_cluster_hop_duration_milliseconds_count{${HOP_LABELS}}`)).toBe(1);
    expect(
      metricValue(plugin, `mesh_cross_cluster_hop_duration_milliseconds_bucket{${HOP_LABELS},le="0.5"}`),
    ).toBe(1);
    expect(metricValue(plugin, REQUESTS_2XX)).toBe(1);
    plugin.close();
  });

  it("keeps a source cluster's series apart per region, each counted once per request", async () => {
    const plugin = await podSidecarB();
    receive(plugin, hopFromA(NOW_MS - 10), true);
    receive(plugin, [["x-kwt-hop", `1;c=cluster-a;r=eu-north1;t=${NOW_MS - 10}`]], true);
    receive(plugin, [["x-kwt-hop", `1;c=cluster-a;r=eu-north1;t=${NOW_MS - 10}`]], true);
    receive(plugin, hopFromA(NOW_MS - 10), true);
    const northLabels = HOP_LABELS.replace('source_region="eu-west1"', 'source_region="eu-north1"');
    expect(metricValue(plugin, REQUESTS_2XX)).toBe(2);
    expect(
      metricValue(plugin, `mesh_cross_cluster_requests_total{${northLabels},response_code_class="2xx"}`),
    ).toBe(2);
    expect(metricValue(plugin, `mesh_cross_cluster_hop_duration_milliseconds_count{${HOP_LABELS}}`)).toBe(2);
    expect(metricValue(plugin, `mesh_cross_cluster_hop_duration_milliseconds_count{${northLabels}}`)).toBe(2);
    plugin.close();
  });

  it("does not count a hop inside the cluster", async () => {
    const plugin = await podSidecarB();
    receive(plugin, [["x-kwt-hop", `1;c=cluster-b;r=us-east1;t=${NOW_MS}`]], true);
    expect(plugin.stats.prometheusText()).not.toContain("mesh_cross_cluster");
    plugin.close();
  });

  it("ignores a stamp that did not arrive over mTLS, and counts it", async () => {
    const plugin = await podSidecarB();
    receive(plugin, hopFromA(NOW_MS - 10), false);
    expect(plugin.stats.prometheusText()).not.toContain("mesh_cross_cluster");
    expect(metricValue(plugin, 'kwt_stamps_rejected_total{reason="untrusted"}')).toBe(1);
    plugin.close();
  });

  it("refuses malformed stamps and clusters or regions outside the known lists", async () => {
    const plugin = await podSidecarB({
      knownClusters: ["cluster-b", "cluster-c"],
      knownRegions: ["us-east1", "eu-west1"],
    });
    receive(plugin, hopFromA(NOW_MS - 10), true);
    receive(plugin, [["x-kwt-hop", `1;c=cluster-c;r=mars-1;t=${NOW_MS}`]], true);
    receive(plugin, [["x-kwt-hop", `1;c=cluster-c;r=eu-west1;t=${NOW_MS}x`]], true);
    receive(plugin, [["x-kwt-hop", `1;c=cluster-c;r=eu-west1;t=${NOW_MS}`]], true);
    expect(metricValue(plugin, 'kwt_stamps_rejected_total{reason="unknown_cluster"}')).toBe(1);
    expect(metricValue(plugin, 'kwt_stamps_rejected_total{reason="unknown_region"}')).toBe(1);
    expect(metricValue(plugin, 'kwt_stamps_rejected_total{reason="malformed"}')).toBe(1);
    expect(
      metricValue(
        plugin,
        'mesh_cross_cluster_requests_total{source_cluster="cluster-c",source_region="eu-west1",destination_cluster="cluster-b",destination_region="us-east1",response_code_class="2xx"}',
      ),
    ).toBe(1);
    expect(metricValue(plugin, REQUESTS_2XX)).toBeUndefined();
    plugin.close();
  });

  it("bounds label sets from stamps with the series cap", async () => {
    const plugin = await podSidecarB({ maxSeries: 16 });
    for (let i = 0; i < 40; i++) receive(plugin, [["x-kwt-hop", `1;c=fake-${i};r=r;t=${NOW_MS}`]], true);
    const text = plugin.stats.prometheusText();
    const requestSeries = seriesLines(text, "mesh_cross_cluster_requests_total");
    expect(requestSeries.length).toBeLessThan(16);
    expect(text).toContain('mesh_cross_cluster_requests_total{source_cluster="overflow"');
    plugin.close();
  });
});

describe("stamps from outside the mesh", () => {
  it("a gateway strips a forged stamp and writes its own", async () => {
    const gateway = await loadProxy({
      place: CLUSTER_A,
      position: "gateway",
      clock: new ManualClock(NOW_MS),
    });
    const stream = gateway.createStream({ mtls: false });
    const outcome = stream.onRequestHeaders(
      [...BASE_REQUEST, ["x-kwt-hop", "1;c=cluster-z;r=nowhere;t=1"]],
      true,
    );
    expect(onlyValue(outcome.headers, "x-kwt-hop")).toBe(`1;c=cluster-a;r=eu-west1;t=${NOW_MS}`);
    stream.onResponseHeaders([[":status", "200"]], true);
    stream.end({ responseCode: 200 });

    const pod = await podSidecarB();
    receive(
      pod,
      outcome.headers.filter(([name]) => !name.startsWith(":")),
      true,
    );
    expect(metricValue(pod, REQUESTS_2XX)).toBe(1);
    expect(pod.stats.prometheusText()).not.toContain("cluster-z");
    gateway.close();
    pod.close();
  });
});
