// proxy_http_call against a real loopback HTTP server, and ticks on a manual clock.

import http from "node:http";
import { type AddressInfo } from "node:net";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ManualClock } from "../harness/clock.js";
import { encodeHeaderPairs } from "../harness/pairs.js";
import { Plugin } from "../harness/plugin.js";
import { type HeaderList } from "../harness/types.js";
import { messages, OUT_PTR, OUT_SIZE, ProxyModule } from "./wat.js";

const hex = (text: string): string => Buffer.from(text).toString("hex");

let server: http.Server;
let baseUrl: string;
const received: Array<{ method?: string; url?: string; host?: string; body: string; header?: string }> = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({
        method: req.method,
        url: req.url,
        host: req.headers.host,
        body: Buffer.concat(chunks).toString(),
        header: req.headers["x-test"] as string | undefined,
      });
      if (req.url === "/slow") return; // never answers: the caller's timeout fires
      if (req.url === "/reset") {
        res.writeHead(200, { "content-length": "100" });
        res.write("partial");
        setTimeout(() => res.destroy(), 20);
        return;
      }
      res.writeHead(201, { "X-Reply": "yes", "content-length": "2" });
      res.end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const CALLS = [
  "env.proxy_http_call",
  "env.proxy_get_header_map_value",
  "env.proxy_get_header_map_pairs",
  "env.proxy_get_buffer_bytes",
  "env.proxy_get_status",
];

/** On request headers the module calls `cluster` with `headers` and logs result and token; the response callback logs what it sees. */
function callingModule(cluster: string, headers: HeaderList, timeoutMs: number): Uint8Array {
  const module = new ProxyModule().use(...CALLS);
  return module.build(`
    (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
      (call $num (call $proxy_http_call ${module.text(cluster)} ${module.text(encodeHeaderPairs(headers))}
        ${module.text("payload")} ${module.text("")} (i32.const ${timeoutMs}) (i32.const 0x300)))
      (call $num (i32.load (i32.const 0x300)))
      (i32.const 0))
    (func (export "proxy_on_http_call_response") (param i32 i32 i32 i32 i32)
      (call $say ${module.text("response")})
      (call $num (local.get 0)) (call $num (local.get 1)) (call $num (local.get 2)) (call $num (local.get 3)) (call $num (local.get 4))
      (call $clear)
      (call $num (call $proxy_get_header_map_value (i32.const 6) ${module.text(":status")} (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
      (call $out)
      (call $clear)
      (call $num (call $proxy_get_buffer_bytes (i32.const 4) (i32.const 0) (i32.const 1000) (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
      (call $out)
      (call $clear)
      (call $num (call $proxy_get_status (i32.const 0x304) (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
      (call $num (i32.load (i32.const 0x304))) (call $out))`);
}

const REQUEST: HeaderList = [
  [":method", "POST"],
  [":path", "/hello"],
  [":authority", "collector"],
  ["x-test", "1"],
];

async function runCall(cluster: string, headers: HeaderList, timeoutMs = 1000, calls = 1): Promise<string[]> {
  const plugin = await Plugin.load({
    wasm: callingModule(cluster, headers, timeoutMs),
    upstreamClusters: { collector: baseUrl, nowhere: "http://127.0.0.1:9" },
    workers: 1,
  });
  const before = plugin.logs.length;
  for (let i = 0; i < calls; i++) plugin.createStream().onRequestHeaders([], true);
  await plugin.idle();
  plugin.close();
  return messages(plugin.logs.slice(before));
}

