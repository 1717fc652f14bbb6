// The glue (root and stream contexts) driven through an in-memory host: what one request at the
// revision pod's inbound sidecar records, that a probe records nothing, a refused configuration
// (kept per root, never failing),
// both Envoy property layouts, and the pod stamps a gateway keeps (and forgets, as pods go).

import { Root, Stream, Vm } from "../filter";
import { LogLevel } from "../hostinterface";
import { ERA_SLOTS, eraSlot } from "../readiness";
import { FakeHost } from "./fakehost";

const REVISION_LABEL = "serving.knative.dev/revision";
const ACTIVATOR_IDENTITY = "spiffe://cluster.local/ns/knative-serving/sa/controller";

/** A revision pod's inbound sidecar in cluster east, with the node properties under `node`. */
function revisionPodHost(node: string, listenerDirection: string): FakeHost {
  const host = new FakeHost();
  host.strings.set(node + ".id", "sidecar~10.0.0.7~hello-00001-deployment-5c7d.demo~demo.svc.cluster.local");
  host.strings.set(node + ".metadata.CLUSTER_ID", "east");
  host.strings.set(node + ".metadata.NAMESPACE", "demo");
  host.strings.set(node + ".locality.region", "us-east1");
  host.strings.set(node + ".metadata.LABELS." + REVISION_LABEL, "hello-00001");
  host.integers.set(listenerDirection, 1);
  host.integers.set("destination.port", 8012); // queue-proxy's serving port
  return host;
}

/** kwt_config_valid of the root whose id is `kwt`. */
const CONFIG_VALID_KWT = "root_id=.=kwt;.;kwt_config_valid";

/** Gives `root` this configuration; what on_configure returned. */
function reconfigure(host: FakeHost, root: Root, configuration: string): bool {
  host.configuration = configuration;
  host.logs = [];
  return root.onConfigure(<u32>String.UTF8.byteLength(configuration));
}

function configured(host: FakeHost, configuration: string): Root {
  return configuredIn(new Vm(host), configuration);
}

/** A root context configured with `configuration` in `vm` (which may hold other roots). */
function configuredIn(vm: Vm, configuration: string): Root {
  const host = <FakeHost>vm.host;
  const root = new Root(vm);
  host.configuration = configuration;
  expect<bool>(root.onConfigure(<u32>String.UTF8.byteLength(configuration))).toBe(true);
  return root;
}

/** One request through a stream: request headers, response headers with `code`, then on_log. */
/** One request with `extraName: extraValue` (none when empty) and, from `entryMs` >= 0, an entry stamp. */
function exchange(
  host: FakeHost,
  root: Root,
  extraName: string,
  extraValue: string,
  code: i64,
  entryMs: i64 = -1,
): void {
  host.request.names = [":method", ":path", "user-agent"];
  host.request.values = ["GET", "/", "curl/8"];
  if (extraName.length > 0) host.request.add(extraName, extraValue);
  if (entryMs >= 0) host.request.add("x-kwt-entry", entryMs.toString());
  host.response.names = [":status"];
  host.response.values = [code.toString()];
  host.integers.set("response.code", code);
  const stream: Stream = root.createStream()!;
  stream.onRequestHeaders();
  stream.onResponseHeaders();
  stream.onLog();
}

