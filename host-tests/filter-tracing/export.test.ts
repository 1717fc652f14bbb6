// Span export: the inbound sidecar of a revision pod in cluster B takes part in the trace for a
// cross-cluster request held by the activator, and sends its spans as OTLP/HTTP JSON to a loopback collector.

import { afterEach, beforeEach, describe, expect, it } from "vitest";

import { ManualClock } from "../harness/clock.js";
import type { Plugin } from "../harness/plugin.js";
import { attribute, CollectorStandIn } from "./collector.js";
import {
  BASE_REQUEST,
  CLUSTER_B,
  allValues,
  exchange,
  loadProxy,
  metricValue,
  onlyValue,
  parseTraceparent,
} from "./setup.js";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";
const NOW_MS = 1_700_000_000_000;

let collector: CollectorStandIn;

beforeEach(async () => {
  collector = await CollectorStandIn.start();
});

afterEach(async () => {
  await collector.close();
});

async function podSidecar(spanExport: Record<string, unknown> = {}): Promise<Plugin> {
  return loadProxy({
    place: CLUSTER_B,
    position: "inbound",
    revision: true,
    clock: new ManualClock(NOW_MS),
    config: { tickPeriodMs: 1000, spanExport: { enabled: true, ...spanExport } },
    upstreamClusters: { "otel-collector": collector.url },
  });
}

/** A request from cluster A held by the activator for a pod that just started (its first request). */
function coldCrossClusterRequest(plugin: Plugin, sampledFlag = "01"): string[] {
  const { request } = exchange(
    plugin,
    [
      ...BASE_REQUEST,
      ["traceparent", `00-${TRACE_ID}-${CALLER_SPAN}-${sampledFlag}`],
      ["tracestate", "rojo=1"],
      ["x-kwt-hop", `1;c=cluster-a;r=eu-west1;t=${NOW_MS - 300}`],
      ["x-kwt-entry", String(NOW_MS - 1500)],
      ["k-proxy-request", "activator"],
    ],
    { status: 200 },
  );
  return [onlyValue(request, "traceparent"), ...allValues(request, "tracestate")];
}

