// The one module that binds the host: thin, trap-free Proxy-Wasm calls (through the SDK's import
// declarations) and WASI random_get, behind the Host interface the glue uses (hostinterface.ts).
// The SDK's wrappers trap (CHECK_RESULT) on NotFound properties and BadArgument header calls,
// which would fail the whole VM; here every result code is looked at and turned into "absent".
// Only index.ts (the ABI entry file) imports this module; lint keeps every other module off it.

import * as imports from "@solo-io/proxy-runtime/assembly/imports";
import { parseLeadingDecimal } from "./decimal";
import { noteGarbage } from "./garbage";
import { HeaderScan, HeaderWants, scanHeaderPairsInto } from "./headerscan";
import { HeaderMap, Host, LogLevel, SharedValue } from "./hostinterface";
import { bytesAreAsciiText, writeAsciiBytes } from "./text";
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

// Where the host writes what it hands in (through malloc, below) when it fits: a property, a
// :status or a request's header map is read in place, so the request path leaves no garbage for
// them. Larger answers (and a second one while the first is still being read) are managed
// ArrayBuffers, pinned until adopted, as the SDK's allocator does.
const SCRATCH_BYTES: i32 = 16 * 1024;
const scratch = memory.data(SCRATCH_BYTES, 16);
let scratchBusy = false;

/** The module's allocator for the host (proxy-wasm-cpp-host calls `malloc`). */
export function malloc(size: i32): usize {
  if (!scratchBusy && size <= SCRATCH_BYTES) {
    scratchBusy = true;
    return scratch;
  }
  return __pin(__new(size, idof<ArrayBuffer>()));
}

/**
 * Empties the pointer and size out-parameters before a call that may leave them unwritten, and
 * frees the scratch area: whatever the last answer left there has been read.
 */
function clearOut(): void {
  store<usize>(outPointer, 0);
  store<u32>(outSize, 0);
  scratchBusy = false;
}

function answerPointer(): usize {
  return load<u32>(outSize) != 0 ? load<usize>(outPointer) : 0;
}

/** Lets go of the last answer: a managed one becomes garbage, the scratch area is free again. */
function releaseAnswer(): void {
  const pointer = load<usize>(outPointer);
  if (pointer == scratch) {
    scratchBusy = false;
  } else if (pointer != 0) {
    noteGarbage(load<u32>(outSize));
    __unpin(pointer);
  }
}

/**
 * Takes ownership of the bytes of the last answer as an ArrayBuffer (copied out of the scratch
 * area); null for a 0-byte result.
 */
function adoptHostBuffer(): ArrayBuffer | null {
  const pointer = answerPointer();
  if (pointer == 0) {
    releaseAnswer();
    return null;
  }
  const size = load<u32>(outSize);
  if (pointer != scratch) {
    releaseAnswer();
    return changetype<ArrayBuffer>(pointer);
  }
  const copy = new ArrayBuffer(size);
  memory.copy(changetype<usize>(copy), pointer, size);
  noteGarbage(size);
  releaseAnswer();
  return copy;
}

/** The last answer as text; "" for a 0-byte one. */
function adoptHostString(): string {
  const pointer = answerPointer();
  const size = load<u32>(outSize);
  const text = pointer == 0 ? "" : String.UTF8.decodeUnsafe(pointer, size);
  noteGarbage(<i64>size * 2);
  releaseAnswer();
  return text;
}

/** Whether the last answer's bytes are `text`, all of it ASCII (then its UTF-8 is its characters). */
function answerIsAscii(text: string): bool {
  return bytesAreAsciiText(answerPointer(), load<u32>(outSize), text);
}

/** Asks for a property into the out-parameters; true when the host answered Ok. */
function readProperty(path: ArrayBuffer): bool {
  clearOut();
  return imports.proxy_get_property(changetype<usize>(path), path.byteLength, outPointer, outSize) == OK;
}

/**
 * A property of exactly `size` bytes, read in place: its address (valid until the next host call),
 * or 0 when absent or of another size.
 */