describe("inbound sidecar of a revision pod", () => {
  it("counts an invocation with the revision's labels and reports the pod stamp", () => {
    const host = revisionPodHost("xds.node", "xds.listener_direction");
    const root = configured(host, "{}");
    exchange(host, root, "", "", 200);
    const series = host.seriesOf("knative_invocations_total");
    expect<i32>(series.length).toBe(1);
    expect<bool>(series[0].includes("revision_name=.=hello-00001;.;")).toBe(true);
    expect<bool>(series[0].includes("destination_cluster=.=east;.;")).toBe(true);
    expect<bool>(series[0].includes("response_code_class=.=2xx;.;")).toBe(true);
    expect<i64>(host.metric(series[0])).toBe(1);
    expect<string | null>(host.response.get("x-kwt-pod")).toBe(
      "1;cs=0;w=;c=east;r=us-east1;n=demo;s=;cf=;v=hello-00001;a=0;rd=" + host.nowMs.toString(),
    );
  });

  it("counts a second invocation on the same series", () => {
    const host = revisionPodHost("xds.node", "xds.listener_direction");
    const root = configured(host, "{}");
    exchange(host, root, "", "", 503);
    exchange(host, root, "", "", 503);
    const series = host.seriesOf("knative_invocations_total");
    expect<i32>(series.length).toBe(1);
    expect<i64>(host.metric(series[0])).toBe(2);
    expect<i32>(host.seriesOf("knative_errors_total").length).toBe(1);
  });

  it("records nothing for a Knative probe, and reads nothing but its headers", () => {
    const host = revisionPodHost("xds.node", "xds.listener_direction");
    const root = configured(host, "{}");
    exchange(host, root, "k-network-probe", "queue", 200);
    expect<i32>(host.seriesOf("knative_invocations_total").length).toBe(0);
    expect<string | null>(host.response.get("x-kwt-pod")).toBeNull();
    host.calls = [];
    exchange(host, root, "k-network-probe", "queue", 200);
    // The answer carries no stamp of this pod, so none the workload might have set either.
    expect<string[]>(host.calls).toStrictEqual(["get_header_map_pairs", "remove_header_map_value"]);
  });

  it("reads the node and the listener direction from Envoy's layout before 1.33", () => {
    const host = revisionPodHost("node", "listener_direction");
    const root = configured(host, "{}");
    exchange(host, root, "", "", 200);
    const series = host.seriesOf("knative_invocations_total");
    expect<i32>(series.length).toBe(1);
    expect<bool>(series[0].includes("namespace_name=.=demo;.;")).toBe(true);
    expect<bool>(series[0].includes("destination_region=.=us-east1;.;")).toBe(true);
  });
});

