// One VM per worker hosts the root context of every plugin with the same VM (vm_id, VM
// configuration, code), as proxy-wasm-cpp-host does (src/wasm.cc getOrCreateThreadLocalPlugin):
// the inbound and outbound plugins of a sidecar, old and new configurations side by side; module
// globals are shared by all of them, ticks run per root, an identical plugin key reuses the roots,
// and shared data spans every worker of a vm_id.

import { describe, expect, it } from "vitest";

import { ManualClock } from "../harness/clock.js";
import { EnvoyProcess, Plugin } from "../harness/plugin.js";
import { messages, OUT_PTR, OUT_SIZE, ProxyModule } from "./wat.js";

/**
 * Logs "create <id> <parent>" for each context, "configure <root> <size>" (setting a tick period
 * of size x 100 ms), "tick <root>", and per request "<stream> <root> <count>" where count is a
 * module global every context increments.
 */
function rootsModule(): Uint8Array {
  const module = new ProxyModule().use("env.proxy_set_tick_period_milliseconds");
  const roots = 0x400;
  return module.build(`
    (global $count (mut i32) (i32.const 0))
    (func (export "proxy_on_context_create") (param $id i32) (param $parent i32)
      (call $say ${module.text("create")}) (call $num (local.get $id)) (call $num (local.get $parent))
      (i32.store (i32.add (i32.const ${roots}) (i32.shl (local.get $id) (i32.const 2))) (local.get $parent)))
    (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
      (call $say ${module.text("configure")}) (call $num (local.get $root)) (call $num (local.get $size))
      (drop (call $proxy_set_tick_period_milliseconds (i32.mul (local.get $size) (i32.const 100))))
      (i32.const 1))
    (func (export "proxy_on_tick") (param $root i32)
      (call $say ${module.text("tick")}) (call $num (local.get $root)))
    (func (export "proxy_on_request_headers") (param $id i32) (param i32 i32) (result i32)
      (global.set $count (i32.add (global.get $count) (i32.const 1)))
      (call $num (local.get $id))
      (call $num (i32.load (i32.add (i32.const ${roots}) (i32.shl (local.get $id) (i32.const 2)))))
      (call $num (global.get $count))
      (i32.const 0))
    (func (export "proxy_on_done") (param $id i32) (result i32)
      (call $say ${module.text("done")}) (call $num (local.get $id)) (i32.const 1))
    (func (export "proxy_on_delete") (param $id i32)
      (call $say ${module.text("delete")}) (call $num (local.get $id)))`);
}

const since = (plugin: Plugin, mark: number, vm?: number): string[] => messages(plugin.logs.slice(mark), vm);

