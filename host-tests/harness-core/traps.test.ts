// A trap fails the whole VM; its streams then pass (fail open) or get 503 wasm_fail_stream.

import { describe, expect, it } from "vitest";

import { Plugin } from "../harness/plugin.js";
import { LogLevel } from "../harness/types.js";
import { messages, ProxyModule } from "./wat.js";

/** Traps in on_request_headers when the request carries "x-trap"; logs "log <id>" in on_log. */
function trappingModule(trap: "unreachable" | "oob" | "abort"): Uint8Array {
  const module = new ProxyModule().use("env.proxy_get_header_map_value", "wasi_snapshot_preview1.proc_exit");
  const fault = {
    unreachable: "unreachable",
    oob: "(drop (i32.load (i32.const -4)))",
    // AssemblyScript's abort routed to proc_exit: Envoy returns from proc_exit, the module then traps.
    abort: "(call $proc_exit (i32.const 255)) unreachable",
  }[trap];
  return module.build(`
    (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
      (if (i32.eqz (call $proxy_get_header_map_value (i32.const 0) ${module.text("x-trap")} (i32.const 0x10) (i32.const 0x14)))
        (then ${fault}))
      (i32.const 0))
    (func (export "proxy_on_log") (param i32) (call $say ${module.text("log")}) (call $num (local.get 0)))`);
}

const trapRequest: Array<[string, string]> = [
  [":path", "/"],
  ["x-trap", "1"],
];

describe("traps", () => {
  it.each([
    ["unreachable", "Function: proxy_on_request_headers failed: Uncaught RuntimeError: unreachable"],
    ["oob", "Function: proxy_on_request_headers failed: Uncaught RuntimeError: memory access out of bounds"],
    ["abort", "Function: proxy_on_request_headers failed: Uncaught RuntimeError: unreachable"],
  ] as const)("fails the VM on %s and logs it at error level", async (trap, message) => {
    const plugin = await Plugin.load({ wasm: trappingModule(trap) });
    const stream = plugin.createStream();
    expect(stream.onRequestHeaders(trapRequest, true)).toEqual({ status: 0, headers: trapRequest });
    expect(plugin.failed).toBe(true);
    expect(plugin.logs.at(-1)).toEqual({ level: LogLevel.Error, message, vm: 0 });
    // A failed VM gets no more calls, not even on_log.
    const before = plugin.logs.length;
    stream.end();
    expect(plugin.logs.length).toBe(before);
  });

  it("fail open: later streams bypass the filter entirely", async () => {
    const plugin = await Plugin.load({ wasm: trappingModule("unreachable"), workers: 1, failOpen: true });
    plugin.createStream().onRequestHeaders(trapRequest, true);
    const before = plugin.logs.length;
    const next = plugin.createStream();
    expect(next.contextId).toBeUndefined();
    expect(next.onRequestHeaders([[":path", "/ok"]], true)).toEqual({
      status: 0,
      headers: [[":path", "/ok"]],
    });
    expect(next.onResponseHeaders([[":status", "200"]], true)).toEqual({
      status: 0,
      headers: [[":status", "200"]],
    });
    next.end();
    expect(plugin.logs.length).toBe(before);
  });

  it("fail closed: the trapping stream and later streams get 503 wasm_fail_stream once", async () => {
    const plugin = await Plugin.load({ wasm: trappingModule("unreachable"), workers: 1, failOpen: false });
    const failReply = {
      status: 503,
      details: "wasm_fail_stream",
      body: new Uint8Array(0),
      headers: [],
      grpcStatus: 14,
    };
    const first = plugin.createStream();
    expect(first.onRequestHeaders(trapRequest, true)).toEqual({
      status: 4,
      headers: trapRequest,
      localReply: failReply,
    });
    const next = plugin.createStream();
    expect(next.onRequestHeaders([[":path", "/ok"]], false)).toEqual({
      status: 4,
      headers: [[":path", "/ok"]],
      localReply: failReply,
    });
    // The reply is sent once; the encoder side then passes the 503 through without calling the VM.
    expect(next.onRequestBody(new Uint8Array([1]), true)).toEqual({ status: 3, body: new Uint8Array([1]) });
    expect(next.onResponseHeaders([[":status", "503"]], true)).toEqual({
      status: 0,
      headers: [[":status", "503"]],
    });
  });

  it("fails only the VM that trapped: other workers keep serving", async () => {
    const plugin = await Plugin.load({ wasm: trappingModule("unreachable"), workers: 2, failOpen: false });
    plugin.createStream().onRequestHeaders(trapRequest, true); // worker 0 traps
    const healthy = plugin.createStream(); // worker 1
    expect(healthy.onRequestHeaders([[":path", "/"]], true)).toEqual({
      status: 0,
      headers: [[":path", "/"]],
    });
    healthy.end();
    expect(messages(plugin.logs, 1).slice(-2)).toEqual(["log", String(healthy.contextId)]);
    const failed = plugin.createStream(); // worker 0 again
    expect(failed.onRequestHeaders([[":path", "/"]], true).localReply?.details).toBe("wasm_fail_stream");
  });

  it("treats a trap inside the allocator as a VM failure while the host call returns InvalidMemoryAccess", async () => {
    const trappingAlloc = new ProxyModule().use("env.proxy_get_property");
    const wasm = trappingAlloc.build(
      `(func (export "malloc") (param i32) (result i32) unreachable)
       (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
        (call $num (call $proxy_get_property ${trappingAlloc.text("plugin_root_id")} (i32.const 0x10) (i32.const 0x14)))
        (i32.const 0))`,
      { allocator: "none" },
    );
    const plugin = await Plugin.load({ wasm });
    plugin.createStream().onRequestHeaders([], true);
    expect(plugin.failed).toBe(true);
    expect(messages(plugin.logs, 0)).toEqual([
      "Function: malloc failed: Uncaught RuntimeError: unreachable",
      "6",
    ]);
  });
});