describe("configuration", () => {
  it("runs an invalid first configuration on the defaults: one error line, counted, gauge 0", () => {
    const host = revisionPodHost("xds.node", "xds.listener_direction");
    host.strings.set("plugin_root_id", "kwt");
    const vm = new Vm(host);
    vm.onVmStart();
    expect<i64>(host.metric("kwt_config_rejected_total")).toBe(0);
    const root = new Root(vm);
    host.configuration = '{"scaleToZeroMinSeconds": 0}';
    expect<bool>(root.onConfigure(<u32>String.UTF8.byteLength(host.configuration))).toBe(true);
    expect<string[]>(host.logs).toStrictEqual([
      "kwt: invalid configuration: scaleToZeroMinSeconds: 0 is out of range; expected an integer from 1 to 3600; running with the defaults",
    ]);
    expect<LogLevel>(host.logLevels[0]).toBe(LogLevel.Error);
    expect<i64>(host.metric("kwt_config_rejected_total")).toBe(1);
    expect<i64>(host.metric(CONFIG_VALID_KWT)).toBe(0);
    exchange(host, root, "", "", 200);
    expect<i32>(host.seriesOf("knative_invocations_total").length).toBe(1);
  });

  it("keeps the root's last valid configuration when a later one is invalid", () => {
    const host = revisionPodHost("xds.node", "xds.listener_direction");
    host.strings.set("plugin_root_id", "kwt");
    const root = configured(host, '{"cluster": "west"}');
    expect<i64>(host.metric(CONFIG_VALID_KWT)).toBe(1);
    expect<bool>(reconfigure(host, root, '{"cluster": "west", "maxSeries": 1}')).toBe(true);
    expect<i64>(host.metric(CONFIG_VALID_KWT)).toBe(0);
    expect<string>(host.logs[0]).toBe(
      "kwt: invalid configuration: maxSeries: 1 is out of range; expected an integer from 16 to 100000; keeping the last valid configuration",
    );
    exchange(host, root, "", "", 200);
    expect<bool>(
      host.seriesOf("knative_invocations_total")[0].includes("destination_cluster=.=west;.;"),
    ).toBe(true);
    reconfigure(host, root, "{}");
    expect<i64>(host.metric(CONFIG_VALID_KWT)).toBe(1);
  });

  it("never falls back to another root's configuration", () => {
    const host = revisionPodHost("xds.node", "xds.listener_direction");
    const vm = new Vm(host);
    host.strings.set("plugin_root_id", "kwt-a");
    const first = new Root(vm);
    reconfigure(host, first, '{"cluster": "west"}');
    host.strings.set("plugin_root_id", "kwt-b");
    const second = new Root(vm);
    reconfigure(host, second, '{"cluster": "x y"}');
    expect<i64>(host.metric("root_id=.=kwt-a;.;kwt_config_valid")).toBe(1);
    expect<i64>(host.metric("root_id=.=kwt-b;.;kwt_config_valid")).toBe(0);
    exchange(host, second, "", "", 200);
    const series = host.seriesOf("knative_invocations_total");
    expect<i32>(series.length).toBe(1);
    expect<bool>(series[0].includes("destination_cluster=.=east;.;")).toBe(true);
  });

  it("refuses bytes that are not UTF-8, naming the offset", () => {
    const host = revisionPodHost("xds.node", "xds.listener_direction");
    const root = new Root(new Vm(host));
    const bytes = Uint8Array.wrap(String.UTF8.encode('{"cluster":"ab"}'));
    bytes[13] = 0xc0;
    host.configurationBytes = bytes.buffer;
    expect<bool>(root.onConfigure(<u32>bytes.length)).toBe(true);
    expect<string>(host.logs[0]).toBe(
      "kwt: invalid configuration: configuration: byte 13 is not valid UTF-8; expected UTF-8 text (RFC 8259); running with the defaults",
    );
  });

  it("sets the tick period the configuration asks for", () => {
    const host = revisionPodHost("xds.node", "xds.listener_direction");
    configured(host, '{"tickPeriodMs": 250}');
    expect<u32>(host.tickPeriodMs).toBe(250);
  });
});

describe("roots sharing a VM", () => {
  it("keeps each root's maxSeries to its own series", () => {
    const host = revisionPodHost("xds.node", "xds.listener_direction");
    host.strings.set("connection.uri_san_peer_certificate", "spiffe://cluster.local/ns/shop/sa/checkout");
    const vm = new Vm(host);
    const busy = configuredIn(vm, "{}");
    // Configured last, with the smallest cap: before, its cap applied to every root of the VM.
    configuredIn(vm, '{"maxSeries":16}');
    for (let i = 0; i < 20; i++) {
      exchange(host, busy, "x-kwt-hop", "1;c=c" + i.toString() + ";r=eu;t=1700000000000", 200);
    }
    expect<i32>(host.seriesOf("knative_invocations_total").length).toBe(20);
    expect<i64>(host.metric("kwt_series_overflow_total")).toBe(-1);
  });
});

/** An inbound root exporting spans, in a fresh VM, with one held request's span queued. */
function rootWithQueuedSpan(host: FakeHost): Root {
  host.strings.set("connection.uri_san_peer_certificate", ACTIVATOR_IDENTITY);
  const vm = new Vm(host);
  vm.onVmStart();
  const root = configuredIn(vm, '{"spanExport":{"enabled":true}}');
  // Its first request: the pod is ready from now, and the request entered half a second ago.
  exchange(host, root, "k-proxy-request", "activator", 200, host.nowMs - 500);
  expect<i64>(host.metric("kwt_spans_exported_total")).toBe(0);
  return root;
}

