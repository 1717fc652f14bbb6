// Small hand-written Proxy-Wasm modules for the harness's own tests: WAT compiled with wabt, a
// standard prelude (memory, bump allocator, ABI export, helpers that log numbers and bytes), and
// data segments for the strings a test passes to host calls.

import wabtInit from "wabt";

import { AbiVersion, hostFunctionSignatures } from "../harness/abi.js";
import { watToBinary } from "../harness/wat-binary.js";
import { type FunctionType } from "../harness/wasm-binary.js";

const wabt = await wabtInit();

export function compileWat(text: string): Uint8Array {
  return watToBinary(wabt, "test.wat", text, { mutable_globals: true, bulk_memory: true });
}

function watType(type: FunctionType): string {
  const params = type.params.length > 0 ? ` (param ${type.params.join(" ")})` : "";
  const results = type.results.length > 0 ? ` (result ${type.results.join(" ")})` : "";
  return params + results;
}

/** `(import "env" "proxy_log" (func $proxy_log ...))` with the signature Envoy registers. */
export function hostImport(key: string, abi = AbiVersion.V0_2_0): string {
  const type = hostFunctionSignatures(abi).get(key);
  if (type === undefined) throw new Error(`test bug: ${key} is not a host function for ABI ${abi}`);
  const [module, name] = key.split(".") as [string, string];
  return `(import "${module}" "${name}" (func $${name}${watType(type)}))`;
}

/** Fixed addresses the helpers use. */
export const OUT_PTR = 0x10;
export const OUT_SIZE = 0x14;
const DATA_START = 0x100;
const DIGITS = 0x7f00;
const UNTOUCHED = 0x7f10;
const SCRATCH = 0x8000;
const HEAP_START = 0x20000;

const ABI_EXPORT: Record<AbiVersion, string> = {
  [AbiVersion.V0_1_0]: "proxy_abi_version_0_1_0",
  [AbiVersion.V0_2_0]: "proxy_abi_version_0_2_0",
  [AbiVersion.V0_2_1]: "proxy_abi_version_0_2_1",
};

/** Builds one module; `text(...)` places strings/bytes in memory and yields `ptr len` operands. */
export class ProxyModule {
  private readonly segments: string[] = [];
  private nextData = DATA_START;
  private readonly imports = new Set<string>(["env.proxy_log"]);
  private readonly extraImports: string[] = [];

  constructor(private readonly abi = AbiVersion.V0_2_0) {}

  /** Imports host functions by "module.name" with Envoy's signatures. */
  use(...keys: string[]): this {
    for (const key of keys) this.imports.add(key);
    return this;
  }

  /** Raw import declarations (for refusal tests). */
  rawImport(declaration: string): this {
    this.extraImports.push(declaration);
    return this;
  }

  /** Places data in memory. */
  data(value: string | Uint8Array): { ptr: number; len: number } {
    const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
    const ptr = this.nextData;
    const escaped = [...bytes].map((b) => `\\${b.toString(16).padStart(2, "0")}`).join("");
    this.segments.push(`(data (i32.const ${ptr}) "${escaped}")`);
    this.nextData += bytes.length + 1;
    if (this.nextData >= DIGITS) throw new Error("test bug: data segments overflow the data area");
    return { ptr, len: bytes.length };
  }

  /** Data in memory as the two operands "(i32.const ptr) (i32.const len)". */
  text(value: string | Uint8Array): string {
    const { ptr, len } = this.data(value);
    return `(i32.const ${ptr}) (i32.const ${len})`;
  }

  build(
    body: string,
    options: { allocator?: "malloc" | "proxy_on_memory_allocate" | "none" } = {},
  ): Uint8Array {
    return compileWat(this.source(body, options.allocator ?? "malloc"));
  }

  source(body: string, allocator: "malloc" | "proxy_on_memory_allocate" | "none" = "malloc"): string {
    const allocatorFunction =
      allocator === "none"
        ? ""
        : `(func (export "${allocator}") (param $size i32) (result i32)
    (local $p i32)
    (global.set $mallocs (i32.add (global.get $mallocs) (i32.const 1)))
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8))))
    (local.get $p))`;
    return `(module
  ${[...this.imports].map((key) => hostImport(key, this.abi)).join("\n  ")}
  ${this.extraImports.join("\n  ")}
  (memory (export "memory") 64)
  (global $heap (mut i32) (i32.const ${HEAP_START}))
  (global $mallocs (mut i32) (i32.const 0))
  (data (i32.const ${DIGITS}) "0123456789abcdef")
  (data (i32.const ${UNTOUCHED}) "untouched")
  ${this.segments.join("\n  ")}
  ${allocatorFunction}
  (func (export "${ABI_EXPORT[this.abi]}"))
  ;; Logs a u32 in decimal at info level.
  (func $num (param $v i32)
    (local $p i32)
    (local.set $p (i32.const ${SCRATCH}))
    (loop $digits
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i32.store8 (local.get $p) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $digits (local.get $v)))
    (drop (call $proxy_log (i32.const 2) (local.get $p) (i32.sub (i32.const ${SCRATCH}) (local.get $p)))))
  ;; Logs memory bytes as lower-case hex at info level.
  (func $hex (param $ptr i32) (param $len i32)
    (local $i i32) (local $b i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $b (i32.load8_u (i32.add (local.get $ptr) (local.get $i))))
        (i32.store8 (i32.add (i32.const ${SCRATCH}) (i32.shl (local.get $i) (i32.const 1)))
          (i32.load8_u (i32.add (i32.const ${DIGITS}) (i32.shr_u (local.get $b) (i32.const 4)))))
        (i32.store8 (i32.add (i32.const ${SCRATCH + 1}) (i32.shl (local.get $i) (i32.const 1)))
          (i32.load8_u (i32.add (i32.const ${DIGITS}) (i32.and (local.get $b) (i32.const 15)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (drop (call $proxy_log (i32.const 2) (i32.const ${SCRATCH}) (i32.shl (local.get $len) (i32.const 1)))))
  ;; Logs what a call returned through the out-pointers: the bytes in hex, or "untouched".
  (func $out
    (if (i32.eq (i32.load (i32.const ${OUT_SIZE})) (i32.const -1))
      (then (call $say (i32.const ${UNTOUCHED}) (i32.const 9)))
      (else (call $hex (i32.load (i32.const ${OUT_PTR})) (i32.load (i32.const ${OUT_SIZE}))))))
  ;; Clears the out-pointers so a test can see what a call wrote.
  (func $clear (i32.store (i32.const ${OUT_PTR}) (i32.const -1)) (i32.store (i32.const ${OUT_SIZE}) (i32.const -1)))
  ;; Logs a string at info level.
  (func $say (param $ptr i32) (param $len i32) (drop (call $proxy_log (i32.const 2) (local.get $ptr) (local.get $len))))
  ${body}
)`;
  }
}

/** The messages a plugin logged, optionally only one VM's. */
export function messages(logs: Array<{ message: string; vm: number }>, vm?: number): string[] {
  return logs.filter((l) => vm === undefined || l.vm === vm).map((l) => l.message);
}
