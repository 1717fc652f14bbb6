// The revision pod's inbound sidecar: invocations, probes, cold starts, activator proxy mode and the
// pod stamp it reports back, on both Envoy property layouts.

import { describe, expect, it } from "vitest";

import { ManualClock } from "../harness/clock.js";
import {
  LAYOUTS,
  REQUEST,
  REV,
  T0_MS,
  activatorRequest,
  exchange,
  header,
  loadProxy,
  onEachWorker,
  metricValue,
  revisionNode,
  seriesOf,
} from "./setup.js";

const INVOCATION_2XX = `knative_invocations_total{${REV},source_cluster="",response_code_class="2xx"}`;

describe.each(LAYOUTS)("inbound sidecar, %s property layout", (layout) => {
  it("counts an invocation when the stream ends, with its response code class", async () => {
    const plugin = await loadProxy({ layout, position: "inbound" });
    const stream = plugin.createStream({ mtls: true });
    stream.onRequestHeaders(REQUEST, true);
    stream.onResponseHeaders([[":status", "200"]], true);
    expect(metricValue(plugin, INVOCATION_2XX)).toBeUndefined();
    stream.end();
    expect(metricValue(plugin, INVOCATION_2XX)).toBe(1);
    exchange(plugin, REQUEST, { status: 404 });
    expect(
      metricValue(plugin, `knative_invocations_total{${REV},source_cluster="",response_code_class="4xx"}`),
    ).toBe(1);
    expect(seriesOf(plugin, "knative_errors_total")).toEqual([]);
  });

  it("never counts probes", async () => {
    const plugin = await loadProxy({ layout, position: "inbound" });
    const probes = [
      [...REQUEST, ["k-network-probe", "queue"]],
      [...REQUEST, ["k-kubelet-probe", "queue"]],
      [
        [":method", "GET"],
        [":path", "/healthz"],
        ["user-agent", "kube-probe/1.29"],
      ],
      [
        [":method", "GET"],
        [":path", "/"],
        ["user-agent", "Knative-Activator-Probe"],
      ],
      [
        [":method", "GET"],
        [":path", "/"],
        ["user-agent", "Knative-Ingress-Probe"],
        ["k-proxy-request", "activator"],
      ],
    ] as Array<Array<[string, string]>>;
    for (const probe of probes) {
      const { response } = exchange(plugin, probe, { status: 200 });
      expect(header(response, "x-kwt-pod")).toBeUndefined();
    }
    exchange(
      plugin,
      [
        [":method", "GET"],
        [":path", "/"],
        ["user-agent", "kube-probe/1.29"],
      ],
      {
        end: { responseCode: 503 },
      },
    );
    expect(seriesOf(plugin, "knative_invocations_total")).toEqual([]);
    expect(seriesOf(plugin, "knative_errors_total")).toEqual([]);
    expect(seriesOf(plugin, "knative_cold_starts_total")).toEqual([]);
    exchange(plugin, REQUEST, { status: 200 });
    expect(metricValue(plugin, INVOCATION_2XX)).toBe(1);
  });

  it("reports the revision on every response in the pod stamp", async () => {
    const plugin = await loadProxy({ layout, position: "inbound" });
    const { response } = exchange(plugin, REQUEST, {
      status: 200,
      responseHeaders: [["x-kwt-pod", "1;cs=1;w=9;c=forged;r=x;n=x;s=x;v=x"]],
    });
    expect(response.filter(([name]) => name === "x-kwt-pod")).toEqual([
      ["x-kwt-pod", "1;cs=0;w=;c=cluster-a;r=eu-west1;n=demo;s=hello;cf=hello-config;v=hello-00001"],
    ]);
  });

  it("counts a cold start: activator + fresh pod, timed from the entry stamp", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "inbound", clock });
    clock.advance(1000);
    // The request entered the mesh 2350 ms before it reached the pod (1000 ms after the VM started).
    const { request, response } = exchange(plugin, activatorRequest(T0_MS + 1000 - 2350), { status: 200 });
    expect(header(request, "x-kwt-entry")).toBe(String(T0_MS + 1000 - 2350));
    expect(header(response, "x-kwt-pod")).toBe(
      "1;cs=1;w=2350;c=cluster-a;r=eu-west1;n=demo;s=hello;cf=hello-config;v=hello-00001",
    );
    expect(metricValue(plugin, `knative_cold_starts_total{${REV}}`)).toBe(1);
    expect(metricValue(plugin, `knative_cold_start_duration_milliseconds_sum{${REV}}`)).toBe(2350);
    expect(metricValue(plugin, `knative_cold_start_duration_milliseconds_count{${REV}}`)).toBe(1);
    expect(metricValue(plugin, `knative_cold_start_duration_milliseconds_bucket{${REV},le="2500"}`)).toBe(1);
    expect(metricValue(plugin, `knative_cold_start_duration_milliseconds_bucket{${REV},le="1000"}`)).toBe(0);
    expect(seriesOf(plugin, "knative_cold_starts_untimed_total")).toEqual([]);
    expect(seriesOf(plugin, "knative_activator_proxied_total")).toEqual([]);
    expect(metricValue(plugin, INVOCATION_2XX)).toBe(1);
  });

  it("counts a cold start without an entry stamp as untimed", async () => {
    const plugin = await loadProxy({ layout, position: "inbound" });
    const { response } = exchange(plugin, activatorRequest(), { status: 200 });
    expect(header(response, "x-kwt-pod")).toBe(
      "1;cs=1;w=;c=cluster-a;r=eu-west1;n=demo;s=hello;cf=hello-config;v=hello-00001",
    );
    expect(metricValue(plugin, `knative_cold_starts_total{${REV}}`)).toBe(1);
    expect(metricValue(plugin, `knative_cold_starts_untimed_total{${REV}}`)).toBe(1);
    expect(seriesOf(plugin, "knative_cold_start_duration_milliseconds_count")).toEqual([]);
  });

  it("counts activator traffic to a warm pod as proxied, not as a cold start", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "inbound", clock });
    clock.advance(121_000); // past the 120 s window
    const { response } = exchange(plugin, activatorRequest(T0_MS + 120_000), { status: 200 });
    expect(header(response, "x-kwt-pod")).toBe(
      "1;cs=0;w=;c=cluster-a;r=eu-west1;n=demo;s=hello;cf=hello-config;v=hello-00001",
    );
    expect(metricValue(plugin, `knative_activator_proxied_total{${REV}}`)).toBe(1);
    expect(seriesOf(plugin, "knative_cold_starts_total")).toEqual([]);
    expect(metricValue(plugin, INVOCATION_2XX)).toBe(1);
  });

  it("counts only the first requests of a fresh pod as cold starts (coldStartMaxRequests)", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({
      layout,
      position: "inbound",
      clock,
      config: { coldStartMaxRequests: 3 },
    });
    // Envoy's histograms keep 2 significant digits (circllhist): 1050 ms sits mid-bin, so sums are exact.
    clock.advance(1050);
    exchange(plugin, REQUEST, { status: 200 }); // request 1: direct
    exchange(plugin, activatorRequest(T0_MS), { status: 200 }); // 2: cold
    exchange(plugin, activatorRequest(T0_MS), { status: 200 }); // 3: cold
    exchange(plugin, activatorRequest(T0_MS), { status: 200 }); // 4: proxied
    // Known wrong, until issue 13 ("counts per worker VM"): each of the two worker VMs counts its
    // own first 3 requests, so request 4 (the second on its worker) counts as cold too. The truth:
    // 2 cold starts (sum 2100 ms) and 1 proxied request.
    expect(metricValue(plugin, `knative_cold_starts_total{${REV}}`)).toBe(3);
    expect(metricValue(plugin, `knative_cold_start_duration_milliseconds_sum{${REV}}`)).toBe(3150);
    expect(metricValue(plugin, `knative_cold_start_duration_milliseconds_count{${REV}}`)).toBe(3);
    expect(metricValue(plugin, `knative_activator_proxied_total{${REV}}`)).toBeUndefined();
    expect(metricValue(plugin, INVOCATION_2XX)).toBe(4);
  });

  it("honours coldStartWindowSeconds", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({
      layout,
      position: "inbound",
      clock,
      config: { coldStartWindowSeconds: 5 },
    });
    clock.advance(5000);
    exchange(plugin, activatorRequest(T0_MS), { status: 200 });
    clock.advance(1);
    exchange(plugin, activatorRequest(T0_MS), { status: 200 });
    expect(metricValue(plugin, `knative_cold_starts_total{${REV}}`)).toBe(1);
    expect(metricValue(plugin, `knative_activator_proxied_total{${REV}}`)).toBe(1);
  });

  it("clamps an entry stamp from the future to 0 and counts the skew", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "inbound", clock });
    clock.advance(100);
    exchange(plugin, activatorRequest(T0_MS + 5000), { status: 200 });
    expect(metricValue(plugin, `knative_cold_start_duration_milliseconds_sum{${REV}}`)).toBe(0);
    expect(
      metricValue(plugin, `kwt_clock_skew_total{source_cluster="",destination_cluster="cluster-a"}`),
    ).toBe(1);
  });

  it("ignores and removes the filter's headers from a plaintext peer, and cannot verify its K-Proxy-Request", async () => {
    const plugin = await loadProxy({ layout, position: "inbound" });
    const forged: Array<[string, string]> = [
      ...activatorRequest(T0_MS - 60_000),
      ["x-kwt-hop", "1;c=evil;r=evil;t=1"],
      ["x-kwt-custom", "x"],
    ];
    const { request, response } = exchange(plugin, forged, { fromMesh: false, status: 200 });
    expect(request.filter(([name]) => name.startsWith("x-kwt-"))).toEqual([]);
    expect(header(request, "k-proxy-request")).toBe("activator");
    // An activator without a sidecar looks exactly like this: not a cold start, not proxied, but
    // counted as unverifiable.
    expect(header(response, "x-kwt-pod")).toBe(
      "1;cs=0;w=;c=cluster-a;r=eu-west1;n=demo;s=hello;cf=hello-config;v=hello-00001",
    );
    expect(seriesOf(plugin, "knative_cold_starts_total")).toEqual([]);
    expect(seriesOf(plugin, "knative_activator_proxied_total")).toEqual([]);
    expect(metricValue(plugin, `knative_activator_unverified_total{${REV}}`)).toBe(1);
    expect(metricValue(plugin, `kwt_stamps_rejected_total{reason="untrusted"}`)).toBe(1);
    expect(metricValue(plugin, INVOCATION_2XX)).toBe(1);
  });

  it.each([
    ["a client certificate without a URI SAN", { mtls: true, peerIdentity: undefined }],
    ["another trust domain's SPIFFE id", { peerIdentity: "spiffe://partner.example/ns/demo/sa/default" }],
    ["a URI SAN that is not a workload id", { peerIdentity: "spiffe://cluster.local/gateway" }],
  ])("treats %s as outside the mesh: stamps removed", async (_what, connection) => {
    const plugin = await loadProxy({ layout, position: "inbound" });
    const { request } = exchange(plugin, [...REQUEST, ["x-kwt-hop", "1;c=evil;r=evil;t=1"]], {
      connection,
      status: 200,
    });
    expect(header(request, "x-kwt-hop")).toBeUndefined();
    expect(metricValue(plugin, `kwt_stamps_rejected_total{reason="untrusted"}`)).toBe(1);
    expect(metricValue(plugin, INVOCATION_2XX)).toBe(1);
  });

  it("believes K-Proxy-Request only from the activator's identity, not from another mesh workload", async () => {
    const plugin = await loadProxy({ layout, position: "inbound" });
    const checkout = { peerIdentity: "spiffe://cluster.local/ns/shop/sa/checkout" };
    const { response } = exchange(plugin, activatorRequest(T0_MS - 3_600_000), {
      connection: checkout,
      status: 200,
    });
    expect(header(response, "x-kwt-pod")).toMatch(/^1;cs=0;/);
    expect(seriesOf(plugin, "knative_cold_starts_total")).toEqual([]);
    expect(seriesOf(plugin, "knative_activator_unverified_total")).toEqual([]);
    expect(metricValue(plugin, `kwt_stamps_rejected_total{reason="untrusted"}`)).toBe(1);
    // The same request from the activator is a cold start of this fresh pod.
    exchange(plugin, activatorRequest(T0_MS - 500), { status: 200 });
    expect(metricValue(plugin, `knative_cold_starts_total{${REV}}`)).toBe(1);
  });

  it("takes the source cluster from a trusted hop stamp", async () => {
    const plugin = await loadProxy({ layout, position: "inbound" });
    exchange(plugin, [...REQUEST, ["x-kwt-hop", `1;c=cluster-b;r=us-east1;t=${T0_MS}`]], { status: 200 });
    expect(
      metricValue(
        plugin,
        `knative_invocations_total{${REV},source_cluster="cluster-b",response_code_class="2xx"}`,
      ),
    ).toBe(1);
  });

  it("handles workloads that are not Knative revisions with empty revision labels when told to", async () => {
    const node = { ...revisionNode(), labels: { app: "web" } };
    const plugin = await loadProxy({ layout, position: "inbound", node, config: { skipNonKnative: false } });
    const { response } = exchange(plugin, REQUEST, { status: 200 });
    expect(header(response, "x-kwt-pod")).toBe("1;cs=0;w=;c=cluster-a;r=eu-west1;n=demo;s=;cf=;v=");
    expect(
      metricValue(
        plugin,
        `knative_invocations_total{namespace_name="demo",service_name="",configuration_name="",revision_name="",destination_cluster="cluster-a",destination_region="eu-west1",source_cluster="",response_code_class="2xx"}`,
      ),
    ).toBe(1);
  });

  it("keeps the pod stamp a workload that is not a revision relays (the activator's own sidecar)", async () => {
    const node = { ...revisionNode(), namespace: "knative-serving", labels: { app: "activator" } };
    const plugin = await loadProxy({ layout, position: "inbound", node, config: { skipNonKnative: false } });
    const relayed = "1;cs=1;w=2350;c=cluster-a;r=eu-west1;n=demo;s=hello;cf=hello-config;v=hello-00001";
    const { response } = exchange(plugin, REQUEST, {
      status: 200,
      responseHeaders: [["x-kwt-pod", relayed]],
    });
    expect(response.filter(([name]) => name === "x-kwt-pod")).toEqual([["x-kwt-pod", relayed]]);
  });

  it("skips workloads that are not Knative revisions by default, at no host call", async () => {
    const node = { ...revisionNode(), labels: { app: "web" } };
    const plugin = await loadProxy({ layout, position: "inbound", node });
    onEachWorker(plugin, () => exchange(plugin, REQUEST, { status: 200 }));
    const { response, stream } = exchange(plugin, activatorRequest(), { status: 503 });
    expect(stream.hostCalls).toBe(0);
    expect(header(response, "x-kwt-pod")).toBeUndefined();
    expect(seriesOf(plugin, "knative_invocations_total")).toEqual([]);
    expect(seriesOf(plugin, "knative_errors_total")).toEqual([]);
    expect(seriesOf(plugin, "knative_cold_starts_total")).toEqual([]);
  });

  it("lets the configuration override the cluster and region the node reports", async () => {
    const node = { ...revisionNode(), cluster: "Kubernetes", region: "" };
    const plugin = await loadProxy({
      layout,
      position: "inbound",
      node,
      config: { cluster: "prod-eu-1", region: "europe-west4" },
    });
    const { response } = exchange(plugin, REQUEST, { status: 200 });
    expect(header(response, "x-kwt-pod")).toBe(
      "1;cs=0;w=;c=prod-eu-1;r=europe-west4;n=demo;s=hello;cf=hello-config;v=hello-00001",
    );
    expect(
      metricValue(
        plugin,
        `knative_invocations_total{namespace_name="demo",service_name="hello",configuration_name="hello-config",revision_name="hello-00001",destination_cluster="prod-eu-1",destination_region="europe-west4",source_cluster="",response_code_class="2xx"}`,
      ),
    ).toBe(1);
  });

  it("sanitises label values from the node so none can break tag extraction", async () => {
    const node = {
      ...revisionNode(),
      labels: { ...revisionNode().labels, "serving.knative.dev/service": "a;.;evil=.=1" },
    };
    const plugin = await loadProxy({ layout, position: "inbound", node });
    exchange(plugin, REQUEST, { status: 200 });
    expect(
      metricValue(
        plugin,
        `knative_invocations_total{namespace_name="demo",service_name="a_._evil_._1",configuration_name="hello-config",revision_name="hello-00001",destination_cluster="cluster-a",destination_region="eu-west1",source_cluster="",response_code_class="2xx"}`,
      ),
    ).toBe(1);
  });
});
