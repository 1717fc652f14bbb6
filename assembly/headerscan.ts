// Reads the few headers the filter needs out of one serialized header map (what
// proxy_get_header_map_pairs returns), so a callback costs one host call however many headers it
// looks at. Only the wanted values become strings; everything else is compared in place. Also
// writes the same format, for the headers of proxy_http_call. Pure.
//
// Wire format (proxy-wasm pairs): u32 count, then count x (u32 name length, u32 value length),
// then each name and value followed by a NUL byte. Anything inconsistent makes the scan fail
// (nothing is read past the buffer), as Envoy's own parser gives an empty map for it.

/** The header names a scan looks for, fixed once per configuration. */
export class HeaderWants {
  readonly names: string[] = [];
  private readonly bytes: ArrayBuffer[] = [];
  /** Slots whose every value is kept (e.g. a repeated traceparent), not only the first. */
  readonly everyValue: bool[] = [];

  /** The slot of `name` (lower-case), added if new; `everyValue` keeps all its values. */
  add(name: string, everyValue: bool = false): i32 {
    const existing = this.names.indexOf(name);
    if (existing >= 0) {
      if (everyValue) unchecked((this.everyValue[existing] = true));
      return existing;
    }
    this.names.push(name);
    this.bytes.push(String.UTF8.encode(name));
    this.everyValue.push(everyValue);
    return this.names.length - 1;
  }

  /** The slot of `name`, or -1. */
  slot(name: string): i32 {
    return this.names.indexOf(name);
  }

  keepsEvery(slot: i32): bool {
    return slot >= 0 && slot < this.everyValue.length && unchecked(this.everyValue[slot]);
  }

  get size(): i32 {
    return this.names.length;
  }

  /** The slot whose name equals the `length` bytes at `at`, or -1. */
  match(at: usize, length: u32): i32 {
    for (let i = 0; i < this.bytes.length; i++) {
      const name = unchecked(this.bytes[i]);
      if (<u32>name.byteLength == length && memory.compare(changetype<usize>(name), at, length) == 0)
        return i;
    }
    return -1;
  }
}

/** What one scan found. */
export class HeaderScan {
  /** First value of each wanted header (by slot), or null when absent. */
  readonly values: StaticArray<string | null>;
  /** How many times each wanted header appeared. */
  readonly counts: StaticArray<i32>;
  /** Every value of the slots wanted with `everyValue` (null for the others). */
  readonly allValues: StaticArray<string[] | null>;
  /** Names starting with the scan's prefix (e.g. `x-kwt-`) that are not wanted slots. */
  readonly prefixed: string[] = [];
  /** False when the buffer was not a well-formed pairs list (then nothing was found). */
  wellFormed: bool = true;
  /** Bytes of the strings the scan made (UTF-16): what it leaves to the garbage collector. */
  keptBytes: i32 = 0;

  constructor(slots: i32) {
    this.values = new StaticArray<string | null>(slots);
    this.counts = new StaticArray<i32>(slots);
    this.allValues = new StaticArray<string[] | null>(slots);
  }

  /** Every value of a slot wanted with `everyValue`, in order (empty when absent). */
  every(slot: i32): string[] {
    if (slot < 0 || slot >= this.allValues.length) return [];
    const values = unchecked(this.allValues[slot]);
    return values != null ? values : [];
  }

  value(slot: i32): string | null {
    return slot >= 0 && slot < this.values.length ? unchecked(this.values[slot]) : null;
  }

  has(slot: i32): bool {
    return slot >= 0 && slot < this.counts.length && unchecked(this.counts[slot]) > 0;
  }
}

/** At most this many pairs are looked at (Envoy's own limit on a serialized map). */
const MAX_PAIRS: u32 = 1024;

function startsWithBytes(at: usize, length: u32, prefix: ArrayBuffer | null): bool {
  if (prefix == null) return false;
  const n = <u32>prefix.byteLength;
  return n > 0 && length >= n && memory.compare(changetype<usize>(prefix), at, n) == 0;
}