describe("root contexts in shared VMs", () => {
  it("hosts the inbound and the outbound plugin of a sidecar in one VM per worker, sharing globals", async () => {
    const wasm = rootsModule();
    const process = new EnvoyProcess({ workers: 1, clock: new ManualClock() });
    const inbound = await Plugin.loadInto(process, { wasm, pluginConfig: "a", direction: "inbound" });
    const mark = process.logs.length;
    const outbound = await Plugin.loadInto(process, { wasm, pluginConfig: "a", direction: "outbound" });
    // No new VM started (no _initialize, no base VM): a canary for the new key, then a second root.
    expect(since(outbound, mark, -2)).toEqual([]);
    expect(since(outbound, mark, 0)).toEqual(["create", "2", "0", "configure", "2", "1"]);
    expect(inbound.rootContextIds).toEqual([1]);
    expect(outbound.rootContextIds).toEqual([2]);

    const requests = process.logs.length;
    inbound.createStream().onRequestHeaders([], true);
    outbound.createStream().onRequestHeaders([], true);
    inbound.createStream().onRequestHeaders([], true);
    // Streams hang off their own root; the counter is one module global for both plugins.
    expect(since(inbound, requests, 0).filter((m) => m !== "create")).toEqual([
      ...["3", "1", "3", "1", "1"],
      ...["4", "2", "4", "2", "2"],
      ...["5", "1", "5", "1", "3"],
    ]);
    process.close();
  });

  it("reuses the roots of an identical configuration: no canary, no new root", async () => {
    const wasm = rootsModule();
    const process = new EnvoyProcess({ workers: 2, clock: new ManualClock() });
    const first = await Plugin.loadInto(process, { wasm, pluginConfig: "a" });
    const mark = process.logs.length;
    const again = await Plugin.loadInto(process, { wasm, pluginConfig: "a" });
    expect(process.logs.length).toBe(mark);
    expect(again.rootContextIds).toEqual(first.rootContextIds);
    // The roots live until the last listener drops them.
    first.close();
    expect(process.logs.length).toBe(mark);
    again.close();
    expect(since(again, mark)).toEqual(["done", "1", "delete", "1", "done", "1", "delete", "1"]);
  });

  it("runs the old and the new configuration side by side during an update", async () => {
    const wasm = rootsModule();
    const process = new EnvoyProcess({ workers: 1, clock: new ManualClock() });
    const old = await Plugin.loadInto(process, { wasm, pluginConfig: "a" });
    const inFlight = old.createStream();
    inFlight.onRequestHeaders([], true);
    const updated = await Plugin.loadInto(process, { wasm, pluginConfig: "bb" });
    expect(updated.rootContextIds).toEqual([3]);
    const mark = process.logs.length;
    updated.createStream().onRequestHeaders([], true);
    inFlight.onResponseHeaders([[":status", "200"]], true);
    inFlight.end();
    // The old root is shut down when Envoy drops the old filter config; the new one stays.
    old.close();
    updated.createStream().onRequestHeaders([], true);
    expect(since(updated, mark, 0)).toEqual([
      ...["create", "4", "3", "4", "3", "2"],
      ...["done", "2", "delete", "2"],
      ...["done", "1", "delete", "1"],
      ...["create", "5", "3", "5", "3", "3"],
    ]);
    process.close();
  });

  it("ticks each root on its own period", async () => {
    const wasm = rootsModule();
    const clock = new ManualClock();
    const process = new EnvoyProcess({ workers: 1, clock });
    const fast = await Plugin.loadInto(process, { wasm, pluginConfig: "a" });
    await Plugin.loadInto(process, { wasm, pluginConfig: "bbb" });
    const mark = process.logs.length;
    fast.advance(600);
    expect(since(fast, mark, 0)).toEqual([
      ...["tick", "1", "tick", "1", "tick", "1"],
      ...["tick", "2", "tick", "1", "tick", "1", "tick", "1"],
      ...["tick", "2"],
    ]);
    process.close();
  });

  it("gives a plugin with another VM configuration VMs of its own: no shared globals", async () => {
    const wasm = rootsModule();
    const process = new EnvoyProcess({ workers: 1, clock: new ManualClock() });
    const one = await Plugin.loadInto(process, { wasm, pluginConfig: "a" });
    const other = await Plugin.loadInto(process, { wasm, pluginConfig: "a", vmConfig: "other" });
    expect(other.rootContextIds).toEqual([1]);
    const mark = process.logs.length;
    one.createStream().onRequestHeaders([], true);
    other.createStream().onRequestHeaders([], true);
    expect(since(one, mark, 0).filter((m) => m !== "create")).toEqual([
      ...["2", "1", "2", "1", "1"],
      ...["2", "1", "2", "1", "1"],
    ]);
    process.close();
  });

  it("shares data across every worker and plugin of a vm_id, and keeps other vm_ids apart", async () => {
    const module = new ProxyModule().use("env.proxy_get_shared_data", "env.proxy_set_shared_data");
    const wasm = module.build(`
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
        (call $clear)
        (call $num (call $proxy_get_shared_data ${module.text("k")} (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE}) (i32.const 0x300)))
        (call $out)
        (drop (call $proxy_set_shared_data ${module.text("k")} ${module.text("v")} (i32.const 0)))
        (i32.const 0))`);
    const process = new EnvoyProcess({ workers: 2, clock: new ManualClock() });
    const inbound = await Plugin.loadInto(process, { wasm, vmId: "kwt", direction: "inbound" });
    const outbound = await Plugin.loadInto(process, { wasm, vmId: "kwt", direction: "outbound" });
    const elsewhere = await Plugin.loadInto(process, { wasm, vmId: "other" });
    const read = (plugin: Plugin): string[] => {
      const mark = process.logs.length;
      plugin.createStream().onRequestHeaders([], true);
      return since(plugin, mark);
    };
    expect(read(inbound)).toEqual(["1", "untouched"]);
    // The outbound plugin's first stream runs on worker 0, its second on worker 1: both see it.
    expect(read(outbound)).toEqual(["0", "76"]);
    expect(read(outbound)).toEqual(["0", "76"]);
    expect(read(elsewhere)).toEqual(["1", "untouched"]);
    process.close();
  });
});