describe("a root that goes away (proxy_on_done)", () => {
  it("exports its pending spans first: false, then proxy_done once they are delivered", () => {
    const host = revisionPodHost("xds.node", "xds.listener_direction");
    const root = rootWithQueuedSpan(host);
    host.httpCallToken = 4;
    host.calls = [];
    expect<bool>(root.onDone()).toBe(false);
    expect<bool>(host.calls.includes("http_call")).toBe(true);
    expect<bool>(host.calls.includes("done")).toBe(false);
    host.response.names = [":status"];
    host.response.values = ["200"];
    root.onHttpCallResponse(4, 1);
    expect<i64>(host.metric("kwt_spans_exported_total")).toBe(1);
    expect<string>(host.calls[host.calls.length - 1]).toBe("done");
  });

  it("counts the spans it cannot send as dropped and goes at once", () => {
    const host = revisionPodHost("xds.node", "xds.listener_direction");
    const root = rootWithQueuedSpan(host);
    expect<bool>(root.onDone()).toBe(true);
    expect<i64>(host.metric("reason=.=export_failed;.;kwt_spans_dropped_total")).toBe(1);
    expect<bool>(host.calls.includes("done")).toBe(false);
  });

  it("drops the rest without retrying when the last export fails", () => {
    const host = revisionPodHost("xds.node", "xds.listener_direction");
    const root = rootWithQueuedSpan(host);
    host.httpCallToken = 8;
    expect<bool>(root.onDone()).toBe(false);
    host.calls = [];
    root.onHttpCallResponse(8, 0); // reset or timeout: no headers
    expect<i64>(host.metric("reason=.=export_failed;.;kwt_spans_dropped_total")).toBe(1);
    expect<string[]>(host.calls).toStrictEqual(["increment_metric", "done"]);
  });

  it("goes at once with nothing to export", () => {
    const host = revisionPodHost("xds.node", "xds.listener_direction");
    const root = configured(host, "{}");
    expect<bool>(root.onDone()).toBe(true);
  });
});

describe("sampler gauges of roots sharing a VM", () => {
  it("keep an idle inbound root's probability apart from the outbound root's", () => {
    const host = revisionPodHost("xds.node", "xds.listener_direction");
    const vm = new Vm(host);
    const inbound = configuredIn(vm, '{"tracing":{"minProbability":0}}');
    const outbound = configuredIn(vm, '{"tracing":{"minProbability":0}}');
    exchange(host, inbound, "", "", 200);
    host.integers.set("xds.listener_direction", 2);
    for (let i = 0; i < 100; i++) exchange(host, outbound, "", "", 200);
    host.nowMs += 1000;
    outbound.onTick();
    inbound.onTick();
    expect<i64>(host.metric("position=.=outbound;.;kwt_sampling_probability")).toBe(50_000);
    expect<i64>(host.metric("position=.=inbound;.;kwt_sampling_probability")).toBe(1_000_000);
    expect<i64>(host.metric("position=.=outbound;.;kwt_samplers")).toBe(1);
    // A new configuration replaces the root's sampler: its old share leaves the gauges.
    host.configuration = '{"tracing":{"maxProbability":0.5}}';
    expect<bool>(outbound.onConfigure(<u32>host.configuration.length)).toBe(true);
    expect<i64>(host.metric("position=.=outbound;.;kwt_sampling_probability")).toBe(0);
    expect<i64>(host.metric("position=.=outbound;.;kwt_samplers")).toBe(0);
    exchange(host, outbound, "", "", 200);
    expect<i64>(host.metric("position=.=outbound;.;kwt_sampling_probability")).toBe(500_000);
    expect<i64>(host.metric("position=.=inbound;.;kwt_sampling_probability")).toBe(1_000_000);
  });
});

/** A pod stamp after its held fields: pod, revision, through the activator, ready at T + 2 s. */
const REST = "c=east;r=us-east1;n=demo;s=hello;cf=hello;v=hello-00001;a=1;rd=1700000002000";