describe("proxy_http_call", () => {
  it("sends the request to the named cluster and delivers the response to the root context", async () => {
    received.length = 0;
    const logs = await runCall("collector", REQUEST, 1000, 2);
    expect(received).toEqual([
      { method: "POST", url: "/hello", host: "collector", body: "payload", header: "1" },
      { method: "POST", url: "/hello", host: "collector", body: "payload", header: "1" },
    ]);
    // Tokens count 4, 8; the callback runs on the root context (1) with 4 headers
    // (:status, x-reply, content-length, date), a 2-byte body, no trailers.
    expect(logs.slice(0, 4)).toEqual(["0", "4", "0", "8"]);
    const response = (token: string): string[] => [
      ...["response", "1", token, "4", "2", "0"],
      // :status, body, then get_status (Ok, code 0, empty message).
      ...["0", hex("201"), "0", hex("ok"), "0", "0", ""],
    ];
    expect(logs.slice(4)).toEqual([...response("4"), ...response("8")]);
  });

  it("refuses unknown clusters and requests without :method, :path or :authority", async () => {
    expect(await runCall("unknown", REQUEST)).toEqual(["2", "0"]);
    for (const missing of [":method", ":path", ":authority"]) {
      expect(
        await runCall(
          "collector",
          REQUEST.filter(([k]) => k !== missing),
        ),
      ).toEqual(["2", "0"]);
    }
    // A timeout above 2^31 - 1 is a negative C int: BadArgument.
    expect(await runCall("collector", REQUEST, -1)).toEqual(["2", "0"]);
  });

  it("reports a refused connection as Envoy's 503 local reply", async () => {
    const logs = await runCall("nowhere", REQUEST);
    expect(logs.slice(2, 11)).toEqual(["response", "1", "4", "3", "91", "0", "0", hex("503"), "0"]);
    expect(logs[11]).toBe(
      hex("upstream connect error or disconnect/reset before headers. reset reason: connection failure"),
    );
  });

  it("answers 504 when the upstream does not respond in time", async () => {
    const logs = await runCall(
      "collector",
      REQUEST.map(([k, v]): [string, string] => [k, k === ":path" ? "/slow" : v]),
      50,
    );
    expect(logs.slice(2, 12)).toEqual([
      "response",
      "1",
      "4",
      "3",
      "24",
      "0",
      "0",
      hex("504"),
      "0",
      hex("upstream request timeout"),
    ]);
  });

  it("delivers zeros and status BrokenConnection when the upstream resets mid-response", async () => {
    const logs = await runCall(
      "collector",
      REQUEST.map(([k, v]): [string, string] => [k, k === ":path" ? "/reset" : v]),
    );
    expect(logs.slice(2)).toEqual([
      ...["response", "1", "4", "0", "0", "0"],
      // No response maps or body exist (BadArgument / NotFound); get_status says 11 "reset".
      ...["2", "untouched", "1", "untouched", "0", "11", hex("reset")],
    ]);
  });

  it("rejects non-loopback upstream URLs at load", async () => {
    await expect(
      Plugin.load({ wasm: callingModule("x", REQUEST, 0), upstreamClusters: { x: "http://example.com" } }),
    ).rejects.toThrow(
      'upstreamClusters.x: "http://example.com" is not a loopback http URL; expected http://127.0.0.1:<port>',
    );
  });
});

describe("ticks", () => {
  it("fires proxy_on_tick per VM per period on a manual clock, and stops at period 0", async () => {
    const module = new ProxyModule().use(
      "env.proxy_set_tick_period_milliseconds",
      "env.proxy_get_current_time_nanoseconds",
    );
    const wasm = module.build(`
      (global $ticks (mut i32) (i32.const 0))
      (func (export "proxy_on_configure") (param i32 i32) (result i32)
        (drop (call $proxy_set_tick_period_milliseconds (i32.const 100))) (i32.const 1))
      (func (export "proxy_on_tick") (param i32)
        (global.set $ticks (i32.add (global.get $ticks) (i32.const 1)))
        (drop (call $proxy_get_current_time_nanoseconds (i32.const 0x300)))
        (call $num (i32.div_u (i32.wrap_i64 (i64.sub (i64.load (i32.const 0x300)) (i64.const 1700000000000000000))) (i32.const 1000000)))
        (if (i32.eq (global.get $ticks) (i32.const 3)) (then (drop (call $proxy_set_tick_period_milliseconds (i32.const 0))))))`);
    const plugin = await Plugin.load({ wasm, workers: 2, clock: new ManualClock(1_700_000_000_000) });
    plugin.advance(250);
    expect(messages(plugin.logs, 0)).toEqual(["100", "200"]);
    expect(messages(plugin.logs, 1)).toEqual(["100", "200"]);
    plugin.advance(1000);
    expect(messages(plugin.logs, 0)).toEqual(["100", "200", "300"]);
    // The canary VM never ticks.
    expect(messages(plugin.logs, -1)).toEqual([]);
    plugin.close();
  });

  it("ticks on timers with the real clock until the plugin closes", async () => {
    const module = new ProxyModule().use("env.proxy_set_tick_period_milliseconds");
    const wasm = module.build(`
      (func (export "proxy_on_configure") (param i32 i32) (result i32)
        (drop (call $proxy_set_tick_period_milliseconds (i32.const 10))) (i32.const 1))
      (func (export "proxy_on_tick") (param i32) (call $num (local.get 0)))`);
    const plugin = await Plugin.load({ wasm, workers: 1 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    plugin.close();
    const ticks = messages(plugin.logs, 0).length;
    expect(ticks).toBeGreaterThanOrEqual(2);
    expect(new Set(messages(plugin.logs, 0))).toEqual(new Set(["1"]));
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(messages(plugin.logs, 0).length).toBe(ticks);
  });

  it("refuses advance() on the real clock", async () => {
    const plugin = await Plugin.load({ wasm: new ProxyModule().build("") });
    expect(() => plugin.advance(10)).toThrow("Plugin.advance needs a ManualClock");
    plugin.close();
  });
});
