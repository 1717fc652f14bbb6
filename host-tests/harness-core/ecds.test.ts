// A configuration the module rejects, as Istio's ECDS delivery and Envoy handle it: a listener that
// never had an accepted configuration puts Envoy's missing-config filter in the plugin's place
// (source/common/http/filter_chain_helper.h: response flag NoFilterConfigFound, a local 500 with an
// empty body) and the module never sees those streams; one that had a configuration keeps it.

import { describe, expect, it } from "vitest";

import { ManualClock } from "../harness/clock.js";
import { ConfigurationRejection, Plugin } from "../harness/plugin.js";
import { ResponseFlag } from "../harness/proxy.js";
import { messages, ProxyModule } from "./wat.js";

/** Accepts a configuration unless it is "reject"; logs each callback with its context id. */
function pickyModule(): Uint8Array {
  const module = new ProxyModule().use("env.proxy_get_buffer_bytes");
  const reject = module.data("reject");
  return module.build(`
    (func (export "proxy_on_context_create") (param $id i32) (param i32)
      (call $say ${module.text("create")}) (call $num (local.get $id)))
    (func (export "proxy_on_configure") (param $root i32) (param $size i32) (result i32)
      (drop (call $proxy_get_buffer_bytes (i32.const 7) (i32.const 0) (local.get $size) (i32.const 0x10) (i32.const 0x14)))
      (i32.eqz (i32.and
        (i32.eq (local.get $size) (i32.const ${reject.len}))
        (i32.eq (i32.load (i32.load (i32.const 0x10))) (i32.load (i32.const ${reject.ptr}))))))
    (func (export "proxy_on_request_headers") (param $id i32) (param i32 i32) (result i32)
      (call $say ${module.text("request")}) (call $num (local.get $id)) (i32.const 0))
    (func (export "proxy_on_log") (param $id i32) (call $say ${module.text("log")}) (call $num (local.get $id)))
    (func (export "proxy_on_done") (param $id i32) (result i32)
      (call $say ${module.text("done")}) (call $num (local.get $id)) (i32.const 1))`);
}

const REQUEST: Array<[string, string]> = [
  [":method", "GET"],
  [":path", "/"],
];

describe("a rejected configuration (ECDS)", () => {
  it("answers every request 500 NFCF, empty body, without the module, on a proxy that never had one", async () => {
    const plugin = await Plugin.load({
      wasm: pickyModule(),
      pluginConfig: "reject",
      clock: new ManualClock(),
    });
    expect(plugin.configured).toBe(false);
    expect(plugin.rejection).toBeInstanceOf(ConfigurationRejection);
    expect(plugin.rejection?.message).toBe(
      "Failed to configure base Wasm plugin: proxy_on_configure returned false",
    );
    const mark = plugin.logs.length;
    for (let i = 0; i < 3; i++) {
      const stream = plugin.createStream();
      expect(stream.onRequestHeaders(REQUEST, true)).toEqual({
        status: 1,
        headers: REQUEST,
        localReply: {
          status: 500,
          details: "",
          body: new Uint8Array(0),
          headers: [],
          grpcStatus: -1,
          responseFlags: ResponseFlag.NoFilterConfigFound,
        },
      });
      expect(stream.onResponseHeaders([[":status", "500"]], true).status).toBe(0);
      stream.end({ responseCode: 500 });
      expect(stream.contextId).toBeUndefined();
    }
    expect(plugin.logs.length).toBe(mark);
    plugin.close();
  });

  it("the connection manager's access log records the missing-config replies; a codec refusal comes before that filter", async () => {
    const lines: string[] = [];
    const plugin = await Plugin.load({
      wasm: pickyModule(),
      pluginConfig: "reject",
      clock: new ManualClock(),
      accessLog: {
        format: "%RESPONSE_CODE% %RESPONSE_FLAGS% %REQ(:PATH)%",
        write: (line) => lines.push(line),
      },
    });
    const mark = plugin.logs.length;
    const answered = plugin.createStream();
    expect(answered.onRequestHeaders(REQUEST, true).localReply?.status).toBe(500);
    answered.end({ responseCode: 500, responseFlags: ResponseFlag.NoFilterConfigFound });
    const refused = plugin.createStream({ beforeFilterChain: true });
    expect(refused.onRequestHeaders(REQUEST, true)).toEqual({ status: 0, headers: REQUEST });
    refused.end(plugin.streamEnd("too_many_request_headers"));
    expect(lines).toEqual(["500 NFCF /", "431 DPE /"]);
    expect(plugin.logs.length).toBe(mark);
    plugin.close();
  });

  it("serves through the module once a valid configuration arrives", async () => {
    const plugin = await Plugin.load({
      wasm: pickyModule(),
      pluginConfig: "reject",
      workers: 1,
      clock: new ManualClock(),
    });
    expect(await plugin.update({ pluginConfig: "{}" })).toBeUndefined();
    expect(plugin.configured).toBe(true);
    expect(plugin.rejection).toBeUndefined();
    const mark = plugin.logs.length;
    const stream = plugin.createStream();
    expect(stream.onRequestHeaders(REQUEST, true)).toEqual({ status: 0, headers: REQUEST });
    stream.end();
    expect(messages(plugin.logs.slice(mark))).toEqual([
      "create",
      "2",
      "request",
      "2",
      "log",
      "2",
      "done",
      "2",
    ]);
    plugin.close();
  });

  it("keeps serving with the configuration it had when an update is rejected", async () => {
    const plugin = await Plugin.load({
      wasm: pickyModule(),
      pluginConfig: "{}",
      workers: 1,
      clock: new ManualClock(),
    });
    const roots = plugin.rootContextIds;
    const rejection = await plugin.update({ pluginConfig: "reject" });
    expect(rejection?.message).toBe(
      "Failed to configure base Wasm plugin: proxy_on_configure returned false",
    );
    expect(plugin.rejection).toBe(rejection);
    expect(plugin.configured).toBe(true);
    expect(plugin.rootContextIds).toEqual(roots);
    const mark = plugin.logs.length;
    plugin.createStream().onRequestHeaders(REQUEST, true);
    expect(messages(plugin.logs.slice(mark))).toEqual(["create", "2", "request", "2"]);
    plugin.close();
  });

  it("moves to the new roots on an accepted update and retires the old ones after their last stream", async () => {
    const plugin = await Plugin.load({
      wasm: pickyModule(),
      pluginConfig: "{}",
      workers: 1,
      clock: new ManualClock(),
    });
    const inFlight = plugin.createStream();
    inFlight.onRequestHeaders(REQUEST, true);
    const same = plugin.logs.length;
    // The same configuration is the same plugin key: nothing is called.
    expect(await plugin.update({ pluginConfig: "{}" })).toBeUndefined();
    expect(plugin.logs.length).toBe(same);
    expect(await plugin.update({ pluginConfig: '{"v":2}' })).toBeUndefined();
    expect(plugin.rootContextIds).toEqual([3]);
    const mark = plugin.logs.length;
    inFlight.end();
    plugin.createStream().onRequestHeaders(REQUEST, true);
    expect(messages(plugin.logs.slice(mark), 0)).toEqual([
      ...["log", "2", "done", "2"],
      ...["done", "1"],
      ...["create", "4", "request", "4"],
    ]);
    plugin.close();
  });
});
