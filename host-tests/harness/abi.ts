// What Envoy (proxy-wasm-cpp-host) registers for a module, per ABI version, and the checks it makes
// before a module may run. Every refusal names its cause the way Envoy's log line does.

import { ModuleRefusedError } from "./errors.js";
import {
  formatFunctionType,
  sameFunctionType,
  type FunctionType,
  type ModuleShape,
  type ValueType,
} from "./wasm-binary.js";

export enum AbiVersion {
  V0_1_0 = "0.1.0",
  V0_2_0 = "0.2.0",
  V0_2_1 = "0.2.1",
}

const ABI_EXPORTS: Array<[string, AbiVersion]> = [
  ["proxy_abi_version_0_1_0", AbiVersion.V0_1_0],
  ["proxy_abi_version_0_2_0", AbiVersion.V0_2_0],
  ["proxy_abi_version_0_2_1", AbiVersion.V0_2_1],
];

/** V8 runs with `--wasm_max_mem_pages` = 1 GiB / 64 KiB in Envoy. */
export const MAX_MEMORY_PAGES = 16384;

function sig(paramCount: number, results: ValueType[] = ["i32"], params?: ValueType[]): FunctionType {
  return { params: params ?? Array<ValueType>(paramCount).fill("i32"), results };
}

/** `env.proxy_*` calls registered for every ABI version (FOR_ALL_HOST_FUNCTIONS). */
const COMMON_HOST_FUNCTIONS: Record<string, FunctionType> = {
  proxy_log: sig(3),
  proxy_get_status: sig(3),
  proxy_set_property: sig(4),
  proxy_get_property: sig(4),
  proxy_send_local_response: sig(8),
  proxy_get_shared_data: sig(5),
  proxy_set_shared_data: sig(5),
  proxy_register_shared_queue: sig(3),
  proxy_resolve_shared_queue: sig(5),
  proxy_dequeue_shared_queue: sig(3),
  proxy_enqueue_shared_queue: sig(3),
  proxy_get_header_map_value: sig(5),
  proxy_add_header_map_value: sig(5),
  proxy_replace_header_map_value: sig(5),
  proxy_remove_header_map_value: sig(3),
  proxy_get_header_map_pairs: sig(3),
  proxy_set_header_map_pairs: sig(3),
  proxy_get_header_map_size: sig(2),
  proxy_get_buffer_status: sig(3),
  proxy_get_buffer_bytes: sig(5),
  proxy_set_buffer_bytes: sig(5),
  proxy_http_call: sig(10),
  proxy_grpc_call: sig(12),
  proxy_grpc_stream: sig(9),
  proxy_grpc_close: sig(1),
  proxy_grpc_cancel: sig(1),
  proxy_grpc_send: sig(4),
  proxy_set_tick_period_milliseconds: sig(1),
  proxy_get_current_time_nanoseconds: sig(1),
  proxy_define_metric: sig(4),
  proxy_increment_metric: sig(2, ["i32"], ["i32", "i64"]),
  proxy_record_metric: sig(2, ["i32"], ["i32", "i64"]),
  proxy_get_metric: sig(2),
  proxy_set_effective_context: sig(1),
  proxy_done: sig(0),
  proxy_call_foreign_function: sig(6),
};

/** Registered only for the ABI version the module exports (WasmBase::registerCallbacks). */
const ABI_SPECIFIC_HOST_FUNCTIONS: Record<AbiVersion, Record<string, FunctionType>> = {
  [AbiVersion.V0_1_0]: {
    proxy_get_configuration: sig(2),
    proxy_continue_request: sig(0),
    proxy_continue_response: sig(0),
    proxy_clear_route_cache: sig(0),
  },
  [AbiVersion.V0_2_0]: {
    proxy_continue_stream: sig(1),
    proxy_close_stream: sig(1),
  },
  [AbiVersion.V0_2_1]: {
    proxy_continue_stream: sig(1),
    proxy_close_stream: sig(1),
    proxy_get_log_level: sig(1),
  },
};

/** Other `env` imports: emscripten helpers and Envoy's own DNS call. */
const OTHER_ENV_FUNCTIONS: Record<string, FunctionType> = {
  pthread_equal: sig(2),
  emscripten_notify_memory_growth: sig(1, []),
  envoy_resolve_dns: sig(3),
};

/**
 * The WASI calls Envoy 1.28-1.32 (Istio 1.20-1.24) register, under both `wasi_unstable` and
 * `wasi_snapshot_preview1`. Later hosts add stubs; a module must not rely on them.
 */
