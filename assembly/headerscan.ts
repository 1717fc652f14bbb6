// Reads the few headers the filter needs out of one serialized header map (what
// proxy_get_header_map_pairs returns), so a callback costs one host call however many headers it
// looks at. Only the wanted values become strings; everything else is compared in place. Also
// writes the same format, for the headers of proxy_http_call. Pure.
//
// Wire format (proxy-wasm pairs): u32 count, then count x (u32 name length, u32 value length),
// then each name and value followed by a NUL byte. Anything inconsistent makes the scan fail
// (nothing is read past the buffer), as Envoy's own parser gives an empty map for it.

import { noteGarbage } from "./garbage";

/** Names shorter than this are found through a table by length; longer ones by a search. */
const SHORT_NAME: u32 = 64;
/** Slots of the table of wanted names' first four bytes (a power of two, at most half used). */
const HEAD_SLOTS: i32 = 64;

/** A name's first four bytes' slot in the heads table. */
function headSlot(head: u32): i32 {
  return <i32>((head * 0x9e3779b1) >> 26);
}

/** A head's bit in HeaderWants.homeSlots. */
function homeSlotBit(head: u32): u64 {
  return (<u64>1) << (<u64>headSlot(head));
}

/** The header names a scan looks for, fixed once per configuration. */
export class HeaderWants {
  readonly names: string[] = [];
  private readonly bytes: ArrayBuffer[] = [];
  /** Slots whose every value is kept (e.g. a repeated traceparent), not only the first. */
  readonly everyValue: bool[] = [];
  /**
   * Per name length below SHORT_NAME: the last slot added of that length, plus 1 (0: none); each
   * slot links to the one added before it of its length (`sameLength`, plus 1). A header name of a
   * length no wanted name has costs one load, whatever the number of wanted names.
   */
  private readonly byLength: StaticArray<i32> = new StaticArray<i32>(SHORT_NAME);
  private readonly sameLength: i32[] = [];
  private anyLong: bool = false;
  /**
   * The first four bytes of each wanted name of four bytes or more (open addressing, 0: empty), so
   * a scan passes over most other headers after one load and one probe (mayStartAs).
   */
  private readonly heads: StaticArray<u32> = new StaticArray<u32>(HEAD_SLOTS);
  private headCount: i32 = 0;
  /**
   * A bit per slot of `heads` that starts a probe of a wanted head (the slot headSlot gives): a
   * head whose bit is clear is no wanted name's, known without a load.
   */
  homeSlots: u64 = 0;
  /** False when the heads table cannot tell (a head of four NUL bytes, or too many heads). */
  filtersHeads: bool = true;

  /** The slot of `name` (lower-case), added if new; `everyValue` keeps all its values. */
  add(name: string, everyValue: bool = false): i32 {
    const existing = this.names.indexOf(name);
    if (existing >= 0) {
      if (everyValue) unchecked((this.everyValue[existing] = true));
      return existing;
    }
    const bytes = String.UTF8.encode(name);
    const slot = this.names.length;
    const length = <u32>bytes.byteLength;
    if (length < SHORT_NAME) {
      this.sameLength.push(unchecked(this.byLength[length]));
      unchecked((this.byLength[length] = slot + 1));
    } else {
      this.sameLength.push(0);
      this.anyLong = true;
    }
    if (length >= 4) this.addHead(load<u32>(changetype<usize>(bytes)));
    this.names.push(name);
    this.bytes.push(bytes);
    this.everyValue.push(everyValue);
    return slot;
  }

  private addHead(head: u32): void {
    if (head == 0 || this.headCount >= HEAD_SLOTS / 2) {
      this.filtersHeads = false;
      return;
    }
    const heads = this.heads;
    let i = headSlot(head);
    while (unchecked(heads[i]) != 0) {
      if (unchecked(heads[i]) == head) return;
      i = (i + 1) & (HEAD_SLOTS - 1);
    }
    unchecked((heads[i] = head));
    this.homeSlots |= homeSlotBit(head);
    this.headCount++;
  }

  /**
   * False when no wanted name starts with these four bytes (`head`, a header name's first four,
   * whose probe starts at `slot`: headSlot(head)); true says only that one may. Meaningful while
   * `filtersHeads`.
   */
  mayStartAs(head: u32, slot: i32): bool {
    const heads = this.heads;
    let i = slot;
    while (true) {
      const known = unchecked(heads[i]);
      if (known == head) return true;
      if (known == 0) return false;
      i = (i + 1) & (HEAD_SLOTS - 1);
    }
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
    if (length >= SHORT_NAME) return this.anyLong ? this.search(at, length) : -1;
    let next = unchecked(this.byLength[length]);
    while (next != 0) {
      const slot = next - 1;
      const name = changetype<usize>(unchecked(this.bytes[slot]));
      // The first byte tells most same-length names apart (`x-kwt-hop` from `x-pad-10`).
      if (load<u8>(name) == load<u8>(at) && memory.compare(name, at, length) == 0) return slot;
      next = unchecked(this.sameLength[slot]);
    }
    return -1;
  }

