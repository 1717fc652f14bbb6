// The filter's access-log fields in the connection manager's access log, on Envoy 1.28 (loggers
// before the filter's on_log) and 1.33 (after): which field each kind of request prints, that a
// value is set at most once and only when it means something, that no header a client sends can
// break a line, and that nothing carries over to the next stream.
//
// The format is the shipped file provider's (deploy/istio/access-logs/mesh-config.yaml) as one
// JSON object per line, as the demo writes it (tools/demo/access-log.ts): without its %START_TIME%
// and %PROTOCOL% labels, operators the harness's formatter does not model.

import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

import { AccessLogFormat } from "../harness/access-log.js";
import { Plugin } from "../harness/plugin.js";
import { ResponseFlag } from "../harness/response-flags.js";
import { envoyMinorVersion } from "../harness/stream-ends.js";
import type { CallBoundary, HeaderList } from "../harness/types.js";
import type { Stream } from "../harness/stream.js";
import { ACCESS_LOG_FIELDS } from "../../tools/deploy/filter-contract.js";
import { OPERATORS_THE_HARNESS_LACKS, shippedFileLogFormat } from "../../tools/demo/access-log.js";
import {
  MESH_CONNECTION,
  REQUEST,
  T0_MS,
  activatorRequest,
  proxyOptions,
  type Position,
} from "../filter-knative/setup.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const FORMAT = shippedFileLogFormat(ROOT);

/** A proxy with the access log, which records each stream's proxy_set_property calls. */
class LoggedProxy {
  private constructor(
    readonly plugin: Plugin,
    readonly lines: string[],
    private readonly recorded: { calls: string[] },
  ) {}

  /** `name=value` of every proxy_set_property since the last stream began. */
  get propertiesSet(): string[] {
    return this.recorded.calls;
  }

  static async load(
    envoy: string,
    position: Position,
    config: Record<string, unknown> = {},
  ): Promise<LoggedProxy> {
    const decoder = new TextDecoder();
    const recorded = { calls: [] as string[] };
    const boundary: CallBoundary = {
      hostFunction(_vm, key, fn, read) {
        if (key !== "env.proxy_set_property") return fn;
        return (...args) => {
          const [name, nameSize, value, valueSize] = args.map(Number) as [number, number, number, number];
          recorded.calls.push(
            `${decoder.decode(read(name, nameSize))}=${decoder.decode(read(value, valueSize))}`,
          );
          return fn(...args);
        };
      },
      moduleExport: (_vm, _name, fn) => fn,
    };
    const lines: string[] = [];
    const plugin = await Plugin.load({
      ...proxyOptions({ envoy, position, config }),
      callBoundary: boundary,
      accessLog: { format: FORMAT.format, write: (line) => lines.push(line) },
    });
    return new LoggedProxy(plugin, lines, recorded);
  }

  stream(): Stream {
    this.recorded.calls = [];
    return this.plugin.createStream(MESH_CONNECTION);
  }

  /** The last line, parsed; it must be exactly one JSON object with the format's labels. */
  lastLine(): Record<string, string> {
    const line = this.lines.at(-1)!;
    expect(line).not.toMatch(/[\r\n]/);
    const entry = JSON.parse(line) as Record<string, string>;
    expect(Object.keys(entry)).toEqual(FORMAT.labels);
    return entry;
  }

  /** The filter's fields of the last line, without those it printed as "-". */
  lastFields(): Record<string, string> {
    const entry = this.lastLine();
    const fields: Record<string, string> = {};
    for (const field of ACCESS_LOG_FIELDS) {
      const value = entry[field];
      if (value !== undefined && value !== "-") fields[field] = value;
    }
    return fields;
  }

  /** Every proxy_set_property of the last stream named a distinct field of the catalog. */
  expectEachSetOnce(): void {
    const names = this.propertiesSet.map((entry) => entry.slice(0, entry.indexOf("=")));
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(ACCESS_LOG_FIELDS).toContain(name);
  }
}

function respond(stream: Stream, status: number, headers: HeaderList = []): void {
  stream.onResponseHeaders([[":status", String(status)], ...headers], true);
}

// The gateway's clock reads T0_MS: a request it stamped then, held until the pod turned ready.
const POD_STAMP_COLD = `1;cs=1;w=812;c=cluster-a;r=eu-west1;n=demo;s=hello;cf=hello-config;v=hello-00001;a=1;rd=${T0_MS + 500};t=${T0_MS + 812}`;
const POD_STAMP_WARM = `1;cs=0;w=;c=cluster-a;r=eu-west1;n=demo;s=hello;cf=hello-config;v=hello-00001;a=0;rd=${T0_MS + 500}`;
const HOP_FROM_B = `1;c=cluster-b;r=us-east1;t=${T0_MS - 37}`;

