// Tables of UTF-8 texts laid end to end in static memory, which generated files declare
// (generated/cold-text.ts, generated/metric-families.ts): as string literals, each text would be
// a UTF-16 object with its own header and data segment in the module. Pure: no host calls.

import { ByteWriter } from "./bytewriter";

/**
 * Text `index` of a table: the u16s at `ends` say where each text ends in the bytes at `bytes`;
 * each starts where the one before it ends.
 */
export function tableText(bytes: usize, ends: usize, index: i32): string {
  const start = textStart(ends, index);
  return String.UTF8.decodeUnsafe(bytes + start, textEnd(ends, index) - start);
}

/** Text `index` of a table as a buffer of its bytes (no string made). */
export function tableBytes(bytes: usize, ends: usize, index: i32): ArrayBuffer {
  const start = textStart(ends, index);
  const length = <i32>(textEnd(ends, index) - start);
  const buffer = new ArrayBuffer(length);
  memory.copy(changetype<usize>(buffer), bytes + start, length);
  return buffer;
}

/** Text `index` of a table, written as its bytes (no string made). */
export function writeTableText(out: ByteWriter, bytes: usize, ends: usize, index: i32): void {
  const start = textStart(ends, index);
  out.bytes(bytes + start, <i32>(textEnd(ends, index) - start));
}

function textStart(ends: usize, index: i32): usize {
  return index == 0 ? 0 : <usize>load<u16>(ends + ((<usize>index) << 1) - 2);
}

function textEnd(ends: usize, index: i32): usize {
  return <usize>load<u16>(ends + ((<usize>index) << 1));
}

/** The texts of a table whose indexes are the `count` bytes at `indexes`. */
export function tableTexts(bytes: usize, ends: usize, indexes: usize, count: i32): string[] {
  const texts = new Array<string>(count);
  for (let i = 0; i < count; i++) unchecked((texts[i] = tableText(bytes, ends, load<u8>(indexes + i))));
  return texts;
}
