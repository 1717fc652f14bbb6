// How the VM starts, as proxy-wasm-cpp-host at Envoy 1.28's pin (5d76116) does it: which start
// functions run and are checked, which host calls are allowed meanwhile, and how a module that
// calls the host from its start section is refused.

import { describe, expect, it } from "vitest";

import { ModuleRefusedError, Plugin } from "../harness/plugin.js";
import { LogLevel } from "../harness/types.js";
import { messages, ProxyModule } from "./wat.js";

async function refusal(wasm: Uint8Array): Promise<string> {
  const error = await Plugin.load({ wasm }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ModuleRefusedError);
  return (error as Error).message;
}

describe("VM start", () => {
  it("calls _initialize then main(0, 0), and never __main_void", async () => {
    const module = new ProxyModule();
    const wasm = module.build(`
      (func (export "_initialize") (call $say ${module.text("_initialize")}))
      (func (export "main") (param i32 i32) (result i32) (call $say ${module.text("main")}) (i32.const 0))
      (func (export "__main_void") (result i32) (call $say ${module.text("__main_void")}) (i32.const 0))`);
    const plugin = await Plugin.load({ wasm, workers: 1 });
    expect(messages(plugin.logs, 0)).toEqual(["_initialize", "main"]);
  });

  it("calls _start only when there is no _initialize", async () => {
    const module = new ProxyModule();
    const wasm = module.build(`(func (export "_start") (call $say ${module.text("_start")}))`);
    const plugin = await Plugin.load({ wasm, workers: 1 });
    expect(messages(plugin.logs, 0)).toEqual(["_start"]);
  });

  it("does not check the signature of a start function it does not call", async () => {
    // A reactor: _start is not looked up, so its odd signature does not matter; nor does __main_void's.
    const module = new ProxyModule();
    const wasm = module.build(`
      (func (export "_initialize"))
      (func (export "_start") (param i32) (result i32) (local.get 0))
      (func (export "__main_void") (param i64))`);
    await expect(Plugin.load({ wasm })).resolves.toBeInstanceOf(Plugin);
    const command = new ProxyModule().build(`
      (func (export "_start"))
      (func (export "main") (param i64))`);
    await expect(Plugin.load({ wasm: command })).resolves.toBeInstanceOf(Plugin);
  });

  it("checks the signature of the start function it calls", async () => {
    const reactor = new ProxyModule().build(`
      (func (export "_initialize"))
      (func (export "main") (param i64))`);
    expect(await refusal(reactor)).toBe(
      "Bad function signature for: main, want: i32 i32 -> i32, but the module exports: i64 -> void",
    );
    const command = new ProxyModule().build(`(func (export "_start") (param i32))`);
    expect(await refusal(command)).toBe(
      "Bad function signature for: _start, want: void -> void, but the module exports: i32 -> void",
    );
  });

  it.each(["wasi_snapshot_preview1.fd_fdstat_get", "env.emscripten_notify_memory_growth"])(
    "refuses %s while the VM starts (allowed only by hosts newer than Envoy 1.28's)",
    async (key) => {
      const module = new ProxyModule().use(key);
      const name = key.split(".")[1] as string;
      const call =
        name === "fd_fdstat_get"
          ? `(drop (call $fd_fdstat_get (i32.const 1) (i32.const 0x200)))`
          : `(call $emscripten_notify_memory_growth (i32.const 0))`;
      const wasm = module.build(`(func (export "_initialize") ${call})`);
      expect(await refusal(wasm)).toBe(
        `Failed to initialize Wasm code: Function: _initialize failed: restricted_callback: ${key} may ` +
          "not be called here (allowed while the VM starts: proxy_log, WASI fd_write, args/environ, " +
          "prestat, clocks and random_get)",
      );
    },
  );

  it("allows the same calls once the VM runs", async () => {
    const module = new ProxyModule().use("wasi_snapshot_preview1.fd_fdstat_get");
    const wasm = module.build(`(func (export "proxy_on_vm_start") (param i32 i32) (result i32)
      (call $num (call $fd_fdstat_get (i32.const 1) (i32.const 0x200))) (i32.const 1))`);
    const plugin = await Plugin.load({ wasm, workers: 1 });
    expect(messages(plugin.logs, 0)).toEqual(["0"]);
  });

  it("refuses a host call outside the restricted set while the VM starts, naming the call", async () => {
    const module = new ProxyModule().use("env.proxy_get_property");
    const wasm = module.build(`(func (export "_initialize")
      (drop (call $proxy_get_property ${module.text("plugin_root_id")} (i32.const 16) (i32.const 20))))`);
    expect(await refusal(wasm)).toBe(
      "Failed to initialize Wasm code: Function: _initialize failed: restricted_callback: " +
        "env.proxy_get_property may not be called here (allowed while the VM starts: proxy_log, WASI fd_write, " +
        "args/environ, prestat, clocks and random_get)",
    );
  });

  it.each([
    ["env.proxy_log", `(drop (call $proxy_log (i32.const 2) (i32.const 0) (i32.const 0)))`],
    [
      "env.proxy_define_metric",
      `(drop (call $proxy_define_metric (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))`,
    ],
  ])("refuses a start section that calls %s: the host has no VM yet", async (key, call) => {
    const module = new ProxyModule().use(key);
    const wasm = module.build(`(func $boot ${call}) (start $boot)`);
    expect(await refusal(wasm)).toBe(`Failed to create new Wasm instance: the start section called ${key}`);
  });

  it("refuses a start section that traps", async () => {
    const wasm = new ProxyModule().build(`(func $boot unreachable) (start $boot)`);
    expect(await refusal(wasm)).toBe("Failed to create new Wasm instance: unreachable");
  });

  it("logs a VM that failed to configure as 'Wasm VM failed <reason>' at error level, nothing added", async () => {
    const wasm = new ProxyModule().build(`(func (export "proxy_on_configure") (param i32 i32) (result i32)
      (i32.const 0))`);
    const plugin = await Plugin.load({ wasm, pluginConfig: "{}" });
    const logs = plugin.logs;
    expect(logs).toContainEqual({
      level: LogLevel.Error,
      message: "Wasm VM failed Failed to configure base Wasm plugin",
      vm: -1,
    });
  });
});