function gatewayHost(): FakeHost {
  const host = new FakeHost();
  host.strings.set(
    "xds.node.id",
    "router~10.0.0.9~istio-ingressgateway-7d.istio-system~istio-system.svc.cluster.local",
  );
  host.strings.set("xds.node.metadata.CLUSTER_ID", "east");
  host.strings.set("xds.node.locality.region", "us-east1");
  host.strings.set("xds.cluster_name", "outbound|80||hello.demo.svc.cluster.local");
  host.strings.set("upstream.uri_san_peer_certificate", "spiffe://cluster.local/ns/demo/sa/default");
  host.integers.set("request.duration", 2_000_000_000);
  return host;
}

/** One request from outside answered with `stamp` (and an arrival after `waitMs`). */
function answer(host: FakeHost, root: Root, stamp: string, waitMs: i64 = 0): void {
  const stream = openAnswer(host, root, stamp, waitMs);
  stream.onLog();
  root.releaseStream(stream);
}

/** A stream answered with `stamp` (request and response headers, a 200), not ended. */
function openAnswer(host: FakeHost, root: Root, stamp: string, waitMs: i64 = 0): Stream {
  host.request.names = [":method", ":path", ":authority"];
  host.request.values = ["GET", "/", "hello.example.com"];
  host.response.names = [":status", "x-kwt-pod"];
  host.response.values = ["200", stamp + ";t=" + (host.nowMs + waitMs).toString()];
  host.integers.set("response.code", 200);
  const stream: Stream = root.createStream()!;
  stream.onRequestHeaders();
  stream.onResponseHeaders();
  return stream;
}

function rejected(host: FakeHost): i64 {
  return host.metric("reason=.=malformed;.;kwt_stamps_rejected_total");
}

describe("a gateway's kept pod stamps", () => {
  it("keeps one stamp for a pod's held answers, whatever each one's wait", () => {
    const host = gatewayHost();
    const root = configured(host, "{}");
    for (let wait = 2100; wait < 2600; wait += 100) {
      answer(host, root, "1;cs=1;w=" + wait.toString() + ";" + REST, wait);
    }
    expect<i32>(root.podStamps.size).toBe(1);
    // The pod, ready since T + 2 s, answers a request that entered after that: proxied, same stamp.
    host.nowMs += 3000;
    answer(host, root, "1;cs=0;w=;" + REST, 10);
    expect<i32>(root.podStamps.size).toBe(1);
    const coldStarts = host.seriesOf("knative_cold_starts_total");
    expect<i32>(coldStarts.length).toBe(1);
    expect<i64>(host.metric(coldStarts[0])).toBe(5);
    expect<i64>(rejected(host)).toBe(-1);
  });

  it("finds no kept stamp for a text that is only the rest of one, or a kept whole one behind held fields", () => {
    const host = gatewayHost();
    const root = configured(host, "{}");
    answer(host, root, "1;cs=1;w=5;" + REST, 5);
    // Without version and held fields: no stamp, though it is what the kept one is keyed by.
    answer(host, root, REST, 5);
    expect<i64>(rejected(host)).toBe(1);
    // A valid stamp with its held fields last is kept whole; held fields before it make a field
    // without `=` and a second `cs`.
    const reordered = "1;" + REST + ";cs=0;w=";
    answer(host, root, reordered, 5);
    answer(host, root, "1;cs=1;w=5;" + reordered, 5);
    expect<i64>(rejected(host)).toBe(2);
    expect<i32>(root.podStamps.size).toBe(2);
  });

  it("looks a stamp up by its text as by its bytes (the path of a stamp whose bytes are not ASCII)", () => {
    const host = gatewayHost();
    const root = configured(host, "{}");
    answer(host, root, "1;cs=1;w=5;" + REST, 5);
    const reordered = "1;" + REST + ";cs=0;w=";
    answer(host, root, reordered, 5);
    const stamps = root.podStamps;
    // Bytes that are not UTF-8 can decode to any of these texts.
    expect<i32>(stamps.indexOf("1;cs=0;w=123;" + REST, 13 + REST.length)).toBe(0);
    expect<i32>(stamps.indexOf(reordered, reordered.length)).toBe(1);
    expect<i32>(stamps.indexOf(REST, REST.length)).toBe(-1);
    const behindHeldFields = "1;cs=1;w=5;" + reordered;
    expect<i32>(stamps.indexOf(behindHeldFields, behindHeldFields.length)).toBe(-1);
  });
});