  private search(at: usize, length: u32): i32 {
    for (let i = 0; i < this.bytes.length; i++) {
      const name = unchecked(this.bytes[i]);
      if (<u32>name.byteLength == length && memory.compare(changetype<usize>(name), at, length) == 0)
        return i;
    }
    return -1;
  }
}

function decodeHeaderText(at: usize, length: u32): string {
  const text = String.UTF8.decodeUnsafe(at, length);
  noteGarbage((<i64>text.length) << 1);
  return text;
}

/**
 * What one scan found. A scan can be reused (scanHeaderPairsInto), so a request allocates none:
 * the wanted values' bytes are copied into its own buffer and become strings only when asked for.
 */

export class HeaderScan {
  /** How many times each wanted header appeared. */
  readonly counts: StaticArray<i32>;
  /** Names starting with the scan's prefix (e.g. `x-kwt-`) that are not wanted slots. */
  readonly prefixed: string[] = [];
  /** False when the buffer was not a well-formed pairs list (then nothing was found). */
  wellFormed: bool = true;
  /** The kept values' bytes, back to back. */
  private bytes: ArrayBuffer = new ArrayBuffer(256);
  private used: u32 = 0;
  /** Per kept value, in header order: slot, start in `bytes`, length (grown, never shrunk). */
  private spans: StaticArray<i32> = new StaticArray<i32>(3 * 8);
  /** Entries of `spans` in use (3 per kept value). */
  private spanCount: i32 = 0;
  /** The wants `everyValue` was last copied from: a reused scan copies it once. */
  private preparedFor: HeaderWants | null = null;
  /** Per slot: its first value's index in `spans` (in triples), or -1. */
  private readonly firstSpan: StaticArray<i32>;
  /** Per slot: its first value once decoded. */
  private readonly decoded: StaticArray<string | null>;
  private readonly everyValue: StaticArray<bool>;

  constructor(slots: i32) {
    this.counts = new StaticArray<i32>(slots);
    this.firstSpan = new StaticArray<i32>(slots);
    this.decoded = new StaticArray<string | null>(slots);
    this.everyValue = new StaticArray<bool>(slots);
    for (let i = 0; i < slots; i++) unchecked((this.firstSpan[i] = -1));
  }

  /** Forgets the last scan (its strings already handed out stay valid). */
  clear(): void {
    // Only slots with a value were written, and each has its first value in `spans`: a scan costs
    // the headers it kept, not the number of wanted names.
    const spans = this.spans;
    for (let i = 0; i < this.spanCount; i += 3) {
      const slot = unchecked(spans[i]);
      unchecked((this.counts[slot] = 0));
      unchecked((this.firstSpan[slot] = -1));
      unchecked((this.decoded[slot] = null));
    }
    this.prefixed.length = 0;
    this.spanCount = 0;
    this.used = 0;
    this.wellFormed = true;
  }

  value(slot: i32): string | null {
    const first = this.firstSpanOf(slot);
    if (first < 0) return null;
    let text = unchecked(this.decoded[slot]);
    if (text == null) {
      text = this.text(first);
      unchecked((this.decoded[slot] = text));
    }
    return text;
  }

  /** Where the first value of `slot` is kept, read in place until the next scan; 0 when absent. */
  valueAt(slot: i32): usize {
    const first = this.firstSpanOf(slot);
    return first < 0 ? 0 : changetype<usize>(this.bytes) + <usize>unchecked(this.spans[first + 1]);
  }

  /** The byte length of the first value of `slot`; 0 when absent. */
  valueLength(slot: i32): u32 {
    const first = this.firstSpanOf(slot);
    return first < 0 ? 0 : <u32>unchecked(this.spans[first + 2]);
  }

  /** The index in `spans` of the first value of `slot`, or -1. */
  private firstSpanOf(slot: i32): i32 {
    if (slot < 0 || slot >= this.firstSpan.length) return -1;
    const first = unchecked(this.firstSpan[slot]);
    return first < 0 ? -1 : first * 3;
  }

  /**
   * Values kept by the last scan, all slots, in header order: the `i`th one's slot and its bytes
   * (keptAt, keptLength), read in place until the next scan, as a list spread over several
   * headers is parsed without strings.
   */
  get keptCount(): i32 {
    return this.spanCount / 3;
  }

  keptSlot(i: i32): i32 {
    return unchecked(this.spans[i * 3]);
  }

  keptAt(i: i32): usize {
    return changetype<usize>(this.bytes) + <usize>unchecked(this.spans[i * 3 + 1]);
  }

  keptLength(i: i32): u32 {
    return <u32>unchecked(this.spans[i * 3 + 2]);
  }

  has(slot: i32): bool {
    return slot >= 0 && slot < this.counts.length && unchecked(this.counts[slot]) > 0;
  }

  private text(span: i32): string {
    const spans = this.spans;
    const start = <usize>unchecked(spans[span + 1]);
    return decodeHeaderText(changetype<usize>(this.bytes) + start, <u32>unchecked(spans[span + 2]));
  }

