// The edge of a measurement (gateway, caller's outbound sidecar): entry stamps, forged headers from
// outside the mesh, the client-visible duration read from the pod stamp, and the cold start / wait
// for capacity / proxied decision for answers through the activator.

import { describe, expect, it } from "vitest";

import { ManualClock } from "../harness/clock.js";
import { Plugin } from "../harness/plugin.js";
import type { HeaderList } from "../harness/types.js";
import {
  ACTIVATOR_IDENTITY,
  LAYOUTS,
  LOCAL_GATEWAY_CONNECTION,
  MESH_CONNECTION,
  PLAINTEXT_CONNECTION,
  POD_IDENTITY,
  REQUEST,
  REVISION_CLUSTER,
  REV,
  T0_MS,
  exchange,
  header,
  loadProxy,
  metricValue,
  onEachWorker,
  proxyOptions,
  seriesOf,
} from "./setup.js";

const STAMP_REVISION = "c=cluster-a;r=eu-west1;n=demo;s=hello;cf=hello-config;v=hello-00001";
/** A direct answer from a pod ready for a minute. */
const WARM_STAMP = `1;cs=0;w=;${STAMP_REVISION};a=0;rd=${T0_MS - 60_000}`;
/** A pod stamp of an earlier filter version: its `cs=1` is no cold start for this edge. */
const EARLIER_VERSION_STAMP = `1;cs=1;w=2350;${STAMP_REVISION}`;

/** An answer through the activator from a pod ready since `readyMs`, reached at `arrivalMs`. */
function activatorStamp(readyMs: number, arrivalMs: number, waitMs?: number): string {
  const held = waitMs === undefined ? "cs=0;w=" : `cs=1;w=${waitMs}`;
  return `1;${held};${STAMP_REVISION};a=1;rd=${readyMs};t=${arrivalMs}`;
}

/** A request entered at `entryMs` (the clock's time now), held, answered through the activator. */
const COLD_STAMP = activatorStamp(T0_MS + 2000, T0_MS + 2350, 2350);

function duration(coldStart: boolean, codeClass = "2xx", suffix = "count"): string {
  return `knative_request_duration_milliseconds_${suffix}{${REV},source_cluster="cluster-a",response_code_class="${codeClass}",cold_start="${coldStart}"}`;
}

const FORGED: HeaderList = [
  ...REQUEST,
  ["x-kwt-entry", "1"],
  ["x-kwt-hop", "1;c=evil;r=evil;t=1"],
  ["x-kwt-pod", "1;cs=1;w=1;c=a;r=b;n=c;s=d;v=e"],
  ["x-kwt-future-thing", "x"],
  ["k-proxy-request", "activator"],
];

