// The filter as one sidecar runs it: the outbound and the inbound plugin in the same two worker
// VMs (one root context each per VM), sharing the module's globals and the process's stats.

import { describe, expect, it } from "vitest";

import { ManualClock } from "../harness/clock.js";
import { EnvoyProcess, Plugin } from "../harness/plugin.js";
import { FILTER_METRIC_LABELS } from "../../tools/deploy/filter-contract.js";
import { seriesLines } from "../support/prometheus-text.js";
import { BASE_REQUEST, CLUSTER_A, CLUSTER_B, exchange, metricValue, pluginOptions } from "./setup.js";

describe("the outbound and inbound roots of one sidecar", () => {
  it("share the VMs, and the sampling gauge keeps each position's samplers apart", async () => {
    const clock = new ManualClock();
    const process = new EnvoyProcess({ clock, extraStatTags: [...FILTER_METRIC_LABELS] });
    const tracing = { targetSampledPerSecond: 5, minProbability: 0, maxProbability: 1 };
    const config = { tickPeriodMs: 1000, tracing };
    const outbound = await Plugin.loadInto(
      process,
      pluginOptions({ place: CLUSTER_A, position: "outbound", config }),
    );
    const inbound = await Plugin.loadInto(
      process,
      pluginOptions({ place: CLUSTER_A, position: "inbound", config }),
    );
    expect(outbound.rootContextIds).toEqual([1, 1]);
    expect(inbound.rootContextIds).toEqual([2, 2]);
    for (let i = 0; i < 100; i++) exchange(outbound, BASE_REQUEST, { fromMesh: false, status: 200 });
    process.advance(1000);
    // The outbound sampler is at 5 / 50 per second on each worker (0.1); each worker's root adds
    // its share under its position, so the idle inbound root (no request yet) cannot overwrite it.
    expect(metricValue(outbound, 'kwt_sampling_probability{position="outbound"}')).toBe(200_000);
    expect(metricValue(outbound, 'kwt_samplers{position="outbound"}')).toBe(2);
    expect(metricValue(outbound, 'kwt_sampling_probability{position="inbound"}')).toBeUndefined();
    outbound.close();
    inbound.close();
    process.close();
  });

  it("keeps each root's maxSourceLabelValues: an outbound root configured last folds none of the inbound root's caller clusters", async () => {
    const clock = new ManualClock();
    const process = new EnvoyProcess({ clock, extraStatTags: [...FILTER_METRIC_LABELS] });
    const inbound = await Plugin.loadInto(
      process,
      pluginOptions({ place: CLUSTER_B, position: "inbound", revision: true }),
    );
    const outbound = await Plugin.loadInto(
      process,
      pluginOptions({ place: CLUSTER_B, position: "outbound", config: { maxSourceLabelValues: 1 } }),
    );
    const nowMs = Number(clock.realtimeNs() / 1_000_000n);
    const callers = ["caller-0", "caller-1", "caller-2", "caller-3"];
    for (const caller of callers) {
      exchange(inbound, [...BASE_REQUEST, ["x-kwt-hop", `1;c=${caller};r=${caller}-1;t=${nowMs}`]], {
        status: 200,
      });
    }
    const sources = seriesLines(inbound.stats.prometheusText(), "mesh_cross_cluster_requests_total").map(
      (line) => /source_cluster="([^"]*)"/.exec(line)?.[1],
    );
    // The inbound root's default bound (32) applies to its own hop stamps, whatever the outbound root's is.
    expect(new Set(sources)).toEqual(new Set(callers));
    outbound.close();
    inbound.close();
    process.close();
  });
});
