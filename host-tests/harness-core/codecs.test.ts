// The codecs on their own: pairs, property values, protobuf messages, Wasm binary reading.

import { describe, expect, it } from "vitest";

import { HeaderMap } from "../harness/headers.js";
import { decodeHeaderPairs, decodePairs, encodeHeaderPairs } from "../harness/pairs.js";
import { serializeProperty, type PropertyValue } from "../harness/properties.js";
import { encodeStruct } from "../harness/protobuf.js";
import { capDefinedMemories, parseModuleShape } from "../harness/wasm-binary.js";
import { compileWat } from "./wat.js";

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, "hex"));

describe("pairs", () => {
  const encoded =
    "02000000" +
    "01000000" +
    "02000000" +
    "00000000" +
    "00000000" +
    "61" +
    "00" +
    "6263" +
    "00" +
    "00" +
    "00";

  it("encodes counts, sizes, then NUL-terminated keys and values", () => {
    expect(
      hex(
        encodeHeaderPairs([
          ["a", "bc"],
          ["", ""],
        ]),
      ),
    ).toBe(encoded);
  });

  it("decodes what it encodes", () => {
    expect(decodeHeaderPairs(fromHex(encoded))).toEqual([
      ["a", "bc"],
      ["", ""],
    ]);
  });

  it.each([
    ["a missing terminator", encoded.slice(0, -2) + "01"],
    ["trailing bytes", encoded + "00"],
    ["a truncated size table", "02000000" + "01000000"],
    ["a count larger than the data", "05000000"],
    ["fewer than four bytes", "0100"],
  ])("answers an empty list for %s", (_what, bytes) => {
    expect(decodePairs(fromHex(bytes))).toEqual([]);
  });
});

describe("property values", () => {
  it.each<[PropertyValue, string]>([
    [{ type: "int64", value: -2n }, "feffffffffffffff"],
    [{ type: "uint64", value: 2n ** 64n - 1n }, "ffffffffffffffff"],
    [{ type: "double", value: 1.5 }, "000000000000f83f"],
    [{ type: "bool", value: true }, "01"],
    [{ type: "duration", ns: 1_000_000_000n }, "00ca9a3b00000000"],
    [
      { type: "list", items: [{ type: "string", value: "x" }] },
      "01000000" + "01000000" + "00000000" + "7800" + "00",
    ],
  ])("serializes %o as %s", (value, expected) => {
    expect(hex(serializeProperty(value) ?? new Uint8Array(0))).toBe(expected);
  });

  it("serializes nested maps with their values encoded the same way", () => {
    const value: PropertyValue = { type: "map", entries: [["n", { type: "int64", value: 1n }]] };
    expect(hex(serializeProperty(value) ?? new Uint8Array(0))).toBe(
      "01000000" + "01000000" + "08000000" + "6e00" + "0100000000000000" + "00",
    );
  });
});

describe("protobuf", () => {
  it("encodes a Struct of a string and a nested struct", () => {
    // fields (1) = entry{key (1) "a", value (2) Value{string_value (3) "b"}}
    // fields (1) = entry{key (1) "m", value (2) Value{struct_value (5) {}}}
    expect(hex(encodeStruct({ a: "b", m: {} }))).toBe(
      "0a08" + "0a0161" + "1203" + "1a0162" + "0a07" + "0a016d" + "1202" + "2a00",
    );
  });
});

describe("header map", () => {
  it("keeps order and duplicates and lower-cases names", () => {
    const map = new HeaderMap([
      ["A", "1"],
      ["b", "2"],
      ["a", "3"],
    ]);
    expect(map.get("a")).toBe("1");
    expect(map.getJoined("A")).toBe("1,3");
    expect(map.byteSize()).toBe(6);
    map.replace("a", "9");
    expect(map.toList()).toEqual([
      ["b", "2"],
      ["a", "9"],
    ]);
  });
});

describe("wasm binary", () => {
  const wasm = compileWat(`(module
    (import "env" "f" (func (param i32 i64) (result f64)))
    (memory (export "memory") 2)
    (func (export "g") (param f32)))`);

  it("reads import and export signatures and memory limits", () => {
    expect(parseModuleShape(wasm)).toEqual({
      imports: [
        { module: "env", name: "f", kind: "function", type: { params: ["i32", "i64"], results: ["f64"] } },
      ],
      exports: [
        { name: "memory", kind: "memory" },
        { name: "g", kind: "function", type: { params: ["f32"], results: [] } },
      ],
      definedMemories: [{ min: 2 }],
    });
  });

  it("caps a defined memory's maximum and keeps the module valid", () => {
    const capped = capDefinedMemories(wasm, 16384);
    expect(parseModuleShape(capped).definedMemories).toEqual([{ min: 2, max: 16384 }]);
    expect(WebAssembly.validate(capped)).toBe(true);
  });
});