  /** Keeps a value of `slot` (the `length` bytes at `at`). */
  keep(slot: i32, at: usize, length: u32): void {
    const seen = unchecked(this.counts[slot]);
    unchecked((this.counts[slot] = seen + 1));
    if (seen > 0 && !unchecked(this.everyValue[slot])) return;
    const needed = this.used + length;
    if (<u32>this.bytes.byteLength < needed) {
      const grown = new ArrayBuffer(<i32>max(needed, (<u32>this.bytes.byteLength) << 1));
      memory.copy(changetype<usize>(grown), changetype<usize>(this.bytes), this.used);
      this.bytes = grown;
    }
    memory.copy(changetype<usize>(this.bytes) + this.used, at, length);
    const span = this.spanCount;
    if (span + 3 > this.spans.length) this.growSpans();
    if (seen == 0) unchecked((this.firstSpan[slot] = span / 3));
    const spans = this.spans;
    unchecked((spans[span] = slot));
    unchecked((spans[span + 1] = <i32>this.used));
    unchecked((spans[span + 2] = <i32>length));
    this.spanCount = span + 3;
    this.used = needed;
  }

  private growSpans(): void {
    const grown = new StaticArray<i32>(this.spans.length << 1);
    memory.copy(changetype<usize>(grown), changetype<usize>(this.spans), (<usize>this.spanCount) << 2);
    this.spans = grown;
  }

  /** Before a scan: which slots keep every value. */
  prepare(wants: HeaderWants): void {
    this.clear();
    if (this.preparedFor === wants) return;
    for (let i = 0; i < this.everyValue.length; i++) unchecked((this.everyValue[i] = wants.keepsEvery(i)));
    this.preparedFor = wants;
  }

  /** After a malformed buffer: nothing was found. */
  refuse(): void {
    this.clear();
    this.wellFormed = false;
  }
}

/** At most this many pairs are looked at (Envoy's own limit on a serialized map). */
const MAX_PAIRS: u32 = 1024;

/** Whether the `length` bytes at `at` start with `prefix` (null or empty: never). */
export function startsWithBytes(at: usize, length: u32, prefix: ArrayBuffer | null): bool {
  if (prefix == null) return false;
  const n = <u32>prefix.byteLength;
  if (n == 0 || length < n) return false;
  const head = changetype<usize>(prefix);
  // Most names share no 4-byte head with the prefix: one load decides.
  if (n >= 4 && load<u32>(at) != load<u32>(head)) return false;
  return memory.compare(head, at, n) == 0;
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
  return scanHeaderPairsInto(new HeaderScan(wants.size), base, size, wants, prefix);
}

/** scanHeaderPairs into `scan` (made for `wants`), which forgets its last scan first. */
export function scanHeaderPairsInto(
  scan: HeaderScan,
  base: usize,
  size: u32,
  wants: HeaderWants,
  prefix: ArrayBuffer | null,
): HeaderScan {
  scan.prepare(wants);
  if (size == 0) return scan;
  if (size < 4) {
    scan.refuse();
    return scan;
  }
  const count = load<u32>(base);
  if (count > MAX_PAIRS || <u64>size < 4 + <u64>count * 8) {
    scan.refuse();
    return scan;
  }
  // One pass: a pair's lengths are checked against the buffer before its bytes are read, and a
  // pair that does not fit makes the scan forget what it found (a malformed map reads as empty).
  // A name of four bytes or more that starts like no wanted name and not like the prefix is passed
  // over after one load and a test of a bit (most of them: the bit of one that starts like a
  // wanted name's probe slot sends it on to the probe): a map's other headers cost next to
  // nothing however many there are.
  let skipsByHead = wants.filtersHeads;
  let prefixHead: u32 = 0;
  let homeSlots = wants.homeSlots;
  if (prefix != null && prefix.byteLength > 0) {
    if (prefix.byteLength < 4) {
      skipsByHead = false;
    } else {
      prefixHead = load<u32>(changetype<usize>(prefix));
      homeSlots |= homeSlotBit(prefixHead);
    }
  }
  // One running offset: the next name's, from `base`, checked against `size` before a byte of the
  // pair is read.
  let next: u64 = 4 + <u64>count * 8;
  const pairsEnd = base + <usize>next;
  for (let pair = base + 4; pair < pairsEnd; pair += 8) {
    const nameLength = load<u32>(pair);
    const valueLength = load<u32>(pair, 4);
    const nameAt = base + <usize>next;
    next += <u64>nameLength + <u64>valueLength + 2;
    if (next > <u64>size) {
      scan.refuse();
      return scan;
    }
    if (skipsByHead && nameLength >= 4) {
      const head = load<u32>(nameAt);
      const headAt = headSlot(head);
      if (((homeSlots >> (<u64>headAt)) & 1) == 0) continue;
      if (head != prefixHead && !wants.mayStartAs(head, headAt)) continue;
    }
    const slot = wants.match(nameAt, nameLength);
    if (slot >= 0) {
      scan.keep(slot, nameAt + nameLength + 1, valueLength);
    } else if (startsWithBytes(nameAt, nameLength, prefix)) {
      scan.prefixed.push(decodeHeaderText(nameAt, nameLength));
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