const MINUTE_MS: i64 = 60_000;

/** A warm pod stamp (before its arrival): a pod of `revision` ready since `readyMs`. */
function warmStamp(revision: string, readyMs: i64): string {
  return (
    "1;cs=0;w=;c=east;r=us-east1;n=demo;s=hello;cf=hello;v=" + revision + ";a=0;rd=" + readyMs.toString()
  );
}

/** Stamp `pod` of the pods that answered first: alternately of hello-00001 and hello-00002. */
function churnedStamp(pod: i32): string {
  return warmStamp(pod % 2 == 0 ? "hello-00001" : "hello-00002", 1_600_000_000_000 + pod);
}

/** A gateway with room for 16 pod stamps, which 16 pods filled at the clock's time. */
function fullGateway(host: FakeHost): Root {
  const root = configured(host, '{"maxSeries":16}');
  for (let pod = 0; pod < 16; pod++) answer(host, root, churnedStamp(pod));
  expect<i32>(root.podStamps.size).toBe(16);
  return root;
}

/** The request-duration series of `revision` (its last sample, in this fake). */
function durationOf(host: FakeHost, revision: string): i64 {
  const series = host.seriesOf("knative_request_duration_milliseconds");
  for (let i = 0; i < series.length; i++) {
    if (series[i].includes("=" + revision + ";")) return host.metric(series[i]);
  }
  return -1;
}