describe.each(LAYOUTS)("gateway and outbound sidecar, %s property layout", (layout) => {
  it("gateway: removes every forged x-kwt-* and K-Proxy-Request header from outside, then stamps entry", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "gateway", clock });
    clock.advance(42);
    const { request } = exchange(plugin, FORGED, { fromMesh: false, status: 200 });
    expect(header(request, "k-proxy-request")).toBeUndefined();
    expect(request.filter(([name]) => name === "x-kwt-entry")).toEqual([["x-kwt-entry", String(T0_MS + 42)]]);
    expect(request.filter(([name]) => name === "x-kwt-pod" || name === "x-kwt-future-thing")).toEqual([]);
    // The hop stamp on the request is this gateway's own (it stamps every hop it sends), not the forged one.
    expect(header(request, "x-kwt-hop")).not.toBe("1;c=evil;r=evil;t=1");
  });

  it("gateway: keeps a valid entry stamp from a mesh client (knative-local-gateway) and leaves the pod stamp to it", async () => {
    const plugin = await loadProxy({ layout, position: "gateway" });
    const entry = String(T0_MS - 5);
    const { request, response } = exchange(plugin, [...REQUEST, ["x-kwt-entry", entry]], {
      connection: LOCAL_GATEWAY_CONNECTION,
      status: 200,
      responseHeaders: [["x-kwt-pod", WARM_STAMP]],
    });
    expect(header(request, "x-kwt-entry")).toBe(entry);
    expect(header(response, "x-kwt-pod")).toBe(WARM_STAMP);
    expect(seriesOf(plugin, "knative_request_duration_milliseconds_count")).toEqual([]);
  });

  it.each([
    [
      "an outside client's certificate on the public port",
      { mtls: true, peerIdentity: undefined, destinationPort: 8443 },
    ],
    [
      "a certificate naming a mesh identity on the public port",
      { peerIdentity: "spiffe://cluster.local/ns/shop/sa/checkout", destinationPort: 8443 },
    ],
    [
      "another trust domain on the mesh-facing port",
      { peerIdentity: "spiffe://partner.example/ns/shop/sa/checkout", destinationPort: 8081 },
    ],
    [
      "a plaintext caller on the mesh-facing port",
      { mtls: false, peerIdentity: undefined, destinationPort: 8081 },
    ],
  ])("gateway: trusts no stamp from %s", async (_what, connection) => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "gateway", clock });
    const { request } = exchange(plugin, FORGED, { connection, status: 200 });
    expect(header(request, "k-proxy-request")).toBeUndefined();
    expect(request.filter(([name]) => name === "x-kwt-entry")).toEqual([["x-kwt-entry", String(T0_MS)]]);
    expect(request.filter(([name]) => name === "x-kwt-pod" || name === "x-kwt-future-thing")).toEqual([]);
  });

  it("gateway: meshGatewayPorts moves the mesh-facing listener", async () => {
    const plugin = await loadProxy({ layout, position: "gateway", config: { meshGatewayPorts: [9081] } });
    const entry = String(T0_MS - 5);
    const on8081 = exchange(plugin, [...REQUEST, ["x-kwt-entry", entry]], {
      connection: LOCAL_GATEWAY_CONNECTION,
    });
    expect(header(on8081.request, "x-kwt-entry")).toBe(String(T0_MS));
    const on9081 = exchange(plugin, [...REQUEST, ["x-kwt-entry", entry]], {
      connection: { ...LOCAL_GATEWAY_CONNECTION, destinationPort: 9081 },
    });
    expect(header(on9081.request, "x-kwt-entry")).toBe(entry);
  });

  it("gateway: ignores a pod stamp from an upstream without a mesh identity, and strips it", async () => {
    const plugin = await loadProxy({ layout, position: "gateway" });
    for (const upstream of [
      { upstreamIdentity: undefined },
      { upstreamIdentity: "spiffe://partner.example/ns/demo/sa/default" },
    ]) {
      const { response } = exchange(plugin, REQUEST, {
        connection: upstream,
        status: 200,
        responseHeaders: [["x-kwt-pod", COLD_STAMP]],
        end: { durationNs: 3_600_000_000_000n },
      });
      expect(header(response, "x-kwt-pod")).toBeUndefined();
    }
    expect(seriesOf(plugin, "knative_request_duration_milliseconds_count")).toEqual([]);
    expect(metricValue(plugin, `kwt_stamps_rejected_total{reason="untrusted"}`)).toBe(2);
  });

  // Envoy histograms keep 2 significant digits (circllhist): the durations used sit mid-bin (125,
  // 2450), so the sums are exact.
  it("gateway: records the client-visible duration split cold/warm and strips the pod stamp", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "gateway", clock });
    // First the held burst of a revision at zero, then its warm traffic.
    exchange(plugin, REQUEST, {
      status: 200,
      responseHeaders: [["x-kwt-pod", COLD_STAMP]],
      end: { durationNs: 2_450_000_000n },
    });
    const warm = exchange(plugin, REQUEST, {
      fromMesh: false,
      status: 200,
      responseHeaders: [["x-kwt-pod", WARM_STAMP]],
      end: { durationNs: 125_000_000n },
    });
    expect(header(warm.response, "x-kwt-pod")).toBeUndefined();
    exchange(plugin, REQUEST, {
      status: 503,
      responseHeaders: [["x-kwt-pod", WARM_STAMP]],
      end: { durationNs: 1_000_000n },
    });
    expect(metricValue(plugin, duration(false))).toBe(1);
    expect(metricValue(plugin, duration(false, "2xx", "sum"))).toBe(125);
    expect(metricValue(plugin, duration(true))).toBe(1);
    expect(metricValue(plugin, duration(true, "2xx", "sum"))).toBe(2450);
    expect(metricValue(plugin, duration(false, "5xx"))).toBe(1);
    // A response without a pod stamp (not from an instrumented pod) records nothing.
    exchange(plugin, REQUEST, { status: 200, end: { durationNs: 9_000_000n } });
    expect(seriesOf(plugin, "knative_request_duration_milliseconds_count")).toHaveLength(3);
  });

  it("gateway: keeps the pod stamp on the response when keepPodHeader is set", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "gateway", config: { keepPodHeader: true }, clock });
    const { response } = exchange(plugin, REQUEST, {
      status: 200,
      responseHeaders: [["x-kwt-pod", COLD_STAMP]],
    });
    expect(header(response, "x-kwt-pod")).toBe(COLD_STAMP);
    expect(metricValue(plugin, duration(true))).toBe(1);
  });

  it("gateway: a held answer while no pod was ready is a cold start, timed from entry to the pod", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "gateway", clock });
    // Envoy's histograms keep 2 significant digits (circllhist): 2350 ms sits mid-bin.
    exchange(plugin, REQUEST, { status: 200, responseHeaders: [["x-kwt-pod", COLD_STAMP]] });
    expect(metricValue(plugin, `knative_cold_starts_total{${REV}}`)).toBe(1);
    expect(metricValue(plugin, `knative_cold_start_duration_milliseconds_sum{${REV}}`)).toBe(2350);
    expect(metricValue(plugin, `knative_cold_start_duration_milliseconds_bucket{${REV},le="2500"}`)).toBe(1);
    expect(metricValue(plugin, `knative_cold_start_duration_milliseconds_bucket{${REV},le="1000"}`)).toBe(0);
    expect(seriesOf(plugin, "knative_activator_proxied_total")).toEqual([]);
    // Later traffic through the activator to the ready pod is proxied, not a cold start.
    clock.advance(5_000);
    exchange(plugin, REQUEST, {
      status: 200,
      responseHeaders: [["x-kwt-pod", activatorStamp(T0_MS + 2000, T0_MS + 5_001)]],
    });
    expect(metricValue(plugin, `knative_activator_proxied_total{${REV}}`)).toBe(1);
    expect(metricValue(plugin, `knative_cold_starts_total{${REV}}`)).toBe(1);
  });

  it("gateway: a burst of held answers from one new pod, each with its own wait, is that many cold starts, each timed", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "gateway", clock });
    // What happened: requests entered while the revision was at zero; the new pod turned ready at
    // T0 + 2000 and each reached it after its own wait (so each answer's pod stamp differs in
    // `w` and `t` only); one failed there. Each wait is the middle of its histogram bin (2
    // significant digits), where Envoy's sum is exact.
    const readyMs = T0_MS + 2000;
    const burst = [
      { enteredAfterMs: 0, waitMs: 2350, status: 200 },
      { enteredAfterMs: 40, waitMs: 2450, status: 200 },
      { enteredAfterMs: 90, waitMs: 2250, status: 503 },
      { enteredAfterMs: 400, waitMs: 1950, status: 200 },
      { enteredAfterMs: 410, waitMs: 2150, status: 200 },
      { enteredAfterMs: 1500, waitMs: 655, status: 200 },
    ];
    let nowMs = T0_MS;
    for (const { enteredAfterMs, waitMs, status } of burst) {
      clock.advance(T0_MS + enteredAfterMs - nowMs);
      nowMs = T0_MS + enteredAfterMs;
      exchange(plugin, REQUEST, {
        status,
        responseHeaders: [["x-kwt-pod", activatorStamp(readyMs, nowMs + waitMs, waitMs)]],
      });
    }
    const failed = burst.filter((request) => request.status === 503).length;
    expect(metricValue(plugin, `knative_cold_starts_total{${REV}}`)).toBe(burst.length);
    expect(metricValue(plugin, `knative_cold_start_duration_milliseconds_count{${REV}}`)).toBe(burst.length);
    expect(metricValue(plugin, `knative_cold_start_duration_milliseconds_sum{${REV}}`)).toBe(
      burst.reduce((sum, request) => sum + request.waitMs, 0),
    );
    expect(metricValue(plugin, duration(true))).toBe(burst.length - failed);
    expect(metricValue(plugin, duration(true, "5xx"))).toBe(failed);
    expect(seriesOf(plugin, "knative_activator_proxied_total")).toEqual([]);
    // Then the ready pod answers through the activator, held no more: proxied, no cold start.
    clock.advance(readyMs + 1000 - nowMs);
    exchange(plugin, REQUEST, {
      status: 200,
      responseHeaders: [["x-kwt-pod", activatorStamp(readyMs, readyMs + 1001)]],
    });
    expect(metricValue(plugin, `knative_activator_proxied_total{${REV}}`)).toBe(1);
    expect(metricValue(plugin, `knative_cold_starts_total{${REV}}`)).toBe(burst.length);
    expect(metricValue(plugin, duration(false))).toBe(1);
  });

  it("gateway: a held answer's stamp longer than a stamp may be is refused, though the same pod's shorter one was not", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "gateway", clock });
    const readyMs = T0_MS + 2000;
    // A stamp of exactly the longest length (512 characters before its arrival) with an 11-digit
    // `w` (leading zeros are digits too, in `rd` as well): fields a later version might add, of up
    // to 63 characters each, fill it up (16 fields).
    const stampOf = (waitText: string, filler: string) =>
      `1;cs=1;w=${waitText};${STAMP_REVISION};${filler};a=1;rd=0${readyMs}`;
    const keptWait = "00000000850";
    const fillers: string[] = [];
    for (const key of ["xa", "xb", "xc", "xd", "xe", "xf"]) {
      const room = 512 - stampOf(keptWait, [...fillers, `${key}=`].join(";")).length;
      fillers.push(`${key}=${"p".repeat(Math.min(63, room))}`);
    }
    const filler = fillers.join(";");
    expect(stampOf(keptWait, filler)).toHaveLength(512);
    const answer = (waitText: string) =>
      exchange(plugin, REQUEST, {
        status: 200,
        responseHeaders: [["x-kwt-pod", `${stampOf(waitText, filler)};t=${T0_MS + Number(waitText)}`]],
      });
    // Twice on each worker: the first keeps the stamp, the second is found kept.
    onEachWorker(plugin, () => answer(keptWait));
    onEachWorker(plugin, () => answer(keptWait));
    expect(seriesOf(plugin, "kwt_stamps_rejected_total")).toEqual([]);
    expect(metricValue(plugin, `knative_cold_starts_total{${REV}}`)).toBe(2 * plugin.workerCount);
    // The same pod, a 12-digit `w` (still a valid wait): 513 characters.
    onEachWorker(plugin, () => answer("000000002350"));
    expect(metricValue(plugin, `kwt_stamps_rejected_total{reason="malformed"}`)).toBe(plugin.workerCount);
    expect(metricValue(plugin, `knative_cold_starts_total{${REV}}`)).toBe(2 * plugin.workerCount);
  });

  it("gateway: a held answer while another pod was ready waited for capacity, on any worker", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "gateway", clock });
    // Worker 1 sees the first pod answer; worker 2 (streams go round-robin) the new pod's held one.
    exchange(plugin, REQUEST, { status: 200, responseHeaders: [["x-kwt-pod", WARM_STAMP]] });
    clock.advance(1_000);
    exchange(plugin, REQUEST, {
      status: 200,
      responseHeaders: [["x-kwt-pod", activatorStamp(T0_MS + 1_500, T0_MS + 1_600, 600)]],
    });
    expect(seriesOf(plugin, "knative_cold_starts_total")).toEqual([]);
    expect(metricValue(plugin, `knative_activator_proxied_total{${REV}}`)).toBe(1);
    expect(metricValue(plugin, duration(false))).toBe(2);
  });

  it("gateway: revisions of one name in two clusters folded into _other keep their own eras", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({
      layout,
      position: "gateway",
      clock,
      config: { knownClusters: ["cluster-a"] },
    });
    const revisionIn = (cluster: string): string =>
      `c=${cluster};r=eu-west1;n=demo;s=hello;cf=hello-config;v=hello-00001`;
    // cluster-b's revision has had a ready pod for a minute.
    exchange(plugin, REQUEST, {
      status: 200,
      responseHeaders: [["x-kwt-pod", `1;cs=0;w=;${revisionIn("cluster-b")};a=0;rd=${T0_MS - 60_000}`]],
    });
    clock.advance(1_000);
    // cluster-c's revision of the same name had none: its held answer is a cold start, not a wait.
    exchange(plugin, REQUEST, {
      status: 200,
      responseHeaders: [
        ["x-kwt-pod", `1;cs=1;w=600;${revisionIn("cluster-c")};a=1;rd=${T0_MS + 1_500};t=${T0_MS + 1_600}`],
      ],
    });
    expect(seriesOf(plugin, "knative_cold_starts_total")).toHaveLength(1);
    expect(seriesOf(plugin, "knative_activator_proxied_total")).toEqual([]);
  });

  it("gateway: a pod ready long after the revision's last answer starts a new era (scaled to zero)", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({
      layout,
      position: "gateway",
      clock,
      config: { scaleToZeroMinSeconds: 30 },
    });
    exchange(plugin, REQUEST, { status: 200, responseHeaders: [["x-kwt-pod", WARM_STAMP]] });
    clock.advance(31_000);
    exchange(plugin, REQUEST, {
      status: 200,
      responseHeaders: [["x-kwt-pod", activatorStamp(T0_MS + 32_000, T0_MS + 32_100, 1_100)]],
    });
    expect(metricValue(plugin, `knative_cold_starts_total{${REV}}`)).toBe(1);
    // Within the gap it would have joined the first pod's era: a wait for capacity.
    clock.advance(1_000);
    exchange(plugin, REQUEST, {
      status: 200,
      responseHeaders: [["x-kwt-pod", activatorStamp(T0_MS + 32_500, T0_MS + 32_600, 600)]],
    });
    expect(metricValue(plugin, `knative_cold_starts_total{${REV}}`)).toBe(1);
    expect(metricValue(plugin, `knative_activator_proxied_total{${REV}}`)).toBe(1);
  });

  it("gateway: a kept pod stamp whose era this VM forgot finds it again in the shared copy", async () => {
    const clock = new ManualClock(T0_MS);
    // maxSeries 16 keeps 16 pod stamps per root, and each VM eras for 512 revisions.
    const plugin = await loadProxy({ layout, position: "gateway", clock, config: { maxSeries: 16 } });
    onEachWorker(plugin, () => {
      exchange(plugin, REQUEST, { status: 200, responseHeaders: [["x-kwt-pod", WARM_STAMP]] });
    });
    // A new pod's answers through the activator, held (entered before it was ready): its stamp
    // has no cold start of its own (cs=0), so each root keeps it.
    const newPod = `1;cs=0;w=;${STAMP_REVISION};a=1;rd=${T0_MS + 1_500}`;
    const heldAnswer = (): void => {
      onEachWorker(plugin, () => {
        exchange(plugin, REQUEST, {
          status: 200,
          responseHeaders: [["x-kwt-pod", `${newPod};t=${T0_MS + 1_600}`]],
        });
      });
    };
    clock.advance(1_000);
    heldAnswer();
    expect(metricValue(plugin, `knative_activator_proxied_total{${REV}}`)).toBe(plugin.workerCount);
    // 520 other revisions answer every worker, their last answers later than the first
    // revision's: each VM forgets its era.
    for (let i = 0; i < 520; i++) {
      const other = `1;cs=0;w=;c=cluster-a;r=eu-west1;n=demo;s=other;cf=other;v=other-${i};a=0;rd=${T0_MS + 2_000}`;
      onEachWorker(plugin, () => {
        exchange(plugin, REQUEST, { status: 200, responseHeaders: [["x-kwt-pod", other]] });
      });
    }
    // The kept stamp's next held answer still waited for capacity: the era the VMs published says
    // a pod was ready when it entered.
    heldAnswer();
    expect(seriesOf(plugin, "knative_cold_starts_total")).toEqual([]);
    expect(metricValue(plugin, `knative_activator_proxied_total{${REV}}`)).toBe(2 * plugin.workerCount);
  });

  it("gateway: a pod clock behind the gateway's clamps the wait to 0 and counts the skew", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "gateway", clock });
    exchange(plugin, REQUEST, {
      status: 200,
      responseHeaders: [["x-kwt-pod", activatorStamp(T0_MS + 10, T0_MS - 40)]],
    });
    expect(metricValue(plugin, `knative_cold_start_duration_milliseconds_sum{${REV}}`)).toBe(0);
    expect(
      metricValue(plugin, `kwt_clock_skew_total{source_cluster="cluster-a",destination_cluster="cluster-a"}`),
    ).toBe(1);
  });

  it("gateway: a pod stamp of an earlier version is read for its labels, never as a cold start", async () => {
    const plugin = await loadProxy({ layout, position: "gateway" });
    exchange(plugin, REQUEST, { status: 200, responseHeaders: [["x-kwt-pod", EARLIER_VERSION_STAMP]] });
    expect(metricValue(plugin, duration(false))).toBe(1);
    expect(seriesOf(plugin, "knative_cold_starts_total")).toEqual([]);
    expect(seriesOf(plugin, "knative_activator_proxied_total")).toEqual([]);
  });

  it("gateway: refuses a malformed pod stamp, strips it and counts it", async () => {
    const plugin = await loadProxy({ layout, position: "gateway" });
    const { response } = exchange(plugin, REQUEST, {
      status: 200,
      responseHeaders: [["x-kwt-pod", "1;cs=1;w=;c=a b;r=;n=;s=;v="]],
    });
    expect(header(response, "x-kwt-pod")).toBeUndefined();
    expect(metricValue(plugin, `kwt_stamps_rejected_total{reason="malformed"}`)).toBe(1);
    expect(seriesOf(plugin, "knative_request_duration_milliseconds_count")).toEqual([]);
  });

  it("role: gateway makes a sidecar behave as a mesh entry", async () => {
    const plugin = await loadProxy({ layout, position: "outbound", config: { role: "gateway" } });
    const { request } = exchange(plugin, FORGED, { fromMesh: false, status: 200 });
    expect(header(request, "k-proxy-request")).toBeUndefined();
    expect(header(request, "x-kwt-future-thing")).toBeUndefined();
    expect(header(request, "x-kwt-entry")).toBe(String(T0_MS));
  });

  it("outbound sidecar: sets the entry stamp when absent or invalid, and owns the measurement", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "outbound", clock });
    clock.advance(7);
    const absent = exchange(plugin, REQUEST, { status: 200, responseHeaders: [["x-kwt-pod", WARM_STAMP]] });
    expect(header(absent.request, "x-kwt-entry")).toBe(String(T0_MS + 7));
    expect(header(absent.response, "x-kwt-pod")).toBeUndefined();
    const invalid = exchange(plugin, [...REQUEST, ["x-kwt-entry", "yesterday"]], { status: 200 });
    expect(invalid.request.filter(([name]) => name === "x-kwt-entry")).toEqual([
      ["x-kwt-entry", String(T0_MS + 7)],
    ]);
    expect(metricValue(plugin, duration(false))).toBe(1);
  });

  it("outbound sidecar: keeps a propagated entry stamp (e.g. through the activator) and the pod stamp", async () => {
    const plugin = await loadProxy({ layout, position: "outbound" });
    const entry = String(T0_MS - 1200);
    const { request, response } = exchange(plugin, [...REQUEST, ["x-kwt-entry", entry]], {
      fromMesh: false,
      status: 200,
      responseHeaders: [["x-kwt-pod", COLD_STAMP]],
    });
    expect(header(request, "x-kwt-entry")).toBe(entry);
    expect(header(response, "x-kwt-pod")).toBe(COLD_STAMP);
    expect(seriesOf(plugin, "knative_request_duration_milliseconds_count")).toEqual([]);
  });
});

