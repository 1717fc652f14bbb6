// The proxy with the real in-process Plugin and a small hand-written module: header changes reach
// upstream and client, metrics recorded in proxy_on_log show at /stats/prometheus, and a VM that
// traps fails streams open (no filter) or closed (503 wasm_fail_stream) as configured.

import { afterEach, describe, expect, it } from "vitest";
import { OUT_PTR, OUT_SIZE, ProxyModule } from "../harness-core/wat.js";
import { Plugin } from "../harness/plugin.js";
import { HarnessProxy } from "../harness/proxy.js";
import { StatStore } from "../harness/stats.js";
import { startLoopbackUpstream } from "./loopback-upstream.js";

const METRIC_ID_AT = 0x20;

function headerModule(): Uint8Array {
  const module = new ProxyModule().use(
    "env.proxy_define_metric",
    "env.proxy_increment_metric",
    "env.proxy_get_header_map_value",
    "env.proxy_add_header_map_value",
  );
  return module.build(`
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $proxy_define_metric (i32.const 0) ${module.text("wat_requests_total")} (i32.const ${METRIC_ID_AT})))
    (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    (if (i32.eqz (call $proxy_get_header_map_value (i32.const 0) ${module.text("x-trap")} (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
      (then unreachable))
    (drop (call $proxy_add_header_map_value (i32.const 0) ${module.text("x-wat")} ${module.text("request")}))
    (i32.const 0))
  (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
    (drop (call $proxy_add_header_map_value (i32.const 2) ${module.text("x-wat")} ${module.text("response")}))
    (i32.const 0))
  (func (export "proxy_on_log") (param i32)
    (drop (call $proxy_increment_metric (i32.load (i32.const ${METRIC_ID_AT})) (i64.const 1))))`);
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(
  failOpen: boolean,
): Promise<{ proxy: HarnessProxy; stats: StatStore; upstreamSaw: string[] }> {
  const upstreamSaw: string[] = [];
  const upstream = await startLoopbackUpstream((request, response) => {
    upstreamSaw.push(String(request.headers["x-wat"] ?? "none"));
    response.end("ok");
  }, cleanups);
  const stats = new StatStore();
  let plugin: Plugin | undefined;
  const proxy = await HarnessProxy.start({
    loadPlugin: async () =>
      (plugin = await Plugin.load({ wasm: headerModule(), workers: 1, failOpen }, stats)),
    stats,
    listen: { host: "127.0.0.1", port: 0 },
    upstream,
  });
  cleanups.push(() => plugin?.close());
  cleanups.push(() => proxy.close());
  return { proxy, stats, upstreamSaw };
}

async function get(proxy: HarnessProxy, headers: Record<string, string> = {}) {
  const { host, port } = proxy.listenAddress;
  const response = await fetch(`http://${host}:${port}/`, { headers, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, wat: response.headers.get("x-wat"), body: await response.text() };
}

describe("HarnessProxy with a Wasm module", () => {
  it("forwards the module's header changes both ways and exports what it records on_log", async () => {
    const { proxy, stats, upstreamSaw } = await setUp(true);
    expect(await get(proxy)).toEqual({ status: 200, wat: "response", body: "ok" });
    expect(await get(proxy)).toEqual({ status: 200, wat: "response", body: "ok" });
    expect(upstreamSaw).toEqual(["request", "request"]);
    expect(stats.prometheusText()).toBe("# TYPE wat_requests_total counter\nwat_requests_total{} 2\n");
  });

  it("fails open after a trap: later streams skip the filter", async () => {
    const { proxy, upstreamSaw } = await setUp(true);
    // The trapping stream itself continues without the filter's changes.
    expect(await get(proxy, { "x-trap": "1" })).toEqual({ status: 200, wat: null, body: "ok" });
    expect(await get(proxy)).toEqual({ status: 200, wat: null, body: "ok" });
    expect(upstreamSaw).toEqual(["none", "none"]);
  });

  it("fails closed after a trap: 503 wasm_fail_stream without calling upstream", async () => {
    const { proxy, upstreamSaw } = await setUp(false);
    expect(await get(proxy, { "x-trap": "1" })).toEqual({ status: 503, wat: null, body: "" });
    expect(await get(proxy)).toEqual({ status: 503, wat: null, body: "" });
    expect(upstreamSaw).toEqual([]);
  });
});