/**
 * Scans the `size` bytes at `base` (a pairs buffer; `size` 0 is an empty map). Names starting with
 * `prefix` (UTF-8; null for none) that are not wanted are listed in `prefixed`.
 */
export function scanHeaderPairs(
  base: usize,
  size: u32,
  wants: HeaderWants,
  prefix: ArrayBuffer | null,
): HeaderScan {
  const scan = new HeaderScan(wants.size);
  if (size == 0) return scan;
  if (size < 4) {
    scan.wellFormed = false;
    return scan;
  }
  const count = load<u32>(base);
  if (count > MAX_PAIRS || <u64>size < 4 + <u64>count * 8) {
    scan.wellFormed = false;
    return scan;
  }
  // First pass: check every length fits, so the second pass cannot read out of bounds.
  let data: u64 = 4 + <u64>count * 8;
  for (let i: u32 = 0; i < count; i++) {
    const nameLength = load<u32>(base + 4 + i * 8);
    const valueLength = load<u32>(base + 8 + i * 8);
    data += <u64>nameLength + 1 + <u64>valueLength + 1;
    if (data > <u64>size) {
      scan.wellFormed = false;
      return scan;
    }
  }
  let at = base + 4 + <usize>count * 8;
  for (let i: u32 = 0; i < count; i++) {
    const nameLength = load<u32>(base + 4 + i * 8);
    const valueLength = load<u32>(base + 8 + i * 8);
    const nameAt = at;
    const valueAt = at + nameLength + 1;
    at = valueAt + valueLength + 1;
    const slot = wants.match(nameAt, nameLength);
    if (slot >= 0) {
      const seen = unchecked(scan.counts[slot]);
      const value = String.UTF8.decodeUnsafe(valueAt, valueLength);
      scan.keptBytes += value.length << 1;
      if (seen == 0) unchecked((scan.values[slot] = value));
      unchecked((scan.counts[slot] = seen + 1));
      if (wants.keepsEvery(slot)) {
        let values = unchecked(scan.allValues[slot]);
        if (values == null) {
          values = new Array<string>();
          unchecked((scan.allValues[slot] = values));
        }
        values.push(value);
      }
    } else if (startsWithBytes(nameAt, nameLength, prefix)) {
      const name = String.UTF8.decodeUnsafe(nameAt, nameLength);
      scan.keptBytes += name.length << 1;
      scan.prefixed.push(name);
    }
  }
  return scan;
}

/** The proxy-wasm pairs encoding of a header list (what proxy_http_call takes): names[i] with values[i]. */
export function serializeHeaderPairs(names: string[], values: string[]): ArrayBuffer {
  const encodedNames = new Array<ArrayBuffer>(names.length);
  const encodedValues = new Array<ArrayBuffer>(names.length);
  let size = 4 + names.length * 8;
  for (let i = 0; i < names.length; i++) {
    const name = String.UTF8.encode(unchecked(names[i]));
    const value = String.UTF8.encode(unchecked(values[i]));
    unchecked((encodedNames[i] = name));
    unchecked((encodedValues[i] = value));
    size += name.byteLength + 1 + value.byteLength + 1;
  }
  const buffer = new ArrayBuffer(size); // zero-filled: the NUL terminators are already there
  const base = changetype<usize>(buffer);
  store<u32>(base, names.length);
  let at = base + 4 + <usize>names.length * 8;
  for (let i = 0; i < names.length; i++) {
    const name = unchecked(encodedNames[i]);
    const value = unchecked(encodedValues[i]);
    store<u32>(base + 4 + i * 8, name.byteLength);
    store<u32>(base + 8 + i * 8, value.byteLength);
    memory.copy(at, changetype<usize>(name), name.byteLength);
    at += name.byteLength + 1;
    memory.copy(at, changetype<usize>(value), value.byteLength);
    at += value.byteLength + 1;
  }
  return buffer;
}
