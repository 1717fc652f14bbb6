// The one module that binds the host: thin, trap-free Proxy-Wasm calls (through the SDK's import
// declarations) and WASI random_get, behind the Host interface the glue uses (hostinterface.ts).
// The SDK's wrappers trap (CHECK_RESULT) on NotFound properties and BadArgument header calls,
// which would fail the whole VM; here every result code is looked at and turned into "absent".
// Only index.ts (the ABI entry file) imports this module; lint keeps every other module off it.

import * as imports from "@solo-io/proxy-runtime/assembly/imports";
import { HeaderMap, Host, LogLevel } from "./hostinterface";
import { MetricKind } from "./metrics";

const OK: u32 = 0;

const BUFFER_PLUGIN_CONFIGURATION: i32 = 7;

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
declare function wasi_random_get(buffer: usize, length: usize): u16;

// Out-parameters for the host: a pointer and a size (or an id, a u64 time).
const outPointer = memory.data(16);
const outSize = outPointer + 4;
const outU64 = outPointer + 8;

/** Empties the pointer and size out-parameters before a call that may leave them unwritten. */
function clearOut(): void {
  store<usize>(outPointer, 0);
  store<u32>(outSize, 0);
}

/**
 * Takes ownership of bytes the host wrote through the module's allocator (malloc pins them) and
 * hands them to the garbage collector as an ArrayBuffer; null for a 0-byte result.
 */
function adoptHostBuffer(): ArrayBuffer | null {
  const pointer = load<usize>(outPointer);
  const size = load<u32>(outSize);
  if (pointer == 0 || size == 0) return null;
  __unpin(pointer);
  return changetype<ArrayBuffer>(pointer);
}

/** The host's answer as text; "" for a 0-byte one. */
function adoptHostString(): string {
  const bytes = adoptHostBuffer();
  return bytes == null ? "" : String.UTF8.decode(bytes);
}

/** Asks for a property into the out-parameters; true when the host answered Ok. */
function readProperty(path: ArrayBuffer): bool {
  clearOut();
  return imports.proxy_get_property(changetype<usize>(path), path.byteLength, outPointer, outSize) == OK;
}

/** The raw bytes of a property, or null when absent (NotFound or any other failure). */
function getPropertyBytes(path: ArrayBuffer): ArrayBuffer | null {
  return readProperty(path) ? adoptHostBuffer() : null;
}

/** Wall-clock time in nanoseconds since the epoch (0 if the host refuses). */
function nowNanoseconds(): i64 {
  store<u64>(outU64, 0);
  if (imports.proxy_get_current_time_nanoseconds(outU64) != OK) return 0;
  return load<i64>(outU64);
}

function logLine(level: LogLevel, message: string): void {
  const bytes = String.UTF8.encode(message);
  imports.proxy_log(<usize>level, changetype<usize>(bytes), bytes.byteLength);
}

/**
 * Where AssemblyScript's aborts go (asconfig: `--use abort=abort_proc_exit`): one critical log
 * line; the compiler follows the call with `unreachable`, so the VM traps and Envoy applies the
 * plugin's fail strategy.
 */
// @ts-ignore: decorator
@global
function abort_proc_exit(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let text = "kwt: abort";
  if (message != null) text += ": " + message;
  if (fileName != null) text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  logLine(LogLevel.Critical, text);
}

/** The Host of a module running in Envoy (or the harness). */
export class ProxyWasmHost extends Host {
  getPropertyString(path: ArrayBuffer): string | null {
    return readProperty(path) ? adoptHostString() : null;
  }

  /** Reads the 8 bytes little-endian. */
  getPropertyI64(path: ArrayBuffer, fallback: i64): i64 {
    const bytes = getPropertyBytes(path);
    if (bytes == null || bytes.byteLength != 8) return fallback;
    return load<i64>(changetype<usize>(bytes));
  }

  /** Reads 1 byte. */
  getPropertyBool(path: ArrayBuffer, fallback: bool): bool {
    const bytes = getPropertyBytes(path);
    if (bytes == null || bytes.byteLength != 1) return fallback;
    return load<u8>(changetype<usize>(bytes)) != 0;
  }

  getHeaderPairs(map: HeaderMap): ArrayBuffer | null {
    clearOut();
    if (imports.proxy_get_header_map_pairs(map, outPointer, outSize) != OK) return null;
    return adoptHostBuffer();
  }

  getHeader(map: HeaderMap, name: ArrayBuffer): string | null {
    clearOut();
    const result = imports.proxy_get_header_map_value(
      map,
      changetype<usize>(name),
      name.byteLength,
      outPointer,
      outSize,
    );
    if (result != OK) return null;
    return adoptHostString();
  }

  replaceHeader(map: HeaderMap, name: ArrayBuffer, value: string): void {
    const bytes = String.UTF8.encode(value);
    imports.proxy_replace_header_map_value(
      map,
      changetype<usize>(name),
      name.byteLength,
      changetype<usize>(bytes),
      bytes.byteLength,
    );
  }

  removeHeader(map: HeaderMap, name: ArrayBuffer): void {
    imports.proxy_remove_header_map_value(map, changetype<usize>(name), name.byteLength);
  }

  setHeaderPairs(map: HeaderMap, pairs: ArrayBuffer): void {
    imports.proxy_set_header_map_pairs(map, changetype<usize>(pairs), pairs.byteLength);
  }

  setProperty(name: ArrayBuffer, value: string): void {
    const bytes = String.UTF8.encode(value);
    imports.proxy_set_property(changetype<usize>(name), name.byteLength, changetype<usize>(bytes), bytes.byteLength);
  }

  nowMilliseconds(): i64 {
    return nowNanoseconds() / 1_000_000;
  }

  log(level: LogLevel, message: string): void {
    logLine(level, message);
  }

  readPluginConfiguration(size: u32): ArrayBuffer {
    const none = new ArrayBuffer(0);
    if (size == 0) return none;
    clearOut();
    if (imports.proxy_get_buffer_bytes(BUFFER_PLUGIN_CONFIGURATION, 0, size, outPointer, outSize) != OK) {
      return none;
    }
    const bytes = adoptHostBuffer();
    return bytes != null ? bytes : none;
  }

  setTickPeriod(milliseconds: u32): void {
    imports.proxy_set_tick_period_milliseconds(milliseconds);
  }

  done(): void {
    imports.proxy_done();
  }

  httpCall(cluster: ArrayBuffer, headers: ArrayBuffer, body: ArrayBuffer, trailers: ArrayBuffer, timeoutMs: u32): i64 {
    store<u32>(outPointer, 0);
    const result = imports.proxy_http_call(
      changetype<usize>(cluster),
      cluster.byteLength,
      changetype<usize>(headers),
      headers.byteLength,
      changetype<usize>(body),
      body.byteLength,
      changetype<usize>(trailers),
      trailers.byteLength,
      timeoutMs,
      outPointer,
    );
    return result == OK ? <i64>load<u32>(outPointer) : -1;
  }

  randomBytes(buffer: usize, length: i32): bool {
    return wasi_random_get(buffer, <usize>length) == 0;
  }

  define(kind: MetricKind, name: string): u32 {
    const bytes = String.UTF8.encode(name);
    store<u32>(outPointer, 0);
    if (imports.proxy_define_metric(<i32>kind, changetype<usize>(bytes), bytes.byteLength, outPointer) != OK) return 0;
    return load<u32>(outPointer);
  }

  increment(id: u32, offset: i64): void {
    imports.proxy_increment_metric(id, offset);
  }

  record(id: u32, value: u64): void {
    imports.proxy_record_metric(id, value);
  }
}
