import { describe, expect, it } from "vitest";
import { watToBinary } from "../../host-tests/harness/index.js";
import { inlineSmallFunctions, readSettings, RELEASE_INLINING } from "./inlining.js";

const { default: binaryen } = await import("assemblyscript/binaryen");
const { default: loadWabt } = await import("wabt");
const wabt = await loadWabt();

const compileWat = (text: string): Uint8Array => watToBinary(wabt, "inlining-test.wat", text);

function functionCount(wasm: Uint8Array): number {
  const module = binaryen.readBinary(wasm);
  try {
    return module.getNumFunctions();
  } finally {
    module.dispose();
  }
}

async function exportsOf(wasm: Uint8Array): Promise<Record<string, (...args: number[]) => number>> {
  const instance = await WebAssembly.instantiate(await WebAssembly.compile(new Uint8Array(wasm)));
  return instance.exports as Record<string, (...args: number[]) => number>;
}

// $scale is 7 expressions, past the compiler's own every-caller budget (6) and within ours,
// called from three places; $sum has a loop and more than either budget, called from two places.
const MODULE = `(module
  (func $scale (param i32) (result i32)
    (i32.xor (i32.add (i32.mul (local.get 0) (i32.const 3)) (i32.const 1)) (i32.const 5)))
  (func $sum (param $n i32) (result i32) (local $total i32)
    (block $done (loop $next
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $total (i32.add (local.get $total) (i32.mul (local.get $n) (i32.xor (local.get $n) (i32.const 85)))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $next)))
    (local.get $total))
  (func (export "a") (param i32) (result i32) (call $scale (local.get 0)))
  (func (export "b") (param i32) (result i32) (i32.add (call $scale (local.get 0)) (call $sum (local.get 0))))
  (func (export "c") (param i32) (result i32) (i32.sub (call $scale (local.get 0)) (call $sum (i32.const 7))))
)`;

describe("inlineSmallFunctions", () => {
  const options = { features: binaryen.Features.MVP, optimizeLevel: 3, shrinkLevel: 1, passes: [] };

  it("copies a function within the budget into every caller and keeps one beyond it", async () => {
    const before = compileWat(MODULE);
    const after = inlineSmallFunctions(binaryen, before, options);
    // five functions: the two helpers and three exports; $scale is gone, $sum stays.
    expect(functionCount(before)).toBe(5);
    expect(functionCount(after)).toBe(4);
    const [original, inlined] = [await exportsOf(before), await exportsOf(after)];
    for (const input of [0, 1, 5, 40]) {
      expect(inlined.a!(input)).toBe(original.a!(input));
      expect(inlined.b!(input)).toBe(original.b!(input));
      expect(inlined.c!(input)).toBe(original.c!(input));
    }
  });

  it("copies a function with one caller, loop and all, up to the one-caller budget", async () => {
    // $sum past the every-caller budget, with one caller left: inlined, and the module still
    // computes what it did.
    const oneCaller = MODULE.replace(/\(func \(export "c"\)[^\n]*\n/, "");
    const before = compileWat(oneCaller);
    const after = inlineSmallFunctions(binaryen, before, options);
    expect(functionCount(before)).toBe(4);
    expect(functionCount(after)).toBe(2);
    const [original, inlined] = [await exportsOf(before), await exportsOf(after)];
    for (const input of [0, 3, 40]) expect(inlined.b!(input)).toBe(original.b!(input));
  });

  it("leaves Binaryen's global settings as it found them, for the compiler's next module", () => {
    const before = readSettings(binaryen);
    expect(before.always).not.toBe(RELEASE_INLINING.everyCallerMaxSize);
    expect(before.oneCaller).not.toBe(RELEASE_INLINING.oneCallerMaxSize);
    inlineSmallFunctions(binaryen, compileWat(MODULE), options);
    expect(readSettings(binaryen)).toEqual(before);
  });

  it("refuses a module that is not WebAssembly", () => {
    expect(() => inlineSmallFunctions(binaryen, new Uint8Array([1, 2, 3, 4]), options)).toThrow();
  });
});
