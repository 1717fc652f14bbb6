// A trap in the module fails its VM; with FAIL_OPEN (the only sane strategy for telemetry) traffic
// keeps flowing without the filter. The trap is injected into the real module: its proxy_on_log
// export is pointed at a function that executes `unreachable`.

import wabtInit from "wabt";
import { describe, expect, it } from "vitest";

import { Plugin } from "../harness/plugin.js";
import { FILTER_WASM, REQUEST, header, proxyOptions } from "./setup.js";

const wabt = await wabtInit();
const FEATURES = { bulk_memory: true, mutable_globals: true, sign_extension: true, sat_float_to_int: true };

/** build/filter.wasm with proxy_on_log replaced by a function that traps. */
function trappingFilter(): Uint8Array {
  const parsed = wabt.readWasm(FILTER_WASM, { readDebugNames: false, ...FEATURES });
  let text: string;
  try {
    text = parsed.toText({});
  } finally {
    parsed.destroy();
  }
  const exportLine = /\(export "proxy_on_log" \(func \d+\)\)/;
  if (!exportLine.test(text)) throw new Error("test bug: proxy_on_log export not found");
  text = text.replace(exportLine, '(export "proxy_on_log" (func $kwt_test_trap))');
  text = text.replace(/\)\s*$/, "\n  (func $kwt_test_trap (param i32) unreachable))\n");
  const module = wabt.parseWat("filter-trap.wat", text, FEATURES);
  try {
    module.resolveNames();
    module.validate();
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

async function loadTrapping(failOpen: boolean): Promise<Plugin> {
  return Plugin.load({
    ...proxyOptions({ layout: "xds", position: "gateway" }),
    wasm: trappingFilter(),
    failOpen,
  });
}

describe("a trap in the module", () => {
  it("never stops traffic under fail-open: later streams pass without the filter", async () => {
    const plugin = await loadTrapping(true);
    const first = plugin.createStream();
    const stamped = first.onRequestHeaders(REQUEST, true);
    expect(stamped.status).toBe(0);
    expect(header(stamped.headers, "x-kwt-entry")).toBeDefined();
    first.onResponseHeaders([[":status", "200"]], true);
    first.end();
    expect(plugin.failed).toBe(true);
    expect(plugin.logs.some((record) => record.message.includes("unreachable"))).toBe(true);

    // The trap failed only the first worker's VM; the second still runs the filter (and traps in
    // its own on_log), then both pass traffic without it.
    const onSecondWorker = plugin.createStream();
    expect(header(onSecondWorker.onRequestHeaders(REQUEST, true).headers, "x-kwt-entry")).toBeDefined();
    onSecondWorker.end();
    for (let i = 0; i < plugin.workerCount; i++) {
      const next = plugin.createStream();
      const passed = next.onRequestHeaders(REQUEST, true);
      expect(passed).toEqual({ status: 0, headers: REQUEST });
      expect(next.onResponseHeaders([[":status", "200"]], true).status).toBe(0);
      next.end();
    }
  });

  it("answers 503 under fail-closed (Istio's default, which is why the README asks for FAIL_OPEN)", async () => {
    const plugin = await loadTrapping(false);
    const first = plugin.createStream();
    first.onRequestHeaders(REQUEST, true);
    first.end();
    // The second worker's VM is still healthy until its own on_log traps.
    const onSecondWorker = plugin.createStream();
    expect(onSecondWorker.onRequestHeaders(REQUEST, true).localReply).toBeUndefined();
    onSecondWorker.end();
    for (let i = 0; i < plugin.workerCount; i++) {
      const outcome = plugin.createStream().onRequestHeaders(REQUEST, true);
      expect(outcome.localReply?.status).toBe(503);
      expect(outcome.localReply?.details).toBe("wasm_fail_stream");
    }
  });
});
