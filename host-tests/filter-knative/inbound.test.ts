// The revision pod's inbound sidecar: invocations, probes, its ready time, activator traffic held or
// not and the pod stamp it reports back, on every Envoy property layout.

import { describe, expect, it } from "vitest";

import { ManualClock } from "../harness/clock.js";
import { Plugin } from "../harness/index.js";
import {
  LAYOUTS,
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
  proxyOptions,
  revisionNode,
  seriesOf,
} from "./setup.js";

const INVOCATION_2XX = `knative_invocations_total{${REV},source_cluster="",response_code_class="2xx"}`;
/** The pod stamp's place and revision fields. */
const STAMP_REVISION = "c=cluster-a;r=eu-west1;n=demo;s=hello;cf=hello-config;v=hello-00001";
/** A pod stamp's fields before `a` for a request not held. */
const STAMP_LABELS = `1;cs=0;w=;${STAMP_REVISION}`;

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

  it("reports the revision and since when the pod is ready on every response in the pod stamp", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "inbound", clock });
    clock.advance(40);
    // No readiness probe came first: the first request it serves makes the pod ready.
    const { response } = exchange(plugin, REQUEST, {
      status: 200,
      responseHeaders: [["x-kwt-pod", "1;cs=1;w=9;c=forged;r=x;n=x;s=x;v=x"]],
    });
    expect(response.filter(([name]) => name === "x-kwt-pod")).toEqual([
      ["x-kwt-pod", `${STAMP_LABELS};a=0;rd=${T0_MS + 40}`],
    ]);
    clock.advance(1000);
    expect(header(exchange(plugin, REQUEST, { status: 200 }).response, "x-kwt-pod")).toBe(
      `${STAMP_LABELS};a=0;rd=${T0_MS + 40}`,
    );
  });

  it("takes the first readiness probe answered 200 as the ready time, not the ones before", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "inbound", clock });
    clock.advance(500);
    exchange(plugin, READINESS_PROBE, { status: 503 });
    clock.advance(200);
    exchange(plugin, READINESS_PROBE, { status: 200 });
    clock.advance(300);
    // Entered the mesh 2650 ms before it reached the pod, before the pod was ready: held.
    const { request, response } = exchange(plugin, activatorRequest(T0_MS + 1000 - 2650), { status: 200 });
    expect(header(request, "x-kwt-entry")).toBe(String(T0_MS + 1000 - 2650));
    expect(header(response, "x-kwt-pod")).toBe(
      `1;cs=1;w=2650;${STAMP_REVISION};a=1;rd=${T0_MS + 700};t=${T0_MS + 1000}`,
    );
    // The pod cannot tell a cold start from a wait for capacity: the edge counts those.
    expect(seriesOf(plugin, "knative_cold_starts_total")).toEqual([]);
    expect(seriesOf(plugin, "knative_activator_proxied_total")).toEqual([]);
    expect(metricValue(plugin, INVOCATION_2XX)).toBe(1);
  });

  it("marks activator traffic that entered after the pod was ready as not held, with its arrival", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "inbound", clock });
    exchange(plugin, READINESS_PROBE, { status: 200 });
    clock.advance(121_000);
    const { response } = exchange(plugin, activatorRequest(T0_MS + 120_990), { status: 200 });
    expect(header(response, "x-kwt-pod")).toBe(`${STAMP_LABELS};a=1;rd=${T0_MS};t=${T0_MS + 121_000}`);
    // An entry stamp from the future is not older than the ready time either.
    const { response: future } = exchange(plugin, activatorRequest(T0_MS + 200_000), { status: 200 });
    expect(header(future, "x-kwt-pod")).toBe(`${STAMP_LABELS};a=1;rd=${T0_MS};t=${T0_MS + 121_000}`);
    expect(metricValue(plugin, INVOCATION_2XX)).toBe(2);
  });

  it("shares the ready time between worker VMs and over a module reload (shared data)", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "inbound", clock });
    exchange(plugin, READINESS_PROBE, { status: 200 });
    clock.advance(5_000);
    const stamps: Array<string | undefined> = [];
    onEachWorker(plugin, () =>
      stamps.push(header(exchange(plugin, REQUEST, { status: 200 }).response, "x-kwt-pod")),
    );
    expect(stamps).toEqual([`${STAMP_LABELS};a=0;rd=${T0_MS}`, `${STAMP_LABELS};a=0;rd=${T0_MS}`]);
    // A new module on the same Envoy: new VMs, the same shared data.
    const reloaded = await Plugin.load(
      proxyOptions({ layout, position: "inbound", clock }),
      undefined,
      plugin.sharedData,
    );
    clock.advance(5_000);
    expect(header(exchange(reloaded, REQUEST, { status: 200 }).response, "x-kwt-pod")).toBe(
      `${STAMP_LABELS};a=0;rd=${T0_MS}`,
    );
    reloaded.close();
  });

  it("ignores and removes the filter's headers from a plaintext peer, and cannot verify its K-Proxy-Request", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "inbound", clock });
    exchange(plugin, READINESS_PROBE, { status: 200 });
    clock.advance(10);
    const forged: Array<[string, string]> = [
      ...activatorRequest(T0_MS - 60_000),
      ["x-kwt-hop", "1;c=evil;r=evil;t=1"],
      ["x-kwt-custom", "x"],
    ];
    const { request, response } = exchange(plugin, forged, { fromMesh: false, status: 200 });
    expect(request.filter(([name]) => name.startsWith("x-kwt-"))).toEqual([]);
    expect(header(request, "k-proxy-request")).toBe("activator");
    // An activator without a sidecar looks exactly like this: not through the activator as far as
    // the pod can tell (a=0), but counted as unverifiable.
    expect(header(response, "x-kwt-pod")).toBe(`${STAMP_LABELS};a=0;rd=${T0_MS}`);
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

  it("counts a request's untrusted stamps and K-Proxy-Request once, as one untrusted request", async () => {
    const plugin = await loadProxy({ layout, position: "inbound" });
    const partner = { peerIdentity: "spiffe://partner.example/ns/demo/sa/default" };
    const forged: Array<[string, string]> = [
      ...activatorRequest(T0_MS - 60_000),
      ["x-kwt-hop", "1;c=evil;r=evil;t=1"],
    ];
    exchange(plugin, forged, { connection: partner, status: 200 });
    expect(metricValue(plugin, `kwt_stamps_rejected_total{reason="untrusted"}`)).toBe(1);
    exchange(plugin, forged, { connection: partner, status: 200 });
    expect(metricValue(plugin, `kwt_stamps_rejected_total{reason="untrusted"}`)).toBe(2);
  });

  it("believes K-Proxy-Request only from the activator's identity, not from another mesh workload", async () => {
    const plugin = await loadProxy({ layout, position: "inbound" });
    const checkout = { peerIdentity: "spiffe://cluster.local/ns/shop/sa/checkout" };
    const { response } = exchange(plugin, activatorRequest(T0_MS - 3_600_000), {
      connection: checkout,
      status: 200,
    });
    // Not through the activator as far as the pod reports (a=0), and not unverifiable: forged.
    expect(header(response, "x-kwt-pod")).toMatch(/^1;cs=0;w=;.*;a=0;rd=\d+$/);
    expect(seriesOf(plugin, "knative_activator_unverified_total")).toEqual([]);
    expect(metricValue(plugin, `kwt_stamps_rejected_total{reason="untrusted"}`)).toBe(1);
    // The same request from the activator is reported through it, held since before the pod was ready.
    const fromActivator = exchange(plugin, activatorRequest(T0_MS - 500), { status: 200 });
    expect(header(fromActivator.response, "x-kwt-pod")).toMatch(/^1;cs=1;w=\d+;.*;a=1;rd=\d+;t=\d+$/);
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
    expect(header(response, "x-kwt-pod")).toBe(
      `1;cs=0;w=;c=cluster-a;r=eu-west1;n=demo;s=;cf=;v=;a=0;rd=${T0_MS}`,
    );
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

  it("skips workloads that are not Knative revisions by default, at one host call (a pod stamp they set removed)", async () => {
    const node = { ...revisionNode(), labels: { app: "web" } };
    const plugin = await loadProxy({ layout, position: "inbound", node });
    onEachWorker(plugin, () => exchange(plugin, REQUEST, { status: 200 }));
    const { response, stream } = exchange(plugin, activatorRequest(), { status: 503 });
    expect(stream.hostCalls).toBe(1);
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
      `1;cs=0;w=;c=prod-eu-1;r=europe-west4;n=demo;s=hello;cf=hello-config;v=hello-00001;a=0;rd=${T0_MS}`,
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
