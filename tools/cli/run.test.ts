import { describe, expect, it } from "vitest";
import { UsageError } from "./args.js";
import { describeReload, parseHostPort, parseKeyValues, parseRunArgs } from "./run.js";

const REQUIRED = ["--listen", "127.0.0.1:0", "--upstream", "http://127.0.0.1:8080"];

describe("parseRunArgs", () => {
  it("fills Envoy's and Istio's defaults around the two required flags", () => {
    expect(parseRunArgs(REQUIRED, "/checkout")).toEqual({
      listen: { host: "127.0.0.1", port: 0 },
      portListeners: [],
      upstream: "http://127.0.0.1:8080",
      admin: undefined,
      configFile: undefined,
      wasmFile: "/checkout/build/filter.wasm",
      direction: "inbound",
      outbound: undefined,
      envoy: "1.33",
      propertyLayout: "xds",
      node: { proxyType: "sidecar", labels: {} },
      httpClusters: {},
      rootId: undefined,
      workers: 2,
      extraStatTags: [],
      mtls: false,
      identity: {},
      failOpen: true,
      upstreamTimeoutMs: 15000,
      requestHeaderLimits: { maxBytes: 61440, maxCount: 100 },
      statsFlushIntervalMs: undefined,
      accessLogFormat: undefined,
    });
  });

  it("reads every option", () => {
    const plan = parseRunArgs(
      [
        ...REQUIRED,
        "--admin=[::1]:15000",
        "--config",
        "plugin.json",
        "--wasm",
        "other.wasm",
        "--direction",
        "outbound",
        "--gateway",
        "--cluster",
        "east",
        "--region",
        "eu-1",
        "--zone",
        "eu-1a",
        "--namespace",
        "default",
        "--workload",
        "hello-00001-deployment",
        "--label",
        "serving.knative.dev/revision=hello-00001",
        "--label",
        "app=hello=x",
        "--http-cluster",
        "otel-collector=http://127.0.0.1:4318",
        "--root-id",
        "kwt-test",
        "--envoy",
        "1.28",
        "--workers",
        "4",
        "--extra-stat-tags",
        " namespace_name, service_name ,",
        "--mtls",
        "--peer-identity",
        "spiffe://cluster.local/ns/knative-serving/sa/activator",
        "--upstream-identity",
        "spiffe://cluster.local/ns/default/sa/hello",
        "--upstream-cluster",
        "outbound|443||api.example.com",
        "--destination-port",
        "8012",
        "--listen-port",
        "9090=127.0.0.1:0",
        "--listen-port=9091=[::1]:19091",
        "--fail-closed",
        "--upstream-timeout-ms",
        "250",
        "--max-headers",
        "2000",
        "--stats-flush-interval-ms",
        "5000",
        "--access-log",
        "%RESPONSE_CODE% %FILTER_STATE(wasm.hop:PLAIN):8%",
      ],
      "/checkout",
    );
    expect(plan).toEqual({
      listen: { host: "127.0.0.1", port: 0 },
      portListeners: [
        { destinationPort: 9090, listen: { host: "127.0.0.1", port: 0 } },
        { destinationPort: 9091, listen: { host: "::1", port: 19091 } },
      ],
      upstream: "http://127.0.0.1:8080",
      admin: { host: "::1", port: 15000 },
      configFile: "plugin.json",
      wasmFile: "other.wasm",
      direction: "outbound",
      outbound: undefined,
      envoy: "1.28",
      propertyLayout: "legacy",
      node: {
        proxyType: "router",
        cluster: "east",
        region: "eu-1",
        zone: "eu-1a",
        namespace: "default",
        workloadName: "hello-00001-deployment",
        labels: { "serving.knative.dev/revision": "hello-00001", app: "hello=x" },
      },
      httpClusters: { "otel-collector": "http://127.0.0.1:4318" },
      rootId: "kwt-test",
      workers: 4,
      extraStatTags: ["namespace_name", "service_name"],
      mtls: true,
      identity: {
        peerIdentity: "spiffe://cluster.local/ns/knative-serving/sa/activator",
        upstreamIdentity: "spiffe://cluster.local/ns/default/sa/hello",
        destinationPort: 8012,
        upstreamCluster: "outbound|443||api.example.com",
      },
      failOpen: false,
      upstreamTimeoutMs: 250,
      requestHeaderLimits: { maxBytes: 61440, maxCount: 2000 },
      statsFlushIntervalMs: 5000,
      accessLogFormat: "%RESPONSE_CODE% %FILTER_STATE(wasm.hop:PLAIN):8%",
    });
  });

  it("reads a sidecar's outbound listener beside the inbound one", () => {
    const plan = parseRunArgs(
      [
        ...REQUIRED,
        "--outbound-listen",
        "127.0.0.1:15001",
        "--outbound-upstream",
        "http://127.0.0.1:9000",
        "--outbound-config",
        "outbound.json",
        "--outbound-upstream-identity",
        "spiffe://cluster.local/ns/default/sa/other",
      ],
      "/checkout",
    );
    expect(plan.direction).toBe("inbound");
    expect(plan.outbound).toEqual({
      listen: { host: "127.0.0.1", port: 15001 },
      upstream: "http://127.0.0.1:9000",
      configFile: "outbound.json",
      upstreamIdentity: "spiffe://cluster.local/ns/default/sa/other",
    });
    const minimal = parseRunArgs(
      [...REQUIRED, "--outbound-listen", "127.0.0.1:0", "--outbound-upstream", "http://127.0.0.1:9000"],
      "/checkout",
    );
    expect(minimal.outbound).toEqual({
      listen: { host: "127.0.0.1", port: 0 },
      upstream: "http://127.0.0.1:9000",
      configFile: undefined,
      upstreamIdentity: undefined,
    });
  });

  it.each([
    ["1.28", "legacy"],
    ["1.30", "legacy-and-xds"],
    ["1.31.2", "legacy-and-xds"],
    ["1.33", "xds"],
  ])("maps --envoy %s to the %s property layout", (version, layout) => {
    expect(parseRunArgs([...REQUIRED, "--envoy", version], "/checkout").propertyLayout).toBe(layout);
  });

  it.each([
    [["--upstream", "http://a:1"], "--listen is required"],
    [["--listen", "127.0.0.1:1"], "--upstream is required"],
    [
      [...REQUIRED, "--direction", "sideways"],
      "--direction must be one of inbound, outbound, got 'sideways'",
    ],
    [[...REQUIRED, "--envoy", "latest"], "--envoy: Envoy version 'latest' is not 1.MINOR or 1.MINOR.PATCH"],
    [[...REQUIRED, "--envoy", "1.27"], "--envoy: Envoy version '1.27': expected 1.MINOR with MINOR >= 28"],
    [[...REQUIRED, "--workers", "0"], "--workers must be an integer from 1 to 64, got '0'"],
    [
      [...REQUIRED, "--admin", "15000"],
      "--admin must be HOST:PORT (port 0 to 65535, [IPv6]:PORT), got '15000'",
    ],
    [["--listen", "h:65536", "--upstream", "http://a:1"], "--listen must be HOST:PORT"],
    [
      ["--listen", "h:1", "--upstream", "https://a:1"],
      "--upstream: upstream 'https://a:1' must use http://, got https:",
    ],
    [[...REQUIRED, "--extra-stat-tags", "ok,bad-tag"], "--extra-stat-tags: 'bad-tag' is not a tag name"],
    [[...REQUIRED, "--label", "=x"], "--label must be KEY=VALUE with a non-empty key, got '=x'"],
    [[...REQUIRED, "--http-cluster", "otel=http://10.0.0.1:4318"], "--http-cluster: upstreamClusters.otel:"],
    [
      [...REQUIRED, "--peer-identity", "cluster.local/ns/default/sa/app"],
      "--peer-identity must be a SPIFFE id spiffe://TRUST_DOMAIN/PATH",
    ],
    [
      [...REQUIRED, "--upstream-identity", "spiffe://cluster.local"],
      "--upstream-identity must be a SPIFFE id",
    ],
    [[...REQUIRED, "--destination-port", "0"], "--destination-port must be an integer from 1 to 65535"],
    [
      [...REQUIRED, "--upstream-cluster", "outbound|80|| hello"],
      "--upstream-cluster must be an Envoy cluster name without spaces (e.g. outbound|443||api.example.com), got 'outbound|80|| hello'",
    ],
    [
      [...REQUIRED, "--listen-port", "127.0.0.1:9090"],
      "--listen-port must be PORT=HOST:PORT with the pod's port 1 to 65535 (e.g. 9090=127.0.0.1:0), got '127.0.0.1:9090'",
    ],
    [[...REQUIRED, "--listen-port", "0=127.0.0.1:0"], "--listen-port must be PORT=HOST:PORT"],
    [[...REQUIRED, "--listen-port", "9090=9090"], "--listen-port must be HOST:PORT"],
    [
      [...REQUIRED, "--listen-port", "9090=127.0.0.1:0", "--listen-port", "9090=127.0.0.1:0"],
      "--listen-port 9090 given twice; give each pod port one listener",
    ],
    [
      [...REQUIRED, "--destination-port", "8012", "--listen-port", "8012=127.0.0.1:0"],
      "--listen-port 8012: requests to --listen already have destination.port 8012 (--destination-port)",
    ],
    [
      [...REQUIRED, "--access-log", "%PROTOCOL% %RESPONSE_CODE%"],
      "--access-log: access log format, at character 1: %PROTOCOL% is not supported",
    ],
    [[...REQUIRED, "--outbound-listen", "127.0.0.1:0"], "--outbound-upstream is required"],
    [
      [...REQUIRED, "--outbound-listen", "15001", "--outbound-upstream", "http://a:1"],
      "--outbound-listen must be HOST:PORT (port 0 to 65535, [IPv6]:PORT), got '15001'",
    ],
    [
      [...REQUIRED, "--outbound-listen", "127.0.0.1:0", "--outbound-upstream", "http://a:1/path"],
      "--outbound-upstream: upstream 'http://a:1/path' must have no path or query",
    ],
    [
      [...REQUIRED, "--outbound-upstream", "http://a:1"],
      "--outbound-upstream needs --outbound-listen HOST:PORT",
    ],
    [[...REQUIRED, "--outbound-config", "o.json"], "--outbound-config needs --outbound-listen HOST:PORT"],
    [
      [
        ...REQUIRED,
        "--outbound-listen",
        "h:1",
        "--outbound-upstream",
        "http://a:1",
        "--direction",
        "outbound",
      ],
      "--outbound-listen makes --listen the sidecar's inbound listener; drop --direction outbound",
    ],
    [
      [...REQUIRED, "--outbound-listen", "h:1", "--outbound-upstream", "http://a:1", "--gateway"],
      "--outbound-listen is a sidecar's second listener; a gateway (--gateway) has one direction",
    ],
    [
      [
        ...REQUIRED,
        "--outbound-listen",
        "h:1",
        "--outbound-upstream",
        "http://a:1",
        "--outbound-upstream-identity",
        "other",
      ],
      "--outbound-upstream-identity must be a SPIFFE id",
    ],
    [[...REQUIRED, "--bogus"], "unknown option --bogus"],
    [[...REQUIRED, "stray"], "unexpected argument 'stray'"],
  ])("rejects %j with a usage error", (argv, message) => {
    expect(() => parseRunArgs(argv, "/checkout")).toThrow(UsageError);
    expect(() => parseRunArgs(argv, "/checkout")).toThrow(message);
  });
});

