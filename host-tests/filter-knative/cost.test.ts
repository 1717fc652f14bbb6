// What a request costs and what the filter keeps: host calls per request at each position (counted
// by the harness), no growth of linear memory in steady state, and the cap on series per VM.

import { describe, expect, it } from "vitest";

import { ManualClock } from "../harness/clock.js";
import type { HeaderList } from "../harness/types.js";
import {
  AUTOSCALER_SCRAPE,
  LAYOUTS,
  MESH_CONNECTION,
  READINESS_PROBE,
  REQUEST,
  REV,
  T0_MS,
  activatorRequest,
  exchange,
  header,
  loadProxy,
  onEachWorker,
  metricValue,
  seriesOf,
} from "./setup.js";

const WARM_STAMP = `1;cs=0;w=;c=cluster-a;r=eu-west1;n=demo;s=hello;cf=hello-config;v=hello-00001;a=0;rd=${T0_MS - 60_000}`;
const STAMPED: HeaderList = [
  ...REQUEST,
  ["x-kwt-entry", String(T0_MS)],
  ["x-kwt-hop", `1;c=cluster-a;r=eu-west1;t=${T0_MS}`],
];

describe.each(LAYOUTS)("cost, %s property layout", (layout) => {
  // The first request of each kind on each worker VM also defines its metrics there; these are the
  // steady-state counts.
  it("inbound sidecar: 6 host calls for a plain request, 7 when it carries stamps", async () => {
    const plugin = await loadProxy({ layout, position: "inbound" });
    onEachWorker(plugin, () => exchange(plugin, STAMPED, { status: 200 }));
    onEachWorker(plugin, () => exchange(plugin, REQUEST, { status: 200 }));
    // request pairs, destination.port (only the port tells an autoscaler scrape from an
    // invocation), pod stamp, :status, response.flags, one counter increment
    expect(exchange(plugin, REQUEST, { status: 200 }).stream.hostCalls).toBe(6);
    // + connection.uri_san_peer_certificate, to trust the stamps (a mesh identity)
    expect(exchange(plugin, STAMPED, { status: 200 }).stream.hostCalls).toBe(7);
    // + response.grpc_status for a gRPC request that answered 2xx
    const grpc: HeaderList = [...REQUEST, ["content-type", "application/grpc"]];
    onEachWorker(plugin, () => exchange(plugin, grpc, { status: 200, end: { grpcStatus: 0 } }));
    expect(exchange(plugin, grpc, { status: 200, end: { grpcStatus: 0 } }).stream.hostCalls).toBe(7);
  });

  it("inbound sidecar: a probe costs two host calls, a scrape of another port three", async () => {
    const plugin = await loadProxy({ layout, position: "inbound" });
    onEachWorker(plugin, () => exchange(plugin, REQUEST, { status: 200 }));
    // Its headers, and the removal of a pod stamp the workload may have set (no stamp of the pod's).
    expect(
      exchange(plugin, [...REQUEST, ["k-network-probe", "queue"]], { status: 200 }).stream.hostCalls,
    ).toBe(2);
    const scrape = plugin.createStream({ ...MESH_CONNECTION, destinationPort: 9090 });
    scrape.onRequestHeaders(AUTOSCALER_SCRAPE, true);
    scrape.onResponseHeaders([[":status", "200"]], true);
    scrape.end({});
    // + the port.
    expect(scrape.hostCalls).toBe(3);
  });

  it("inbound sidecar: activator traffic adds one clock read (its arrival on the pod stamp)", async () => {
    const plugin = await loadProxy({ layout, position: "inbound" });
    onEachWorker(plugin, () => exchange(plugin, activatorRequest(), { status: 200 }));
    onEachWorker(plugin, () => exchange(plugin, activatorRequest(), { status: 200 }));
    // pairs, port, peer identity (the activator's?), clock, pod stamp, code, flags, invocation
    expect(exchange(plugin, activatorRequest(), { status: 200 }).stream.hostCalls).toBe(8);
  });

  it("gateway: pairs, route cluster, clock, entry stamp, hop stamp, trace context, pod stamp read, strip, upstream identity, status, duration, record", async () => {
    const plugin = await loadProxy({ layout, position: "gateway", config: { tracing: { enabled: false } } });
    onEachWorker(plugin, () =>
      exchange(plugin, REQUEST, { status: 200, responseHeaders: [["x-kwt-pod", WARM_STAMP]] }),
    );
    onEachWorker(plugin, () => exchange(plugin, REQUEST, { status: 200 }));
    // + the route's cluster: is the destination in the mesh?
    expect(exchange(plugin, REQUEST, { status: 200 }).stream.hostCalls).toBe(6);
    expect(
      exchange(plugin, REQUEST, { status: 200, responseHeaders: [["x-kwt-pod", WARM_STAMP]] }).stream
        .hostCalls,
    ).toBe(11);
    // Through the activator, not held: + the proxied increment; the revision's ready era is
    // published at most once a second, so a warm answer reads no shared data.
    const proxied = `1;cs=0;w=;c=cluster-a;r=eu-west1;n=demo;s=hello;cf=hello-config;v=hello-00001;a=1;rd=${T0_MS - 60_000}`;
    const viaActivator = (at: number) =>
      exchange(plugin, REQUEST, { status: 200, responseHeaders: [["x-kwt-pod", `${proxied};t=${at}`]] });
    onEachWorker(plugin, () => viaActivator(T0_MS));
    expect(viaActivator(T0_MS + 1).stream.hostCalls).toBe(12);
  });

  it("keeps linear memory flat in steady state", async () => {
    const inbound = await loadProxy({ layout, position: "inbound" });
    const gateway = await loadProxy({ layout, position: "gateway" });
    const run = (count: number) => {
      for (let i = 0; i < count; i++) {
        exchange(inbound, i % 10 === 0 ? activatorRequest(T0_MS) : STAMPED, {
          status: i % 7 === 0 ? 503 : 200,
        });
        exchange(gateway, REQUEST, { status: 200, responseHeaders: [["x-kwt-pod", WARM_STAMP]] });
      }
    };
    // Long enough for every worker VM to reach its working set (the clock stands: no tick collects).
    run(4000);
    const inboundAfterWarmUp = inbound.linearMemoryBytes();
    const gatewayAfterWarmUp = gateway.linearMemoryBytes();
    run(20_000);
    expect(inbound.linearMemoryBytes()).toEqual(inboundAfterWarmUp);
    expect(gateway.linearMemoryBytes()).toEqual(gatewayAfterWarmUp);
    expect(
      metricValue(
        inbound,
        `knative_invocations_total{${REV},source_cluster="cluster-a",response_code_class="2xx"}`,
      ),
      // 2xx requests with the stamp: i % 10 != 0 and i % 7 != 0, in 0..3999 and then 0..19999.
    ).toBe(3086 + 15_428);
  });
});

