// Chains of proxies over real HTTP on loopback, in two clusters: a client outside the mesh calls
// the gateway in cluster A, which forwards (over mTLS) to a revision pod's sidecar in cluster B;
// and a workload in A calls B through its outbound sidecar. Headers are checked where the
// workload receives them, metrics on each proxy's stats.

import http from "node:http";
import type { AddressInfo } from "node:net";

import { afterEach, describe, expect, it } from "vitest";

import { FILTER_METRIC_LABELS } from "../../tools/deploy/filter-contract.js";
import { HarnessProxy } from "../harness/proxy.js";
import { Plugin } from "../harness/plugin.js";
import { StatStore } from "../harness/stats.js";
import type { HeaderList } from "../harness/types.js";
import {
  ACTIVATOR_IDENTITY,
  CLUSTER_A,
  CLUSTER_B,
  POD_IDENTITY,
  REVISION_CLUSTER,
  metricValue,
  parseTraceparent,
  pluginOptions,
  type ProxySetup,
} from "./setup.js";
import { RealClock } from "../harness/clock.js";
import { getStatus as get } from "../support/http-get.js";

const CROSS_A_TO_B =
  'mesh_cross_cluster_requests_total{source_cluster="cluster-a",source_region="eu-west1",destination_cluster="cluster-b",destination_region="us-east1",response_code_class="2xx"}';

interface Workload {
  url: string;
  received: HeaderList[];
  close(): Promise<void>;
}

/** The revision's container: answers 200 and remembers the request headers it got. */
async function startWorkload(): Promise<Workload> {
  const received: HeaderList[] = [];
  const server = http.createServer((request, response) => {
    const headers: HeaderList = [];
    for (let i = 0; i < request.rawHeaders.length; i += 2) {
      headers.push([(request.rawHeaders[i] as string).toLowerCase(), request.rawHeaders[i + 1] as string]);
    }
    received.push(headers);
    response.writeHead(200, { "content-type": "text/plain" });
    response.end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

interface RunningProxy {
  proxy: HarnessProxy;
  plugin: Plugin;
  url: string;
}

async function startProxy(setup: ProxySetup, upstream: string, mtls: boolean): Promise<RunningProxy> {
  const stats = new StatStore({ extraStatTags: [...FILTER_METRIC_LABELS] });
  let plugin: Plugin | undefined;
  const proxy = await HarnessProxy.start({
    loadPlugin: async () => {
      plugin = await Plugin.load({ ...pluginOptions(setup), clock: new RealClock() }, stats);
      return plugin;
    },
    stats,
    listen: { host: "127.0.0.1", port: 0 },
    upstream,
    mtls,
    // A revision pod's sidecar sees requests addressed to queue-proxy's serving port, from a mesh
    // peer when the hop is mTLS; the front proxy's upstream is that pod, with its mesh identity.
    identity:
      setup.position === "inbound"
        ? { destinationPort: 8012, ...(mtls && { peerIdentity: ACTIVATOR_IDENTITY }) }
        : { upstreamIdentity: POD_IDENTITY, upstreamCluster: REVISION_CLUSTER },
  });
  return { proxy, plugin: plugin as Plugin, url: `http://127.0.0.1:${proxy.listenAddress.port}` };
}

function values(headers: HeaderList, name: string): string[] {
  return headers.filter(([key]) => key === name).map(([, value]) => value);
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function chain(front: { setup: ProxySetup; mtls: boolean }): Promise<{
  workload: Workload;
  first: RunningProxy;
  pod: RunningProxy;
}> {
  const workload = await startWorkload();
  cleanups.push(() => workload.close());
  const pod = await startProxy({ place: CLUSTER_B, position: "inbound", revision: true }, workload.url, true);
  cleanups.push(
    () => pod.proxy.close(),
    () => pod.plugin.close(),
  );
  const first = await startProxy(front.setup, pod.url, front.mtls);
  cleanups.push(
    () => first.proxy.close(),
    () => first.plugin.close(),
  );
  return { workload, first, pod };
}

describe("gateway in A -> revision pod in B, over HTTP", () => {
  it("starts a trace, stamps the hop, ignores forged stamps, and B counts one cross-cluster request", async () => {
    const { workload, first, pod } = await chain({
      setup: { place: CLUSTER_A, position: "gateway" },
      mtls: false,
    });
    const status = await get(`${first.url}/hello`, {
      "x-kwt-hop": "1;c=cluster-z;r=nowhere;t=1",
      tracestate: "orphan=1",
    });
    expect(status).toBe(200);
    expect(workload.received).toHaveLength(1);
    const atWorkload = workload.received[0] as HeaderList;
    const traceparent = parseTraceparent(values(atWorkload, "traceparent")[0] ?? "");
    expect(traceparent.flags & 1).toBe(1);
    expect(values(atWorkload, "traceparent")).toHaveLength(1);
    expect(values(atWorkload, "tracestate")).toEqual(["kwt=cluster-a;eu-west1"]);
    const hop = values(atWorkload, "x-kwt-hop");
    expect(hop).toHaveLength(1);
    expect(hop[0]).toMatch(/^1;c=cluster-a;r=eu-west1;t=\d{13}$/);

    expect(metricValue(pod.plugin, CROSS_A_TO_B)).toBe(1);
    expect(
      metricValue(
        pod.plugin,
        'mesh_cross_cluster_hop_duration_milliseconds_count{source_cluster="cluster-a",source_region="eu-west1",destination_cluster="cluster-b",destination_region="us-east1"}',
      ),
    ).toBe(1);
    expect(pod.plugin.stats.prometheusText()).not.toContain("cluster-z");
    expect(metricValue(first.plugin, 'kwt_traces_started_total{sampled="true"}')).toBe(1);
  });
});

describe("workload in A -> outbound sidecar A -> revision pod in B, over HTTP", () => {
  it("keeps the caller's valid trace context untouched and counts the hop in B", async () => {
    const { workload, first, pod } = await chain({
      setup: { place: CLUSTER_A, position: "outbound" },
      mtls: false,
    });
    const incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    await get(`${first.url}/`, { traceparent: incoming, tracestate: "rojo=1,congo=2" });
    await get(`${first.url}/`, { traceparent: incoming, tracestate: "rojo=1,congo=2" });
    expect(workload.received).toHaveLength(2);
    for (const atWorkload of workload.received) {
      expect(values(atWorkload, "traceparent")).toEqual([incoming]);
      expect(values(atWorkload, "tracestate")).toEqual(["rojo=1,congo=2"]);
    }
    expect(metricValue(pod.plugin, CROSS_A_TO_B)).toBe(2);
    expect(metricValue(first.plugin, 'kwt_traces_started_total{sampled="true"}')).toBe(0);
  });

  it("repairs an invalid traceparent at the first hop; the pod sees one valid trace", async () => {
    const { workload, first } = await chain({
      setup: { place: CLUSTER_A, position: "outbound" },
      mtls: false,
    });
    await get(`${first.url}/`, {
      traceparent: "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
      tracestate: "rojo=1",
    });
    const atWorkload = workload.received[0] as HeaderList;
    const traceparent = parseTraceparent(values(atWorkload, "traceparent")[0] ?? "");
    expect(traceparent.traceId).not.toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect(values(atWorkload, "tracestate")).toEqual(["kwt=cluster-a;eu-west1"]);
    expect(metricValue(first.plugin, 'kwt_traceparent_repaired_total{reason="trace_id"}')).toBe(1);
  });
});
