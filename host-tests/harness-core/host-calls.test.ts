// Logging, time, WASI, metrics, shared data and queues, effective context.

import { describe, expect, it } from "vitest";

import { AbiVersion } from "../harness/abi.js";
import { ManualClock } from "../harness/clock.js";
import { Plugin } from "../harness/plugin.js";
import { LogLevel } from "../harness/types.js";
import { messages, OUT_PTR, OUT_SIZE, ProxyModule } from "./wat.js";

function onConfigure(body: string): string {
  return `(func (export "proxy_on_configure") (param i32 i32) (result i32) ${body} (i32.const 1))`;
}

async function configureLogs(
  module: ProxyModule,
  body: string,
  options: { env?: Record<string, string>; logLevel?: LogLevel } = {},
) {
  const plugin = await Plugin.load({
    wasm: module.build(onConfigure(body)),
    clock: new ManualClock(1_700_000_000_000),
    ...options,
  });
  return { plugin, logs: messages(plugin.logs, 0) };
}

describe("logging", () => {
  it("records proxy_log levels and rejects levels above critical", async () => {
    const module = new ProxyModule();
    const { plugin } = await configureLogs(
      module,
      [0, 1, 3, 4, 5]
        .map((level) => `(drop (call $proxy_log (i32.const ${level}) ${module.text(`level ${level}`)}))`)
        .join("\n") + `(call $num (call $proxy_log (i32.const 6) ${module.text("too high")}))`,
      { logLevel: LogLevel.Trace },
    );
    expect(plugin.logs.filter((l) => l.vm === 0)).toEqual([
      { level: LogLevel.Trace, message: "level 0", vm: 0 },
      { level: LogLevel.Debug, message: "level 1", vm: 0 },
      { level: LogLevel.Warn, message: "level 3", vm: 0 },
      { level: LogLevel.Error, message: "level 4", vm: 0 },
      { level: LogLevel.Critical, message: "level 5", vm: 0 },
      { level: LogLevel.Info, message: "2", vm: 0 },
    ]);
  });

  it("drops messages below the configured level (Info by default), as Envoy's logger does", async () => {
    const module = new ProxyModule();
    const { plugin } = await configureLogs(
      module,
      [0, 1, 2, 3]
        .map((level) => `(drop (call $proxy_log (i32.const ${level}) ${module.text(`level ${level}`)}))`)
        .join("\n"),
    );
    expect(plugin.logs.filter((l) => l.vm === 0)).toEqual([
      { level: LogLevel.Info, message: "level 2", vm: 0 },
      { level: LogLevel.Warn, message: "level 3", vm: 0 },
    ]);
  });

  it("turns stdout into info and stderr into error lines, dropping one trailing newline", async () => {
    const module = new ProxyModule().use("wasi_snapshot_preview1.fd_write");
    const out = module.data("to stdout\n");
    const err = module.data("to stderr");
    const write = (fd: number, text: { ptr: number; len: number }) => `
      (i32.store (i32.const 0x200) (i32.const ${text.ptr})) (i32.store (i32.const 0x204) (i32.const ${text.len}))
      (call $num (call $fd_write (i32.const ${fd}) (i32.const 0x200) (i32.const 1) (i32.const 0x208)))
      (call $num (i32.load (i32.const 0x208)))`;
    const { plugin } = await configureLogs(
      module,
      `${write(1, out)} ${write(2, err)} (call $num (call $fd_write (i32.const 3) (i32.const 0x200) (i32.const 1) (i32.const 0x208)))`,
    );
    expect(plugin.logs.filter((l) => l.vm === 0)).toEqual([
      { level: LogLevel.Info, message: "to stdout", vm: 0 },
      { level: LogLevel.Info, message: "0", vm: 0 },
      { level: LogLevel.Info, message: "10", vm: 0 },
      { level: LogLevel.Error, message: "to stderr", vm: 0 },
      { level: LogLevel.Info, message: "0", vm: 0 },
      { level: LogLevel.Info, message: "9", vm: 0 },
      { level: LogLevel.Info, message: "8", vm: 0 },
    ]);
  });

  it("answers the log level for ABI 0.2.1", async () => {
    const module = new ProxyModule(AbiVersion.V0_2_1).use("env.proxy_get_log_level");
    const { logs } = await configureLogs(
      module,
      `(call $num (call $proxy_get_log_level (i32.const ${OUT_PTR}))) (call $num (i32.load (i32.const ${OUT_PTR})))`,
    );
    expect(logs).toEqual(["0", "2"]);
  });
});

