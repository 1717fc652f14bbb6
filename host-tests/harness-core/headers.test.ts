// Header map host calls: encodings, Envoy's edit semantics, when maps exist, local replies.

import { describe, expect, it } from "vitest";

import { Plugin } from "../harness/plugin.js";
import { messages, OUT_PTR, OUT_SIZE, ProxyModule } from "./wat.js";

const HEADER_CALLS = [
  "env.proxy_get_header_map_value",
  "env.proxy_get_header_map_pairs",
  "env.proxy_add_header_map_value",
  "env.proxy_replace_header_map_value",
  "env.proxy_remove_header_map_value",
  "env.proxy_set_header_map_pairs",
  "env.proxy_get_header_map_size",
  "env.proxy_continue_stream",
  "env.proxy_send_local_response",
  "env.proxy_get_property",
];

function headersModule(): ProxyModule {
  return new ProxyModule().use(...HEADER_CALLS);
}

/** WAT that logs the result code of get_header_map_value(type, name), then the value (or "untouched"). */
function getValue(module: ProxyModule, type: number, name: string): string {
  return `(call $clear)
    (call $num (call $proxy_get_header_map_value (i32.const ${type}) ${module.text(name)} (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
    (call $out)`;
}

/** Logs the result code of get_header_map_pairs(type), then the returned pointer and size as numbers. */
function getPairsRaw(type: number): string {
  return `(call $clear)
    (call $num (call $proxy_get_header_map_pairs (i32.const ${type}) (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
    (call $num (i32.load (i32.const ${OUT_PTR}))) (call $num (i32.load (i32.const ${OUT_SIZE})))`;
}

function onRequestHeaders(body: string, result = 0): string {
  return `(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) ${body} (i32.const ${result}))`;
}

async function logsOfRequest(
  wasm: Uint8Array,
  headers: Array<[string, string]>,
): Promise<{ logs: string[]; outcome: unknown }> {
  const plugin = await Plugin.load({ wasm });
  const before = plugin.logs.length;
  const outcome = plugin.createStream().onRequestHeaders(headers, true);
  return { logs: messages(plugin.logs.slice(before)), outcome };
}

