// Properties: paths, the three Envoy layouts, and every value encoding with its bytes written out.

import { describe, expect, it } from "vitest";

import { ManualClock } from "../harness/clock.js";
import { Plugin } from "../harness/plugin.js";
import { propertyLayoutOf } from "../harness/properties.js";
import { type PluginOptions, type StreamOptions } from "../harness/types.js";
import { messages, OUT_PTR, OUT_SIZE, ProxyModule } from "./wat.js";

const hex = (text: string): string => Buffer.from(text).toString("hex");

/** WAT: log the result code of get_property(path), then the value bytes (or "untouched"). */
function getProperty(module: ProxyModule, path: string): string {
  return `(call $clear)
    (call $num (call $proxy_get_property ${module.text(path)} (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
    (call $out)`;
}

interface Probe {
  /** Paths read in on_configure (root context). */
  root?: string[];
  /** Paths read in on_request_headers. */
  request?: string[];
  /** Paths read in on_response_headers. */
  response?: string[];
  /** Paths read in on_log. */
  log?: string[];
  /** WAT run first in on_request_headers. */
  requestPrelude?: (module: ProxyModule) => string;
}

interface ProbeLogs {
  root: string[];
  request: string[];
  response: string[];
  log: string[];
}

async function probe(
  probeSpec: Probe,
  options: Partial<PluginOptions> = {},
  stream: StreamOptions = {},
): Promise<ProbeLogs> {
  const module = new ProxyModule().use("env.proxy_get_property", "env.proxy_set_property");
  const reads = (paths: string[] = []) => paths.map((p) => getProperty(module, p)).join("\n");
  const wasm = module.build(`
    (func (export "proxy_on_configure") (param i32 i32) (result i32) ${reads(probeSpec.root)} (i32.const 1))
    (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
      ${probeSpec.requestPrelude?.(module) ?? ""} ${reads(probeSpec.request)} (i32.const 0))
    (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) ${reads(probeSpec.response)} (i32.const 0))
    (func (export "proxy_on_log") (param i32) ${reads(probeSpec.log)})`);
  const clock = new ManualClock(1_700_000_000_000);
  const plugin = await Plugin.load({ wasm, clock, ...options });
  const root = messages(plugin.logs, 0);
  const s = plugin.createStream(stream);
  let mark = plugin.logs.length;
  const since = (): string[] => {
    const out = messages(plugin.logs.slice(mark));
    mark = plugin.logs.length;
    return out;
  };
  s.onRequestHeaders(
    [
      [":path", "/p?q=1"],
      [":method", "GET"],
      [":authority", "svc.ns"],
      ["x-a", "1"],
      ["x-a", "2"],
      ["x-request-id", "rid"],
    ],
    true,
  );
  const request = since();
  clock.advance(2.5);
  s.onResponseHeaders([[":status", "200"]], true);
  const response = since();
  s.end({ durationNs: 5_000_000n, responseCodeDetails: "via_upstream", responseFlags: 0x20 });
  return { root, request, response, log: since() };
}

const ISTIO_NODE = {
  cluster: "Kubernetes",
  namespace: "ns",
  podName: "pod-1",
  workloadName: "hello",
  labels: { app: "a" },
  region: "us-east1",
};