describe.each(LAYOUTS)("a cold start end to end, %s property layout", (layout) => {
  it("gateway -> activator's sidecars (inbound, outbound) -> fresh pod, with the filter everywhere", async () => {
    const clock = new ManualClock(T0_MS);
    const activatorNode = {
      proxyType: "sidecar" as const,
      podName: "activator-5d8f-abcde",
      cluster: "cluster-a",
      region: "eu-west1",
      namespace: "knative-serving",
      labels: { app: "activator" },
    };
    const gateway = await loadProxy({ layout, position: "gateway", clock });
    const activatorIn = await loadProxy({ layout, position: "inbound", clock, node: activatorNode });
    const activatorOut = await loadProxy({ layout, position: "outbound", clock, node: activatorNode });

    // The gateway's upstream is the activator (with its sidecar): a mesh identity.
    const atGateway = gateway.createStream({ ...PLAINTEXT_CONNECTION, upstreamIdentity: ACTIVATOR_IDENTITY });
    const toActivator = atGateway.onRequestHeaders(REQUEST, true).headers;
    const intoActivator = activatorIn.createStream({ mtls: true });
    const atActivator = intoActivator.onRequestHeaders(toActivator, true).headers;
    // The activator holds the request while the pod starts, then forwards it with K-Proxy-Request.
    clock.advance(2000);
    const pod = await loadProxy({ layout, position: "inbound", clock });
    clock.advance(350);
    // Its upstream is the pod's sidecar: a mesh identity (a stamp from a pod without one is removed).
    const outOfActivator = activatorOut.createStream({
      upstreamCluster: REVISION_CLUSTER,
      upstreamAddress: "10.0.0.9:8012",
      upstreamIdentity: POD_IDENTITY,
    });
    const toPod = outOfActivator.onRequestHeaders(
      [...atActivator, ["k-proxy-request", "activator"]],
      true,
    ).headers;
    const atPod = pod.createStream(MESH_CONNECTION);
    atPod.onRequestHeaders(toPod, true);
    const fromPod = atPod.onResponseHeaders([[":status", "200"]], true).headers;
    atPod.end();
    const backInActivator = outOfActivator.onResponseHeaders(fromPod, true).headers;
    outOfActivator.end();
    const fromActivator = intoActivator.onResponseHeaders(backInActivator, true).headers;
    intoActivator.end();
    clock.advance(100);
    const toClient = atGateway.onResponseHeaders(fromActivator, true).headers;
    atGateway.end();

    expect(header(toPod, "x-kwt-entry")).toBe(String(T0_MS));
    // The fresh pod had no probe: its first request made it ready, on arrival.
    expect(header(fromActivator, "x-kwt-pod")).toBe(activatorStamp(T0_MS + 2350, T0_MS + 2350, 2350));
    expect(header(toClient, "x-kwt-pod")).toBeUndefined();
    expect(metricValue(gateway, `knative_cold_start_duration_milliseconds_sum{${REV}}`)).toBe(2350);
    expect(seriesOf(pod, "knative_cold_starts_total")).toEqual([]);
    expect(metricValue(gateway, duration(true, "2xx", "sum"))).toBe(2450);
    // Only the gateway, which stamped the entry, records the client-visible duration.
    expect(seriesOf(activatorOut, "knative_request_duration_milliseconds_count")).toEqual([]);
  });

  it("gateway -> activator (held 2350 ms) -> fresh pod -> gateway", async () => {
    const clock = new ManualClock(T0_MS);
    // The pod's sidecar VM starts 2 s after the request entered the mesh.
    const gateway = await loadProxy({ layout, position: "gateway", clock });
    const gatewayStream = gateway.createStream({
      ...PLAINTEXT_CONNECTION,
      upstreamIdentity: ACTIVATOR_IDENTITY,
    });
    const entered = gatewayStream.onRequestHeaders(REQUEST, true).headers;
    clock.advance(2000);
    const pod = await loadProxy({ layout, position: "inbound", clock });
    clock.advance(350);
    // The activator forwards the request with everything the gateway set, plus K-Proxy-Request.
    const podStream = pod.createStream(MESH_CONNECTION);
    podStream.onRequestHeaders([...entered, ["k-proxy-request", "activator"]], true);
    const podResponse = podStream.onResponseHeaders([[":status", "200"]], true).headers;
    podStream.end();
    clock.advance(100);
    const clientResponse = gatewayStream.onResponseHeaders(podResponse, true).headers;
    gatewayStream.end();

    expect(header(clientResponse, "x-kwt-pod")).toBeUndefined();
    expect(metricValue(gateway, `knative_cold_starts_total{${REV}}`)).toBe(1);
    expect(metricValue(gateway, `knative_cold_start_duration_milliseconds_sum{${REV}}`)).toBe(2350);
    expect(metricValue(gateway, duration(true))).toBe(1);
    expect(metricValue(gateway, duration(true, "2xx", "sum"))).toBe(2450);
    expect(
      metricValue(
        pod,
        `knative_invocations_total{${REV},source_cluster="cluster-a",response_code_class="2xx"}`,
      ),
    ).toBe(1);
  });
});

