// What counts as an invocation at an inbound sidecar (issue 13, point 3): only requests addressed to
// queue-proxy's serving ports (the autoscaler's :9090 scrapes through the pod's sidecar are not),
// and only at revision pods (the activator's own sidecar records nothing, so a request through the
// activator is one invocation).

import { describe, expect, it } from "vitest";

import type { Plugin } from "../harness/plugin.js";
import type { HeaderList } from "../harness/types.js";
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

describe.each(LAYOUTS)("what counts as an invocation, Envoy %s layout", (envoy) => {
  it("counts none of 10 autoscaler scrapes of :9090 through the pod's sidecar", async () => {
    const pod = await loadProxy({ envoy, position: "inbound" });
    for (let i = 0; i < 10; i++) scrape(pod);
    expect(invocations(pod)).toBe(0);
    expect(seriesOf(pod, "knative_errors_total")).toEqual([]);
    // The same request to a serving port is one.
    exchange(pod, REQUEST, { status: 200 });
    expect(invocations(pod)).toBe(1);
  });

  it.each([8012, 8013, 8112])("counts a request to serving port %i", async (port) => {
    const pod = await loadProxy({ envoy, position: "inbound" });
    const stream = pod.createStream({ mtls: true, destinationPort: port });
    stream.onRequestHeaders(REQUEST, true);
    stream.onResponseHeaders([[":status", "200"]], true);
    stream.end({});
    expect(
      metricValue(pod, `knative_invocations_total{${REV},source_cluster="",response_code_class="2xx"}`),
    ).toBe(1);
  });

  it("takes the serving ports from servingPorts; an empty list counts every port", async () => {
    const custom = await loadProxy({ envoy, position: "inbound", config: { servingPorts: [9090] } });
    scrape(custom);
    scrape(custom, 8012);
    expect(invocations(custom)).toBe(1);
    const every = await loadProxy({ envoy, position: "inbound", config: { servingPorts: [] } });
    scrape(every);
    scrape(every, 8012);
    expect(invocations(every)).toBe(2);
  });

  it("counts a request through the activator's sidecar and then the pod's once", async () => {
    const activator = await loadProxy({ envoy, position: "inbound", node: activatorNode() });
    const pod = await loadProxy({ envoy, position: "inbound" });
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
