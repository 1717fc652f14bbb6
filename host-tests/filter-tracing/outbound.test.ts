// The caller side (outbound sidecar): hop stamp on every request, W3C trace context kept,
// started or repaired, adaptive sampling.

import { describe, expect, it } from "vitest";

import { ManualClock } from "../harness/clock.js";
import { Plugin } from "../harness/plugin.js";
import type { HeaderList } from "../harness/types.js";
import {
  BASE_REQUEST,
  CLUSTER_A,
  allValues,
  exchange,
  loadProxy,
  metricValue,
  onlyValue,
  parseTraceparent,
  pluginOptions,
} from "./setup.js";

const TRACE_ID = "12345678901234567890123456789012";
const PARENT_ID = "1234567890123456";
const VALID = `00-${TRACE_ID}-${PARENT_ID}-01`;
const OWN_MEMBER = "kwt=cluster-a;eu-west1";

async function outboundProxy(config: Record<string, unknown> = {}, clock = new ManualClock()) {
  return loadProxy({ place: CLUSTER_A, position: "outbound", config, clock });
}

/** The request headers as the filter let them through. */
function send(plugin: Awaited<ReturnType<typeof outboundProxy>>, extra: HeaderList): HeaderList {
  return exchange(plugin, [...BASE_REQUEST, ...extra], { fromMesh: false, status: 200 }).request;
}

describe("hop stamp", () => {
  it("stamps cluster, region and send time on every outbound request", async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const plugin = await outboundProxy({}, clock);
    expect(onlyValue(send(plugin, []), "x-kwt-hop")).toBe("1;c=cluster-a;r=eu-west1;t=1700000000000");
    clock.advance(1234);
    // A stamp the workload sent along is replaced, not trusted.
    expect(onlyValue(send(plugin, [["x-kwt-hop", "1;c=evil;r=evil;t=1"]]), "x-kwt-hop")).toBe(
      "1;c=cluster-a;r=eu-west1;t=1700000001234",
    );
    plugin.close();
  });

  it("uses the configured header name", async () => {
    const plugin = await outboundProxy({ hopHeader: "x-my-hop" });
    const headers = send(plugin, []);
    expect(onlyValue(headers, "x-my-hop")).toBe("1;c=cluster-a;r=eu-west1;t=1700000000000");
    expect(allValues(headers, "x-kwt-hop")).toEqual([]);
    plugin.close();
  });
});

