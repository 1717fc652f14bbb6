// The proxy's HTTP behaviour, with a recording filter stream in place of a Wasm VM: what Envoy
// hands the filter and how it ends each stream (status, flags, details) for upstream successes and
// failures. The compiled filter itself runs through the proxy in kwt-run.test.ts.

import http from "node:http";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { HostPort } from "../harness/admin.js";
import {
  grpcStatusOf,
  HarnessProxy,
  localReplyHeaders,
  parseUpstreamUrl,
  rawHeaderList,
  ResponseFlag,
  wireHeaders,
  type FilterPlugin,
  type FilterStream,
  type ProxyOptions,
} from "../harness/proxy.js";
import { StatStore, VmMetrics } from "../harness/stats.js";
import type { HeaderList, HeadersOutcome, LocalReply, StreamEnd, StreamOptions } from "../harness/types.js";
import { MetricType } from "../harness/types.js";
import { freePort } from "../../tools/testing/free-port.js";
import { startLoopbackUpstream } from "./loopback-upstream.js";

type Call =
  | { callback: "requestHeaders" | "responseHeaders"; headers: HeaderList; endOfStream: boolean }
  | { callback: "requestBody" | "responseBody"; body: string; endOfStream: boolean }
  | { callback: "requestTrailers" | "responseTrailers"; trailers: HeaderList }
  | { callback: "end"; end: StreamEnd };

interface Script {
  /** Changes the request headers (as a filter would) before they go upstream. */
  onRequestHeaders?: (headers: HeaderList) => { headers: HeaderList; localReply?: LocalReply };
  onResponseHeaders?: (headers: HeaderList) => { headers: HeaderList; localReply?: LocalReply };
}

/** Records every callback; optionally rewrites headers or answers locally, as a filter could. */
class RecordingPlugin implements FilterPlugin {
  readonly streams: Array<{ options: StreamOptions | undefined; calls: Call[] }> = [];
  private readonly ended: Array<() => void> = [];

  constructor(private readonly script: Script = {}) {}

  createStream(options?: StreamOptions): FilterStream {
    const calls: Call[] = [];
    this.streams.push({ options, calls });
    const headers = (
      callback: "requestHeaders" | "responseHeaders",
      list: HeaderList,
      endOfStream: boolean,
    ): HeadersOutcome => {
      calls.push({ callback, headers: list, endOfStream });
      const scripted =
        callback === "requestHeaders" ? this.script.onRequestHeaders : this.script.onResponseHeaders;
      const result = scripted ? scripted(list) : { headers: list };
      return { status: 0, ...result };
    };
    const body = (callback: "requestBody" | "responseBody", data: Uint8Array, endOfStream: boolean) => {
      calls.push({ callback, body: Buffer.from(data).toString(), endOfStream });
      return { status: 0, body: data };
    };
    return {
      onRequestHeaders: (list, eos) => headers("requestHeaders", list, eos),
      onRequestBody: (data, eos) => body("requestBody", data, eos),
      onRequestTrailers: (trailers) => {
        calls.push({ callback: "requestTrailers", trailers });
        return { status: 0, trailers };
      },
      onResponseHeaders: (list, eos) => headers("responseHeaders", list, eos),
      // The flags reach the recorded end; the callbacks' order is what these tests check.
      recordResponseFlags: () => undefined,
      onResponseBody: (data, eos) => body("responseBody", data, eos),
      onResponseTrailers: (trailers) => {
        calls.push({ callback: "responseTrailers", trailers });
        return { status: 0, trailers };
      },
      end: (end) => {
        calls.push({ callback: "end", end: end ?? {} });
        this.ended.shift()?.();
      },
    };
  }

