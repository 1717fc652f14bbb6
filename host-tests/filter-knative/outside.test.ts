// Requests to destinations outside the mesh (issue 14 point 5) and trace contexts from outside
// clients at the gateway (point 6): what leaves the mesh, decided from the route's cluster that
// Envoy knows at request headers, with `:authority` as the sidecar's fallback.

import { describe, expect, it } from "vitest";

import type { HeaderList, StreamOptions } from "../harness/types.js";
import {
  LAYOUTS,
  REQUEST,
  REVISION_CLUSTER,
  exchange,
  header,
  loadProxy,
  metricValue,
  onEachWorker,
  type Position,
} from "./setup.js";

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const INCOMING = `00-${TRACE_ID}-b7ad6b7169203331-01`;
const SERVICE_ENTRY = "outbound|443||api.partner.example";

function internal(headers: HeaderList): HeaderList {
  return headers.filter(([name]) => name.startsWith("x-kwt-"));
}

describe.each(LAYOUTS)("destinations outside the mesh, %s property layout", (layout) => {
  async function send(
    position: Position,
    request: HeaderList,
    connection: StreamOptions,
    config: Record<string, unknown> = {},
  ): Promise<HeaderList> {
    const plugin = await loadProxy({ layout, position, config });
    return exchange(plugin, request, { fromMesh: false, connection, status: 200 }).request;
  }

  it("outbound sidecar: no entry or hop stamp, the workload's x-kwt-* removed, traceparent without our member", async () => {
    const sent = await send(
      "outbound",
      [
        ...REQUEST,
        ["x-kwt-entry", "1"],
        ["x-kwt-custom", "x"],
        ["traceparent", INCOMING],
        ["tracestate", "kwt=a;b,vendor=1"],
      ],
      { upstreamCluster: SERVICE_ENTRY },
    );
    expect(internal(sent)).toEqual([]);
    // A valid traceparent passes as it came; only the filter's own member is taken out.
    expect(header(sent, "traceparent")).toBe(INCOMING);
    expect(header(sent, "tracestate")).toBe("vendor=1");
  });

  it("outbound sidecar: a new trace to an outside host has a traceparent and no tracestate", async () => {
    const sent = await send("outbound", REQUEST, { upstreamCluster: "PassthroughCluster" });
    expect(internal(sent)).toEqual([]);
    expect(header(sent, "traceparent")).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3]$/);
    expect(header(sent, "tracestate")).toBeUndefined();
  });

  it("outbound sidecar: tracing.outsideContext remove sends no trace context at all", async () => {
    const sent = await send(
      "outbound",
      [...REQUEST, ["traceparent", INCOMING], ["tracestate", "vendor=1"]],
      { upstreamCluster: SERVICE_ENTRY },
      { tracing: { outsideContext: "remove" } },
    );
    expect(header(sent, "traceparent")).toBeUndefined();
    expect(header(sent, "tracestate")).toBeUndefined();
    expect(internal(sent)).toEqual([]);
  });

  it("outbound sidecar: an in-mesh cluster gets the stamps and our member, whatever name the caller used", async () => {
    const sent = await send("outbound", [...REQUEST, ["traceparent", INCOMING]], {
      upstreamCluster: REVISION_CLUSTER,
    });
    expect(header(sent, "x-kwt-entry")).toMatch(/^\d{13}$/);
    expect(header(sent, "x-kwt-hop")).toMatch(/^1;c=cluster-a;r=eu-west1;t=\d+$/);
  });

  it.each([
    ["outbound", "propagate", true],
    ["outbound", "remove", false],
    ["gateway", "propagate", true],
    ["gateway", "remove", false],
  ] as const)(
    "%s, a header map past 1024 pairs to an outside host (outsideContext %s): the stamps and our member removed by name",
    async (position, outsideContext, keepsTraceparent) => {
      const unreadable: HeaderList = [
        ...REQUEST,
        ...Array.from({ length: 1100 }, (_, i): [string, string] => [`x-c-${i}`, "v"]),
        ["x-kwt-entry", "1"],
        ["x-kwt-hop", "1;c=a;r=b;t=1"],
        ["x-kwt-pod", "1;cs=0;w=;c=a;r=b;n=c;s=d;v=e"],
        ["traceparent", INCOMING],
        ["tracestate", "kwt=a;b,vendor=1"],
      ];
      const sent = await send(
        position,
        unreadable,
        { upstreamCluster: SERVICE_ENTRY },
        { tracing: { outsideContext } },
      );
      expect(internal(sent)).toEqual([]);
      // The map cannot be read, so neither can tracestate: it may hold our member and goes.
      expect(header(sent, "tracestate")).toBeUndefined();
      expect(sent.filter(([name]) => name === "traceparent")).toHaveLength(keepsTraceparent ? 1 : 0);
    },
  );

  it.each([
    ["hello", true],
    ["hello.demo.svc.cluster.local:80", true],
    ["api.partner.example", false],
    ["198.51.100.99:8080", false],
  ])("outbound sidecar without a cluster name: %s in the mesh: %s", async (authority, inMesh) => {
    const request: HeaderList = [
      [":method", "GET"],
      [":path", "/"],
      [":authority", authority],
    ];
    const sent = await send("outbound", request, { upstreamCluster: undefined });
    expect(header(sent, "x-kwt-hop") !== undefined).toBe(inMesh);
  });

  it("gateway: the public :authority does not matter, the route's cluster does", async () => {
    // REQUEST's :authority is the public Knative host (hello.demo.example.com).
    const toRevision = await send("gateway", REQUEST, { upstreamCluster: REVISION_CLUSTER });
    expect(header(toRevision, "x-kwt-entry")).toMatch(/^\d{13}$/);
    const noRoute = await send("gateway", REQUEST, { upstreamCluster: undefined });
    expect(header(noRoute, "x-kwt-entry")).toMatch(/^\d{13}$/);
    const outside = await send("gateway", REQUEST, { upstreamCluster: SERVICE_ENTRY });
    expect(internal(outside)).toEqual([]);
  });
});

