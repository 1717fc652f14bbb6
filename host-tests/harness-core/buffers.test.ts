// Body buffers and the limits Envoy enforces on pairs.

import { describe, expect, it } from "vitest";

import { PAIRS_MAX_BYTES, PAIRS_MAX_COUNT } from "../harness/pairs.js";
import { Plugin } from "../harness/plugin.js";
import { messages, OUT_PTR, OUT_SIZE, ProxyModule } from "./wat.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
const hex = (text: string): string => Buffer.from(text).toString("hex");

function bufferModule(onBody: (module: ProxyModule) => string, result = 0): Uint8Array {
  const module = new ProxyModule().use(
    "env.proxy_get_buffer_status",
    "env.proxy_get_buffer_bytes",
    "env.proxy_set_buffer_bytes",
  );
  return module.build(`
    (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
      (call $num (call $proxy_get_buffer_status (i32.const 0) (i32.const 0x300) (i32.const 0x304)))
      (call $num (i32.load (i32.const 0x300)))
      (i32.const 0))
    (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32) ${onBody(module)} (i32.const ${result}))`);
}

function read(start: number, length: number): string {
  return `(call $num (call $proxy_get_buffer_bytes (i32.const 0) (i32.const ${start}) (i32.const ${length}) (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
    (call $out)`;
}

describe("body buffers", () => {
  it("reads the current chunk, clamps reads past its end, and shows an empty body outside the callback", async () => {
    const wasm = bufferModule(() => `${read(0, 100)} ${read(2, 2)} ${read(9, 5)}`);
    const plugin = await Plugin.load({ wasm });
    const stream = plugin.createStream();
    const before = plugin.logs.length;
    stream.onRequestHeaders([], false);
    stream.onRequestBody(bytes("hello"), true);
    // Outside the body callback the request body has size 0 (Ok).
    expect(messages(plugin.logs.slice(before))).toEqual([
      "0",
      "0",
      "0",
      hex("hello"),
      "0",
      hex("ll"),
      "0",
      "",
    ]);
  });

  it("replaces, prepends and appends like Envoy's Buffer::copyFrom", async () => {
    const set = (module: ProxyModule, start: number, length: number, data: string) =>
      `(call $num (call $proxy_set_buffer_bytes (i32.const 0) (i32.const ${start}) (i32.const ${length}) ${module.text(data)}))`;
    const wasm = bufferModule(
      (m) => `${set(m, 0, 5, "HELLO")} ${set(m, 0, 0, ">")} ${set(m, 99, 0, "<")} ${set(m, 2, 1, "x")}`,
    );
    const plugin = await Plugin.load({ wasm });
    const stream = plugin.createStream();
    stream.onRequestHeaders([], false);
    expect(stream.onRequestBody(bytes("hello world"), true)).toEqual({
      status: 0,
      body: bytes(">HELLO world<"),
    });
    expect(messages(plugin.logs, 0).slice(-4)).toEqual(["0", "0", "0", "2"]);
  });

  it("accumulates the body while the module answers StopIterationAndBuffer", async () => {
    const module = new ProxyModule().use("env.proxy_get_buffer_bytes");
    const wasm = module.build(`
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
      (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
        ${read(0, 100)}
        (if (result i32) (local.get 2) (then (i32.const 0)) (else (i32.const 1))))`);
    const plugin = await Plugin.load({ wasm });
    const stream = plugin.createStream();
    stream.onRequestHeaders([], false);
    expect(stream.onRequestBody(bytes("ab"), false)).toEqual({ status: 1, body: bytes("ab") });
    expect(stream.onRequestBody(bytes("cd"), true)).toEqual({ status: 0, body: bytes("abcd") });
    expect(messages(plugin.logs, 0).slice(-4)).toEqual(["0", hex("ab"), "0", hex("abcd")]);
  });

  it("answers NotFound for the http call body outside its callback and BadArgument for unknown types", async () => {
    const module = new ProxyModule().use("env.proxy_get_buffer_status");
    const status = (type: number) =>
      `(call $num (call $proxy_get_buffer_status (i32.const ${type}) (i32.const 0x300) (i32.const 0x304)))`;
    const wasm = module.build(
      `(func (export "proxy_on_configure") (param i32 i32) (result i32) ${status(4)} ${status(9)} ${status(5)} (i32.const 1))`,
    );
    const plugin = await Plugin.load({ wasm });
    expect(messages(plugin.logs, 0)).toEqual(["1", "2", "0"]);
  });
});

