// The access-log fields through the glue (filter.ts, accesslog.ts) on an in-memory host: which
// proxy_set_property calls each kind of request makes at the revision pod, and in which callback.

import { Root, Stream, Vm } from "../filter";
import { FakeHost } from "./fakehost";

const NOW_MS: i64 = 1_700_000_000_000;

function revisionPod(): Root {
  const host = new FakeHost();
  host.nowMs = NOW_MS;
  host.strings.set("xds.node.id", "sidecar~10.0.0.7~hello-00001-deployment-5c7d.demo~demo.svc.cluster.local");
  host.strings.set("xds.node.metadata.CLUSTER_ID", "east");
  host.strings.set("xds.node.locality.region", "us-east1");
  host.strings.set("xds.node.metadata.LABELS.serving.knative.dev/revision", "hello-00001");
  host.integers.set("xds.listener_direction", 1);
  // The activator's mesh identity: its K-Proxy-Request and stamps are believed.
  host.strings.set(
    "connection.uri_san_peer_certificate",
    "spiffe://cluster.local/ns/knative-serving/sa/controller",
  );
  host.integers.set("destination.port", 8012); // queue-proxy's serving port
  const vm = new Vm(host);
  vm.onVmStart();
  const root = new Root(vm);
  host.configuration = "{}";
  root.onConfigure(2);
  return root;
}

function hostOf(root: Root): FakeHost {
  return changetype<FakeHost>(root.vm.host);
}

/** Request headers with `extra` (name, value pairs); returns the stream, the response not begun. */
function request(root: Root, extra: string[]): Stream {
  const host = hostOf(root);
  host.request.names = [":method", ":path", "user-agent"];
  host.request.values = ["GET", "/", "curl/8"];
  for (let i = 0; i + 1 < extra.length; i += 2) host.request.add(extra[i], extra[i + 1]);
  host.propertiesSet = [];
  const stream = root.createStream()!;
  stream.onRequestHeaders();
  return stream;
}

function respond(root: Root, stream: Stream, status: string, flags: i64): void {
  const host = hostOf(root);
  host.response.names = [":status"];
  host.response.values = [status];
  host.integers.set("response.flags", flags);
  stream.onResponseHeaders();
}

function end(root: Root, stream: Stream, code: i64, flags: i64): void {
  const host = hostOf(root);
  host.integers.set("response.code", code);
  host.integers.set("response.flags", flags);
  stream.onLog();
}

describe("access-log fields at the revision pod", () => {
  it("a warm 200 sets nothing", () => {
    const root = revisionPod();
    const stream = request(root, []);
    respond(root, stream, "200", 0);
    end(root, stream, 200, 0);
    expect<string[]>(hostOf(root).propertiesSet).toStrictEqual([]);
    expect<bool>(hostOf(root).calls.includes("set_property")).toBe(false);
  });

  it("a request the activator held sets nothing: only the edge tells a cold start from a wait", () => {
    const root = revisionPod();
    const stream = request(root, ["k-proxy-request", "activator", "x-kwt-entry", (NOW_MS - 812).toString()]);
    respond(root, stream, "200", 0);
    end(root, stream, 200, 0);
    expect<string[]>(hostOf(root).propertiesSet).toStrictEqual([]);
    // It was held as far as the pod knows: the pod stamp says so, for edges of earlier versions.
    expect<bool>(hostOf(root).response.get("x-kwt-pod")!.startsWith("1;cs=1;w=812;")).toBe(true);
  });

  it("a cross-cluster hop sets its source and latency at request headers", () => {
    const root = revisionPod();
    request(root, ["x-kwt-hop", "1;c=west;r=us-west1;t=" + (NOW_MS - 37).toString()]);
    expect<string[]>(hostOf(root).propertiesSet).toStrictEqual([
      "kwt_source_cluster=west",
      "kwt_source_region=us-west1",
      "kwt_hop_ms=37",
    ]);
  });

  it("a hop sent in the future sets its source, not a latency", () => {
    const root = revisionPod();
    request(root, ["x-kwt-hop", "1;c=west;r=us-west1;t=" + (NOW_MS + 5000).toString()]);
    expect<string[]>(hostOf(root).propertiesSet).toStrictEqual([
      "kwt_source_cluster=west",
      "kwt_source_region=us-west1",
    ]);
  });

  it("a local reply 503 sets its kind from the flags at response headers, and on_log not again", () => {
    const root = revisionPod();
    const stream = request(root, []);
    respond(root, stream, "503", 0x20); // UF
    expect<string[]>(hostOf(root).propertiesSet).toStrictEqual(["kwt_error_kind=upstream_reset"]);
    end(root, stream, 503, 0x20 | 0x4000); // then DC as well
    expect<string[]>(hostOf(root).propertiesSet).toStrictEqual(["kwt_error_kind=upstream_reset"]);
  });

  it("a reset after a 200 sets the kind in on_log", () => {
    const root = revisionPod();
    const stream = request(root, []);
    respond(root, stream, "200", 0);
    expect<i32>(hostOf(root).propertiesSet.length).toBe(0);
    end(root, stream, 200, 0x10); // UR
    expect<string[]>(hostOf(root).propertiesSet).toStrictEqual(["kwt_error_kind=upstream_reset"]);
  });

  it("no response at all: the kind is set in on_log from response.code and the flags", () => {
    const root = revisionPod();
    const stream = request(root, []);
    end(root, stream, 0, 0x10000000); // DR
    expect<string[]>(hostOf(root).propertiesSet).toStrictEqual(["kwt_error_kind=downstream_reset"]);
  });

  it("a workload 404 reads the flags but sets nothing", () => {
    const root = revisionPod();
    const stream = request(root, []);
    respond(root, stream, "404", 0);
    end(root, stream, 404, 0);
    expect<i32>(hostOf(root).propertiesSet.length).toBe(0);
  });
});