function propertyOfSize(path: ArrayBuffer, size: u32): usize {
  if (!readProperty(path)) return 0;
  const pointer = answerPointer();
  releaseAnswer();
  return load<u32>(outSize) == size ? pointer : 0;
}

/** Asks for a header's first value into the out-parameters; true when the host answered Ok. */
function readHeader(map: HeaderMap, name: ArrayBuffer): bool {
  clearOut();
  return (
    imports.proxy_get_header_map_value(map, changetype<usize>(name), name.byteLength, outPointer, outSize) == OK
  );
}

/** Wall-clock time in nanoseconds since the epoch (0 if the host refuses). */
function nowNanoseconds(): i64 {
  store<u64>(outU64, 0);
  if (imports.proxy_get_current_time_nanoseconds(outU64) != OK) return 0;
  return load<i64>(outU64);
}

/**
 * Text the module hands the host, as UTF-8: written into the scratch area when it fits (the host
 * reads it during the call and writes nothing there), else a new buffer. Read `textAt` and
 * `textLength` right after.
 */
let textAt: usize = 0;
let textLength: i32 = 0;

function encodeText(text: string): void {
  if (text.length <= SCRATCH_BYTES && writeAsciiBytes(text, scratch)) {
    scratchBusy = false;
    textAt = scratch;
    textLength = text.length;
    return;
  }
  const length = String.UTF8.byteLength(text);
  if (length <= SCRATCH_BYTES) {
    scratchBusy = false;
    textAt = scratch;
  } else {
    textAt = changetype<usize>(new ArrayBuffer(length));
    noteGarbage(length);
  }
  textLength = <i32>String.UTF8.encodeUnsafe(changetype<usize>(text), text.length, textAt);
}

/** Also what abort_proc_exit calls, which may run before this module's globals are set: no scratch. */
function logLine(level: LogLevel, message: string): void {
  const bytes = String.UTF8.encode(message);
  imports.proxy_log(<usize>level, changetype<usize>(bytes), bytes.byteLength);
}

