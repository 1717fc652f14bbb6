// Strings built in place: the length is computed first, the string allocated once and its UTF-16
// units written, where `a + b + c` would allocate every intermediate string. For text made on the
// request path (trace context headers, stat names). Pure: no host calls.

import { noteGarbage } from "./garbage";

/** A new string of `length` UTF-16 units, to be filled with writeText / writeChar before use. */
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

/** Writes one UTF-16 unit at `at`; returns the address after it. */
export function writeChar(at: usize, code: i32): usize {
  store<u16>(at, <u16>code);
  return at + 2;
}
