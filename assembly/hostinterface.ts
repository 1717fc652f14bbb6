// What the glue needs from Envoy, as an interface: the real implementation is host.ts (the only
// module that binds Proxy-Wasm and WASI imports); as-pect tests hand the glue an in-memory fake.
// Pure: this module declares calls, it makes none.

import { parseLeadingDecimal } from "./decimal";
import { HeaderScan, HeaderWants, scanHeaderPairsInto } from "./headerscan";
import { MetricHost } from "./metrics";

/** Header maps the filter reads or writes (Proxy-Wasm's WasmHeaderMapType). */
export enum HeaderMap {
  Request = 0,
  Response = 2,
  HttpCallResponse = 6,
}

export enum LogLevel {
  Trace = 0,
  Debug = 1,
  Info = 2,
  Warn = 3,
  Error = 4,
  Critical = 5,
}

/** A shared-data value (text) and the CAS a conditional write must name. */
export class SharedValue {
  constructor(
    public readonly text: string,
    public readonly cas: u32,
  ) {}
}

/** Every host call the filter makes. A failed call reads as "absent"; none of them traps. */
export abstract class Host extends MetricHost {
  /** A string property (path from properties.ts); null when absent. An empty value is "". */
  abstract getPropertyString(path: ArrayBuffer): string | null;
  /**
   * getPropertyString, answering the previous text (`_previous`) itself when the property is that
   * same text: a value that repeats from request to request (a peer's URI SAN, the route's cluster)
   * is then neither decoded nor copied, and a memo of it (memo.ts) matches at once. This fallback
   * always reads a new string; Envoy's host (host.ts) compares in place.
   */
  getPropertyStringReusing(path: ArrayBuffer, _previous: string | null): string | null {
    return this.getPropertyString(path);
  }
  /** An int64 property; `fallback` when absent or malformed. */
  abstract getPropertyI64(path: ArrayBuffer, fallback: i64): i64;
  /** A bool property; `fallback` when absent or malformed. */
  abstract getPropertyBool(path: ArrayBuffer, fallback: bool): bool;
  /** The serialized pairs of a header map (see headerscan.ts); null when unavailable or empty. */
  abstract getHeaderPairs(map: HeaderMap): ArrayBuffer | null;
  /**
   * The wanted headers of a map, read in one call (proxy_get_header_map_pairs) and scanned into
   * `scan` (headerscan.ts); an unavailable map scans as empty. Envoy's host scans where the bytes
   * landed.
   */
  scanHeaders(map: HeaderMap, wants: HeaderWants, prefix: ArrayBuffer | null, scan: HeaderScan): HeaderScan {
    const pairs = this.getHeaderPairs(map);
    const base = pairs != null ? changetype<usize>(pairs) : 0;
    return scanHeaderPairsInto(scan, base, pairs != null ? <u32>pairs.byteLength : 0, wants, prefix);
  }
  /** The first value of a header (name as UTF-8 bytes); null when absent. */
  abstract getHeader(map: HeaderMap, name: ArrayBuffer): string | null;
  /** Where the value readHeaderInPlace last found starts, and its length in bytes. */
  inPlaceAt: usize = 0;
  inPlaceLength: i32 = 0;
  /** The fallback's encoded value, held while its bytes are read. */
  private inPlaceBytes: ArrayBuffer | null = null;
  /**
   * A header's first value as UTF-8 bytes at inPlaceAt (inPlaceLength of them), valid until the
   * next host call; false when absent. Envoy's host (host.ts) leaves them where the host wrote
   * them; this fallback encodes getHeader's string.
   */
  readHeaderInPlace(map: HeaderMap, name: ArrayBuffer): bool {
    const value = this.getHeader(map, name);
    if (value == null) return false;
    const bytes = String.UTF8.encode(value);
    this.inPlaceBytes = bytes;
    this.inPlaceAt = changetype<usize>(bytes);
    this.inPlaceLength = bytes.byteLength;
    return true;
  }
  /** A header's leading digits as a number (a `:status`); 0 when absent or not starting with one. */
  getHeaderInteger(map: HeaderMap, name: ArrayBuffer): i64 {
    const value = this.getHeader(map, name);
    if (value == null) return 0;
    const bytes = String.UTF8.encode(value);
    return parseLeadingDecimal(changetype<usize>(bytes), <u32>bytes.byteLength);
  }
  /** Sets a header (replacing the first value, or adding it). */
  abstract replaceHeader(map: HeaderMap, name: ArrayBuffer, value: string): void;
  /**
   * replaceHeader with the value as the `length` UTF-8 bytes at `at` (a stamp written into a reused
   * buffer, or encoded once): Envoy's host hands them over as they are, no string is made. This
   * fallback decodes them.
   */
  replaceHeaderBytes(map: HeaderMap, name: ArrayBuffer, at: usize, length: u32): void {
    this.replaceHeader(map, name, String.UTF8.decodeUnsafe(at, length));
  }
  /** Removes every value of a header. */
  abstract removeHeader(map: HeaderMap, name: ArrayBuffer): void;
  /** Replaces the whole map with these serialized pairs (headerscan.ts format), in one call. */
  abstract setHeaderPairs(map: HeaderMap, pairs: ArrayBuffer): void;
  /**
   * Sets a value on the current stream (proxy_set_property): Envoy stores it as filter state
   * `wasm.<name>`, which access logs print. Ignored when the host refuses.
   */
  abstract setProperty(name: ArrayBuffer, value: string): void;
  /**
   * setProperty with the value as the `length` UTF-8 bytes at `at` (a number written into a
   * reused buffer): no string is made for Envoy's host. This fallback decodes them.
   */
  setPropertyBytes(name: ArrayBuffer, at: usize, length: u32): void {
    this.setProperty(name, String.UTF8.decodeUnsafe(at, length));
  }
  /**
   * Proxy-Wasm shared data: one store per Envoy process and vm_id, seen by every worker's VM and
   * outliving a VM reload. Null when the key is absent or the host refuses.
   */
  abstract getSharedData(key: string): SharedValue | null;
  /**
   * Writes `key` if its CAS is still `cas` (0: unconditionally; an absent key is always written);
   * false on a CAS mismatch or a refusal.
   */
  abstract setSharedData(key: string, text: string, cas: u32): bool;
  /** The cas of the value readSharedDataInPlace last found. */
  sharedCas: u32 = 0;
  /**
   * getSharedData with the key as `keyLength` UTF-8 bytes at `keyAt`: the value's bytes at
   * inPlaceAt (inPlaceLength of them), valid until the next host call, its cas in sharedCas; false
   * when absent. Envoy's host (host.ts) leaves them where the host wrote them; this fallback goes
   * through getSharedData's strings.
   */
  readSharedDataInPlace(keyAt: usize, keyLength: i32): bool {
    const shared = this.getSharedData(String.UTF8.decodeUnsafe(keyAt, keyLength));
    if (shared == null) return false;
    const bytes = String.UTF8.encode(shared.text);
    this.inPlaceBytes = bytes;
    this.inPlaceAt = changetype<usize>(bytes);
    this.inPlaceLength = bytes.byteLength;
    this.sharedCas = shared.cas;
    return true;
  }
  /** setSharedData with the key and the value as UTF-8 bytes. */
  setSharedDataBytes(keyAt: usize, keyLength: i32, valueAt: usize, valueLength: i32, cas: u32): bool {
    return this.setSharedData(
      String.UTF8.decodeUnsafe(keyAt, keyLength),
      String.UTF8.decodeUnsafe(valueAt, valueLength),
      cas,
    );
  }
  /** Wall-clock time in ms since the epoch (0 if the host refuses). */
  abstract nowMilliseconds(): i64;
  abstract log(level: LogLevel, message: string): void;
  /** The plugin configuration's `size` bytes (empty when unreadable); only during proxy_on_configure. */
  abstract readPluginConfiguration(size: u32): ArrayBuffer;
  /** How often proxy_on_tick runs for the root context being configured. */
  abstract setTickPeriod(milliseconds: u32): void;
  /**
   * An HTTP call to Envoy cluster `cluster` (serialized header pairs, body, trailers): its token,
   * or -1 when the host refused it (unknown cluster, bad arguments).
   */
  abstract httpCall(
    cluster: ArrayBuffer,
    headers: ArrayBuffer,
    body: ArrayBuffer,
    trailers: ArrayBuffer,
    timeoutMs: u32,
  ): i64;
  /** proxy_done: the root context that returned false from proxy_on_done has finished. */
  abstract done(): void;
  /** Fills `length` bytes at `buffer` with random bytes; false when the host refuses. */
  abstract randomBytes(buffer: usize, length: i32): bool;
}