export const WASI_FUNCTIONS: Record<string, FunctionType> = {
  fd_write: sig(4),
  fd_read: sig(4),
  fd_seek: sig(4, ["i32"], ["i32", "i64", "i32", "i32"]),
  fd_close: sig(1),
  fd_fdstat_get: sig(2),
  environ_get: sig(2),
  environ_sizes_get: sig(2),
  args_get: sig(2),
  args_sizes_get: sig(2),
  clock_time_get: sig(3, ["i32"], ["i32", "i64", "i32"]),
  random_get: sig(2),
  proc_exit: sig(1, []),
  path_open: sig(9, ["i32"], ["i32", "i32", "i32", "i32", "i32", "i64", "i64", "i32", "i32"]),
  fd_prestat_get: sig(2),
  fd_prestat_dir_name: sig(3),
};

export const WASI_MODULES = ["wasi_unstable", "wasi_snapshot_preview1"] as const;

/** Everything the host links for a module of this ABI version, keyed "module.name". */
export function hostFunctionSignatures(abi: AbiVersion): Map<string, FunctionType> {
  const result = new Map<string, FunctionType>();
  for (const table of [COMMON_HOST_FUNCTIONS, ABI_SPECIFIC_HOST_FUNCTIONS[abi], OTHER_ENV_FUNCTIONS]) {
    for (const [name, type] of Object.entries(table)) result.set(`env.${name}`, type);
  }
  for (const module of WASI_MODULES) {
    for (const [name, type] of Object.entries(WASI_FUNCTIONS)) result.set(`${module}.${name}`, type);
  }
  return result;
}

/**
 * Calls allowed while the VM starts (`_initialize`, `main`, `_start`): logging, stdout/stderr,
 * args/environ, preopens, clocks and randomness. This is the list of proxy-wasm-cpp-host at Envoy
 * 1.28's pin (5d76116, src/wasm.cc WasmBase::startVm); `fd_fdstat_get` (Dec 2024, c4d7bb0) and
 * `emscripten_notify_memory_growth` (Nov 2025, 14fa83a) were allowed only later. Anything else
 * traps with "restricted_callback" and the load fails.
 */
const START_ALLOWED_WASI = [
  "fd_write",
  "args_sizes_get",
  "args_get",
  "environ_sizes_get",
  "environ_get",
  "fd_prestat_get",
  "fd_prestat_dir_name",
  "clock_time_get",
  "random_get",
];
export const START_ALLOWED_CALLS: ReadonlySet<string> = new Set([
  "env.proxy_log",
  ...WASI_MODULES.flatMap((module) => START_ALLOWED_WASI.map((name) => `${module}.${name}`)),
]);

/** While the host calls the module's allocator to hand data back (WasmBase::allocMemory). */
export const ALLOCATOR_ALLOWED_CALLS: ReadonlySet<string> = new Set([
  "env.proxy_log",
  ...WASI_MODULES.flatMap((module) => ["fd_write", "clock_time_get"].map((name) => `${module}.${name}`)),
]);

/** Exports the host calls, with the signature it expects (WasmBase::getFunctions). */
const MODULE_CALLBACKS: Record<string, FunctionType> = {
  _initialize: sig(0, []),
  malloc: sig(1),
  proxy_on_memory_allocate: sig(1),
  proxy_validate_configuration: sig(2),
  proxy_on_vm_start: sig(2),
  proxy_on_configure: sig(2),
  proxy_on_tick: sig(1, []),
  proxy_on_context_create: sig(2, []),
  proxy_on_new_connection: sig(1),
  proxy_on_downstream_data: sig(3),
  proxy_on_upstream_data: sig(3),
  proxy_on_downstream_connection_close: sig(2, []),
  proxy_on_upstream_connection_close: sig(2, []),
  proxy_on_request_body: sig(3),
  proxy_on_request_trailers: sig(2),
  proxy_on_request_metadata: sig(2),
  proxy_on_response_body: sig(3),
  proxy_on_response_trailers: sig(2),
  proxy_on_response_metadata: sig(2),
  proxy_on_http_call_response: sig(5, []),
  proxy_on_grpc_receive: sig(3, []),
  proxy_on_grpc_close: sig(3, []),
  proxy_on_grpc_receive_initial_metadata: sig(3, []),
  proxy_on_grpc_receive_trailing_metadata: sig(3, []),
  proxy_on_queue_ready: sig(2, []),
  proxy_on_done: sig(1),
  proxy_on_log: sig(1, []),
  proxy_on_delete: sig(1, []),
  envoy_on_resolve_dns: sig(3, []),
  envoy_on_stats_update: sig(2, []),
};