  /** Resolves when the next stream ends (on_log ran). */
  nextEnd(): Promise<void> {
    return new Promise((resolve) => this.ended.push(resolve));
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startUpstream(handler: http.RequestListener): Promise<string> {
  return startLoopbackUpstream(handler, cleanups);
}

async function startProxy(
  plugin: FilterPlugin,
  upstream: string,
  extra: Partial<
    Pick<
      ProxyOptions,
      "upstreamTimeoutMs" | "maxBodyBytes" | "admin" | "stats" | "portListeners" | "identity"
    >
  > = {},
): Promise<HarnessProxy> {
  const proxy = await HarnessProxy.start({
    loadPlugin: () => Promise.resolve(plugin),
    stats: extra.stats ?? new StatStore(),
    listen: { host: "127.0.0.1", port: 0 },
    upstream,
    mtls: true,
    ...extra,
  });
  cleanups.push(() => proxy.close());
  return proxy;
}

interface ClientResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  trailers: NodeJS.Dict<string>;
}

function send(
  address: HostPort,
  options: { method?: string; path?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: address.host,
        port: address.port,
        method: options.method ?? "GET",
        path: options.path ?? "/",
        headers: options.headers,
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: Buffer.concat(chunks).toString(),
            trailers: response.trailers,
          }),
        );
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.setTimeout(10_000, () => request.destroy(new Error("client timeout")));
    request.end(options.body);
  });
}

function withoutVolatile(headers: HeaderList): HeaderList {
  return headers.filter(
    ([name]) => !["x-request-id", "x-envoy-upstream-service-time", "date"].includes(name),
  );
}

describe("wire helpers", () => {
  it("lower-cases node's raw headers, keeps order and duplicates, drops hop-by-hop headers", () => {
    expect(
      rawHeaderList([
        "Host",
        "a",
        "X-Two",
        "1",
        "Connection",
        "close",
        "x-two",
        "2",
        "Transfer-Encoding",
        "chunked",
      ]),
    ).toEqual([
      ["host", "a"],
      ["x-two", "1"],
      ["x-two", "2"],
    ]);
  });

  it("frames wire headers by body length, chunked or as-is, without pseudo-headers", () => {
    const headers: HeaderList = [
      [":status", "200"],
      ["content-length", "99"],
      ["x-a", "1"],
      ["connection", "close"],
    ];
    expect(wireHeaders(headers, 3)).toEqual([
      ["x-a", "1"],
      ["content-length", "3"],
    ]);
    expect(wireHeaders(headers, "chunked")).toEqual([["x-a", "1"]]);
    expect(wireHeaders(headers, "as-is")).toEqual([
      ["content-length", "99"],
      ["x-a", "1"],
    ]);
  });

  it("builds Envoy's local reply headers", () => {
    expect(localReplyHeaders(403, [["x-why", "no"]], Buffer.from("denied"))).toEqual([
      [":status", "403"],
      ["x-why", "no"],
      ["content-length", "6"],
      ["content-type", "text/plain"],
    ]);
    expect(localReplyHeaders(204, [], new Uint8Array())).toEqual([[":status", "204"]]);
  });

  it("reads grpc-status from trailers first, then from headers", () => {
    expect(grpcStatusOf([["grpc-status", "3"]], [["grpc-status", "14"]])).toBe(14);
    expect(grpcStatusOf([["grpc-status", "5"]], [])).toBe(5);
    expect(grpcStatusOf([], [])).toBeUndefined();
    expect(grpcStatusOf([["grpc-status", "x"]], [])).toBeUndefined();
  });

  it("accepts only a bare http:// origin as upstream", () => {
    expect(parseUpstreamUrl("http://127.0.0.1:8080").port).toBe("8080");
    expect(() => parseUpstreamUrl("https://a:1")).toThrow(
      "upstream 'https://a:1' must use http://, got https:",
    );
    expect(() => parseUpstreamUrl("http://a:1/base")).toThrow("must have no path or query");
    expect(() => parseUpstreamUrl("127.0.0.1:80")).toThrow(/must use http:\/\/|not a URL/);
  });
});