describe("traceparent on outbound requests", () => {
  it("keeps a valid traceparent and leaves tracestate exactly as it was", async () => {
    const plugin = await outboundProxy();
    const headers = send(plugin, [
      ["traceparent", VALID],
      ["tracestate", "foo=1,,bar=2"],
      ["tracestate", "BAD KEY"],
    ]);
    expect(allValues(headers, "traceparent")).toEqual([VALID]);
    expect(allValues(headers, "tracestate")).toEqual(["foo=1,,bar=2", "BAD KEY"]);
    expect(metricValue(plugin, 'kwt_traces_started_total{sampled="true"}')).toBe(0);
    plugin.close();
  });

  it("starts a trace with random ids when there is none, and drops an orphan tracestate", async () => {
    const plugin = await outboundProxy();
    const seenTraceIds = new Set<string>();
    const seenSpanIds = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const headers = send(plugin, i === 0 ? [["tracestate", "foo=1"]] : []);
      const traceparent = parseTraceparent(onlyValue(headers, "traceparent"));
      // Sampled (a quiet VM starts at maxProbability 1) and the random-trace-id flag.
      if (i < 10) expect(traceparent.flags).toBe(0x03);
      seenTraceIds.add(traceparent.traceId);
      seenSpanIds.add(traceparent.parentId);
      expect(allValues(headers, "tracestate")).toEqual([OWN_MEMBER]);
    }
    expect(seenTraceIds.size).toBe(50);
    expect(seenSpanIds.size).toBe(50);
    plugin.close();
  });

  // Each invalid case of the W3C conformance suite (test/test.py) and the reason it is counted under.
  const INVALID: Array<[string, HeaderList, string]> = [
    ["version ff", [["traceparent", `ff-${TRACE_ID}-${PARENT_ID}-01`]], "version"],
    ["version with illegal characters", [["traceparent", `.0-${TRACE_ID}-${PARENT_ID}-01`]], "version"],
    ["version too long", [["traceparent", `000-${TRACE_ID}-${PARENT_ID}-01`]], "version"],
    ["version too short", [["traceparent", `0-${TRACE_ID}-${PARENT_ID}-01`]], "version"],
    ["zero trace-id", [["traceparent", `00-${"0".repeat(32)}-${PARENT_ID}-01`]], "trace_id"],
    [
      "upper-case trace-id",
      [["traceparent", `00-${"4BF92F3577B34DA6A3CE929D0E0E4736"}-${PARENT_ID}-01`]],
      "trace_id",
    ],
    ["trace-id too long", [["traceparent", `00-${TRACE_ID}3-${PARENT_ID}-01`]], "trace_id"],
    ["trace-id too short", [["traceparent", `00-${TRACE_ID.slice(1)}-${PARENT_ID}-01`]], "trace_id"],
    ["zero parent-id", [["traceparent", `00-${TRACE_ID}-0000000000000000-01`]], "parent_id"],
    [
      "parent-id with illegal characters",
      [["traceparent", `00-${TRACE_ID}-123456789012345.-01`]],
      "parent_id",
    ],
    ["flags too short", [["traceparent", `00-${TRACE_ID}-${PARENT_ID}-1`]], "flags"],
    ["flags with illegal characters", [["traceparent", `00-${TRACE_ID}-${PARENT_ID}-.0`]], "flags"],
    [
      "extra data on version 00",
      [["traceparent", `00-${TRACE_ID}-${PARENT_ID}-01-what-the-future-will-be-like`]],
      "trailing_data",
    ],
    [
      "future version without a dash",
      [["traceparent", `cc-${TRACE_ID}-${PARENT_ID}-01.what-the-future`]],
      "trailing_data",
    ],
    [
      "duplicated header",
      [
        ["traceparent", `00-12345678901234567890123456789011-${PARENT_ID}-01`],
        ["traceparent", VALID],
      ],
      "duplicate",
    ],
  ];

  for (const [name, extra, reason] of INVALID) {
    it(`replaces an invalid traceparent (${name}), drops tracestate, counts reason=${reason}`, async () => {
      const plugin = await outboundProxy();
      const headers = send(plugin, [...extra, ["tracestate", "foo=1"]]);
      const traceparent = parseTraceparent(onlyValue(headers, "traceparent"));
      expect(traceparent.traceId).not.toBe(TRACE_ID);
      expect(traceparent.traceId).not.toBe("12345678901234567890123456789011");
      expect(allValues(headers, "tracestate")).toEqual([OWN_MEMBER]);
      expect(metricValue(plugin, `kwt_traceparent_repaired_total{reason="${reason}"}`)).toBe(1);
      expect(metricValue(plugin, 'kwt_traces_started_total{sampled="true"}')).toBe(1);
      plugin.close();
    });
  }

  it("downgrades a future version, merges repeated tracestate headers and puts its member leftmost", async () => {
    const plugin = await outboundProxy();
    const headers = send(plugin, [
      ["traceparent", `cc-${TRACE_ID}-${PARENT_ID}-ff-future-field`],
      ["tracestate", "rojo=1, kwt=old"],
      ["tracestate", "congo=2"],
    ]);
    expect(allValues(headers, "traceparent")).toEqual([`00-${TRACE_ID}-${PARENT_ID}-03`]);
    expect(allValues(headers, "tracestate")).toEqual([`${OWN_MEMBER},rojo=1,congo=2`]);
    expect(metricValue(plugin, 'kwt_traceparent_repaired_total{reason="version"}')).toBe(0);
    plugin.close();
  });

  it("uses the configured tracestate key", async () => {
    const plugin = await outboundProxy({ tracing: { tracestateKey: "acme@kwt" } });
    expect(allValues(send(plugin, []), "tracestate")).toEqual(["acme@kwt=cluster-a;eu-west1"]);
    plugin.close();
  });

  it("leaves trace context alone when tracing is disabled", async () => {
    const plugin = await outboundProxy({ tracing: { enabled: false } });
    const headers = send(plugin, [["traceparent", "garbage"]]);
    expect(allValues(headers, "traceparent")).toEqual(["garbage"]);
    expect(allValues(headers, "tracestate")).toEqual([]);
    expect(onlyValue(headers, "x-kwt-hop")).toBe("1;c=cluster-a;r=eu-west1;t=1700000000000");
    plugin.close();
  });
});

