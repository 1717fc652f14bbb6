// A growing buffer of bytes for text that leaves the module as bytes (span export's OTLP JSON):
// written once, with no string per piece and no UTF-16 to UTF-8 copy of the whole. Pure.

/** UTF-8 takes at most 3 bytes per UTF-16 code unit (a surrogate pair: 4 bytes for 2 units). */
const MAX_UTF8_PER_UNIT: i32 = 3;

export class ByteWriter {
  private buffer: ArrayBuffer;
  private length: i32 = 0;

  constructor(capacity: i32) {
    this.buffer = new ArrayBuffer(capacity);
  }

  /** Where the next `count` bytes go, growing the buffer when they do not fit. */
  private room(count: i32): usize {
    const needed = this.length + count;
    const capacity = this.buffer.byteLength;
    if (needed > capacity) {
      const grown = new ArrayBuffer(max(needed, capacity << 1));
      memory.copy(changetype<usize>(grown), changetype<usize>(this.buffer), this.length);
      this.buffer = grown;
    }
    return changetype<usize>(this.buffer) + this.length;
  }

  byte(value: i32): void {
    store<u8>(this.room(1), value);
    this.length++;
  }

  /** The `count` bytes at `start`. */
  bytes(start: usize, count: i32): void {
    memory.copy(this.room(count), start, count);
    this.length += count;
  }

  /** `text` as UTF-8 (a lone surrogate as WTF-8, as String.UTF8.encode does). */
  utf8(text: string): void {
    this.utf8Range(text, 0, text.length);
  }

  /** Code units `from` to `to` of `text`, as UTF-8. */
  utf8Range(text: string, from: i32, to: i32): void {
    const units = to - from;
    const at = this.room(units * MAX_UTF8_PER_UNIT);
    this.length += <i32>String.UTF8.encodeUnsafe(changetype<usize>(text) + ((<usize>from) << 1), units, at);
  }

  /** The bytes written so far, in a buffer of their own. */
  finish(): ArrayBuffer {
    return this.buffer.slice(0, this.length);
  }
}
