// Unsigned decimal numbers inside header values (entry stamp, hop stamp time, pod stamp wait,
// stamp version). Pure: no host calls.

/** A decimal number of 1..`maxDigits` digits (no sign, no spaces), or -1. */
export function parseDecimal(text: string, maxDigits: i32): i64 {
  return parseDecimalFrom(text, 0, maxDigits);
}

/** parseDecimal of `text` from `start` to its end, without cutting it out. */
export function parseDecimalFrom(text: string, start: i32, maxDigits: i32): i64 {
  const end = text.length;
  const n = end - start;
  if (n <= 0 || n > maxDigits) return -1;
  let value: i64 = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    value = value * 10 + (c - 0x30);
  }
  return value;
}

/** parseDecimal of the `length` bytes at `at` (e.g. a header value where the scan kept it). */
export function parseDecimalBytes(at: usize, length: u32, maxDigits: i32): i64 {
  if (length == 0 || length > <u32>maxDigits) return -1;
  let value: i64 = 0;
  for (let i: u32 = 0; i < length; i++) {
    const digit = <u32>load<u8>(at + i) - 0x30;
    if (digit > 9) return -1;
    value = value * 10 + <i64>digit;
  }
  return value;
}

/** Enough digits for any millisecond time until the year 33658; more is garbage. */
const MAX_MILLIS_DIGITS: i32 = 15;

/** A time in ms since the epoch (1..15 digits), or -1. */
export function parseMillis(text: string): i64 {
  return parseDecimal(text, MAX_MILLIS_DIGITS);
}

/** parseMillis of the `length` bytes at `at`. */
export function parseMillisBytes(at: usize, length: u32): i64 {
  return parseDecimalBytes(at, length, MAX_MILLIS_DIGITS);
}

/**
 * The leading digits of the `length` bytes at `at` (e.g. a `:status` where the host wrote it), as
 * I32.parseInt reads a status; 0 when it does not start with a digit.
 */
export function parseLeadingDecimal(at: usize, length: u32): i64 {
  let value: i32 = 0;
  for (let i: u32 = 0; i < length; i++) {
    const c = <i32>load<u8>(at + i) - 0x30;
    if (<u32>c > 9) break;
    value = value * 10 + c;
  }
  return value;
}

/** Longest decimal an i64 prints as (`-9223372036854775808`), or a u64 (`18446744073709551615`). */
export const MAX_DECIMAL_BYTES: i32 = 20;

/** Eight decimal digits: what a u32 holds of a decimal, written with u32 arithmetic. */
const EIGHT_DIGITS: u64 = 100_000_000;

/**
 * Writes `value` in decimal as ASCII at `at` (room for MAX_DECIMAL_BYTES), as i64.toString()
 * prints it; returns the byte count. For header values written into a reused buffer (entry and
 * hop stamps) without making a string. A millisecond time has 13 digits: one 64-bit division cuts
 * it into parts of up to eight, whose digits come from 32-bit divisions by ten, which compile to a
 * multiplication where a 64-bit one stays a division.
 */
export function writeDecimal(value: i64, at: usize): u32 {
  let n: u32 = 0;
  let rest = <u64>value;
  if (value < 0) {
    store<u8>(at, 0x2d);
    n = 1;
    rest = <u64>-value;
  }
  if (rest < EIGHT_DIGITS) return n + writeU32Decimal(<u32>rest, at + n);
  const low = <u32>(rest % EIGHT_DIGITS);
  const high = rest / EIGHT_DIGITS;
  if (high < EIGHT_DIGITS) {
    n += writeU32Decimal(<u32>high, at + n);
  } else {
    n += writeU32Decimal(<u32>(high / EIGHT_DIGITS), at + n);
    writeDigits(<u32>(high % EIGHT_DIGITS), at + n, 8);
    n += 8;
  }
  writeDigits(low, at + n, 8);
  return n + 8;
}

/** Writes `value` in decimal at `at`, without leading zeros; returns the byte count. */
function writeU32Decimal(value: u32, at: usize): u32 {
  let digits: u32 = 1;
  for (let probe = value; probe >= 10; probe /= 10) digits++;
  writeDigits(value, at, digits);
  return digits;
}

/** Writes the last `count` decimal digits of `value` at `at`, leading zeros included. */
function writeDigits(value: u32, at: usize, count: u32): void {
  for (let end = at + count; end > at;) {
    end--;
    store<u8>(end, <u8>(0x30 + (value % 10)));
    value /= 10;
  }
}

/**
 * A header value that is fixed text followed by a number (a hop stamp and its send time, a pod's
 * stamp and a request's arrival), written into one buffer: the text encoded once, the number's
 * digits written after it per request, so writing the value makes no string.
 */
export class PrefixedDecimalWriter {
  private readonly buffer: ArrayBuffer;
  private readonly prefixLength: i32;

  constructor(prefix: string) {
    const prefixLength = String.UTF8.byteLength(prefix);
    this.buffer = new ArrayBuffer(prefixLength + MAX_DECIMAL_BYTES);
    this.prefixLength = prefixLength;
    String.UTF8.encodeUnsafe(changetype<usize>(prefix), prefix.length, changetype<usize>(this.buffer));
  }

  /** False when the prefix is empty (the caller writes no value). */
  get enabled(): bool {
    return this.prefixLength > 0;
  }

  /** Where write() put the value. */
  get at(): usize {
    return changetype<usize>(this.buffer);
  }

  /** The prefix and then `value` in decimal, at `at`; the length in bytes. */
  write(value: i64): u32 {
    return <u32>this.prefixLength + writeDecimal(value, this.at + <usize>this.prefixLength);
  }
}

/** Where decimalText and unsignedDecimalText write the digits they decode. */
const decimalDigits = memory.data(MAX_DECIMAL_BYTES);

/**
 * `value` as i64.toString() prints it, made from writeDecimal's digits: the module then carries
 * one way of printing numbers, not also the standard library's.
 */
export function decimalText(value: i64): string {
  return String.UTF8.decodeUnsafe(decimalDigits, writeDecimal(value, decimalDigits));
}

/** `value` as u64.toString() prints it. */
export function unsignedDecimalText(value: u64): string {
  if (<i64>value >= 0) return decimalText(<i64>value);
  // Beyond i64: the digits of value / 10, which fits, then its last digit.
  const length = writeDecimal(<i64>(value / 10), decimalDigits);
  store<u8>(decimalDigits + length, <u8>(0x30 + <u32>(value % 10)));
  return String.UTF8.decodeUnsafe(decimalDigits, length + 1);
}