describe("properties", () => {
  it("reads node metadata, locality and listener direction from node.* only up to Envoy 1.29", async () => {
    const logs = await probe(
      {
        root: [
          "node\0metadata\0CLUSTER_ID",
          "node\0locality\0region",
          "node\0locality\0zone",
          "listener_direction",
          "xds\0node\0id",
        ],
        request: ["listener_direction"],
      },
      { propertyLayout: "legacy", node: ISTIO_NODE, direction: "outbound" },
    );
    // Unset locality fields read as empty strings (Ok, pointer 0 size 0); xds does not exist yet.
    expect(logs.root).toEqual([
      "0",
      hex("Kubernetes"),
      "0",
      hex("us-east1"),
      "0",
      "",
      "0",
      "0200000000000000",
      "1",
      "untouched",
    ]);
    expect(logs.request).toEqual(["0", "0200000000000000"]);
  });

  it("reads them from xds.* from Envoy 1.33, where listener_direction needs a stream", async () => {
    const logs = await probe(
      {
        root: [
          "xds\0node\0metadata\0CLUSTER_ID",
          "xds\0node\0locality\0region",
          "xds\0listener_direction",
          "node\0metadata\0CLUSTER_ID",
          "listener_direction",
        ],
        request: ["xds\0listener_direction"],
      },
      { propertyLayout: "xds", node: ISTIO_NODE, direction: "inbound" },
    );
    expect(logs.root).toEqual([
      "0",
      hex("Kubernetes"),
      "0",
      hex("us-east1"),
      "1",
      "untouched",
      "1",
      "untouched",
      "1",
      "untouched",
    ]);
    expect(logs.request).toEqual(["0", "0100000000000000"]);
  });

  it("reads both node.* and xds.* from Envoy 1.30 to 1.32", async () => {
    const logs = await probe(
      {
        root: [
          "node\0metadata\0CLUSTER_ID",
          "xds\0node\0metadata\0CLUSTER_ID",
          "listener_direction",
          "xds\0listener_direction",
        ],
        request: ["listener_direction", "xds\0listener_direction"],
      },
      { propertyLayout: "legacy-and-xds", node: ISTIO_NODE, direction: "outbound" },
    );
    // On the root context the legacy direction is there; the xds one reads the (absent) stream.
    expect(logs.root).toEqual([
      "0",
      hex("Kubernetes"),
      "0",
      hex("Kubernetes"),
      "0",
      "0200000000000000",
      "1",
      "untouched",
    ]);
    expect(logs.request).toEqual(["0", "0200000000000000", "0", "0200000000000000"]);
  });

  it.each([
    ["1.20", "legacy"],
    ["1.28", "legacy"],
    ["1.29.4", "legacy"],
    ["1.30", "legacy-and-xds"],
    ["1.32.3", "legacy-and-xds"],
    ["1.33", "xds"],
    ["1.36.0", "xds"],
  ] as const)("maps Envoy %s to the %s layout", (version, layout) => {
    expect(propertyLayoutOf(version)).toBe(layout);
  });

  it("refuses a version that is not 1.MINOR[.PATCH]", () => {
    expect(() => propertyLayoutOf("2.0")).toThrow(
      "Envoy version '2.0' is not 1.MINOR or 1.MINOR.PATCH (e.g. 1.28, 1.30.4)",
    );
  });

  it("encodes maps as pairs and messages in protobuf wire format", async () => {
    const logs = await probe(
      {
        root: [
          "xds\0node\0metadata\0LABELS",
          "xds\0node\0locality",
          "xds\0node\0id",
          "xds\0node\0metadata\0MISSING",
        ],
      },
      { node: { ...ISTIO_NODE, proxyType: "router", zone: "z" } },
    );
    expect(logs.root).toEqual([
      "0",
      "01000000" + "03000000" + "01000000" + hex("app") + "00" + hex("a") + "00",
      "0",
      // Locality{region: "us-east1" (field 1), zone: "z" (field 2)}
      "0a08" + hex("us-east1") + "1201" + hex("z"),
      "0",
      hex("router~10.0.0.1~pod-1.ns~ns.svc.cluster.local"),
      "1",
      "untouched",
    ]);
  });

  it("serves plugin properties everywhere and answers NotFound for stream attributes on the root context", async () => {
    const logs = await probe(
      {
        root: [
          "plugin_root_id",
          "plugin_name",
          "plugin_vm_id",
          "request\0path",
          "response\0code",
          "source\0address",
          "connection\0mtls",
        ],
      },
      { rootId: "kwt-root", pluginName: "ns.kwt" },
    );
    expect(logs.root).toEqual([
      ...["0", hex("kwt-root"), "0", hex("ns.kwt"), "0", ""],
      ...["1", "untouched", "1", "untouched", "1", "untouched", "1", "untouched"],
    ]);
  });

  it("encodes request attributes: strings raw, timestamps as int64 nanoseconds", async () => {
    const logs = await probe(
      {
        request: [
          "request\0path",
          "request\0url_path",
          "request\0query",
          "request\0host",
          "request\0method",
          "request\0id",
          "request\0protocol",
          "request\0time",
          "request\0headers\0x-a",
          "request\0duration",
          "request",
        ],
      },
      {},
    );
    expect(logs.request).toEqual([
      ...["0", hex("/p?q=1"), "0", hex("/p"), "0", hex("q=1"), "0", hex("svc.ns"), "0", hex("GET")],
      ...["0", hex("rid"), "0", hex("HTTP/1.1"), "0", "00002a36fe9c9717", "0", hex("1,2")],
      // No duration before the request completed; a whole wrapper map does not serialize (3).
      ...["1", "untouched", "3", "untouched"],
    ]);
  });

  it("encodes connection and peer attributes: bool as one byte, ports as int64", async () => {
    const logs = await probe(
      {
        request: [
          "connection\0mtls",
          "source\0address",
          "source\0port",
          "destination\0port",
          "upstream\0address",
        ],
      },
      {},
      { mtls: true, sourceAddress: "10.1.2.3:5555", destinationAddress: "10.9.9.9:8080" },
    );
    expect(logs.request).toEqual([
      ...["0", "01", "0", hex("10.1.2.3:5555"), "0", "b315000000000000", "0", "901f000000000000"],
      ...["1", "untouched"],
    ]);
  });

  describe("peer identity and destination port (Envoy's CEL connection/upstream wrappers)", () => {
    const IDENTITY_PATHS = [
      "connection\0mtls",
      "connection\0uri_san_peer_certificate",
      "upstream\0uri_san_peer_certificate",
      "destination\0address",
      "destination\0port",
    ];
    const MESH_PEER = "spiffe://cluster.local/ns/knative-serving/sa/activator";
    const UPSTREAM = "spiffe://cluster.local/ns/default/sa/hello";

    it("a mesh peer: mTLS with its SPIFFE id as URI SAN, the upstream's SAN, the addressed port", async () => {
      const logs = await probe(
        { request: IDENTITY_PATHS },
        {},
        {
          peerIdentity: MESH_PEER,
          upstreamIdentity: UPSTREAM,
          upstreamAddress: "10.0.0.7:8012",
          destinationAddress: "10.9.9.9:15006",
          destinationPort: 8012,
        },
      );
      expect(logs.request).toEqual([
        ...["0", "01", "0", hex(MESH_PEER), "0", hex(UPSTREAM)],
        ...["0", hex("10.9.9.9:8012"), "0", "4c1f000000000000"],
      ]);
    });

    it("--mtls alone: a client certificate without a URI SAN, so the SAN is NotFound", async () => {
      const logs = await probe(
        { request: IDENTITY_PATHS.slice(0, 3) },
        {},
        { mtls: true, upstreamAddress: "10.0.0.7:80" },
      );
      expect(logs.request).toEqual(["0", "01", "1", "untouched", "1", "untouched"]);
    });

    it("plain text: mtls false and no SANs; the upstream SAN needs an upstream host", async () => {
      const logs = await probe({ request: IDENTITY_PATHS.slice(0, 3) }, {}, { upstreamIdentity: UPSTREAM });
      expect(logs.request).toEqual(["0", "00", "1", "untouched", "1", "untouched"]);
    });

    it("refuses a destination port outside 0 to 65535", async () => {
      await expect(probe({}, {}, { destinationPort: 65536 })).rejects.toThrow(
        "StreamOptions.destinationPort: 65536 is not a port; expected an integer 0 to 65535",
      );
    });

    it("refuses a peer identity on a connection declared without mTLS", async () => {
      await expect(probe({}, {}, { peerIdentity: MESH_PEER, mtls: false })).rejects.toThrow(
        "peerIdentity needs a client certificate",
      );
    });
  });

  it("reads response attributes and the request duration in on_log", async () => {
    const logs = await probe({
      response: ["response\0code", "request\0path"],
      log: [
        "response\0code",
        "response\0code_details",
        "response\0flags",
        "request\0duration",
        "request\0path",
        "response\0grpc_status",
      ],
    });
    // response.code is known in on_response_headers; request.path is not (headers released).
    expect(logs.response).toEqual(["0", "c800000000000000", "1", "untouched"]);
    expect(logs.log).toEqual([
      ...["0", "c800000000000000", "0", hex("via_upstream"), "0", "2000000000000000"],
      ...["0", "404b4c0000000000", "0", hex("/p?q=1"), "1", "untouched"],
    ]);
  });

  it("stores proxy_set_property values as filter state readable by name, only on streams", async () => {
    const logs = await probe({
      root: [],
      requestPrelude: (m) => `(call $num (call $proxy_set_property ${m.text("my_key")} ${m.text("v1")}))`,
      request: ["my_key"],
      log: ["my_key"],
    });
    expect(logs.request).toEqual(["0", "0", hex("v1")]);
    expect(logs.log).toEqual(["0", hex("v1")]);
    const module = new ProxyModule().use("env.proxy_set_property");
    const wasm = module.build(`(func (export "proxy_on_configure") (param i32 i32) (result i32)
      (call $num (call $proxy_set_property ${module.text("k")} ${module.text("v")})) (i32.const 1))`);
    expect(messages((await Plugin.load({ wasm })).logs, 0)).toEqual(["1"]);
  });

  it("handles odd paths like Envoy: empty is SerializationFailure, unknown is NotFound, a trailing NUL is ignored", async () => {
    const logs = await probe({ request: ["", "nope", "plugin_root_id\0", "plugin_root_id\0x"] });
    expect(logs.request).toEqual(["3", "untouched", "1", "untouched", "0", hex("kwt"), "1", "untouched"]);
  });

  it("serves test overrides by dotted path, encoded by JS type", async () => {
    const logs = await probe(
      { request: ["custom\0count", "custom\0ratio", "custom\0flag", "custom\0name"] },
      {},
      { properties: { "custom.count": 7, "custom.ratio": 0.5, "custom.flag": false, "custom.name": "n" } },
    );
    expect(logs.request).toEqual([
      "0",
      "0700000000000000",
      "0",
      "000000000000e03f",
      "0",
      "00",
      "0",
      hex("n"),
    ]);
  });
});