describe("parseHostPort and parseKeyValues", () => {
  it("takes names, IPv4 and bracketed IPv6", () => {
    expect(parseHostPort("listen", "localhost:8080")).toEqual({ host: "localhost", port: 8080 });
    expect(parseHostPort("listen", "0.0.0.0:0")).toEqual({ host: "0.0.0.0", port: 0 });
    expect(parseHostPort("listen", "[::]:15000")).toEqual({ host: "::", port: 15000 });
    expect(() => parseHostPort("listen", "::1:80")).toThrow("--listen must be HOST:PORT");
  });

  it("refuses a key given twice", () => {
    expect(() => parseKeyValues("label", ["a=1", "a=2"])).toThrow("--label a given twice");
    expect(parseKeyValues("label", ["a=", "b=c=d"])).toEqual({ a: "", b: "c=d" });
  });
});

describe("describeReload", () => {
  it("says which root contexts replace which, and that the old ones finish first", () => {
    expect(describeReload({ direction: "inbound", kind: "replaced", before: [2, 2], after: [4, 4] })).toBe(
      "reload inbound: new root contexts 4,4 (one per worker VM) replace 2,2, which get proxy_on_done once their open streams end",
    );
    expect(describeReload({ direction: "outbound", kind: "replaced", before: [], after: [3, 3] })).toBe(
      "reload outbound: new root contexts 3,3 (one per worker VM) replace none, which get proxy_on_done once their open streams end",
    );
  });

  it("tells an unchanged configuration and a rejected one, with or without one in force", () => {
    expect(describeReload({ direction: "outbound", kind: "unchanged" })).toBe(
      "reload outbound: configuration unchanged; the root contexts stay",
    );
    expect(
      describeReload({
        direction: "inbound",
        kind: "rejected",
        reason: "Failed to configure",
        configured: true,
      }),
    ).toBe(
      "reload inbound: the module rejected the configuration (Failed to configure); the configuration in force stays",
    );
    expect(
      describeReload({
        direction: "inbound",
        kind: "rejected",
        reason: "Failed to configure",
        configured: false,
      }),
    ).toContain("still no accepted configuration: every request is answered 500 with response flag NFCF");
  });
});