describe("a gateway's pod stamps as pods come and go", () => {
  it("forgets, at a tick, the pods that stopped answering, and gives their room to the pods answering now", () => {
    const host = gatewayHost();
    const root = fullGateway(host);
    host.nowMs += 6 * MINUTE_MS;
    const current = warmStamp("hello-00001", 1_700_000_000_000);
    answer(host, root, current);
    // No room until a tick: the answer was decoded and not kept.
    expect<i32>(root.podStamps.indexOf(current, current.length)).toBe(-1);
    root.onTick();
    expect<i32>(root.podStamps.size).toBe(0);
    answer(host, root, current);
    expect<i32>(root.podStamps.size).toBe(1);
    expect<i32>(root.podStamps.indexOf(current, current.length)).toBeGreaterThanOrEqual(0);
  });

  it("keeps a pod that answered within five minutes where it was", () => {
    const host = gatewayHost();
    const root = fullGateway(host);
    host.nowMs += 2 * MINUTE_MS;
    answer(host, root, churnedStamp(3));
    host.nowMs += 2 * MINUTE_MS + 50_000;
    // Every stamp answered within five minutes: nothing to forget.
    root.onTick();
    expect<i32>(root.podStamps.size).toBe(16);
    // Past five minutes for the others.
    host.nowMs += 20_000;
    root.onTick();
    expect<i32>(root.podStamps.size).toBe(1);
    const kept = churnedStamp(3);
    expect<i32>(root.podStamps.indexOf(kept, kept.length)).toBe(3);
  });

  it("looks over enough stamps at each tick to forget the idle ones within a pass of a minute, however long the ticks", () => {
    for (let long = 0; long < 2; long++) {
      const host = gatewayHost();
      const root = configured(
        host,
        long == 1 ? '{"maxSeries":3000,"tickPeriodMs":60000}' : '{"maxSeries":3000}',
      );
      for (let pod = 0; pod < 3000; pod++) answer(host, root, churnedStamp(pod));
      host.nowMs += 6 * MINUTE_MS;
      root.onTick();
      // One-second ticks look over 1,024 a tick (3,000 in three seconds); one-minute ticks, all.
      expect<i32>(root.podStamps.size).toBe(long == 1 ? 0 : 3000 - 1024);
    }
  });

  it("keeps the stamp of a pod whose stream is still open, however long, and records the stream in its series", () => {
    const host = gatewayHost();
    const root = fullGateway(host);
    expect<i64>(durationOf(host, "hello-00002")).toBe(2000);
    // Pod 5 (hello-00002) answers a stream that ends ten minutes later.
    const open = openAnswer(host, root, churnedStamp(5));
    host.nowMs += 10 * MINUTE_MS;
    root.onTick();
    expect<i32>(root.podStamps.size).toBe(1);
    const held = churnedStamp(5);
    expect<i32>(root.podStamps.indexOf(held, held.length)).toBe(5);
    host.integers.set("request.duration", 7_000_000_000);
    open.onLog();
    root.releaseStream(open);
    expect<i64>(durationOf(host, "hello-00002")).toBe(7000);
    // Its stream ended ten minutes after its answer's entry: the next look forgets it.
    host.nowMs += MINUTE_MS;
    root.onTick();
    expect<i32>(root.podStamps.size).toBe(0);
  });

  it("notes a stream's answer once, should its response headers come twice", () => {
    const host = gatewayHost();
    const root = configured(host, '{"maxSeries":16}');
    const stream = openAnswer(host, root, churnedStamp(0));
    // The first headers' stamp was removed; the second come with it again.
    host.response.names = [":status", "x-kwt-pod"];
    host.response.values = ["200", churnedStamp(0) + ";t=" + host.nowMs.toString()];
    stream.onResponseHeaders();
    // Removed from the second headers too, so it never leaves the mesh.
    expect<i32>(host.response.names.indexOf("x-kwt-pod")).toBe(-1);
    stream.onLog();
    root.releaseStream(stream);
    host.nowMs += 6 * MINUTE_MS;
    root.onTick();
    // Noted open twice and ended once, the stamp would never be forgotten.
    expect<i32>(root.podStamps.size).toBe(0);
  });

  it("ends a stream answered before a new configuration in the table that answered it", () => {
    const host = gatewayHost();
    const root = configured(host, '{"maxSeries":16}');
    const before = openAnswer(host, root, churnedStamp(0));
    expect<bool>(reconfigure(host, root, '{"maxSeries":16}')).toBe(true);
    // The new configuration's table: this pod's stamp is its first, answering a stream still open.
    const after = openAnswer(host, root, churnedStamp(1));
    root.releaseStream(before);
    host.nowMs += 6 * MINUTE_MS;
    root.onTick();
    expect<i32>(root.podStamps.size).toBe(1);
    root.releaseStream(after);
    root.onTick();
    expect<i32>(root.podStamps.size).toBe(0);
  });

  it("records a pod that took a forgotten pod's place in its own revision's series, not the forgotten one's", () => {
    const host = gatewayHost();
    const root = fullGateway(host);
    expect<i64>(durationOf(host, "hello-00001")).toBe(2000);
    expect<i64>(durationOf(host, "hello-00002")).toBe(2000);
    host.nowMs += 6 * MINUTE_MS;
    root.onTick();
    expect<i32>(root.podStamps.size).toBe(0);
    // 16 new pods of hello-00003 take the 16 places, where both other revisions' series ids were.
    host.integers.set("request.duration", 9_000_000_000);
    for (let pod = 0; pod < 16; pod++) {
      const stamp = warmStamp("hello-00003", 1_700_000_000_000 + pod);
      answer(host, root, stamp);
      answer(host, root, stamp);
    }
    expect<i32>(root.podStamps.size).toBe(16);
    expect<i64>(durationOf(host, "hello-00003")).toBe(9000);
    expect<i64>(durationOf(host, "hello-00001")).toBe(2000);
    expect<i64>(durationOf(host, "hello-00002")).toBe(2000);
  });
});