describe("adaptive sampling", () => {
  it("samples a burst up to the budget, then lowers the probability to target / rate on the tick", async () => {
    const clock = new ManualClock();
    const config = {
      tickPeriodMs: 1000,
      tracing: { targetSampledPerSecond: 5, minProbability: 0, maxProbability: 1 },
    };
    const plugin = await outboundProxy(config, clock);
    // A root reports its sampler once its first request told it where it runs.
    expect(metricValue(plugin, 'kwt_sampling_probability{position="outbound"}')).toBeUndefined();
    let sampled = 0;
    for (let i = 0; i < 100; i++) {
      if ((parseTraceparent(onlyValue(send(plugin, []), "traceparent")).flags & 1) === 1) sampled++;
    }
    // The budget is per VM (docs/filter.md): each of the two workers gets 50 of the requests and
    // samples 2 x 5/s x 1 s = 10 of them at probability 1, then minProbability 0.
    expect(sampled).toBe(20);
    expect(metricValue(plugin, 'kwt_traces_started_total{sampled="true"}')).toBe(20);
    expect(metricValue(plugin, 'kwt_traces_started_total{sampled="false"}')).toBe(80);
    // Each worker's sampler adds its probability (x 1e6) to the gauge and counts itself in
    // kwt_samplers, so workers add up instead of overwriting each other (the dashboard divides).
    expect(metricValue(plugin, 'kwt_sampling_probability{position="outbound"}')).toBe(2_000_000);
    expect(metricValue(plugin, 'kwt_samplers{position="outbound"}')).toBe(2);
    plugin.advance(1000);
    // Each worker saw 50/s: 5 / 50 per second each.
    expect(metricValue(plugin, 'kwt_sampling_probability{position="outbound"}')).toBe(200_000);
    // A quiet period raises it again (smoothed rate 25/s per worker -> 0.2 each).
    plugin.advance(1000);
    expect(metricValue(plugin, 'kwt_sampling_probability{position="outbound"}')).toBe(400_000);
    plugin.close();
  });

  it("keeps the probability within the configured bounds", async () => {
    const clock = new ManualClock();
    const config = { tracing: { targetSampledPerSecond: 1, minProbability: 0.2, maxProbability: 0.5 } };
    const plugin = await outboundProxy(config, clock);
    for (let i = 0; i < 200; i++) send(plugin, []);
    // The two workers' samplers add up (kwt_samplers counts them): 0.5 each at the upper bound.
    expect(metricValue(plugin, 'kwt_samplers{position="outbound"}')).toBe(2);
    expect(metricValue(plugin, 'kwt_sampling_probability{position="outbound"}')).toBe(1_000_000);
    plugin.advance(1000);
    // 0.2 each at the lower bound.
    expect(metricValue(plugin, 'kwt_sampling_probability{position="outbound"}')).toBe(400_000);
    plugin.close();
  });

  it("adds up the samplers of both workers, each with its own rate, and takes them out when done", async () => {
    const clock = new ManualClock();
    const config = {
      tickPeriodMs: 1000,
      tracing: { targetSampledPerSecond: 5, minProbability: 0, maxProbability: 1 },
    };
    const plugin = await Plugin.load({
      ...pluginOptions({ place: CLUSTER_A, position: "outbound", config, clock }),
      workers: 2,
    });
    // Streams alternate between the workers: 100 new traces a second at each (target 5: 0.05).
    for (let i = 0; i < 200; i++) send(plugin, []);
    expect(metricValue(plugin, 'kwt_samplers{position="outbound"}')).toBe(2);
    expect(metricValue(plugin, 'kwt_sampling_probability{position="outbound"}')).toBe(2_000_000);
    plugin.advance(1000);
    expect(metricValue(plugin, 'kwt_sampling_probability{position="outbound"}')).toBe(100_000);
    // Then 200 new traces at one worker, only kept trace contexts at the other.
    for (let i = 0; i < 400; i++) send(plugin, i % 2 === 0 ? [] : [["traceparent", VALID]]);
    plugin.advance(1000);
    // Smoothed: 150/s at the first (33_333), 50/s at the second (100_000).
    expect(metricValue(plugin, 'kwt_sampling_probability{position="outbound"}')).toBe(133_333);
    plugin.close();
    expect(metricValue(plugin, 'kwt_samplers{position="outbound"}')).toBe(0);
    expect(metricValue(plugin, 'kwt_sampling_probability{position="outbound"}')).toBe(0);
  });
});