describe("header maps", () => {
  it("returns a map in the pairs format", async () => {
    const module = headersModule();
    const wasm = module.build(
      onRequestHeaders(
        `(call $num (call $proxy_get_header_map_pairs (i32.const 0) (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE}))) (call $out)`,
      ),
    );
    const { logs } = await logsOfRequest(wasm, [
      [":method", "GET"],
      ["X-A", "1"],
    ]);
    expect(logs).toEqual([
      "0",
      "02000000" +
        "07000000" +
        "03000000" +
        "03000000" +
        "01000000" +
        "3a6d6574686f6400" +
        "47455400" +
        "782d6100" +
        "3100",
    ]);
  });

  it("gets the first value of a repeated header, lower-cases the name, and answers NotFound for a missing one", async () => {
    const module = headersModule();
    const wasm = module.build(
      onRequestHeaders(
        `${getValue(module, 0, "x-a")} ${getValue(module, 0, "X-A")} ${getValue(module, 0, "x-missing")}`,
      ),
    );
    const { logs } = await logsOfRequest(wasm, [
      ["x-a", "1"],
      ["x-a", "2"],
    ]);
    expect(logs).toEqual(["0", "31", "0", "31", "1", "untouched"]);
  });

  it("adds a duplicate, replaces all values with one appended, removes all values", async () => {
    const module = headersModule();
    const wasm = module.build(
      onRequestHeaders(`
      (call $num (call $proxy_replace_header_map_value (i32.const 0) ${module.text("x-a")} ${module.text("9")}))
      (call $num (call $proxy_add_header_map_value (i32.const 0) ${module.text("X-C")} ${module.text("4")}))
      (call $num (call $proxy_add_header_map_value (i32.const 0) ${module.text("x-c")} ${module.text("5")}))
      (call $num (call $proxy_remove_header_map_value (i32.const 0) ${module.text("x-b")}))`),
    );
    const { logs, outcome } = await logsOfRequest(wasm, [
      ["x-a", "1"],
      ["x-b", "2"],
      ["x-a", "3"],
    ]);
    expect(logs).toEqual(["0", "0", "0", "0"]);
    expect(outcome).toEqual({
      status: 0,
      headers: [
        ["x-a", "9"],
        ["x-c", "4"],
        ["x-c", "5"],
      ],
    });
  });

  it("reports the byte size of a map, not its entry count", async () => {
    const module = headersModule();
    const wasm = module.build(
      onRequestHeaders(`(call $num (call $proxy_get_header_map_size (i32.const 0) (i32.const ${OUT_PTR})))
        (call $num (i32.load (i32.const ${OUT_PTR})))`),
    );
    const { logs } = await logsOfRequest(wasm, [
      [":path", "/a"],
      ["x", "yz"],
    ]);
    expect(logs).toEqual(["0", "10"]);
  });

  it("replaces a map from pairs, and clears it when the pairs are malformed", async () => {
    const module = headersModule();
    const good = new Uint8Array([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0x6b, 0, 0x76, 0]); // [["k","v"]]
    const truncated = good.subarray(0, good.length - 1);
    const wasm = module.build(`
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
        (call $num (call $proxy_set_header_map_pairs (i32.const 0) ${module.text(good)})) (i32.const 0))
      (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
        (call $num (call $proxy_set_header_map_pairs (i32.const 2) ${module.text(truncated)})) (i32.const 0))`);
    const plugin = await Plugin.load({ wasm });
    const stream = plugin.createStream();
    expect(stream.onRequestHeaders([["a", "1"]], true).headers).toEqual([["k", "v"]]);
    expect(stream.onResponseHeaders([[":status", "200"]], true).headers).toEqual([]);
    expect(messages(plugin.logs, 0).slice(-2)).toEqual(["0", "0"]);
  });

  it("drops maps once their callback continued, and shows them again in on_log", async () => {
    const module = headersModule();
    const path = module.text("request\0path");
    const wasm = module.build(`
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
      (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
        ${getValue(module, 0, ":path")}
        ${getPairsRaw(0)}
        (call $num (call $proxy_add_header_map_value (i32.const 0) ${module.text("x")} ${module.text("y")}))
        (call $clear) (call $num (call $proxy_get_property ${path} (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
        (i32.const 0))
      (func (export "proxy_on_log") (param i32)
        ${getValue(module, 0, ":path")}
        ${getValue(module, 2, ":status")}
        ${getValue(module, 1, "x-trailer")}
        (call $num (call $proxy_get_header_map_size (i32.const 0) (i32.const ${OUT_PTR})))
        (call $clear) (call $num (call $proxy_get_property ${path} (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE}))) (call $out))`);
    const plugin = await Plugin.load({ wasm });
    const stream = plugin.createStream();
    stream.onRequestHeaders([[":path", "/p"]], false);
    stream.onRequestTrailers([["x-trailer", "t"]]);
    const before = plugin.logs.length;
    stream.onResponseHeaders([[":status", "200"]], true);
    // BadArgument (2) for the value; the pairs call succeeds with pointer 0 and size 0; edits are
    // BadArgument; request.path is NotFound (1) without the request headers.
    expect(messages(plugin.logs.slice(before))).toEqual(["2", "untouched", "0", "0", "0", "2", "1"]);
    const atLog = plugin.logs.length;
    stream.end();
    // In on_log: request and response headers readable, request trailers absent (NotFound), the
    // mutable size call BadArgument, request.path found again.
    expect(messages(plugin.logs.slice(atLog))).toEqual([
      "0",
      "2f70",
      "0",
      "323030",
      "1",
      "untouched",
      "2",
      "0",
      "2f70",
    ]);
  });

  it("keeps the request headers while the request is stopped, until the module continues it", async () => {
    const module = headersModule();
    const wasm = module.build(`
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 1))
      (func (export "proxy_on_response_headers") (param i32 i32 i32) (result i32)
        ${getValue(module, 0, ":path")}
        (call $num (call $proxy_continue_stream (i32.const 0)))
        ${getValue(module, 0, ":path")}
        (call $num (call $proxy_continue_stream (i32.const 4)))
        (i32.const 0))`);
    const plugin = await Plugin.load({ wasm });
    const stream = plugin.createStream();
    expect(stream.onRequestHeaders([[":path", "/p"]], true).status).toBe(4);
    const before = plugin.logs.length;
    stream.onResponseHeaders([[":status", "200"]], true);
    expect(messages(plugin.logs.slice(before))).toEqual(["0", "2f70", "0", "2", "untouched", "2"]);
    expect(stream.continued).toEqual({ request: true, response: false });
  });

  it("answers BadArgument for unknown map types and for http call maps outside their callback", async () => {
    const module = headersModule();
    const wasm = module.build(
      onRequestHeaders(`${getValue(module, 8, "a")} ${getValue(module, 6, "a")} ${getPairsRaw(7)}`),
    );
    const { logs } = await logsOfRequest(wasm, [["a", "1"]]);
    expect(logs).toEqual(["2", "untouched", "2", "untouched", "0", "0", "0"]);
  });

  it("defers send_local_response until the callback returns and forces a stop", async () => {
    const module = headersModule();
    const extra = new Uint8Array([
      1,
      0,
      0,
      0,
      8,
      0,
      0,
      0,
      1,
      0,
      0,
      0,
      ...new TextEncoder().encode("X-Reason\0r\0"),
    ]);
    const wasm = module.build(`
      (func (export "proxy_on_configure") (param i32 i32) (result i32)
        (call $num (call $proxy_send_local_response (i32.const 500) ${module.text("root")} ${module.text("")} ${module.text("")} (i32.const -1)))
        (i32.const 1))
      ${onRequestHeaders(`(call $num (call $proxy_send_local_response (i32.const 403) ${module.text("access denied\tnow")}
          ${module.text("nope")} ${module.text(extra)} (i32.const -1)))`)}`);
    const plugin = await Plugin.load({ wasm });
    expect(messages(plugin.logs, 0)).toEqual(["0"]);
    const outcome = plugin.createStream().onRequestHeaders([[":path", "/"]], true);
    expect(outcome).toEqual({
      status: 4,
      headers: [[":path", "/"]],
      localReply: {
        status: 403,
        details: "access_denied_now",
        body: new TextEncoder().encode("nope"),
        headers: [["x-reason", "r"]],
        grpcStatus: -1,
      },
    });
  });
});
