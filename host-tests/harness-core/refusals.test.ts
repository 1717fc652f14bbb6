// Every way Envoy refuses a module, each with a message that names the cause.

import { describe, expect, it } from "vitest";

import { AbiVersion } from "../harness/abi.js";
import { ModuleRefusedError, Plugin } from "../harness/plugin.js";
import { compileWat, messages, ProxyModule } from "./wat.js";

async function refusal(wasm: Uint8Array): Promise<string> {
  try {
    await Plugin.load({ wasm });
  } catch (error) {
    expect(error).toBeInstanceOf(ModuleRefusedError);
    return (error as Error).message;
  }
  throw new Error("expected the module to be refused");
}

describe("module refusals", () => {
  it("refuses a module without an ABI version export", async () => {
    const wasm = compileWat(`(module (memory (export "memory") 1)
      (func (export "malloc") (param i32) (result i32) (i32.const 0)))`);
    expect(await refusal(wasm)).toBe(
      "Missing or unknown Proxy-Wasm ABI version: the module exports none of " +
        "proxy_abi_version_0_1_0, proxy_abi_version_0_2_0, proxy_abi_version_0_2_1",
    );
  });

  it("refuses an unknown ABI version", async () => {
    const wasm = compileWat(`(module (memory (export "memory") 1)
      (func (export "proxy_abi_version_0_3_0"))
      (func (export "malloc") (param i32) (result i32) (i32.const 0)))`);
    expect(await refusal(wasm)).toMatch(/^Missing or unknown Proxy-Wasm ABI version/);
  });

  it("refuses bytes that are not a module", async () => {
    expect(await refusal(new Uint8Array([0, 0x61, 0x73, 0x6d, 2, 0, 0, 0]))).toBe(
      "Failed to parse corrupted Wasm module: unsupported Wasm binary version (expected 1)",
    );
  });

  it("refuses a module without an allocator and accepts proxy_on_memory_allocate", async () => {
    expect(await refusal(new ProxyModule().build("", { allocator: "none" }))).toBe(
      "Wasm module is missing malloc function: export `malloc` or `proxy_on_memory_allocate` (i32) -> i32",
    );
    const plugin = await Plugin.load({
      wasm: new ProxyModule().build("", { allocator: "proxy_on_memory_allocate" }),
    });
    expect(plugin.failed).toBe(false);
  });

  it.each([
    ["env", "seed", "(result f64)", "Math.random"],
    ["env", "abort", "(param i32 i32 i32 i32)", "AssemblyScript's default abort"],
    ["env", "trace", "(param i32 i32 f64 f64 f64 f64 f64)", "trace()"],
    ["env", "Date.now", "(result f64)", "Date.now"],
    ["env", "console.log", "(param i32)", "console"],
  ])("refuses env.%s (%s) with a message naming the import", async (module, name, signature) => {
    const wasm = new ProxyModule().rawImport(`(import "${module}" "${name}" (func ${signature}))`).build("");
    expect(await refusal(wasm)).toBe(
      `Failed to load Wasm module due to a missing import: ${module}.${name} (Envoy does not provide it)`,
    );
  });

  it("refuses proxy_continue_request in a 0.2.0 module", async () => {
    const wasm = new ProxyModule(AbiVersion.V0_2_0)
      .rawImport(`(import "env" "proxy_continue_request" (func (result i32)))`)
      .build("");
    expect(await refusal(wasm)).toBe(
      "Failed to load Wasm module due to a missing import: env.proxy_continue_request " +
        "(registered only for ABI 0.1.0; this module exports ABI 0.2.0)",
    );
  });

  it("links each ABI-specific import only for its own version", async () => {
    const continueStream = `(import "env" "proxy_continue_stream" (func (param i32) (result i32)))`;
    expect(await refusal(new ProxyModule(AbiVersion.V0_1_0).rawImport(continueStream).build(""))).toMatch(
      /missing import: env.proxy_continue_stream \(registered only for ABI 0.2.0; this module exports ABI 0.1.0\)$/,
    );
    const logLevel = `(import "env" "proxy_get_log_level" (func (param i32) (result i32)))`;
    expect(await refusal(new ProxyModule(AbiVersion.V0_2_0).rawImport(logLevel).build(""))).toMatch(
      /missing import: env.proxy_get_log_level \(registered only for ABI 0.2.1; this module exports ABI 0.2.0\)$/,
    );
    const accepted = await Plugin.load({
      wasm: new ProxyModule(AbiVersion.V0_2_1).rawImport(logLevel).build(""),
    });
    expect(accepted.abi).toBe(AbiVersion.V0_2_1);
    const legacy = `(import "env" "proxy_continue_request" (func (result i32)))`;
    expect(
      (await Plugin.load({ wasm: new ProxyModule(AbiVersion.V0_1_0).rawImport(legacy).build("") })).abi,
    ).toBe(AbiVersion.V0_1_0);
  });

  it("refuses WASI calls that Envoy 1.28-1.32 do not register", async () => {
    for (const name of ["poll_oneoff", "sched_yield", "clock_res_get"]) {
      const wasm = new ProxyModule()
        .rawImport(`(import "wasi_snapshot_preview1" "${name}" (func))`)
        .build("");
      expect(await refusal(wasm)).toBe(
        `Failed to load Wasm module due to a missing import: wasi_snapshot_preview1.${name} (Envoy does not provide it)`,
      );
    }
  });

  it("accepts the WASI calls Envoy registers under both module names", async () => {
    const wasm = new ProxyModule()
      .use("wasi_unstable.fd_write", "wasi_snapshot_preview1.random_get", "wasi_snapshot_preview1.proc_exit")
      .build("");
    expect((await Plugin.load({ wasm })).failed).toBe(false);
  });

  it("refuses an import whose signature differs from the host's", async () => {
    const wasm = compileWat(`(module
      (import "env" "proxy_log" (func (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "proxy_abi_version_0_2_0"))
      (func (export "malloc") (param i32) (result i32) (i32.const 0)))`);
    expect(await refusal(wasm)).toBe(
      "Failed to load Wasm module due to an import type mismatch: env.proxy_log, " +
        "want: i32 i32 -> i32, but host exports: i32 i32 i32 -> i32",
    );
  });

  it("refuses a global import", async () => {
    const wasm = new ProxyModule().rawImport(`(import "env" "__stack_pointer" (global i32))`).build("");
    expect(await refusal(wasm)).toBe(
      "Failed to load Wasm module due to a missing import: env.__stack_pointer (Envoy does not provide global imports)",
    );
  });

  it("refuses a callback exported with the wrong signature", async () => {
    const wasm = new ProxyModule().build(
      `(func (export "proxy_on_configure") (param i32) (result i32) (i32.const 1))`,
    );
    expect(await refusal(wasm)).toBe(
      "Bad function signature for: proxy_on_configure, want: i32 i32 -> i32, but the module exports: i32 -> i32",
    );
  });

  it("refuses a module whose initial memory exceeds 1 GiB", async () => {
    const wasm = compileWat(`(module (memory (export "memory") 16385)
      (func (export "proxy_abi_version_0_2_0"))
      (func (export "malloc") (param i32) (result i32) (i32.const 0)))`);
    expect(await refusal(wasm)).toBe(
      "Failed to load Wasm bytecode: initial memory size (16385 pages) is larger than the limit Envoy sets (16384 pages = 1 GiB)",
    );
  });

  it("caps memory growth at 1 GiB", async () => {
    const wasm = new ProxyModule().build(`(func (export "_initialize")
      (call $num (memory.grow (i32.const 16384)))
      (call $num (memory.size)))`);
    const plugin = await Plugin.load({ wasm });
    // memory.grow answers -1 (u32 4294967295): 64 + 16384 pages would exceed the cap.
    expect(messages(plugin.logs, 0)).toEqual(["4294967295", "64"]);
  });

  it("allows logging, stdout, clocks and randomness while the VM starts", async () => {
    const module = new ProxyModule().use(
      "wasi_snapshot_preview1.fd_write",
      "wasi_snapshot_preview1.clock_time_get",
      "wasi_snapshot_preview1.random_get",
    );
    const hello = module.data("hello from _initialize\n");
    const wasm = module.build(`(func (export "_initialize")
      (i32.store (i32.const 0x200) (i32.const ${hello.ptr}))
      (i32.store (i32.const 0x204) (i32.const ${hello.len}))
      (call $num (call $fd_write (i32.const 1) (i32.const 0x200) (i32.const 1) (i32.const 0x208)))
      (call $num (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 0x210)))
      (call $num (call $random_get (i32.const 0x220) (i32.const 16))))`);
    const plugin = await Plugin.load({ wasm });
    expect(messages(plugin.logs, 0)).toEqual(["hello from _initialize", "0", "0", "0"]);
  });

  it("refuses a module that traps while starting", async () => {
    const wasm = new ProxyModule().build(`(func (export "_initialize") unreachable)`);
    expect(await refusal(wasm)).toBe(
      "Failed to initialize Wasm code: Function: _initialize failed: Uncaught RuntimeError: unreachable",
    );
  });
});
