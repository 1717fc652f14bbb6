// Thin, trap-free bindings to the Proxy-Wasm host calls the filter uses. The SDK's wrappers trap
// (CHECK_RESULT) on NotFound properties and BadArgument header calls, which would fail the whole
// VM; here every result code is looked at and turned into "absent". Only the glue uses this file
// (filter.ts, index.ts, tracing.ts, spanexport.ts): the other modules stay pure and testable.

import * as imports from "@solo-io/proxy-runtime/assembly/imports";
import { MetricHost, MetricKind } from "./metrics";

const OK: u32 = 0;

export const REQUEST_HEADERS: i32 = 0;
export const RESPONSE_HEADERS: i32 = 2;
const BUFFER_PLUGIN_CONFIGURATION: i32 = 7;

export enum LogLevel {
  Trace = 0,
  Debug = 1,
  Info = 2,
  Warn = 3,
  Error = 4,
  Critical = 5,
}

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

/** A property path: its segments joined by NUL bytes, encoded once and reused. */
export function propertyPath(segments: string[]): ArrayBuffer {
  return String.UTF8.encode(segments.join("\0"));
}

/** The raw bytes of a property, or null when absent (NotFound or any other failure). */
function getPropertyBytes(path: ArrayBuffer): ArrayBuffer | null {
  return readProperty(path) ? adoptHostBuffer() : null;
}

/** A string property; null when absent. An empty value is "". */
export function getPropertyString(path: ArrayBuffer): string | null {
  return readProperty(path) ? adoptHostString() : null;
}

/** An int64 property (8 bytes little-endian); `fallback` when absent or malformed. */
export function getPropertyI64(path: ArrayBuffer, fallback: i64): i64 {
  const bytes = getPropertyBytes(path);
  if (bytes == null || bytes.byteLength != 8) return fallback;
  return load<i64>(changetype<usize>(bytes));
}

/** A bool property (1 byte); `fallback` when absent or malformed. */
export function getPropertyBool(path: ArrayBuffer, fallback: bool): bool {
  const bytes = getPropertyBytes(path);
  if (bytes == null || bytes.byteLength != 1) return fallback;
  return load<u8>(changetype<usize>(bytes)) != 0;
}

/** The serialized pairs of a header map (see headerscan.ts); null when unavailable or empty. */
export function getHeaderPairs(map: i32): ArrayBuffer | null {
  clearOut();
  if (imports.proxy_get_header_map_pairs(map, outPointer, outSize) != OK) return null;
  return adoptHostBuffer();
}

/** The first value of a header (name as UTF-8 bytes); null when absent. */
export function getHeader(map: i32, name: ArrayBuffer): string | null {
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

/** Sets a header (replacing the first value, or adding it). */
export function replaceHeader(map: i32, name: ArrayBuffer, value: string): void {
  const bytes = String.UTF8.encode(value);
  imports.proxy_replace_header_map_value(map, changetype<usize>(name), name.byteLength, changetype<usize>(bytes), bytes.byteLength);
}

/** Removes every value of a header. */
export function removeHeader(map: i32, name: ArrayBuffer): void {
  imports.proxy_remove_header_map_value(map, changetype<usize>(name), name.byteLength);
}

/** Wall-clock time in nanoseconds since the epoch (0 if the host refuses). */
function nowNanoseconds(): i64 {
  store<u64>(outU64, 0);
  if (imports.proxy_get_current_time_nanoseconds(outU64) != OK) return 0;
  return load<i64>(outU64);
}

export function nowMilliseconds(): i64 {
  return nowNanoseconds() / 1_000_000;
}

export function log(level: LogLevel, message: string): void {
  const bytes = String.UTF8.encode(message);
  imports.proxy_log(<usize>level, changetype<usize>(bytes), bytes.byteLength);
}

/** The plugin configuration text; only readable during proxy_on_configure. */
export function readPluginConfiguration(size: u32): string {
  if (size == 0) return "";
  clearOut();
  if (imports.proxy_get_buffer_bytes(BUFFER_PLUGIN_CONFIGURATION, 0, size, outPointer, outSize) != OK) return "";
  return adoptHostString();
}

/** Metrics through proxy_define_metric / increment / record. */
export class HostMetrics extends MetricHost {
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
