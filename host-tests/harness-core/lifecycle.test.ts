// The order and arguments of every call into the module, configuration rejection, and when the
// plugin configuration can be read.

import { describe, expect, it } from "vitest";

import { AbiVersion } from "../harness/abi.js";
import { ManualClock } from "../harness/clock.js";
import { ConfigurationRejection, Plugin } from "../harness/plugin.js";
import { LogLevel } from "../harness/types.js";
import { messages, OUT_PTR, OUT_SIZE, ProxyModule } from "./wat.js";

/** A module whose every callback logs "<name> <args...>" and answers `results[name]` (default 1 / 0). */
function tracingModule(results: Record<string, number> = {}, abi = AbiVersion.V0_2_0): Uint8Array {
  const module = new ProxyModule(abi);
  const callbacks: Array<[string, number, boolean]> = [
    ["_initialize", 0, false],
    ["proxy_on_context_create", 2, false],
    ["proxy_on_vm_start", 2, true],
    ["proxy_on_configure", 2, true],
    ["proxy_on_request_headers", abi === AbiVersion.V0_1_0 ? 2 : 3, true],
    ["proxy_on_request_body", 3, true],
    ["proxy_on_request_trailers", 2, true],
    ["proxy_on_response_headers", abi === AbiVersion.V0_1_0 ? 2 : 3, true],
    ["proxy_on_response_body", 3, true],
    ["proxy_on_response_trailers", 2, true],
    ["proxy_on_log", 1, false],
    ["proxy_on_done", 1, true],
    ["proxy_on_delete", 1, false],
  ];
  const body = callbacks
    .map(([name, arity, returns]) => {
      const params = arity > 0 ? `(param ${"i32 ".repeat(arity).trim()})` : "";
      const logArgs = Array.from({ length: arity }, (_, i) => `(call $num (local.get ${i}))`).join(" ");
      const fallback =
        name === "proxy_on_vm_start" || name === "proxy_on_configure" || name === "proxy_on_done" ? 1 : 0;
      const result = returns ? `(result i32)` : "";
      const value = returns ? `(i32.const ${results[name] ?? fallback})` : "";
      return `(func (export "${name}") ${params} ${result}
        (call $say ${module.text(name)}) ${logArgs} ${value})`;
    })
    .join("\n");
  return module.build(body);
}

