// The physical floor of a path: a WAT module that makes exactly the host calls the filter made on
// it (recorded through CallRecorder), with the same scalars and the same argument bytes (held in
// data segments), returns what the filter returned, and does nothing else. Its allocator is a bump
// pointer reset at every callback, so it neither collects nor grows once warm. With no recording
// it is the empty module: the same callbacks, no host calls.

import {
  AbiVersion,
  type FunctionType,
  hostFunctionSignatures,
  moduleCallbackSignatures,
  type Wabt,
  watToBinary,
} from "../../host-tests/harness/index.js";
import type { RecordedCall, RecordedCallback } from "./boundary.js";

export interface FloorScript {
  /** The worker VM's start (root context create, vm start, configure), replayed as it was. */
  startup: RecordedCallback[];
  /**
   * Host calls the filter made between start and the first replayed request that leave state
   * behind (metric definitions: ids are handed out in order), replayed at the end of configure.
   */
  warmupDefinitions: RecordedCall[];
  /** Request i of the workload replays requests[i % requests.length]. */
  requests: RecordedCallback[][];
}

const ABI = AbiVersion.V0_2_0;
/** Out-pointer slots, one per argument position (8 bytes each: u64 results fit). */
const OUT_SLOTS = 0x100;
const FILL_BUFFER = 0x400;
const FILL_BUFFER_BYTES = 0x400;
const DATA_START = 0x1000;
const PAGE = 65536;
/** Callbacks on the root context: replayed from the start-up recording. */
const ROOT_CALLBACKS = new Set(["proxy_on_vm_start", "proxy_on_configure"]);

function signature(map: Map<string, FunctionType>, name: string): FunctionType {
  const found = map.get(name);
  if (found === undefined) throw new Error(`bench: ${name} is not a Proxy-Wasm ABI ${ABI} function`);
  return found;
}

function watSignature(type: FunctionType): string {
  return (
    (type.params.length > 0 ? ` (param ${type.params.join(" ")})` : "") +
    (type.results.length > 0 ? ` (result ${type.results.join(" ")})` : "")
  );
}

class DataArea {
  private readonly placed = new Map<string, number>();
  readonly segments: string[] = [];
  next = DATA_START;

  /** Address of these bytes (hex) in the module's data, placed once. */
  address(hex: string): number {
    const known = this.placed.get(hex);
    if (known !== undefined) return known;
    const address = this.next;
    this.placed.set(hex, address);
    this.segments.push(`(data (i32.const ${address}) "${hex.replace(/(..)/g, "\\$1")}")`);
    this.next += hex.length / 2 + 1;
    return address;
  }
}

const HOST_SIGNATURES = hostFunctionSignatures(ABI);
// The floor exports no start function: only the proxy_on_* callbacks it replays.
const CALLBACK_SIGNATURES = moduleCallbackSignatures(ABI, "_start");

function replayCall(call: RecordedCall, data: DataArea): string {
  const type = signature(HOST_SIGNATURES, call.key);
  const operands: string[] = [];
  for (const argument of call.args) {
    const position = operands.length;
    switch (argument.kind) {
      case "value":
        operands.push(`(${type.params[position]}.const ${argument.value})`);
        break;
      case "bytes":
        operands.push(
          `(i32.const ${argument.bytes.length === 0 ? 0 : data.address(argument.bytes)})`,
          `(i32.const ${argument.bytes.length / 2})`,
        );
        break;
      case "out":
        operands.push(`(i32.const ${OUT_SLOTS + 8 * position})`);
        break;
      case "fill":
        if (argument.length > FILL_BUFFER_BYTES) {
          throw new Error(
            `bench: ${call.key} fills ${argument.length} bytes; the floor holds ${FILL_BUFFER_BYTES}`,
          );
        }
        operands.push(`(i32.const ${FILL_BUFFER})`, `(i32.const ${argument.length})`);
        break;
    }
  }
  if (operands.length !== type.params.length) {
    throw new Error(
      `bench: ${call.key} recorded with ${operands.length} words, expected ${type.params.length}`,
    );
  }
  const name = call.key.replace(".", "_");
  return `(drop (call $${name} ${operands.join(" ")}))`;
}

function replayBody(calls: RecordedCall[], data: DataArea): string {
  return calls.map((call) => replayCall(call, data)).join("\n    ");
}

