// Histograms merged at Envoy's stats flush (statsFlushIntervalMs; Istio flushes every 5 s): a
// sample recorded by the module shows at /stats/prometheus only after the next flush, while
// counters stay live. Driven by a hand-written module on the manual clock.

import { describe, expect, it } from "vitest";

import { ManualClock } from "../harness/clock.js";
import { Plugin } from "../harness/plugin.js";
import { ProxyModule } from "./wat.js";

const COUNTER_ID_AT = 0x20;
const HISTOGRAM_ID_AT = 0x24;

/** Counts each stream and records 7 ms in a histogram in on_log; with a tick period, also on each tick. */
function recordingModule(tickPeriodMs = 0): Uint8Array {
  const module = new ProxyModule().use(
    "env.proxy_define_metric",
    "env.proxy_increment_metric",
    "env.proxy_record_metric",
    "env.proxy_set_tick_period_milliseconds",
  );
  return module.build(`
  (func (export "proxy_on_configure") (param i32 i32) (result i32)
    (drop (call $proxy_define_metric (i32.const 0) ${module.text("wat_streams_total")} (i32.const ${COUNTER_ID_AT})))
    (drop (call $proxy_define_metric (i32.const 2) ${module.text("wat_latency_ms")} (i32.const ${HISTOGRAM_ID_AT})))
    (drop (call $proxy_set_tick_period_milliseconds (i32.const ${tickPeriodMs})))
    (i32.const 1))
  (func (export "proxy_on_tick") (param i32)
    (drop (call $proxy_record_metric (i32.load (i32.const ${HISTOGRAM_ID_AT})) (i64.const 7))))
  (func (export "proxy_on_log") (param i32)
    (drop (call $proxy_increment_metric (i32.load (i32.const ${COUNTER_ID_AT})) (i64.const 1)))
    (drop (call $proxy_record_metric (i32.load (i32.const ${HISTOGRAM_ID_AT})) (i64.const 7))))`);
}

function runStreams(plugin: Plugin, count: number): void {
  for (let i = 0; i < count; i++) {
    const stream = plugin.createStream();
    stream.onRequestHeaders([[":path", "/"]], true);
    stream.end({ responseCode: 200 });
  }
}

const samples = (plugin: Plugin): bigint | undefined =>
  plugin.stats.histogramSummary("wasmcustom.wat_latency_ms")?.count;
const streams = (plugin: Plugin): bigint | undefined =>
  plugin.stats.counterValue("wasmcustom.wat_streams_total");

describe("stats flush interval", () => {
  it("shows histogram samples only after the flush that merges them; counters are live", async () => {
    const plugin = await Plugin.load({
      wasm: recordingModule(),
      clock: new ManualClock(),
      statsFlushIntervalMs: 5_000,
      workers: 2,
    });
    runStreams(plugin, 3);
    expect(streams(plugin)).toBe(3n);
    expect(samples(plugin)).toBe(0n);
    expect(plugin.stats.prometheusText()).toContain("wat_latency_ms_count{} 0\n");
    plugin.advance(4_999);
    expect(samples(plugin)).toBe(0n);
    plugin.advance(1);
    expect(samples(plugin)).toBe(3n);
    expect(plugin.stats.prometheusText()).toContain("wat_latency_ms_count{} 3\n");

    runStreams(plugin, 1);
    plugin.advance(4_000);
    expect(samples(plugin)).toBe(3n);
    plugin.advance(1_000);
    expect(samples(plugin)).toBe(4n);
    // Nothing new: later flushes change nothing.
    plugin.advance(20_000);
    expect(samples(plugin)).toBe(4n);
    plugin.close();
  });

  it("a tick due with the flush records before the merge", async () => {
    const plugin = await Plugin.load({
      wasm: recordingModule(5_000),
      clock: new ManualClock(),
      statsFlushIntervalMs: 5_000,
      // One worker VM, so one root ticks: a sample per tick.
      workers: 1,
    });
    plugin.advance(5_000);
    expect(samples(plugin)).toBe(1n);
    plugin.advance(12_000);
    // Ticks at 10 s and 15 s; flushes at 10 s and 15 s merged both.
    expect(samples(plugin)).toBe(3n);
    plugin.close();
  });

  it("without the option every sample shows at once, as before", async () => {
    const plugin = await Plugin.load({ wasm: recordingModule(), clock: new ManualClock() });
    runStreams(plugin, 2);
    expect(samples(plugin)).toBe(2n);
    plugin.close();
  });

  it("refuses an interval that is not a whole number of milliseconds", async () => {
    await expect(Plugin.load({ wasm: recordingModule(), statsFlushIntervalMs: 0 })).rejects.toThrow(
      "statsFlushIntervalMs: 0 is not an interval; expected an integer >= 1 (ms)",
    );
  });
});