describe("lifecycle", () => {
  it("starts a base VM, configures a canary, then starts and configures each worker", async () => {
    const plugin = await Plugin.load({
      wasm: tracingModule(),
      pluginConfig: "{}",
      vmConfig: "vm",
      workers: 2,
    });
    expect(messages(plugin.logs, -2)).toEqual(["_initialize"]);
    const rootStart = ["_initialize", "proxy_on_context_create", "1", "0", "proxy_on_vm_start", "1", "2"];
    // The canary is dropped without on_done / on_delete.
    expect(messages(plugin.logs, -1)).toEqual([...rootStart, "proxy_on_configure", "1", "2"]);
    expect(messages(plugin.logs, 0)).toEqual([...rootStart, "proxy_on_configure", "1", "2"]);
    expect(messages(plugin.logs, 1)).toEqual([...rootStart, "proxy_on_configure", "1", "2"]);
  });

  it("runs a stream through context create, every callback, on_log, on_done and on_delete", async () => {
    const plugin = await Plugin.load({ wasm: tracingModule(), workers: 1 });
    const before = plugin.logs.length;
    const stream = plugin.createStream();
    expect(
      stream.onRequestHeaders(
        [
          [":path", "/"],
          [":method", "GET"],
        ],
        false,
      ),
    ).toEqual({
      status: 0,
      headers: [
        [":path", "/"],
        [":method", "GET"],
      ],
    });
    expect(stream.onRequestBody(new TextEncoder().encode("abc"), false).status).toBe(0);
    expect(stream.onRequestTrailers([["x-t", "1"]]).status).toBe(0);
    expect(stream.onResponseHeaders([[":status", "200"]], false).status).toBe(0);
    expect(stream.onResponseBody(new TextEncoder().encode("hello"), true).status).toBe(0);
    stream.end();
    expect(messages(plugin.logs.slice(before))).toEqual([
      ...["proxy_on_context_create", "2", "1"],
      ...["proxy_on_request_headers", "2", "2", "0"],
      ...["proxy_on_request_body", "2", "3", "0"],
      ...["proxy_on_request_trailers", "2", "1"],
      ...["proxy_on_response_headers", "2", "1", "0"],
      ...["proxy_on_response_body", "2", "5", "1"],
      ...["proxy_on_log", "2"],
      ...["proxy_on_done", "2"],
      ...["proxy_on_delete", "2"],
    ]);
    const second = plugin.createStream();
    second.onRequestHeaders([], true);
    expect(messages(plugin.logs).slice(-7)).toEqual([
      ...["proxy_on_context_create", "3", "1"],
      ...["proxy_on_request_headers", "3", "0", "1"],
    ]);
    plugin.close();
    expect(messages(plugin.logs).slice(-4)).toEqual(["proxy_on_done", "1", "proxy_on_delete", "1"]);
  });

  it("passes two header arguments to ABI 0.1.0 modules", async () => {
    const plugin = await Plugin.load({ wasm: tracingModule({}, AbiVersion.V0_1_0) });
    const before = plugin.logs.length;
    plugin.createStream().onRequestHeaders([["a", "1"]], true);
    expect(messages(plugin.logs.slice(before)).slice(3)).toEqual(["proxy_on_request_headers", "2", "1"]);
  });

  it("creates the stream context lazily and skips body callbacks before it exists", async () => {
    const plugin = await Plugin.load({ wasm: tracingModule(), workers: 1 });
    const before = plugin.logs.length;
    const stream = plugin.createStream();
    expect(stream.onRequestBody(new Uint8Array([1]), true)).toEqual({ status: 0, body: new Uint8Array([1]) });
    expect(plugin.logs.length).toBe(before);
    // A stream that ends before any callback still gets its context for on_log (Context::log).
    stream.end({ responseCode: 400 });
    expect(messages(plugin.logs.slice(before))).toEqual([
      ...["proxy_on_context_create", "2", "1"],
      ...["proxy_on_log", "2"],
      ...["proxy_on_done", "2"],
      ...["proxy_on_delete", "2"],
    ]);
  });

  it("converts callback statuses like proxy-wasm-cpp-host", async () => {
    const plugin = await Plugin.load({
      wasm: tracingModule({
        proxy_on_request_headers: 1,
        proxy_on_request_body: 1,
        proxy_on_request_trailers: 7,
        proxy_on_response_headers: 9,
        proxy_on_response_body: 9,
      }),
    });
    const stream = plugin.createStream();
    // StopIteration from headers is treated as StopAllIterationAndWatermark (4).
    expect(stream.onRequestHeaders([], false).status).toBe(4);
    expect(stream.onRequestBody(new Uint8Array([1]), false).status).toBe(1);
    expect(stream.onRequestTrailers([]).status).toBe(1);
    expect(stream.onResponseHeaders([[":status", "200"]], false).status).toBe(4);
    expect(stream.onResponseBody(new Uint8Array(0), true).status).toBe(3);
  });

  it("rejects a configuration when proxy_on_configure returns false, in the canary", async () => {
    const module = new ProxyModule();
    const wasm = module.build(`(func (export "proxy_on_configure") (param i32 i32) (result i32)
      (drop (call $proxy_log (i32.const 4) ${module.text("kwt: invalid configuration: x: bad; expected y")}))
      (i32.const 0))`);
    const plugin = await Plugin.load({ wasm, pluginConfig: '{"x":1}' });
    expect(plugin.configured).toBe(false);
    expect(plugin.rejection).toBeInstanceOf(ConfigurationRejection);
    expect(plugin.rejection?.message).toBe(
      "Failed to configure base Wasm plugin: proxy_on_configure returned false",
    );
    expect(plugin.rejection?.logs).toEqual([
      { level: LogLevel.Error, message: "kwt: invalid configuration: x: bad; expected y", vm: -1 },
      { level: LogLevel.Error, message: "Wasm VM failed Failed to configure base Wasm plugin", vm: -1 },
    ]);
    // No worker got a root for it.
    expect(plugin.rootContextIds).toEqual([]);
  });

  it("rejects when proxy_on_vm_start returns false", async () => {
    const plugin = await Plugin.load({ wasm: tracingModule({ proxy_on_vm_start: 0 }) });
    expect(plugin.rejection?.message).toBe("Failed to start base Wasm: proxy_on_vm_start returned false");
  });

  it("lets the plugin configuration be read only during on_configure (and the root's context create)", async () => {
    const module = new ProxyModule().use("env.proxy_get_buffer_status", "env.proxy_get_buffer_bytes");
    const readConfig = (type: number) => `(call $clear)
      (call $num (call $proxy_get_buffer_bytes (i32.const ${type}) (i32.const 0) (i32.const 100) (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
      (call $out)`;
    const wasm = module.build(`
      (func (export "proxy_on_context_create") (param i32 i32) ${readConfig(7)})
      (func (export "proxy_on_vm_start") (param i32 i32) (result i32) ${readConfig(7)} ${readConfig(6)} (i32.const 1))
      (func (export "proxy_on_configure") (param i32 i32) (result i32) ${readConfig(7)} (i32.const 1))
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) ${readConfig(7)} ${readConfig(6)} (i32.const 0))`);
    const plugin = await Plugin.load({ wasm, pluginConfig: "{}", vmConfig: "v" });
    const before = plugin.logs.length;
    plugin.createStream().onRequestHeaders([], true);
    // "{}" is 7b7d and "v" is 76; NotFound (1) leaves the out-pointers untouched.
    expect(messages(plugin.logs, 0).slice(0, 8)).toEqual([
      "0",
      "7b7d",
      "1",
      "untouched",
      "0",
      "76",
      "0",
      "7b7d",
    ]);
    // The stream's own on_context_create cannot read it either.
    expect(messages(plugin.logs.slice(before))).toEqual(["1", "untouched", "1", "untouched", "0", "76"]);
  });

  it("reads the configuration of ABI 0.1.0 through proxy_get_configuration", async () => {
    const module = new ProxyModule(AbiVersion.V0_1_0).use("env.proxy_get_configuration");
    const read = `(call $num (call $proxy_get_configuration (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE}))) (call $out)`;
    const wasm = module.build(`
      (func (export "proxy_on_configure") (param i32 i32) (result i32) ${read} (i32.const 1))
      (func (export "proxy_on_request_headers") (param i32 i32) (result i32) ${read} (i32.const 0))`);
    const plugin = await Plugin.load({ wasm, pluginConfig: "p", vmConfig: "v", clock: new ManualClock() });
    plugin.createStream().onRequestHeaders([], true);
    expect(messages(plugin.logs, 0)).toEqual(["0", "70", "0", "76"]);
  });

  it("counts the host calls each stream's callbacks make", async () => {
    const module = new ProxyModule().use("env.proxy_get_header_map_value");
    const wasm = module.build(`
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
        (drop (call $proxy_get_header_map_value (i32.const 0) ${module.text("a")} (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
        (drop (call $proxy_get_header_map_value (i32.const 0) ${module.text("b")} (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
        (i32.const 0))
      (func (export "proxy_on_log") (param i32) (call $num (i32.const 1)))`);
    const plugin = await Plugin.load({ wasm });
    const stream = plugin.createStream();
    const other = plugin.createStream();
    stream.onRequestHeaders([["a", "1"]], true);
    expect(stream.hostCalls).toBe(2);
    stream.end();
    // on_log's proxy_log counts too; the other stream made none.
    expect(stream.hostCalls).toBe(3);
    expect(other.hostCalls).toBe(0);
  });
});
