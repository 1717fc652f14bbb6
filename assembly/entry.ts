// The entry stamp (`x-kwt-entry: <unix-ms>`): when a request entered the mesh, put on it by the
// first proxy running this filter (the gateway or the caller's sidecar). Pure: no host calls.

/** Enough digits for any millisecond time until the year 33658; more is garbage. */
const MAX_ENTRY_DIGITS: i32 = 15;

/** A decimal number of 1..`maxDigits` digits (no sign, no spaces), or -1. */
export function parseDecimal(text: string, maxDigits: i32): i64 {
  const n = text.length;
  if (n == 0 || n > maxDigits) return -1;
  let value: i64 = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    value = value * 10 + (c - 0x30);
  }
  return value;
}

/** The stamp's milliseconds since the epoch, or -1 when it is not 1..15 decimal digits. */
export function parseEntryMillis(text: string | null): i64 {
  return text == null ? -1 : parseDecimal(text, MAX_ENTRY_DIGITS);
}

/** The stamp a proxy writes for `nowMs`. */
export function formatEntryMillis(nowMs: i64): string {
  return nowMs.toString();
}
