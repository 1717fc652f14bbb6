// The entry stamp (`x-kwt-entry: <unix-ms>`): when a request entered the mesh, put on it by the
// first proxy running this filter (the gateway or the caller's sidecar). Pure: no host calls.

import { MAX_DECIMAL_BYTES, parseMillisBytes, writeDecimal } from "./decimal";

/**
 * The stamp's milliseconds since the epoch from the `length` bytes at `at` (where the header scan
 * kept them; `at` 0: no stamp), or -1 when it is not 1..15 decimal digits.
 */
export function parseEntryMillis(at: usize, length: u32): i64 {
  return at == 0 ? -1 : parseMillisBytes(at, length);
}

/** Room for the stamp writeEntryMillis writes. */
export const ENTRY_STAMP_MAX_BYTES: i32 = MAX_DECIMAL_BYTES;

/** Writes the stamp a proxy puts on for `nowMs` at `at` (ENTRY_STAMP_MAX_BYTES of room); its length. */
export function writeEntryMillis(nowMs: i64, at: usize): u32 {
  return writeDecimal(nowMs, at);
}