describe("HarnessProxy", () => {
  it("runs request and response through the filter and forwards what the filter left", async () => {
    const seenUpstream: Array<{
      method?: string;
      url?: string;
      headers: http.IncomingHttpHeaders;
      body: string;
    }> = [];
    const upstream = await startUpstream((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        seenUpstream.push({
          method: request.method,
          url: request.url,
          headers: request.headers,
          body: Buffer.concat(chunks).toString(),
        });
        response.writeHead(201, { "x-from": "upstream", "content-type": "text/plain" });
        response.end("created");
      });
    });
    const plugin = new RecordingPlugin({
      onRequestHeaders: (headers) => ({ headers: [...headers, ["x-added-by-filter", "yes"]] }),
    });
    const proxy = await startProxy(plugin, upstream);
    const ended = plugin.nextEnd();
    const response = await send(proxy.listenAddress, {
      method: "POST",
      path: "/things?id=1",
      headers: { "x-in": "1", "content-type": "text/plain" },
      body: "hello",
    });
    await ended;

    expect(response).toMatchObject({ status: 201, body: "created" });
    expect(response.headers["x-from"]).toBe("upstream");
    expect(seenUpstream).toHaveLength(1);
    expect(seenUpstream[0]).toMatchObject({ method: "POST", url: "/things?id=1", body: "hello" });
    expect(seenUpstream[0]?.headers).toMatchObject({
      host: `127.0.0.1:${proxy.listenAddress.port}`,
      "x-in": "1",
      "x-added-by-filter": "yes",
      "content-length": "5",
    });

    const stream = plugin.streams[0];
    expect(stream?.options).toEqual({
      mtls: true,
      sourceAddress: expect.stringMatching(/127\.0\.0\.1:\d+$/),
      destinationAddress: `127.0.0.1:${proxy.listenAddress.port}`,
      upstreamAddress: upstream.slice("http://".length),
      protocol: "HTTP/1.1",
      startTimeNs: expect.any(BigInt),
    });
    const calls = stream?.calls ?? [];
    expect(calls.map((call) => call.callback)).toEqual([
      "requestHeaders",
      "requestBody",
      "responseHeaders",
      "responseBody",
      "end",
    ]);
    const requestHeaders = calls[0]?.callback === "requestHeaders" ? calls[0].headers : [];
    expect(withoutVolatile(requestHeaders)).toEqual([
      [":authority", `127.0.0.1:${proxy.listenAddress.port}`],
      [":path", "/things?id=1"],
      [":method", "POST"],
      [":scheme", "https"],
      ["x-in", "1"],
      ["content-type", "text/plain"],
      ["content-length", "5"],
      ["x-forwarded-proto", "https"],
    ]);
    expect(requestHeaders.find(([name]) => name === "x-request-id")?.[1]).toMatch(/^[0-9a-f-]{36}$/);
    expect(calls[0]).toMatchObject({ endOfStream: false });
    expect(calls[1]).toEqual({ callback: "requestBody", body: "hello", endOfStream: true });
    const responseHeaders = calls[2]?.callback === "responseHeaders" ? calls[2].headers : [];
    expect(withoutVolatile(responseHeaders)).toEqual([
      [":status", "201"],
      ["x-from", "upstream"],
      ["content-type", "text/plain"],
    ]);
    expect(responseHeaders.find(([name]) => name === "x-envoy-upstream-service-time")?.[1]).toMatch(/^\d+$/);
    expect(calls[3]).toEqual({ callback: "responseBody", body: "created", endOfStream: true });
    const end = calls[4]?.callback === "end" ? calls[4].end : {};
    expect(end).toMatchObject({ responseCode: 201, responseFlags: 0, responseCodeDetails: "via_upstream" });
    expect(end.grpcStatus).toBeUndefined();
    expect(end.durationNs).toBeGreaterThan(0n);
  });

  it("answers a local reply from the request headers without calling upstream, encoding it through the filter", async () => {
    let upstreamCalls = 0;
    const upstream = await startUpstream((_request, response) => {
      upstreamCalls++;
      response.end();
    });
    const plugin = new RecordingPlugin({
      onRequestHeaders: (headers) => ({
        headers,
        localReply: {
          status: 403,
          details: "kwt_denied",
          body: Buffer.from("denied"),
          headers: [["x-why", "policy"]],
          grpcStatus: -1,
        },
      }),
    });
    const proxy = await startProxy(plugin, upstream);
    const ended = plugin.nextEnd();
    const response = await send(proxy.listenAddress, { path: "/x" });
    await ended;
    expect(response).toMatchObject({ status: 403, body: "denied" });
    expect(response.headers["x-why"]).toBe("policy");
    expect(upstreamCalls).toBe(0);
    expect(plugin.streams[0]?.calls.slice(1)).toEqual([
      {
        callback: "responseHeaders",
        headers: [
          [":status", "403"],
          ["x-why", "policy"],
          ["content-length", "6"],
          ["content-type", "text/plain"],
        ],
        endOfStream: false,
      },
      { callback: "responseBody", body: "denied", endOfStream: true },
      {
        callback: "end",
        end: expect.objectContaining({
          responseCode: 403,
          responseFlags: 0,
          responseCodeDetails: "kwt_denied",
        }),
      },
    ]);
  });

  it("sends the :status the filter wrote but reports the upstream's as response.code", async () => {
    const upstream = await startUpstream((_request, response) => {
      response.writeHead(201);
      response.end();
    });
    const plugin = new RecordingPlugin({
      onResponseHeaders: (headers) => ({
        headers: headers.map(([name, value]): [string, string] => [name, name === ":status" ? "202" : value]),
      }),
    });
    const proxy = await startProxy(plugin, upstream);
    const ended = plugin.nextEnd();
    expect((await send(proxy.listenAddress)).status).toBe(202);
    await ended;
    expect(plugin.streams[0]?.calls.at(-1)).toEqual({
      callback: "end",
      end: expect.objectContaining({ responseCode: 201 }),
    });
  });

  it("answers 503 with flag UF when the upstream refuses the connection", async () => {
    const port = await freePort();
    const plugin = new RecordingPlugin();
    const proxy = await startProxy(plugin, `http://127.0.0.1:${port}`);
    const ended = plugin.nextEnd();
    const response = await send(proxy.listenAddress);
    await ended;
    expect(response.status).toBe(503);
    expect(response.body).toBe(
      "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
    );
    const calls = plugin.streams[0]?.calls ?? [];
    expect(calls[1]).toMatchObject({
      callback: "responseHeaders",
      headers: [
        [":status", "503"],
        ["content-length", "91"],
        ["content-type", "text/plain"],
      ],
    });
    expect(calls.at(-1)).toEqual({
      callback: "end",
      end: expect.objectContaining({
        responseCode: 503,
        responseFlags: ResponseFlag.UpstreamConnectionFailure,
        responseCodeDetails: "upstream_reset_before_response_started{connection_failure}",
      }),
    });
  });

  it("answers 504 with flag UT when the upstream does not answer in time", async () => {
    const upstream = await startUpstream(() => undefined);
    const plugin = new RecordingPlugin();
    const proxy = await startProxy(plugin, upstream, { upstreamTimeoutMs: 200 });
    const ended = plugin.nextEnd();
    const response = await send(proxy.listenAddress);
    await ended;
    expect(response).toMatchObject({ status: 504, body: "upstream request timeout" });
    expect(plugin.streams[0]?.calls.at(-1)).toEqual({
      callback: "end",
      end: expect.objectContaining({
        responseCode: 504,
        responseFlags: ResponseFlag.UpstreamRequestTimeout,
        responseCodeDetails: "upstream_response_timeout",
      }),
    });
  });

  it("answers 503 with flag UC when the upstream closes the connection before answering", async () => {
    const upstream = await startUpstream((request) => request.socket.destroy());
    const plugin = new RecordingPlugin();
    const proxy = await startProxy(plugin, upstream);
    const ended = plugin.nextEnd();
    const response = await send(proxy.listenAddress);
    await ended;
    expect(response.status).toBe(503);
    expect(plugin.streams[0]?.calls.at(-1)).toEqual({
      callback: "end",
      end: expect.objectContaining({
        responseCode: 503,
        responseFlags: ResponseFlag.UpstreamConnectionTermination,
        responseCodeDetails: "upstream_reset_before_response_started{connection_termination}",
      }),
    });
  });

  it("resets the client with flag UC and the upstream's status when the upstream dies mid-body", async () => {
    const upstream = await startUpstream((_request, response) => {
      response.writeHead(200, { "content-length": "100" });
      response.write("partial", () => setTimeout(() => response.socket?.destroy(), 20));
    });
    const plugin = new RecordingPlugin();
    const proxy = await startProxy(plugin, upstream);
    const ended = plugin.nextEnd();
    await expect(send(proxy.listenAddress)).rejects.toThrow();
    await ended;
    const calls = plugin.streams[0]?.calls ?? [];
    expect(calls.map((call) => call.callback)).toEqual(["requestHeaders", "responseHeaders", "end"]);
    expect(calls.at(-1)).toEqual({
      callback: "end",
      end: expect.objectContaining({
        responseCode: 200,
        responseFlags: ResponseFlag.UpstreamConnectionTermination,
        responseCodeDetails: "upstream_reset_after_response_started{connection_termination}",
      }),
    });
  });

  it("passes trailers both ways and reports grpc-status from the response trailers", async () => {
    const upstream = await startUpstream((request, response) => {
      request.resume();
      request.on("end", () => {
        response.writeHead(200, { "content-type": "application/grpc", trailer: "grpc-status" });
        response.write("payload");
        response.addTrailers({ "grpc-status": "7" });
        response.end();
      });
    });
    const plugin = new RecordingPlugin();
    const proxy = await startProxy(plugin, upstream);
    const ended = plugin.nextEnd();
    const response = await send(proxy.listenAddress, { method: "POST", body: "req" });
    await ended;
    expect(response).toMatchObject({ status: 200, body: "payload", trailers: { "grpc-status": "7" } });
    const calls = plugin.streams[0]?.calls ?? [];
    expect(calls.map((call) => call.callback)).toEqual([
      "requestHeaders",
      "requestBody",
      "responseHeaders",
      "responseBody",
      "responseTrailers",
      "end",
    ]);
    expect(calls[3]).toEqual({ callback: "responseBody", body: "payload", endOfStream: false });
    expect(calls[4]).toEqual({ callback: "responseTrailers", trailers: [["grpc-status", "7"]] });
    expect(calls[5]).toEqual({
      callback: "end",
      end: expect.objectContaining({ responseCode: 200, grpcStatus: 7 }),
    });
  });

  it("answers 413 when the request body exceeds the buffer limit", async () => {
    const upstream = await startUpstream((_request, response) => response.end());
    const plugin = new RecordingPlugin();
    const proxy = await startProxy(plugin, upstream, { maxBodyBytes: 10 });
    const ended = plugin.nextEnd();
    const response = await send(proxy.listenAddress, { method: "POST", body: "x".repeat(11) });
    await ended;
    expect(response).toMatchObject({ status: 413, body: "Payload Too Large" });
    expect(plugin.streams[0]?.calls.at(-1)).toEqual({
      callback: "end",
      end: expect.objectContaining({ responseCode: 413, responseCodeDetails: "request_payload_too_large" }),
    });
  });

  it("ends the stream with flag DC and no response code when the client goes away", async () => {
    const upstream = await startUpstream(() => undefined);
    const plugin = new RecordingPlugin();
    const proxy = await startProxy(plugin, upstream);
    const ended = plugin.nextEnd();
    const socket = net.connect(proxy.listenAddress.port, proxy.listenAddress.host, () => {
      socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      setTimeout(() => socket.destroy(), 50);
    });
    await ended;
    const end = plugin.streams[0]?.calls.at(-1);
    expect(end).toEqual({
      callback: "end",
      end: expect.objectContaining({ responseFlags: ResponseFlag.DownstreamConnectionTermination }),
    });
    expect(end?.callback === "end" ? end.end.responseCode : "none").toBeUndefined();
  });
});