it("the format keeps every shipped label but those of the operators the harness lacks", () => {
  expect(FORMAT.labels).toEqual(
    expect.arrayContaining([...ACCESS_LOG_FIELDS, "response_flags", "request_id"]),
  );
  expect(FORMAT.labels).toContain("start_time");
  expect(FORMAT.labels).not.toContain("protocol");
  // Once the harness formats one of these, the demo's line should carry it.
  for (const operator of OPERATORS_THE_HARNESS_LACKS) {
    expect(() => AccessLogFormat.parse(operator)).toThrow(/is not supported/);
  }
});

/** One Envoy of each property layout; up to 1.31 the connection manager's loggers run before on_log. */
const ENVOY_VERSIONS = ["1.28", "1.30", "1.33"];

describe.each(ENVOY_VERSIONS)("access-log fields, Envoy %s", (envoy) => {
  const loggersFirst = envoyMinorVersion(envoy) <= 31;

  it("a warm 200 at the revision pod makes no proxy_set_property call and prints every field as -", async () => {
    const pod = await LoggedProxy.load(envoy, "inbound");
    for (let i = 0; i < 3; i++) {
      const stream = pod.stream();
      stream.onRequestHeaders(REQUEST, true);
      respond(stream, 200);
      stream.end({});
      expect(pod.propertiesSet).toEqual([]);
      expect(pod.lastFields()).toEqual({});
      expect(pod.lastLine().response_code).toBe("200");
    }
  });

  it("a held request at the revision pod prints no cold-start field: only the edge can tell", async () => {
    const pod = await LoggedProxy.load(envoy, "inbound");
    const stream = pod.stream();
    stream.onRequestHeaders(activatorRequest(T0_MS - 812), true);
    respond(stream, 200);
    stream.end({});
    expect(pod.propertiesSet).toEqual([]);
    expect(pod.lastFields()).toEqual({});
  });

  it("the gateway prints the cold start it decided from the pod stamp, and nothing for a warm one", async () => {
    const gateway = await LoggedProxy.load(envoy, "gateway", { tracing: { enabled: false } });
    const cold = gateway.stream();
    cold.onRequestHeaders(REQUEST, true);
    expect(gateway.propertiesSet).toEqual([]);
    respond(cold, 200, [["x-kwt-pod", POD_STAMP_COLD]]);
    expect(gateway.propertiesSet).toEqual(["kwt_cold_start=1", "kwt_cold_start_wait_ms=812"]);
    cold.end({});
    expect(gateway.lastFields()).toEqual({ kwt_cold_start: "1", kwt_cold_start_wait_ms: "812" });
    const warm = gateway.stream();
    warm.onRequestHeaders(REQUEST, true);
    respond(warm, 200, [["x-kwt-pod", POD_STAMP_WARM]]);
    warm.end({});
    expect(gateway.propertiesSet).toEqual([]);
    expect(gateway.lastFields()).toEqual({});
  });

  it("a cross-cluster hop: source cluster, region and latency at request headers", async () => {
    const pod = await LoggedProxy.load(envoy, "inbound");
    const stream = pod.stream();
    stream.onRequestHeaders([...REQUEST, ["x-kwt-hop", HOP_FROM_B]], true);
    respond(stream, 200);
    stream.end({});
    pod.expectEachSetOnce();
    expect(pod.lastFields()).toEqual({
      kwt_source_cluster: "cluster-b",
      kwt_source_region: "us-east1",
      kwt_hop_ms: "37",
    });
  });

  it("a local reply 503 (connection failure): the error kind at response headers, in the line on every version", async () => {
    const pod = await LoggedProxy.load(envoy, "inbound");
    const stream = pod.stream();
    stream.onRequestHeaders(REQUEST, true);
    stream.recordResponseFlags(ResponseFlag.UpstreamConnectionFailure);
    respond(stream, 503);
    expect(pod.propertiesSet).toEqual(["kwt_error_kind=upstream_reset"]);
    stream.end(pod.plugin.streamEnd("upstream_connection_failure"));
    pod.expectEachSetOnce();
    expect(pod.lastFields()).toEqual({ kwt_error_kind: "upstream_reset" });
    expect(pod.lastLine()).toMatchObject({ response_code: "503", response_flags: "UF" });
  });

  it("a 503 from the workload prints http_5xx on every version", async () => {
    const pod = await LoggedProxy.load(envoy, "inbound");
    const stream = pod.stream();
    stream.onRequestHeaders(REQUEST, true);
    respond(stream, 503);
    stream.end({});
    expect(pod.propertiesSet).toEqual(["kwt_error_kind=http_5xx"]);
    expect(pod.lastFields()).toEqual({ kwt_error_kind: "http_5xx" });
  });

  it(`queue-proxy's 504 to a gRPC call: timeout from on_log, ${loggersFirst ? "not yet in the line" : "in the line"}, never http_5xx`, async () => {
    const pod = await LoggedProxy.load(envoy, "inbound");
    const stream = pod.stream();
    stream.onRequestHeaders([...REQUEST, ["content-type", "application/grpc"]], true);
    respond(stream, 504);
    expect(pod.propertiesSet).toEqual([]);
    stream.end({ responseCode: 504, responseCodeDetails: "via_upstream" });
    expect(pod.propertiesSet).toEqual(["kwt_error_kind=timeout"]);
    expect(pod.lastFields()).toEqual(loggersFirst ? {} : { kwt_error_kind: "timeout" });
  });

  it(`an upstream reset after a 200: the kind only on_log knows, in the line ${loggersFirst ? "not yet (the flags say UC)" : "from on_log"}`, async () => {
    const pod = await LoggedProxy.load(envoy, "inbound");
    const stream = pod.stream();
    stream.onRequestHeaders(REQUEST, true);
    respond(stream, 200);
    expect(pod.propertiesSet).toEqual([]);
    stream.end({ ...pod.plugin.streamEnd("upstream_reset_after_response"), responseCode: 200 });
    expect(pod.propertiesSet).toEqual(["kwt_error_kind=upstream_reset"]);
    expect(pod.lastFields()).toEqual(loggersFirst ? {} : { kwt_error_kind: "upstream_reset" });
    expect(pod.lastLine()).toMatchObject({
      response_flags: "UC",
      response_code_details: "upstream_reset_after_response_started{connection_termination}",
    });
  });

  it(`a client cancellation before any response: ${loggersFirst ? "the details say so, the field cannot" : "downstream_reset from on_log"}`, async () => {
    const pod = await LoggedProxy.load(envoy, "inbound");
    const stream = pod.stream();
    stream.onRequestHeaders(REQUEST, true);
    stream.end(pod.plugin.streamEnd("http2_client_reset"));
    pod.expectEachSetOnce();
    // Envoy 1.28 sets no DR flag on an HTTP/2 client reset; response.code_details
    // (http2.remote_reset) still names the client, from 1.30 the flag does too.
    expect(pod.propertiesSet).toEqual(["kwt_error_kind=downstream_reset"]);
    expect(pod.lastFields()).toEqual(loggersFirst ? {} : { kwt_error_kind: "downstream_reset" });
    expect(pod.lastLine()).toMatchObject({ response_code: "0", response_code_details: "http2.remote_reset" });
  });

  it.each([
    ["quotes", `1;c=we"st;r=us-east1;t=${T0_MS - 5}`],
    ["a newline", `1;c=west\n{"kwt_cold_start":"1"};r=us-east1;t=${T0_MS - 5}`],
    ["a command operator", `1;c=%RESPONSE_CODE%;r=us-east1;t=${T0_MS - 5}`],
    ["a JSON break-out", `1;c=west","kwt_cold_start":"1;r=us-east1;t=${T0_MS - 5}`],
  ])("a hop stamp with %s sets nothing and leaves the line one valid object", async (_name, hop) => {
    const pod = await LoggedProxy.load(envoy, "inbound");
    const stream = pod.stream();
    stream.onRequestHeaders([...REQUEST, ["x-kwt-hop", hop]], true);
    respond(stream, 200);
    stream.end({});
    expect(pod.propertiesSet).toEqual([]);
    expect(pod.lines).toHaveLength(1);
    expect(pod.lastFields()).toEqual({});
  });

  it("a hostile pod stamp at the gateway sets nothing", async () => {
    const gateway = await LoggedProxy.load(envoy, "gateway", { tracing: { enabled: false } });
    const stream = gateway.stream();
    stream.onRequestHeaders(REQUEST, true);
    respond(stream, 200, [["x-kwt-pod", `1;cs=1;w=812"\n%DURATION%;c=a;r=b;n=c;s=d;cf=e;v=f`]]);
    stream.end({});
    expect(gateway.propertiesSet).toEqual([]);
    expect(gateway.lastFields()).toEqual({});
  });
});