describe.each(LAYOUTS)("an outside client's trace context at the gateway, %s property layout", (layout) => {
  const SAMPLED_BY_CLIENT: HeaderList = [...REQUEST, ["traceparent", INCOMING]];
  // A sampler that samples nothing new: probability 0.
  const NEVER = { targetSampledPerSecond: 0, minProbability: 0, maxProbability: 0 };

  it("keeps the client's sampled flag by default", async () => {
    const plugin = await loadProxy({ layout, position: "gateway", config: { tracing: NEVER } });
    const { request } = exchange(plugin, SAMPLED_BY_CLIENT, { fromMesh: false, status: 200 });
    expect(header(request, "traceparent")).toBe(INCOMING);
  });

  it("edgeSampling resample: the same trace, a new parent, the sampler's decision", async () => {
    const config = { tracing: { ...NEVER, edgeSampling: "resample" } };
    const plugin = await loadProxy({ layout, position: "gateway", config });
    const { request } = exchange(plugin, SAMPLED_BY_CLIENT, { fromMesh: false, status: 200 });
    const traceparent = header(request, "traceparent")!;
    expect(traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-00$`));
    expect(traceparent).not.toContain("b7ad6b7169203331");
    // A mesh caller through knative-local-gateway keeps its decision.
    const { request: fromMesh } = exchange(plugin, SAMPLED_BY_CLIENT, {
      connection: { peerIdentity: "spiffe://cluster.local/ns/shop/sa/checkout", destinationPort: 8081 },
      status: 200,
    });
    expect(header(fromMesh, "traceparent")).toBe(INCOMING);
  });
});

describe.each(LAYOUTS)("forged headers in bulk, %s property layout", (layout) => {
  function forged(count: number): HeaderList {
    return [
      ...REQUEST,
      ...Array.from({ length: count }, (_, i): [string, string] => [`x-kwt-forged-${i}`, "x"]),
    ];
  }

  it("strips n forged headers at the gateway in one map write, not n removes", async () => {
    const plugin = await loadProxy({ layout, position: "gateway", config: { tracing: { enabled: false } } });
    // The first request on each worker VM also defines its metrics there.
    onEachWorker(plugin, () => exchange(plugin, forged(2), { fromMesh: false, status: 200 }));
    const costs: number[] = [];
    for (const count of [2, 50, 500]) {
      const { request, stream } = exchange(plugin, [...forged(count), ["x-kwt-entry", "1"]], {
        fromMesh: false,
        status: 200,
      });
      expect(request.filter(([name]) => name.startsWith("x-kwt-forged-"))).toEqual([]);
      costs.push(stream.hostCalls);
    }
    // The same host calls whatever n: pairs, route cluster, port, one map write, the stamps.
    expect(new Set(costs).size).toBe(1);
  });

  it.each(["inbound", "gateway"] as const)(
    "%s: a header map past 1024 pairs is untrusted: the filter's headers are removed",
    async (position) => {
      const plugin = await loadProxy({ layout, position });
      const request: HeaderList = [
        ...forged(1100),
        ["x-kwt-entry", "1"],
        ["x-kwt-hop", "1;c=evil;r=evil;t=1"],
        ["k-proxy-request", "activator"],
      ];
      const { request: sent, response } = exchange(plugin, request, { status: 200 });
      expect(header(sent, "x-kwt-hop")).not.toBe("1;c=evil;r=evil;t=1");
      expect(header(sent, "x-kwt-entry")).not.toBe("1");
      expect(metricValue(plugin, `kwt_stamps_rejected_total{reason="untrusted"}`)).toBe(1);
      // The pod does not report it through the activator: no edge can take it for a cold start.
      if (position === "inbound") expect(header(response, "x-kwt-pod")).toMatch(/^1;cs=0;w=;.*;a=0;rd=\d+$/);
      else expect(header(sent, "k-proxy-request")).toBeUndefined();
    },
  );
});