describe("time and WASI", () => {
  it("reads wall-clock and monotonic time from the plugin clock", async () => {
    const module = new ProxyModule().use(
      "env.proxy_get_current_time_nanoseconds",
      "wasi_snapshot_preview1.clock_time_get",
    );
    const { logs } = await configureLogs(
      module,
      `(call $num (call $proxy_get_current_time_nanoseconds (i32.const 0x300))) (call $hex (i32.const 0x300) (i32.const 8))
       (call $num (call $clock_time_get (i32.const 0) (i64.const 0) (i32.const 0x300))) (call $hex (i32.const 0x300) (i32.const 8))
       (call $num (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 0x300))) (call $hex (i32.const 0x300) (i32.const 8))
       (call $num (call $clock_time_get (i32.const 2) (i64.const 0) (i32.const 0x300)))`,
    );
    expect(logs).toEqual(["0", "00002a36fe9c9717", "0", "00002a36fe9c9717", "0", "0000000000000000", "58"]);
  });

  it("fills random_get up to 64 KiB and answers EINVAL above", async () => {
    const module = new ProxyModule().use("wasi_snapshot_preview1.random_get");
    const { logs } = await configureLogs(
      module,
      `(call $num (call $random_get (i32.const 0x30000) (i32.const 65536)))
       (call $num (call $random_get (i32.const 0x30000) (i32.const 65537)))
       (call $num (call $random_get (i32.const 0x30000) (i32.const 0)))`,
    );
    expect(logs).toEqual(["0", "28", "0"]);
  });

  it("exposes the VM environment and no arguments", async () => {
    const module = new ProxyModule().use(
      "wasi_snapshot_preview1.environ_sizes_get",
      "wasi_snapshot_preview1.environ_get",
      "wasi_snapshot_preview1.args_sizes_get",
    );
    const { logs } = await configureLogs(
      module,
      `(call $num (call $environ_sizes_get (i32.const 0x300) (i32.const 0x304)))
       (call $num (i32.load (i32.const 0x300))) (call $num (i32.load (i32.const 0x304)))
       (call $num (call $environ_get (i32.const 0x310) (i32.const 0x400)))
       (call $hex (i32.const 0x400) (i32.load (i32.const 0x304)))
       (call $num (i32.sub (i32.load (i32.const 0x314)) (i32.load (i32.const 0x310))))
       (call $num (call $args_sizes_get (i32.const 0x300) (i32.const 0x304)))
       (call $num (i32.load (i32.const 0x300)))`,
      { env: { A: "1", BB: "xy" } },
    );
    expect(logs).toEqual(["0", "2", "10", "0", Buffer.from("A=1\0BB=xy\0").toString("hex"), "4", "0", "0"]);
  });

  it("only logs proc_exit and lets the module run on", async () => {
    const module = new ProxyModule().use("wasi_snapshot_preview1.proc_exit");
    const { plugin } = await configureLogs(
      module,
      `(call $proc_exit (i32.const 255)) (call $num (i32.const 7))`,
      { logLevel: LogLevel.Trace },
    );
    expect(plugin.logs.filter((l) => l.vm === 0)).toEqual([
      { level: LogLevel.Trace, message: "wasi_unstable proc_exit", vm: 0 },
      { level: LogLevel.Info, message: "7", vm: 0 },
    ]);
  });
});

describe("metrics", () => {
  const metricCalls = [
    "env.proxy_define_metric",
    "env.proxy_increment_metric",
    "env.proxy_record_metric",
    "env.proxy_get_metric",
  ];

  it("hands out ids per type, updates the shared store, and aggregates across workers", async () => {
    const module = new ProxyModule().use(...metricCalls);
    const define = (type: number, name: string) =>
      `(call $num (call $proxy_define_metric (i32.const ${type}) ${module.text(name)} (i32.const ${OUT_PTR}))) (call $num (i32.load (i32.const ${OUT_PTR})))`;
    const wasm = module.build(
      onConfigure(`${define(0, "requests")} ${define(0, "requests")} ${define(1, "inflight")} ${define(2, "latency")} ${define(3, "bad")}
        (call $num (call $proxy_increment_metric (i32.const 4) (i64.const 2)))
        (call $num (call $proxy_increment_metric (i32.const 8) (i64.const 0)))
        (call $num (call $proxy_increment_metric (i32.const 5) (i64.const -1)))
        (call $num (call $proxy_increment_metric (i32.const 6) (i64.const 1)))
        (call $num (call $proxy_record_metric (i32.const 6) (i64.const 12)))
        (call $num (call $proxy_get_metric (i32.const 8) (i32.const 0x300))) (call $hex (i32.const 0x300) (i32.const 8))
        (call $num (call $proxy_get_metric (i32.const 6) (i32.const 0x300)))
        (call $num (call $proxy_get_metric (i32.const 12) (i32.const 0x300)))`),
    );
    const plugin = await Plugin.load({ wasm, workers: 2 });
    expect(messages(plugin.logs, 1)).toEqual([
      // Type 3 is BadArgument and leaves the id slot as it was (6).
      ...["0", "4", "0", "8", "0", "5", "0", "6", "2", "6"],
      ...["0", "2", "0", "2", "0"],
      // Each VM sees the shared counter: canary 2 + worker 0 2 + this worker 2.
      ...["0", "0600000000000000", "2", "1"],
    ]);
    expect(plugin.stats.counterValue("wasmcustom.requests")).toBe(6n);
    expect(plugin.stats.gaugeValue("wasmcustom.inflight")).toBe(BigInt.asUintN(64, -3n));
    expect(plugin.stats.histogramSummary("wasmcustom.latency")?.count).toBe(3n);
  });
});

