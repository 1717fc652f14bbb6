// Envoy's request header limits and stream ends over real HTTP/1.1, with a small hand-written
// module that logs every callback: a header block over the limits is answered 431 by the codec
// (DPE, http1.* details) and the module never sees the stream; a raised header count lets more
// than the filter's 1024 pairs through; a client that goes away ends with downstream_remote_disconnect.

import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { messages, ProxyModule } from "../harness-core/wat.js";
import { Plugin } from "../harness/plugin.js";
import { HarnessProxy, ResponseFlag } from "../harness/proxy.js";
import { StatStore } from "../harness/stats.js";
import type { RequestHeaderLimits } from "../harness/stream-ends.js";
import type { StreamEnd } from "../harness/types.js";
import { startLoopbackUpstream } from "./loopback-upstream.js";

/** Logs "context", "headers <count>" and "log" as the callbacks run. */
function callbackModule(): Uint8Array {
  const module = new ProxyModule();
  return module.build(`
  (func (export "proxy_on_context_create") (param i32 i32)
    (if (local.get 1) (then (call $say ${module.text("context")}))))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (call $say ${module.text("headers")}) (call $num (local.get 1)) (i32.const 0))
  (func (export "proxy_on_log") (param i32) (call $say ${module.text("log")}))`);
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  proxy: HarnessProxy;
  plugin: () => Plugin;
  ends: StreamEnd[];
}

async function setUp(requestHeaderLimits?: RequestHeaderLimits, slowUpstream = false): Promise<Setup> {
  const upstream = await startLoopbackUpstream((_request, response) => {
    if (slowUpstream) setTimeout(() => response.end("late"), 2_000).unref();
    else response.end("ok");
  }, cleanups);
  const stats = new StatStore();
  let plugin: Plugin | undefined;
  const ends: StreamEnd[] = [];
  const proxy = await HarnessProxy.start({
    loadPlugin: async () => {
      const loaded = await Plugin.load({ wasm: callbackModule() }, stats);
      plugin = loaded;
      // Record each stream's end as the proxy hands it over.
      return {
        createStream: (options) => {
          const stream = loaded.createStream(options);
          const end = stream.end.bind(stream);
          stream.end = (streamEnd = {}) => {
            ends.push(streamEnd);
            end(streamEnd);
          };
          return stream;
        },
      };
    },
    stats,
    listen: { host: "127.0.0.1", port: 0 },
    upstream,
    requestHeaderLimits,
  });
  cleanups.push(() => plugin?.close());
  cleanups.push(() => proxy.close());
  return { proxy, plugin: () => plugin as Plugin, ends };
}

/** Sends a GET with exactly these header lines after the request line; resolves with the raw answer. */
function rawRequest(proxy: HarnessProxy, lines: string[]): Promise<string> {
  const { host, port } = proxy.listenAddress;
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    let answer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer in 5 s; got: ${answer.slice(0, 200)}`));
    }, 5_000);
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString("latin1");
      // Every answer here is small and complete once its body (after the blank line) arrived.
      const length = /content-length: (\d+)/i.exec(answer)?.[1];
      const bodyAt = answer.indexOf("\r\n\r\n");
      if (length !== undefined && bodyAt >= 0 && answer.length >= bodyAt + 4 + Number(length)) {
        clearTimeout(timer);
        socket.end();
        resolve(answer);
      }
    });
    socket.on("error", reject);
    socket.write(`GET / HTTP/1.1\r\n${lines.map((line) => `${line}\r\n`).join("")}\r\n`);
  });
}

/** The Host line plus `count - 1` more, `count` header lines in all. */
function headerLines(count: number): string[] {
  return ["Host: svc", ...Array.from({ length: count - 1 }, (_, i) => `x-h-${i}: v`)];
}

const moduleSaw = (setup: Setup): string[] => messages(setup.plugin().logs, 0);

describe("request header limits (Envoy's HTTP/1 codec, before the filter chain)", () => {
  it("lets 100 header lines through and answers 101 with 431 DPE http1.too_many_headers, unseen by the module", async () => {
    const setup = await setUp();
    expect(await rawRequest(setup.proxy, headerLines(100))).toMatch(/^HTTP\/1\.1 200 /);
    // 100 lines: Host becomes :authority, plus :path :method :scheme, x-forwarded-proto and x-request-id.
    expect(moduleSaw(setup)).toEqual(["context", "headers", "105", "log"]);

    const answer = await rawRequest(setup.proxy, headerLines(101));
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(answer.toLowerCase()).toContain("connection: close");
    expect(answer).toContain("Request Header Fields Too Large");
    expect(moduleSaw(setup)).toEqual(["context", "headers", "105", "log"]);
    await expect.poll(() => setup.ends.length).toBe(2);
    expect(setup.ends[1]).toMatchObject({
      responseCode: 431,
      responseCodeDetails: "http1.too_many_headers",
      responseFlags: ResponseFlag.DownstreamProtocolError,
    });
  });

  it("answers a header block over 60 KiB with 431 http1.headers_too_large", async () => {
    const setup = await setUp();
    const answer = await rawRequest(setup.proxy, ["Host: svc", `x-big: ${"q".repeat(60 * 1024)}`]);
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    await expect.poll(() => setup.ends.length).toBe(1);
    expect(setup.ends[0]).toMatchObject({
      responseCode: 431,
      responseCodeDetails: "http1.headers_too_large",
      responseFlags: ResponseFlag.DownstreamProtocolError,
    });
    expect(moduleSaw(setup)).toEqual([]);
  });

  it("with max_headers_count raised, more than 1024 pairs reach the module", async () => {
    const setup = await setUp({ maxBytes: 60 * 1024, maxCount: 2000 });
    expect(await rawRequest(setup.proxy, headerLines(1100))).toMatch(/^HTTP\/1\.1 200 /);
    expect(moduleSaw(setup)).toEqual(["context", "headers", "1105", "log"]);
  });
});

describe("a client that goes away (HTTP/1)", () => {
  it("ends the stream with downstream_remote_disconnect and DC, as Envoy's connection manager", async () => {
    const setup = await setUp(undefined, true);
    const { host, port } = setup.proxy.listenAddress;
    const socket = net.connect(port, host);
    socket.write("GET / HTTP/1.1\r\nHost: svc\r\n\r\n");
    await expect.poll(() => moduleSaw(setup)).toContain("headers");
    socket.destroy();
    await expect.poll(() => setup.ends.length).toBe(1);
    expect(setup.ends[0]).toMatchObject({
      responseCodeDetails: "downstream_remote_disconnect",
      responseFlags: ResponseFlag.DownstreamConnectionTermination,
    });
    expect(setup.ends[0]?.responseCode).toBeUndefined();
  });
});