describe("stream control from body callbacks", () => {
  it("lets the module add request trailers only while handling the last body chunk", async () => {
    const module = new ProxyModule().use("env.proxy_add_header_map_value");
    const wasm = module.build(`
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
      (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
        (call $num (call $proxy_add_header_map_value (i32.const 1) ${module.text("x-t")} ${module.text("v")}))
        (i32.const 0))`);
    const plugin = await Plugin.load({ wasm });
    const stream = plugin.createStream();
    stream.onRequestHeaders([], false);
    expect(stream.onRequestBody(bytes("a"), false)).toEqual({ status: 0, body: bytes("a") });
    expect(stream.onRequestBody(bytes("b"), true)).toEqual({
      status: 0,
      body: bytes("b"),
      trailers: [["x-t", "v"]],
    });
    expect(messages(plugin.logs, 0)).toEqual(["2", "0"]);
  });

  it("records proxy_close_stream as a reset with details wasm_close_stream", async () => {
    const module = new ProxyModule().use("env.proxy_close_stream", "env.proxy_get_property");
    const wasm = module.build(`
      (func (export "proxy_on_request_body") (param i32 i32 i32) (result i32)
        (call $num (call $proxy_close_stream (i32.const 0))) (i32.const 0))
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) (i32.const 0))
      (func (export "proxy_on_log") (param i32)
        (call $clear)
        (call $num (call $proxy_get_property ${module.text("response\0code_details")} (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
        (call $out))`);
    const plugin = await Plugin.load({ wasm });
    const stream = plugin.createStream();
    stream.onRequestHeaders([], false);
    stream.onRequestBody(bytes("a"), true);
    expect(stream.closed).toEqual({ request: true, response: false });
    stream.end();
    expect(messages(plugin.logs, 0)).toEqual(["0", "0", hex("wasm_close_stream")]);
  });
});

describe("pairs limits", () => {
  /**
   * The module builds `count` pairs (key "k", value of `valueSize` bytes "a") at 0x30000 and hands
   * them to set_header_map_pairs; the test sees how many headers the request ends up with.
   */
  async function headersAfterSetPairs(count: number, valueSize: number): Promise<number> {
    const module = new ProxyModule().use("env.proxy_set_header_map_pairs");
    const wasm = module.build(`(func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
      (local $i i32) (local $data i32)
      (i32.store (i32.const 0x30000) (i32.const ${count}))
      (local.set $data (i32.const ${0x30000 + 4 + 8 * count}))
      (block $done (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const ${count})))
        (i32.store (i32.add (i32.const 0x30004) (i32.shl (local.get $i) (i32.const 3))) (i32.const 1))
        (i32.store (i32.add (i32.const 0x30008) (i32.shl (local.get $i) (i32.const 3))) (i32.const ${valueSize}))
        (i32.store8 (local.get $data) (i32.const 0x6b))
        (i32.store8 (i32.add (local.get $data) (i32.const 1)) (i32.const 0))
        (memory.fill (i32.add (local.get $data) (i32.const 2)) (i32.const 0x61) (i32.const ${valueSize}))
        (i32.store8 (i32.add (local.get $data) (i32.const ${2 + valueSize})) (i32.const 0))
        (local.set $data (i32.add (local.get $data) (i32.const ${3 + valueSize})))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
      (call $num (call $proxy_set_header_map_pairs (i32.const 0) (i32.const 0x30000) (i32.sub (local.get $data) (i32.const 0x30000))))
      (i32.const 0))`);
    const plugin = await Plugin.load({ wasm });
    const outcome = plugin.createStream().onRequestHeaders([["a", "1"]], true);
    expect(messages(plugin.logs, 0)).toEqual(["0"]);
    return outcome.headers.length;
  }

  it(`accepts ${PAIRS_MAX_COUNT} pairs and clears the map for one more`, async () => {
    expect(await headersAfterSetPairs(PAIRS_MAX_COUNT, 0)).toBe(PAIRS_MAX_COUNT);
    expect(await headersAfterSetPairs(PAIRS_MAX_COUNT + 1, 0)).toBe(0);
  });

  it("accepts pairs of exactly 1 MiB and clears the map for one byte more", async () => {
    // 4 (count) + 8 (sizes) + "k\0" + value + "\0" = 1 MiB.
    const valueSize = PAIRS_MAX_BYTES - 4 - 8 - 2 - 1;
    expect(await headersAfterSetPairs(1, valueSize)).toBe(1);
    expect(await headersAfterSetPairs(1, valueSize + 1)).toBe(0);
  });
});