describe("shared data and queues", () => {
  it("compares and swaps shared data across workers", async () => {
    const module = new ProxyModule().use("env.proxy_get_shared_data", "env.proxy_set_shared_data");
    const get = `(call $clear) (call $num (call $proxy_get_shared_data ${module.text("k")} (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE}) (i32.const 0x300)))
      (call $out) (call $num (i32.load (i32.const 0x300)))`;
    const set = (value: string, cas: number) =>
      `(call $num (call $proxy_set_shared_data ${module.text("k")} ${module.text(value)} (i32.const ${cas})))`;
    const wasm = module.build(`
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
        (i32.store (i32.const 0x300) (i32.const 0))
        ${get} ${set("a", 0)} ${get} ${set("b", 5)} ${set("b", 1)} ${get} (i32.const 0))
      (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32) ${get} (i32.const 0))`);
    const plugin = await Plugin.load({ wasm, workers: 2 });
    const first = plugin.createStream();
    const before = plugin.logs.length;
    first.onRequestHeaders([], true);
    expect(messages(plugin.logs.slice(before))).toEqual([
      ...["1", "untouched", "0"],
      ...["0", "0", "61", "1"],
      ...["8", "0", "0", "62", "2"],
    ]);
    const second = plugin.createStream();
    const mark = plugin.logs.length;
    second.onResponseHeaders([[":status", "200"]], true);
    expect(plugin.logs.slice(mark)).toEqual([]);
    second.onRequestHeaders([], true);
    // The other worker sees the same store (the set with cas 0 always writes).
    expect(messages(plugin.logs.slice(mark)).slice(0, 3)).toEqual(["0", "62", "2"]);
  });

  it("delivers on_queue_ready to the registering VM after an enqueue", async () => {
    const module = new ProxyModule().use(
      "env.proxy_register_shared_queue",
      "env.proxy_resolve_shared_queue",
      "env.proxy_enqueue_shared_queue",
      "env.proxy_dequeue_shared_queue",
    );
    const wasm = module.build(`
      ${onConfigure(`(call $num (call $proxy_register_shared_queue ${module.text("q")} (i32.const 0x300))) (call $num (i32.load (i32.const 0x300)))`)}
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
        (call $num (call $proxy_resolve_shared_queue ${module.text("")} ${module.text("missing")} (i32.const 0x304)))
        (call $num (call $proxy_resolve_shared_queue ${module.text("")} ${module.text("q")} (i32.const 0x304)))
        (call $num (call $proxy_enqueue_shared_queue (i32.load (i32.const 0x304)) ${module.text("item")}))
        (i32.const 0))
      (func (export "proxy_on_queue_ready") (param i32 i32)
        (call $num (local.get 0)) (call $num (local.get 1))
        (call $num (call $proxy_dequeue_shared_queue (local.get 1) (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE}))) (call $out)
        (call $num (call $proxy_dequeue_shared_queue (local.get 1) (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE}))))`);
    const plugin = await Plugin.load({ wasm });
    const before = plugin.logs.length;
    plugin.createStream().onRequestHeaders([], true);
    await plugin.idle();
    // Canary and worker registered the same queue: one token; the worker's root gets the call.
    expect(messages(plugin.logs, 0).slice(0, 2)).toEqual(["0", "1"]);
    expect(messages(plugin.logs.slice(before))).toEqual(["1", "0", "0", "1", "1", "0", hex("item"), "7"]);
  });
});

describe("effective context", () => {
  it("lets a root callback act as a live stream and refuses unknown contexts", async () => {
    const module = new ProxyModule().use("env.proxy_set_effective_context", "env.proxy_get_header_map_value");
    const wasm = module.build(`
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
        (call $num (call $proxy_set_effective_context (i32.const 99)))
        (call $num (call $proxy_set_effective_context (i32.const 1)))
        (call $num (call $proxy_get_header_map_value (i32.const 0) ${module.text("a")} (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
        (call $num (call $proxy_set_effective_context (local.get 0)))
        (call $num (call $proxy_get_header_map_value (i32.const 0) ${module.text("a")} (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
        (call $out) (i32.const 0))`);
    const plugin = await Plugin.load({ wasm });
    const before = plugin.logs.length;
    plugin.createStream().onRequestHeaders([["a", "x"]], true);
    // As the root context (1) the request map is not available (BadArgument).
    expect(messages(plugin.logs.slice(before))).toEqual(["2", "0", "2", "0", "0", "78"]);
  });
});

function hex(text: string): string {
  return Buffer.from(text).toString("hex");
}