describe("span export", () => {
  it("sends a hop span and an activator-hold span with parent/child links, on the tick", async () => {
    const plugin = await podSidecar();
    const [traceparent, ...tracestate] = coldCrossClusterRequest(plugin);
    // The workload's parent is the filter's activator-hold span; its member is leftmost.
    const forwarded = parseTraceparent(traceparent as string);
    expect(forwarded.traceId).toBe(TRACE_ID);
    expect(forwarded.parentId).not.toBe(CALLER_SPAN);
    expect(forwarded.flags).toBe(0x01);
    expect(tracestate).toEqual(["kwt=cluster-b;us-east1,rojo=1"]);

    expect(collector.requests).toHaveLength(0); // nothing is sent from the request path
    plugin.advance(1000);
    await plugin.idle();
    expect(collector.requests).toHaveLength(1);
    const request = collector.requests[0]!;
    expect(request.method).toBe("POST");
    expect(request.path).toBe("/v1/traces");
    expect(request.contentType).toBe("application/json");
    expect(request.scope).toEqual({ name: "kwt-filter", version: "1" });
    expect(request.resource).toEqual([
      { key: "service.name", value: { stringValue: "kwt-filter" } },
      { key: "k8s.cluster.name", value: { stringValue: "cluster-b" } },
      { key: "cloud.region", value: { stringValue: "us-east1" } },
    ]);
    expect(request.spans).toHaveLength(2);
    const [hop, coldStart] = request.spans as [(typeof request.spans)[0], (typeof request.spans)[0]];

    expect(hop.traceId).toBe(TRACE_ID);
    expect(hop.parentSpanId).toBe(CALLER_SPAN);
    expect(hop.kind).toBe(2);
    expect(hop.startTimeUnixNano).toBe(`${NOW_MS - 300}000000`);
    expect(hop.endTimeUnixNano).toBe(`${NOW_MS}000000`);
    expect(attribute(hop.attributes, "kwt.source.cluster")).toEqual({ stringValue: "cluster-a" });

    expect(coldStart.traceId).toBe(TRACE_ID);
    expect(coldStart.parentSpanId).toBe(hop.spanId);
    expect(coldStart.spanId).toBe(forwarded.parentId);
    expect(coldStart.startTimeUnixNano).toBe(`${NOW_MS - 1500}000000`);
    expect(coldStart.endTimeUnixNano).toBe(`${NOW_MS}000000`);
    expect(coldStart.attributes).toEqual([
      { key: "kwt.activator.held", value: { boolValue: true } },
      { key: "k8s.cluster.name", value: { stringValue: "cluster-b" } },
      { key: "cloud.region", value: { stringValue: "us-east1" } },
      { key: "k8s.namespace.name", value: { stringValue: "default" } },
      { key: "faas.name", value: { stringValue: "hello" } },
      { key: "faas.version", value: { stringValue: "hello-00001" } },
    ]);
    expect(metricValue(plugin, "kwt_spans_exported_total{}")).toBe(2);
    plugin.close();
  });

  it("sends a replaced root's queued spans from proxy_on_done and counts them once the collector answered", async () => {
    const plugin = await podSidecar();
    coldCrossClusterRequest(plugin);
    // An ECDS update before the tick: the old root's on_done is all that can send its two spans.
    const update = await plugin.update({
      pluginConfig: JSON.stringify({ tickPeriodMs: 2000, spanExport: { enabled: true } }),
    });
    expect(update).toBeUndefined();
    await plugin.idle();
    expect(collector.requests.map((request) => request.spans.length)).toEqual([2]);
    expect(metricValue(plugin, "kwt_spans_exported_total{}")).toBe(2);
    expect(metricValue(plugin, 'kwt_spans_dropped_total{reason="export_failed"}')).toBe(0);
    plugin.close();
  });

  it("forces a held request sampled when the caller did not sample", async () => {
    const plugin = await podSidecar();
    const [traceparent] = coldCrossClusterRequest(plugin, "00");
    expect(parseTraceparent(traceparent as string).flags).toBe(0x01);
    plugin.advance(1000);
    await plugin.idle();
    expect(collector.requests[0]?.spans).toHaveLength(2);
    plugin.close();
  });

  it("retries a failed batch a bounded number of times, then drops it and counts", async () => {
    collector.status = 503;
    const plugin = await podSidecar({ maxRetries: 1 });
    coldCrossClusterRequest(plugin);
    for (let tick = 0; tick < 4; tick++) {
      plugin.advance(1000);
      await plugin.idle();
    }
    expect(collector.requests).toHaveLength(2); // the first send and one retry
    expect(metricValue(plugin, 'kwt_spans_dropped_total{reason="export_failed"}')).toBe(2);
    expect(metricValue(plugin, "kwt_spans_exported_total{}")).toBe(0);
    plugin.close();
  });

  it("bounds the queue and counts what it drops", async () => {
    const plugin = await podSidecar({ maxQueue: 1 });
    coldCrossClusterRequest(plugin);
    expect(metricValue(plugin, 'kwt_spans_dropped_total{reason="queue_full"}')).toBe(1);
    plugin.advance(1000);
    await plugin.idle();
    expect(collector.requests[0]?.spans).toHaveLength(1);
    plugin.close();
  });

  it("sends nothing and keeps trace headers when export is off", async () => {
    const plugin = await loadProxy({
      place: CLUSTER_B,
      position: "inbound",
      revision: true,
      clock: new ManualClock(NOW_MS),
      upstreamClusters: { "otel-collector": collector.url },
    });
    const [traceparent, ...tracestate] = coldCrossClusterRequest(plugin);
    expect(traceparent).toBe(`00-${TRACE_ID}-${CALLER_SPAN}-01`);
    expect(tracestate).toEqual(["rojo=1"]);
    plugin.advance(3000);
    await plugin.idle();
    expect(collector.requests).toHaveLength(0);
    plugin.close();
  });
});
