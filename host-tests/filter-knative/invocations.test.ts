// What counts as an invocation at an inbound sidecar (issue 13, point 3): only requests addressed to
// queue-proxy's serving ports (the autoscaler's :9090 scrapes through the pod's sidecar are not),
// and only at revision pods (the activator's own sidecar records nothing, so a request through the
// activator is one invocation).

import http from "node:http";

import { afterEach, describe, expect, it } from "vitest";

import { closeServer, listenOn } from "../harness/admin.js";
import { RealClock } from "../harness/clock.js";
import { Plugin } from "../harness/plugin.js";
import { HarnessProxy } from "../harness/proxy.js";
import { StatStore } from "../harness/stats.js";
import type { HeaderList, NodeIdentity } from "../harness/types.js";
import { getStatus as get } from "../support/http-get.js";
import {
  AUTOSCALER_SCRAPE,
  AUTOSCALER_SCRAPE_PORT,
  LAYOUTS,
  REQUEST,
  REV,
  activatorNode,
  exchange,
  header,
  loadProxy,
  metricValue,
  proxyOptions,
  revisionNode,
  seriesOf,
} from "./setup.js";

/** Every knative_invocations_total sample of a proxy, summed. */
function invocations(plugin: Plugin): number {
  return seriesOf(plugin, "knative_invocations_total")
    .map((line) => Number(line.slice(line.lastIndexOf(" ") + 1)))
    .reduce((sum, value) => sum + value, 0);
}

function scrape(plugin: Plugin, port = AUTOSCALER_SCRAPE_PORT): void {
  const stream = plugin.createStream({ mtls: true, destinationPort: port });
  stream.onRequestHeaders(AUTOSCALER_SCRAPE, true);
  stream.onResponseHeaders([[":status", "200"]], true);
  stream.end({});
}

describe.each(LAYOUTS)("what counts as an invocation, Envoy %s layout", (layout) => {
  it("counts none of 10 autoscaler scrapes of :9090 through the pod's sidecar", async () => {
    const pod = await loadProxy({ layout, position: "inbound" });
    for (let i = 0; i < 10; i++) scrape(pod);
    expect(invocations(pod)).toBe(0);
    expect(seriesOf(pod, "knative_errors_total")).toEqual([]);
    // The same request to a serving port is one.
    exchange(pod, REQUEST, { status: 200 });
    expect(invocations(pod)).toBe(1);
  });

  it.each([8012, 8013, 8112])("counts a request to serving port %i", async (port) => {
    const pod = await loadProxy({ layout, position: "inbound" });
    const stream = pod.createStream({ mtls: true, destinationPort: port });
    stream.onRequestHeaders(REQUEST, true);
    stream.onResponseHeaders([[":status", "200"]], true);
    stream.end({});
    expect(
      metricValue(pod, `knative_invocations_total{${REV},source_cluster="",response_code_class="2xx"}`),
    ).toBe(1);
  });

  it("takes the serving ports from servingPorts; an empty list counts every port", async () => {
    const custom = await loadProxy({ layout, position: "inbound", config: { servingPorts: [9090] } });
    scrape(custom);
    scrape(custom, 8012);
    expect(invocations(custom)).toBe(1);
    const every = await loadProxy({ layout, position: "inbound", config: { servingPorts: [] } });
    scrape(every);
    scrape(every, 8012);
    expect(invocations(every)).toBe(2);
  });

  it("counts a request through the activator's sidecar and then the pod's once", async () => {
    const activator = await loadProxy({ layout, position: "inbound", node: activatorNode() });
    const pod = await loadProxy({ layout, position: "inbound" });
    const atActivator = exchange(activator, REQUEST, { status: 200 });
    // The activator forwards it to the pod with K-Proxy-Request, and relays the pod's answer.
    const forwarded: HeaderList = [...atActivator.request, ["k-proxy-request", "activator"]];
    const atPod = exchange(pod, forwarded, { status: 200 });
    const stamp = header(atPod.response, "x-kwt-pod");
    expect(stamp).toBeDefined();
    const relayed = exchange(activator, REQUEST, {
      status: 200,
      responseHeaders: [["x-kwt-pod", stamp as string]],
    });
    expect(header(relayed.response, "x-kwt-pod")).toBe(stamp);
    expect(invocations(activator)).toBe(0);
    expect(seriesOf(activator, "knative_activator_proxied_total")).toEqual([]);
    expect(invocations(pod)).toBe(1);
  });
});

// The same over real HTTP on loopback: proxies in front of real servers, each sidecar told which
// port its requests were addressed to (one listener port per proxy here).
describe("what counts as an invocation, over HTTP", () => {
  const closers: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  async function listen(handler: http.RequestListener): Promise<string> {
    const server = http.createServer(handler);
    const address = await listenOn(server, { host: "127.0.0.1", port: 0 });
    closers.push(() => closeServer(server));
    return `http://127.0.0.1:${address.port}`;
  }

  async function sidecar(node: NodeIdentity, destinationPort: number, upstream: string) {
    const options = proxyOptions({ envoy: "1.28", position: "inbound", node });
    const stats = new StatStore({ extraStatTags: options.extraStatTags });
    let plugin: Plugin | undefined;
    const proxy = await HarnessProxy.start({
      loadPlugin: async () => (plugin = await Plugin.load({ ...options, clock: new RealClock() }, stats)),
      stats,
      listen: { host: "127.0.0.1", port: 0 },
      upstream,
      mtls: true,
      identity: { destinationPort },
    });
    closers.push(() => proxy.close());
    return { plugin: plugin as Plugin, url: `http://127.0.0.1:${proxy.listenAddress.port}` };
  }

  it("counts no autoscaler scrape and a request through the activator once", async () => {
    const app = await listen((_request, response) => response.writeHead(200).end("ok"));
    const metrics = await sidecar(revisionNode(), AUTOSCALER_SCRAPE_PORT, app);
    for (let i = 0; i < 10; i++) {
      expect(await get(`${metrics.url}/metrics`, { accept: "application/protobuf" })).toBe(200);
    }
    expect(invocations(metrics.plugin)).toBe(0);

    const pod = await sidecar(revisionNode(), 8012, app);
    // The activator forwards to the pod with K-Proxy-Request, behind its own sidecar.
    const activatorApp = await listen((request, response) => {
      const forwarded = http.get(
        `${pod.url}${request.url ?? "/"}`,
        { headers: { "k-proxy-request": "activator" } },
        (answer) => {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      forwarded.on("error", () => response.writeHead(502).end());
    });
    const activator = await sidecar(activatorNode(), 8012, activatorApp);
    expect(await get(`${activator.url}/`, { "user-agent": "curl/8.5.0" })).toBe(200);
    expect(invocations(activator.plugin)).toBe(0);
    expect(invocations(pod.plugin)).toBe(1);
    expect(
      metricValue(
        pod.plugin,
        `knative_invocations_total{${REV},source_cluster="",response_code_class="2xx"}`,
      ),
    ).toBe(1);
  });
});
