// Strings built in place: the length is computed first, the string allocated once and its UTF-16
// units written, where `a + b + c` would allocate every intermediate string. For text made on the
// request path (stat names, series keys). Pure: no host calls.

import { noteGarbage } from "./garbage";

/** A new string of `length` UTF-16 units, to be filled (writeText) before use. */
export function allocateString(length: i32): string {
  noteGarbage((<i64>length) << 1);
  return changetype<string>(__new((<usize>length) << 1, idof<string>()));
}

/** `text` cut at every `separator` unit, as `String#split` with a one-character separator (whose general code is larger). */
export function splitAt(text: string, separator: i32): string[] {
  const parts = new Array<string>();
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) == separator) {
      parts.push(text.substring(start, i));
      start = i + 1;
    }
  }
  parts.push(text.substring(start));
  return parts;
}

/** Writes `text` at `at`; returns the address after it. */
export function writeText(at: usize, text: string): usize {
  const bytes = (<usize>text.length) << 1;
  memory.copy(at, changetype<usize>(text), bytes);
  return at + bytes;
}

/** The ASCII code of hex digit `value` (0 to 15): lower case, or upper case with `letterA` 0x41. */
export function hexDigitCode(value: i32, letterA: i32 = 0x61): i32 {
  return value < 10 ? 0x30 + value : letterA + value - 10;
}

/** Bits of four UTF-16 units (one u64 load) that are zero when each is ASCII: high bytes and bit 7. */
const NOT_ASCII_UNITS: u64 = 0xff80_ff80_ff80_ff80;

/** The low bytes of four UTF-16 units (one u64 load), in order, as one word. */
export function lowBytesOf(four: u64): u32 {
  return <u32>(
    ((four & 0xff) | ((four >> 8) & 0xff00) | ((four >> 16) & 0xff0000) | ((four >> 24) & 0xff000000))
  );
}

/**
 * Writes `text` at `at` as one byte per UTF-16 unit when every unit is ASCII (then that is its
 * UTF-8: the filter's header values and stat names), in one pass; false at the first other unit.
 */
export function writeAsciiBytes(text: string, at: usize): bool {
  const units = changetype<usize>(text);
  const count = <usize>text.length;
  let i: usize = 0;
  for (; i + 4 <= count; i += 4) {
    const four = load<u64>(units + (i << 1));
    if ((four & NOT_ASCII_UNITS) != 0) return false;
    store<u32>(at + i, lowBytesOf(four));
  }
  for (; i < count; i++) {
    const unit = load<u16>(units + (i << 1));
    if (unit >= 0x80) return false;
    store<u8>(at + i, <u8>unit);
  }
  return true;
}

/**
 * Whether the `length` bytes at `at` are `text`, every unit of it ASCII (then its UTF-8 is its
 * units): a host's answer compared with the last one's text where the host wrote it, four a step.
 */
export function bytesAreAsciiText(at: usize, length: u32, text: string): bool {
  if (<u32>text.length != length) return false;
  const units = changetype<usize>(text);
  let i: usize = 0;
  for (; i + 4 <= <usize>length; i += 4) {
    const four = load<u64>(units + (i << 1));
    if ((four & NOT_ASCII_UNITS) != 0 || lowBytesOf(four) != load<u32>(at + i)) return false;
  }
  for (; i < <usize>length; i++) {
    const unit = <u32>load<u16>(units + (i << 1));
    if (unit >= 0x80 || unit != <u32>load<u8>(at + i)) return false;
  }
  return true;
}