/**
 * Where the debug module's aborts go (asconfig's debug target: `--use abort=abort_proc_exit`): one
 * critical log line; the compiler follows the call with `unreachable`, so the VM traps and Envoy
 * applies the plugin's fail strategy. The release target's `abort=` makes every abort that bare
 * `unreachable`, the same trap without the line: its messages and file names were 1.6 KB of the
 * module.
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

  /** Compares the answer where the host wrote it: `previous` comes back without a new string. */
  getPropertyStringReusing(path: ArrayBuffer, previous: string | null): string | null {
    if (!readProperty(path)) return null;
    if (previous != null && answerIsAscii(previous)) {
      releaseAnswer();
      return previous;
    }
    return adoptHostString();
  }

  /** Reads the 8 bytes little-endian. */
  getPropertyI64(path: ArrayBuffer, fallback: i64): i64 {
    const at = propertyOfSize(path, 8);
    return at != 0 ? load<i64>(at) : fallback;
  }

  /** Reads 1 byte. */
  getPropertyBool(path: ArrayBuffer, fallback: bool): bool {
    const at = propertyOfSize(path, 1);
    return at != 0 ? load<u8>(at) != 0 : fallback;
  }

  getHeaderPairs(map: HeaderMap): ArrayBuffer | null {
    clearOut();
    if (imports.proxy_get_header_map_pairs(map, outPointer, outSize) != OK) return null;
    return adoptHostBuffer();
  }

  /** Scans the map where the host wrote it (headerscan.ts): the wanted values are all it keeps. */
  scanHeaders(map: HeaderMap, wants: HeaderWants, prefix: ArrayBuffer | null, scan: HeaderScan): HeaderScan {
    clearOut();
    const ok = imports.proxy_get_header_map_pairs(map, outPointer, outSize) == OK;
    const pointer = ok ? answerPointer() : 0;
    scanHeaderPairsInto(scan, pointer, pointer != 0 ? load<u32>(outSize) : 0, wants, prefix);
    releaseAnswer();
    return scan;
  }

  getHeader(map: HeaderMap, name: ArrayBuffer): string | null {
    return readHeader(map, name) ? adoptHostString() : null;
  }

  readHeaderInPlace(map: HeaderMap, name: ArrayBuffer): bool {
    if (!readHeader(map, name)) return false;
    this.inPlaceAt = answerPointer();
    this.inPlaceLength = <i32>load<u32>(outSize);
    releaseAnswer();
    return true;
  }

  getHeaderInteger(map: HeaderMap, name: ArrayBuffer): i64 {
    if (!readHeader(map, name)) return 0;
    const pointer = answerPointer();
    const value = pointer != 0 ? parseLeadingDecimal(pointer, load<u32>(outSize)) : 0;
    releaseAnswer();
    return value;
  }

  replaceHeader(map: HeaderMap, name: ArrayBuffer, value: string): void {
    encodeText(value);
    imports.proxy_replace_header_map_value(map, changetype<usize>(name), name.byteLength, textAt, textLength);
  }

  replaceHeaderBytes(map: HeaderMap, name: ArrayBuffer, at: usize, length: u32): void {
    imports.proxy_replace_header_map_value(map, changetype<usize>(name), name.byteLength, at, length);
  }

  removeHeader(map: HeaderMap, name: ArrayBuffer): void {
    imports.proxy_remove_header_map_value(map, changetype<usize>(name), name.byteLength);
  }

  getSharedData(key: string): SharedValue | null {
    const name = String.UTF8.encode(key);
    clearOut();
    store<u32>(outU64, 0);
    const result = imports.proxy_get_shared_data(
      changetype<usize>(name),
      name.byteLength,
      outPointer,
      outSize,
      outU64,
    );
    if (result != OK) return null;
    const cas = load<u32>(outU64);
    return new SharedValue(adoptHostString(), cas);
  }

  readSharedDataInPlace(keyAt: usize, keyLength: i32): bool {
    clearOut();
    store<u32>(outU64, 0);
    if (imports.proxy_get_shared_data(keyAt, keyLength, outPointer, outSize, outU64) != OK) return false;
    this.sharedCas = load<u32>(outU64);
    this.inPlaceAt = answerPointer();
    this.inPlaceLength = <i32>load<u32>(outSize);
    releaseAnswer();
    return true;
  }

  setSharedDataBytes(keyAt: usize, keyLength: i32, valueAt: usize, valueLength: i32, cas: u32): bool {
    return imports.proxy_set_shared_data(keyAt, keyLength, valueAt, valueLength, cas) == OK;
  }

  setSharedData(key: string, text: string, cas: u32): bool {
    const name = String.UTF8.encode(key);
    const bytes = String.UTF8.encode(text);
    return (
      imports.proxy_set_shared_data(
        changetype<usize>(name),
        name.byteLength,
        changetype<usize>(bytes),
        bytes.byteLength,
        cas,
      ) == OK
    );
  }

  setHeaderPairs(map: HeaderMap, pairs: ArrayBuffer): void {
    imports.proxy_set_header_map_pairs(map, changetype<usize>(pairs), pairs.byteLength);
  }

  setProperty(name: ArrayBuffer, value: string): void {
    encodeText(value);
    imports.proxy_set_property(changetype<usize>(name), name.byteLength, textAt, textLength);
  }

  setPropertyBytes(name: ArrayBuffer, at: usize, length: u32): void {
    imports.proxy_set_property(changetype<usize>(name), name.byteLength, at, length);
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
    encodeText(name);
    store<u32>(outPointer, 0);
    if (imports.proxy_define_metric(<i32>kind, textAt, textLength, outPointer) != OK) return 0;
    return load<u32>(outPointer);
  }

  increment(id: u32, offset: i64): void {
    imports.proxy_increment_metric(id, offset);
  }

  record(id: u32, value: u64): void {
    imports.proxy_record_metric(id, value);
  }
}