describe.each(LAYOUTS)("pod stamps a workload makes up, %s property layout", (layout) => {
  /** An echo service in the mesh (no Knative revision): it sets any response header a client names. */
  const echoNode = {
    proxyType: "sidecar" as const,
    podName: "httpbin-6d8f-x2x",
    cluster: "cluster-a",
    region: "eu-west1",
    namespace: "demo",
    labels: { app: "httpbin" },
  };
  const ECHO_IDENTITY = "spiffe://cluster.local/ns/demo/sa/httpbin";
  /** A stamp the workload sets itself (what a client asked an echo service for). */
  const MADE_UP: HeaderList = [["x-kwt-pod", COLD_STAMP]];

  it("an outside client cannot make up a cold start through a service that echoes headers", async () => {
    const clock = new ManualClock(T0_MS);
    const gateway = await loadProxy({ layout, position: "gateway", clock });
    const echo = await loadProxy({ layout, position: "inbound", clock, node: echoNode });
    // What happened: one request, answered by httpbin; no revision answered, nothing was held.
    for (let request = 0; request < 3; request++) {
      const atGateway = gateway.createStream({ ...PLAINTEXT_CONNECTION, upstreamIdentity: ECHO_IDENTITY });
      const forwarded = atGateway.onRequestHeaders(
        [...REQUEST, [":path", `/response-headers?x-kwt-pod=${encodeURIComponent(COLD_STAMP)}`]],
        true,
      ).headers;
      const echoed = exchange(echo, forwarded, { status: 200, responseHeaders: MADE_UP }).response;
      expect(header(echoed, "x-kwt-pod")).toBeUndefined();
      clock.advance(100);
      atGateway.onResponseHeaders(echoed, true);
      atGateway.end();
    }
    expect(seriesOf(gateway, "knative_cold_starts_total")).toEqual([]);
    expect(seriesOf(gateway, "knative_request_duration_milliseconds_count")).toEqual([]);
  });

  /** A proxy in front of a Knative service (an auth proxy), outside knative-serving. */
  const proxyNode = { ...echoNode, podName: "oauth2-proxy-7f9c-q1w", labels: { app: "oauth2-proxy" } };
  const PROXY_IDENTITY = "spiffe://cluster.local/ns/demo/sa/oauth2-proxy";

  /**
   * gateway -> the proxy's sidecar (inbound) -> the proxy -> its sidecar (outbound) -> the revision
   * pod, and back, the proxy taking `proxyMs` between its upstream's answer and its own.
   */
  async function throughProxy(proxyMs: number, upstreamIdentity: string | undefined, upstreamMs = 0) {
    const clock = new ManualClock(T0_MS);
    const gateway = await loadProxy({ layout, position: "gateway", clock });
    const proxyIn = await loadProxy({ layout, position: "inbound", clock, node: proxyNode });
    // The same Envoy's outbound listener: the same shared data.
    const proxyOut = await Plugin.load(
      proxyOptions({ layout, position: "outbound", clock, node: proxyNode }),
      undefined,
      proxyIn.sharedData,
    );
    const pod = await loadProxy({ layout, position: "inbound", clock });
    const atGateway = gateway.createStream({ ...PLAINTEXT_CONNECTION, upstreamIdentity: PROXY_IDENTITY });
    const intoProxy = proxyIn.createStream(MESH_CONNECTION);
    const atProxy = intoProxy.onRequestHeaders(
      atGateway.onRequestHeaders(REQUEST, true).headers,
      true,
    ).headers;
    const outOfProxy = proxyOut.createStream({
      upstreamCluster: REVISION_CLUSTER,
      upstreamAddress: "10.0.0.9:8012",
      ...(upstreamIdentity === undefined ? {} : { upstreamIdentity }),
    });
    const toPod = outOfProxy.onRequestHeaders(atProxy, true).headers;
    clock.advance(upstreamMs);
    const atPod = pod.createStream(MESH_CONNECTION);
    atPod.onRequestHeaders(toPod, true);
    const fromPod = atPod.onResponseHeaders([[":status", "200"]], true).headers;
    atPod.end();
    const backInProxy = outOfProxy.onResponseHeaders(fromPod, true).headers;
    outOfProxy.end();
    clock.advance(proxyMs);
    const fromProxy = intoProxy.onResponseHeaders(backInProxy, true).headers;
    intoProxy.end();
    atGateway.onResponseHeaders(fromProxy, true);
    atGateway.end();
    return { gateway, proxyIn, proxyOut, fromPod, fromProxy };
  }

  it("a proxy in front of a revision relays its pod's stamp to the gateway, which measures", async () => {
    const { gateway, fromPod, fromProxy } = await throughProxy(20, POD_IDENTITY);
    expect(header(fromPod, "x-kwt-pod")).toBeDefined();
    expect(header(fromProxy, "x-kwt-pod")).toBe(header(fromPod, "x-kwt-pod"));
    // What happened: one request, answered by hello-00001's pod, warm.
    expect(metricValue(gateway, duration(false))).toBe(1);
  });

  it("a slow upstream's stamp is relayed too: the note is of when it came back", async () => {
    const { gateway, fromProxy } = await throughProxy(20, POD_IDENTITY, 45_000);
    expect(header(fromProxy, "x-kwt-pod")).toBeDefined();
    expect(metricValue(gateway, duration(false))).toBe(1);
  });

  it("the proxy lets out no stamp its sidecar did not see come back moments before, or from a pod without a mesh identity", async () => {
    // Held past the note's 30 s: the proxy could be replaying it.
    const late = await throughProxy(31_000, POD_IDENTITY);
    expect(header(late.fromProxy, "x-kwt-pod")).toBeUndefined();
    expect(metricValue(late.proxyIn, 'kwt_stamps_rejected_total{reason="untrusted"}')).toBe(1);
    expect(seriesOf(late.gateway, "knative_request_duration_milliseconds_count")).toEqual([]);
    // From an upstream without a mesh identity: removed at the proxy's outbound side already.
    const plain = await throughProxy(20, undefined);
    expect(header(plain.fromProxy, "x-kwt-pod")).toBeUndefined();
    expect(metricValue(plain.proxyOut, 'kwt_stamps_rejected_total{reason="untrusted"}')).toBe(1);
    expect(seriesOf(plain.gateway, "knative_request_duration_milliseconds_count")).toEqual([]);
  });

  it("a gateway lets no stamp in from outside the mesh (an egress gateway's answer)", async () => {
    const gateway = await loadProxy({ layout, position: "gateway" });
    const back = exchange(gateway, REQUEST, {
      connection: {
        upstreamCluster: "outbound|443||httpbin.org",
        upstreamAddress: "203.0.113.7:443",
        upstreamIdentity: "spiffe://cluster.local/ns/demo/sa/made-up",
      },
      status: 200,
      responseHeaders: MADE_UP,
    }).response;
    expect(header(back, "x-kwt-pod")).toBeUndefined();
    expect(metricValue(gateway, 'kwt_stamps_rejected_total{reason="untrusted"}')).toBe(1);
    expect(seriesOf(gateway, "knative_cold_starts_total")).toEqual([]);
  });

  it("the activator relays no stamp from a pod without a mesh identity", async () => {
    const activator = await loadProxy({
      layout,
      position: "outbound",
      node: {
        ...echoNode,
        podName: "activator-5d8f-abcde",
        namespace: "knative-serving",
        labels: { app: "activator" },
      },
    });
    // The gateway's entry stamp came with the request: a proxy further up measures.
    const stream = activator.createStream({
      upstreamCluster: REVISION_CLUSTER,
      upstreamAddress: "10.0.0.9:8012",
    });
    stream.onRequestHeaders([...REQUEST, ["x-kwt-entry", String(T0_MS)]], true);
    const back = stream.onResponseHeaders([[":status", "200"], ...MADE_UP], true).headers;
    stream.end();
    expect(header(back, "x-kwt-pod")).toBeUndefined();
    expect(metricValue(activator, 'kwt_stamps_rejected_total{reason="untrusted"}')).toBe(1);
  });

  it("a revision pod's answers it puts no stamp on (a probe, another port) lose the workload's", async () => {
    const pod = await loadProxy({ layout, position: "inbound" });
    const probe: HeaderList = [
      [":method", "GET"],
      [":path", "/"],
      ["user-agent", "kube-probe/1.30"],
    ];
    const probed = exchange(pod, probe, { status: 200, responseHeaders: MADE_UP }).response;
    expect(header(probed, "x-kwt-pod")).toBeUndefined();
    // An invocation's answer carries the pod's own stamp, not the workload's.
    const answered = exchange(pod, REQUEST, { status: 200, responseHeaders: MADE_UP }).response;
    expect(header(answered, "x-kwt-pod")).toMatch(/^1;cs=0;w=;/);
  });
});