describe.each(LAYOUTS)("memory under a held burst, %s property layout", (layout) => {
  // When a new pod is ready the activator releases its whole queue to it: every request of the
  // burst entered before the pod was ready, so each answer carries a held stamp of its own (its
  // wait). No tick comes in between (the clock stands): what the burst leaves must be collected
  // on the request path's own schedule, not wait for the next tick.
  it("keeps linear memory flat over 24,000 held requests with no tick", async () => {
    const clock = new ManualClock(T0_MS);
    const inbound = await loadProxy({ layout, position: "inbound", clock });
    clock.advance(1_000);
    onEachWorker(inbound, () => exchange(inbound, READINESS_PROBE, { status: 200 }));
    const heldBurst = (count: number) => {
      for (let i = 0; i < count; i++) {
        const response = exchange(inbound, activatorRequest(T0_MS + 1_000 - 1 - (i % 997)), { status: 200 });
        expect(header(response.response, "x-kwt-pod")).toMatch(/^1;cs=1;w=\d+;/);
      }
    };
    heldBurst(4000);
    const afterWarmUp = inbound.linearMemoryBytes();
    heldBurst(20_000);
    expect(inbound.linearMemoryBytes()).toEqual(afterWarmUp);
    expect(
      metricValue(inbound, `knative_invocations_total{${REV},source_cluster="",response_code_class="2xx"}`),
    ).toBe(24_000);
  });
});

describe.each(LAYOUTS)("series cap, %s property layout", (layout) => {
  it("sends label sets beyond maxSeries to one overflow series and counts them", async () => {
    const plugin = await loadProxy({ layout, position: "gateway", config: { maxSeries: 16 } });
    // The cap is per VM (docs/filter.md): each worker VM sees all 20 label sets.
    for (let i = 1; i <= 20; i++) {
      const stamp = `1;cs=0;w=;c=cluster-a;r=eu-west1;n=demo;s=svc-${i};cf=svc-${i};v=svc-${i}-00001`;
      onEachWorker(plugin, () =>
        exchange(plugin, REQUEST, {
          status: 200,
          responseHeaders: [["x-kwt-pod", stamp]],
          end: { durationNs: 125_000_000n },
        }),
      );
    }
    // Revisions 1..16 again: they keep their own series.
    exchange(plugin, REQUEST, {
      status: 200,
      responseHeaders: [
        ["x-kwt-pod", "1;cs=0;w=;c=cluster-a;r=eu-west1;n=demo;s=svc-1;cf=svc-1;v=svc-1-00001"],
      ],
    });
    const counts = seriesOf(plugin, "knative_request_duration_milliseconds_count");
    expect(counts).toHaveLength(17);
    expect(
      metricValue(
        plugin,
        `knative_request_duration_milliseconds_count{namespace_name="demo",service_name="svc-1",configuration_name="svc-1",revision_name="svc-1-00001",destination_cluster="cluster-a",destination_region="eu-west1",source_cluster="cluster-a",response_code_class="2xx",cold_start="false"}`,
      ),
    ).toBe(3);
    expect(
      metricValue(
        plugin,
        `knative_request_duration_milliseconds_count{namespace_name="overflow",service_name="overflow",configuration_name="overflow",revision_name="overflow",destination_cluster="overflow",destination_region="overflow",source_cluster="overflow",response_code_class="overflow",cold_start="overflow"}`,
      ),
    ).toBe(8);
    expect(
      seriesOf(plugin, "knative_request_duration_milliseconds_count").some((line) => line.includes("svc-17")),
    ).toBe(false);
    expect(metricValue(plugin, "kwt_series_overflow_total{}")).toBe(8);
  });
});