/** The WAT text of the floor for a recording (the empty module when nothing was recorded). */
export function floorWat(script: FloorScript): string {
  const data = new DataArea();
  const requests = script.requests.length > 0 ? script.requests : [[]];
  const names = new Set<string>(["proxy_on_context_create", "proxy_on_done", "proxy_on_delete"]);
  for (const callback of [...script.startup, ...requests.flat()]) names.add(callback.name);
  names.delete("malloc");
  const streamNames = [...names].filter((name) => !ROOT_CALLBACKS.has(name));
  const keys = new Set<string>();
  for (const callback of [...script.startup, ...requests.flat()]) {
    for (const call of callback.calls) keys.add(call.key);
  }
  for (const call of script.warmupDefinitions) keys.add(call.key);

  const imports = [...keys].map((key) => {
    const [module, name] = key.split(".") as [string, string];
    return `(import "${module}" "${name}" (func $${module}_${name}${watSignature(signature(HOST_SIGNATURES, key))}))`;
  });

  // One replay function per (request, stream callback), reached through a table.
  const replays: string[] = [];
  const table: string[] = [];
  requests.forEach((request, index) => {
    for (const name of streamNames) {
      const callback = request.find((c) => c.name === name);
      const fn = `$r${index}_${name}`;
      replays.push(
        `(func ${fn} (type $replay)\n    ${callback ? replayBody(callback.calls, data) : ""}\n    (i32.const ${callback?.result ?? 0}))`,
      );
      table.push(fn);
    }
  });
  const startup = (name: string, extra: RecordedCall[] = []): string => {
    const callback = script.startup.find((c) => c.name === name);
    return replayBody([...(callback?.calls ?? []), ...extra], data);
  };
  const startupResult = (name: string): number => script.startup.find((c) => c.name === name)?.result ?? 1;

  const exports = streamNames.map((name, slot) => {
    const type = signature(CALLBACK_SIGNATURES, name);
    const params = type.params.map((p, i) => `(param $p${i} ${p})`).join(" ");
    const result = type.results.length > 0 ? ` (result ${type.results.join(" ")})` : "";
    const dispatch = `(call_indirect (type $replay) (i32.add (i32.mul (global.get $request) (i32.const ${streamNames.length})) (i32.const ${slot})))`;
    const finish = type.results.length > 0 ? "" : "(drop)";
    let prologue = "(global.set $heap (global.get $heapBase))";
    let rootCase = "";
    if (name === "proxy_on_context_create") {
      // A root context (parent 0) replays the start-up; a stream picks its recorded request.
      rootCase = `(if (i32.eqz (local.get $p1)) (then (global.set $root (local.get $p0)) ${startup(name)} (return)))`;
      prologue +=
        ` (global.set $request (i32.rem_u (global.get $streams) (i32.const ${requests.length})))` +
        ` (global.set $streams (i32.add (global.get $streams) (i32.const 1)))`;
    } else if (type.params.length > 0) {
      // Root-context callbacks at shutdown (done, delete) are not replayed: they are not a request's.
      rootCase = `(if (i32.eq (local.get $p0) (global.get $root)) (then (return${type.results.length > 0 ? " (i32.const 1)" : ""})))`;
    }
    return `(func (export "${name}") ${params}${result}\n    ${rootCase}\n    ${prologue}\n    ${dispatch} ${finish})`;
  });
  const rootExports = [...ROOT_CALLBACKS].map(
    (name) =>
      `(func (export "${name}") (param i32 i32) (result i32)\n    ${startup(name, name === "proxy_on_configure" ? script.warmupDefinitions : [])}\n    (i32.const ${startupResult(name)}))`,
  );

  const heapBase = Math.ceil(data.next / 8) * 8;
  const pages = Math.ceil((heapBase + PAGE) / PAGE);
  return `(module
  (type $replay (func (result i32)))
  ${imports.join("\n  ")}
  (memory (export "memory") ${pages})
  (global $heapBase i32 (i32.const ${heapBase}))
  (global $heap (mut i32) (i32.const ${heapBase}))
  (global $root (mut i32) (i32.const -1))
  (global $streams (mut i32) (i32.const 0))
  (global $request (mut i32) (i32.const 0))
  ${data.segments.join("\n  ")}
  (table ${table.length} funcref)
  (elem (i32.const 0) ${table.join(" ")})
  (func (export "proxy_abi_version_0_2_0"))
  (func (export "malloc") (param $size i32) (result i32)
    (local $p i32) (local $end i32)
    (local.set $p (global.get $heap))
    (local.set $end (i32.add (local.get $p) (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8))))
    (if (i32.gt_u (local.get $end) (i32.shl (memory.size) (i32.const 16)))
      (then
        (if (i32.lt_s (memory.grow (i32.sub (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16)) (memory.size))) (i32.const 0))
          (then (return (i32.const 0))))))
    (global.set $heap (local.get $end))
    (local.get $p))
  ${rootExports.join("\n  ")}
  ${exports.join("\n  ")}
  ${replays.join("\n  ")}
)`;
}

let wabt: Promise<Wabt> | undefined;

/** WAT text to a binary module (wabt is loaded on first use: only the benchmark needs it). */
export async function compileFloor(text: string): Promise<Uint8Array> {
  wabt ??= import("wabt").then((module) => module.default());
  return watToBinary(await wabt, "floor.wat", text);
}