const ERA_NAME_PREFIX = "kwt.ready_era/";

/** The shared-data slot of the era of `revision` in cluster east, namespace demo (warmStamp's). */
function eraSlotOf(revision: string): u32 {
  const key = String.UTF8.encode("east/demo/" + revision);
  return eraSlot(changetype<usize>(key), key.byteLength);
}

/** The revision whose era shared data holds in `slot` (the end of its entry); "" when none. */
function eraHolder(host: FakeHost, slot: u32): string {
  const name = ERA_NAME_PREFIX + slot.toString();
  if (!host.shared.has(name)) return "";
  const entry = host.shared.get(name).text;
  return entry.substring(entry.lastIndexOf("/") + 1);
}

describe("a gateway's eras in shared data", () => {
  it("names each revision's era by its slot: at most ERA_SLOTS names, however many revisions answered", () => {
    const host = gatewayHost();
    const root = configured(host, "{}");
    for (let r = 0; r < 300; r++)
      answer(host, root, warmStamp("rev-" + r.toString(), host.nowMs - MINUTE_MS));
    const names = host.shared.keys();
    let eras = 0;
    for (let i = 0; i < names.length; i++) {
      if (!names[i].startsWith(ERA_NAME_PREFIX)) continue;
      eras++;
      const slot = <u32>parseInt(names[i].substring(ERA_NAME_PREFIX.length));
      expect<bool>(slot < ERA_SLOTS).toBe(true);
      // Its entry names a revision whose slot it is.
      expect<u32>(eraSlotOf(eraHolder(host, slot))).toBe(slot);
    }
    // 300 revisions, each its own slot but for the few that share one by chance.
    expect<bool>(eras > 290 && eras <= 300).toBe(true);
  });

  it("leaves a slot to a revision answered within the gap, and gives it to another once that one is idle", () => {
    // Two revisions whose eras fall in one slot.
    const firstOfSlot = new Map<u32, i32>();
    let a = "";
    let b = "";
    for (let i = 0; a.length == 0; i++) {
      const slot = eraSlotOf("rev-" + i.toString());
      if (firstOfSlot.has(slot)) {
        a = "rev-" + firstOfSlot.get(slot).toString();
        b = "rev-" + i.toString();
      } else {
        firstOfSlot.set(slot, i);
      }
    }
    const slot = eraSlotOf(a);
    const host = gatewayHost();
    const root = configured(host, "{}");
    answer(host, root, warmStamp(a, host.nowMs - MINUTE_MS));
    expect<string>(eraHolder(host, slot)).toBe(a);
    // Within the 6 s gap of a's last answer: a's era may still decide a held answer of a.
    host.nowMs += 2_000;
    answer(host, root, warmStamp(b, host.nowMs - MINUTE_MS));
    expect<string>(eraHolder(host, slot)).toBe(a);
    // a idle past the gap: b's era takes the slot at its next publish.
    host.nowMs += 7_000;
    answer(host, root, warmStamp(b, host.nowMs - MINUTE_MS));
    expect<string>(eraHolder(host, slot)).toBe(b);
    // b's pod ready a day ahead of the clock: its era's last answer is no time of this clock, and
    // does not hold the slot from a.
    host.nowMs += 1_500;
    answer(host, root, warmStamp(b, host.nowMs + 24 * 60 * MINUTE_MS));
    expect<string>(eraHolder(host, slot)).toBe(b);
    host.nowMs += 7_000;
    answer(host, root, warmStamp(a, host.nowMs - MINUTE_MS));
    expect<string>(eraHolder(host, slot)).toBe(a);
  });
});