describe.each(LAYOUTS)("pod stamps' label values at the gateway, %s property layout", (layout) => {
  function stampFrom(cluster: string, region: string): string {
    return `1;cs=0;w=;c=${cluster};r=${region};n=demo;s=hello;cf=hello-config;v=hello-00001`;
  }

  function clustersRecorded(plugin: Awaited<ReturnType<typeof loadProxy>>): Set<string> {
    return new Set(
      seriesOf(plugin, "knative_request_duration_milliseconds_count").map(
        (line) => /destination_cluster="([^"]*)"/.exec(line)![1]!,
      ),
    );
  }

  it("folds invented clusters and regions past maxSourceLabelValues into _other", async () => {
    const plugin = await loadProxy({ layout, position: "gateway", config: { maxSourceLabelValues: 4 } });
    for (let i = 0; i < 40; i++) {
      exchange(plugin, REQUEST, {
        status: 200,
        responseHeaders: [["x-kwt-pod", stampFrom(`c-${i}`, `r-${i}`)]],
      });
    }
    const clusters = clustersRecorded(plugin);
    expect(clusters.has("_other")).toBe(true);
    // Per worker VM, at most 4 admitted: two workers saw different halves.
    expect(clusters.size).toBeLessThanOrEqual(2 * 4 + 1);
    expect(metricValue(plugin, "kwt_series_overflow_total")).toBeUndefined();
  });

  it("with knownClusters set, records every other cluster as _other", async () => {
    const plugin = await loadProxy({ layout, position: "gateway", config: { knownClusters: ["cluster-a"] } });
    exchange(plugin, REQUEST, {
      status: 200,
      responseHeaders: [["x-kwt-pod", stampFrom("cluster-a", "eu-west1")]],
    });
    exchange(plugin, REQUEST, {
      status: 200,
      responseHeaders: [["x-kwt-pod", stampFrom("invented", "eu-west1")]],
    });
    expect(clustersRecorded(plugin)).toEqual(new Set(["cluster-a", "_other"]));
  });
});