/**
 * The start function the host will call besides `_initialize`: `main` for a reactor (it has
 * `_initialize`), else `_start`. Only that one is looked up, so only its signature is checked;
 * `__main_void` is neither called nor checked (WasmBase::getFunctions at the pin; calling
 * `__main_void` came in Mar 2026, e55d150).
 */
function startFunctionToCall(exportedNames: ReadonlySet<string>): "main" | "_start" {
  return exportedNames.has("_initialize") ? "main" : "_start";
}

const START_FUNCTION_SIGNATURES = { main: sig(2), _start: sig(0, []) } as const;

export function moduleCallbackSignatures(
  abi: AbiVersion,
  startFunction: "main" | "_start",
): Map<string, FunctionType> {
  const result = new Map(Object.entries(MODULE_CALLBACKS));
  result.set(startFunction, START_FUNCTION_SIGNATURES[startFunction]);
  const headerParams = abi === AbiVersion.V0_1_0 ? 2 : 3;
  result.set("proxy_on_request_headers", sig(headerParams));
  result.set("proxy_on_response_headers", sig(headerParams));
  if (abi !== AbiVersion.V0_1_0) result.set("proxy_on_foreign_function", sig(3, []));
  return result;
}

export function detectAbiVersion(shape: ModuleShape): AbiVersion {
  for (const exported of shape.exports) {
    if (exported.kind !== "function") continue;
    const match = ABI_EXPORTS.find(([name]) => name === exported.name);
    if (match) return match[1];
  }
  throw new ModuleRefusedError(
    "Missing or unknown Proxy-Wasm ABI version: the module exports none of " +
      ABI_EXPORTS.map(([name]) => name).join(", "),
  );
}

/** Envoy's link step: every import must be a host function of the same signature. */
export function checkImports(shape: ModuleShape, abi: AbiVersion): void {
  const host = hostFunctionSignatures(abi);
  for (const imported of shape.imports) {
    const key = `${imported.module}.${imported.name}`;
    if (imported.kind === "memory" || imported.kind === "table") continue;
    const provided = imported.kind === "function" ? host.get(key) : undefined;
    if (provided === undefined || imported.type === undefined) {
      const otherAbi = Object.values(AbiVersion).find((v) => v !== abi && hostFunctionSignatures(v).has(key));
      const hint = otherAbi
        ? ` (registered only for ABI ${otherAbi}; this module exports ABI ${abi})`
        : imported.kind === "function"
          ? " (Envoy does not provide it)"
          : ` (Envoy does not provide ${imported.kind} imports)`;
      throw new ModuleRefusedError(`Failed to load Wasm module due to a missing import: ${key}${hint}`);
    }
    if (!sameFunctionType(imported.type, provided)) {
      throw new ModuleRefusedError(
        `Failed to load Wasm module due to an import type mismatch: ${key}, want: ` +
          `${formatFunctionType(imported.type)}, but host exports: ${formatFunctionType(provided)}`,
      );
    }
  }
}

export type AllocatorExport = "malloc" | "proxy_on_memory_allocate";

/** Envoy's getFunctions step: an allocator, and the expected signature for every known callback. */
export function checkExports(shape: ModuleShape, abi: AbiVersion): AllocatorExport {
  const names = new Set(shape.exports.filter((e) => e.kind === "function").map((e) => e.name));
  const expected = moduleCallbackSignatures(abi, startFunctionToCall(names));
  for (const exported of shape.exports) {
    const want = expected.get(exported.name);
    if (want === undefined || exported.kind !== "function" || exported.type === undefined) continue;
    if (!sameFunctionType(exported.type, want)) {
      throw new ModuleRefusedError(
        `Bad function signature for: ${exported.name}, want: ${formatFunctionType(want)}, ` +
          `but the module exports: ${formatFunctionType(exported.type)}`,
      );
    }
  }
  if (names.has("malloc")) return "malloc";
  if (names.has("proxy_on_memory_allocate")) return "proxy_on_memory_allocate";
  throw new ModuleRefusedError(
    "Wasm module is missing malloc function: export `malloc` or `proxy_on_memory_allocate` (i32) -> i32",
  );
}

export function checkMemories(shape: ModuleShape): void {
  const memories = [...shape.definedMemories, ...shape.imports.flatMap((i) => (i.memory ? [i.memory] : []))];
  for (const memory of memories) {
    if (memory.min > MAX_MEMORY_PAGES) {
      throw new ModuleRefusedError(
        `Failed to load Wasm bytecode: initial memory size (${memory.min} pages) is larger than ` +
          `the limit Envoy sets (${MAX_MEMORY_PAGES} pages = 1 GiB)`,
      );
    }
  }
}