describe("listeners for the pod's ports", () => {
  it("gives each request the destination.port of the pod port its listener stands for", async () => {
    const upstream = await startUpstream((_request, response) => response.end("ok"));
    const plugin = new RecordingPlugin();
    const proxy = await startProxy(plugin, upstream, {
      identity: { destinationPort: 8012 },
      portListeners: [
        { listen: { host: "127.0.0.1", port: 0 }, destinationPort: 9090 },
        { listen: { host: "127.0.0.1", port: 0 }, destinationPort: 9091 },
      ],
    });
    expect([...proxy.portAddresses.keys()]).toEqual([9090, 9091]);
    const ports = [proxy.listenAddress, proxy.portAddresses.get(9090)!, proxy.portAddresses.get(9091)!];
    expect(new Set(ports.map((address) => address.port)).size).toBe(3);
    for (const address of ports) {
      const ended = plugin.nextEnd();
      expect(await send(address)).toMatchObject({ status: 200, body: "ok" });
      await ended;
    }
    expect(plugin.streams.map((stream) => stream.options?.destinationPort)).toEqual([8012, 9090, 9091]);
    expect(plugin.streams.map((stream) => stream.options?.destinationAddress)).toEqual(
      ports.map((address) => `127.0.0.1:${address.port}`),
    );
  });

  it("opens none of its listeners when one cannot bind", async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise<void>((resolve) => busy.close(() => resolve())));
    const busyPort = (busy.address() as net.AddressInfo).port;
    const firstPort = await freePort();
    await expect(
      HarnessProxy.start({
        loadPlugin: () => Promise.resolve(new RecordingPlugin()),
        stats: new StatStore(),
        listen: { host: "127.0.0.1", port: firstPort },
        portListeners: [{ listen: { host: "127.0.0.1", port: busyPort }, destinationPort: 9090 }],
        upstream: "http://127.0.0.1:9",
      }),
    ).rejects.toThrow(`cannot listen on 127.0.0.1:${busyPort}`);
    await expect(send({ host: "127.0.0.1", port: firstPort })).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe("admin listener", () => {
  it("serves /ready (503 until the plugin loaded, then LIVE) and /stats/prometheus", async () => {
    const stats = new StatStore({ istioDefaultTags: false });
    new VmMetrics(stats).define(MetricType.Counter, "kwt_config_rejected_total");
    let releasePlugin: (plugin: FilterPlugin) => void = () => undefined;
    const loading = new Promise<FilterPlugin>((resolve) => (releasePlugin = resolve));
    const adminPort = await freePort();
    const starting = HarnessProxy.start({
      loadPlugin: () => loading,
      stats,
      listen: { host: "127.0.0.1", port: 0 },
      upstream: "http://127.0.0.1:9",
      admin: { host: "127.0.0.1", port: adminPort },
    });
    const admin = { host: "127.0.0.1", port: adminPort };
    await waitForListener(admin);
    expect(await send(admin, { path: "/ready" })).toMatchObject({ status: 503, body: "PRE_INITIALIZING\n" });
    releasePlugin(new RecordingPlugin());
    const proxy = await starting;
    cleanups.push(() => proxy.close());
    expect(proxy.adminAddress).toEqual(admin);
    expect(await send(admin, { path: "/ready" })).toMatchObject({ status: 200, body: "LIVE\n" });
    const scrape = await send(admin, { path: "/stats/prometheus" });
    expect(scrape).toMatchObject({
      status: 200,
      body: "# TYPE kwt_config_rejected_total counter\nkwt_config_rejected_total{} 0\n",
    });
    expect(scrape.headers["content-type"]).toBe("text/plain; charset=UTF-8");
    expect((await send(admin, { path: "/nope" })).status).toBe(404);
  });

  it("closes the admin listener again when the plugin fails to load", async () => {
    const adminPort = await freePort();
    await expect(
      HarnessProxy.start({
        loadPlugin: () => Promise.reject(new Error("module refused: no proxy_abi_version export")),
        stats: new StatStore(),
        listen: { host: "127.0.0.1", port: 0 },
        upstream: "http://127.0.0.1:9",
        admin: { host: "127.0.0.1", port: adminPort },
      }),
    ).rejects.toThrow("module refused: no proxy_abi_version export");
    await expect(send({ host: "127.0.0.1", port: adminPort }, { path: "/ready" })).rejects.toThrow(
      /ECONNREFUSED/,
    );
  });
});

async function waitForListener(address: HostPort): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(address.port, address.host);
      socket.on("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`nothing listens on ${address.host}:${address.port}`);
}