describe("streams interleaved on one worker, their objects reused (Stream.reset)", () => {
  it("keeps each stream's verdict its own: a held cold start, a warm 5xx between them, then warm answers on the reused objects", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await Plugin.load({
      ...proxyOptions({ layout: LAYOUTS[0]!, position: "gateway", clock }),
      workers: 1,
    });
    // A enters first and is held; B enters 10 ms later, is answered warm with a 503 while A's
    // answer (a cold start) arrives; B ends before A.
    const a = plugin.createStream(MESH_CONNECTION);
    a.onRequestHeaders(REQUEST, true);
    clock.advance(10);
    const b = plugin.createStream(MESH_CONNECTION);
    b.onRequestHeaders(REQUEST, true);
    clock.advance(2340);
    a.onResponseHeaders(
      [
        [":status", "200"],
        ["x-kwt-pod", activatorStamp(T0_MS + 2000, T0_MS + 2350, 2350)],
      ],
      true,
    );
    b.onResponseHeaders(
      [
        [":status", "503"],
        ["x-kwt-pod", WARM_STAMP],
      ],
      true,
    );
    b.end({});
    a.end({});
    // The next streams get A's and B's objects back: nothing of A's cold start may stay on them.
    for (let i = 0; i < 4; i++) {
      const next = plugin.createStream(MESH_CONNECTION);
      next.onRequestHeaders(REQUEST, true);
      next.onResponseHeaders(
        [
          [":status", "200"],
          ["x-kwt-pod", WARM_STAMP],
        ],
        true,
      );
      next.end({});
    }
    expect(metricValue(plugin, `knative_cold_starts_total{${REV}}`)).toBe(1);
    expect(metricValue(plugin, duration(true))).toBe(1);
    expect(metricValue(plugin, duration(false, "5xx"))).toBe(1);
    expect(metricValue(plugin, duration(false))).toBe(4);
    expect(seriesOf(plugin, "knative_request_duration_milliseconds_count")).toHaveLength(3);
  });
});
