// An exact map from text keys to u32 values that the garbage collector sees as a handful of
// objects, whatever it holds: the keys' characters are copied into one arena and the entries live
// in arrays of numbers, found by open addressing on a hash of the characters. The series registry,
// the edge's pod stamps and its revision eras hold one entry per label set or revision (100,000 at
// the largest `maxSeries`); as Maps of Strings each would be several objects for every collection
// to mark. A lookup may use the start of a longer text (a pod stamp without its arrival field), so
// the caller need not cut it out. Pure: no host calls.

import { allocateString, lowBytesOf } from "./text";

/** Entries a new table has room for before it grows. */
const INITIAL_ENTRIES: i32 = 16;
/** Arena bytes a new table has room for. */
const INITIAL_BYTES: i32 = 1024;
/** A free slot; a slot otherwise holds its entry's index + 1. */
const FREE: i32 = 0;
/** A removed entry's length: its place and bytes wait for a new key they can hold, or a rebuild. */
const REMOVED: i32 = -1;
/**
 * Removed entries of fewer arena bytes than this are kept for reuse, by their byte count (a pod
 * stamp is about a hundred); a longer one's bytes wait for a rebuild.
 */
const REUSED_BYTES: i32 = 1024;
/**
 * A new key may take a removed entry of up to this many bytes more than it needs (the bytes over
 * are lost until a rebuild): the ready history forgets a revision for each new one past its room,
 * and revisions' keys differ in length by their service's name.
 */
const REUSE_SLACK: i32 = 32;
/**
 * On an entry's length: its characters are stored as UTF-16 (two bytes each), since one is above
 * U+00FF; other keys (stat names are ASCII) take one byte per character.
 */
const WIDE: i32 = 1 << 30;

/** The hash of the first `length` UTF-16 code units of `key` (hashUnits). */
export function hashText(key: string, length: i32): u32 {
  return hashUnits<u16>(changetype<usize>(key), length);
}

/** The hash of the `length` bytes at `at` (as hashText of the ASCII text they encode). */
export function hashBytes(at: usize, length: i32): u32 {
  return hashUnits<u8>(at, length);
}

/**
 * The four units of type `T` at `at` as one word, a byte each: a text's characters below U+0100
 * give the word their ASCII or Latin-1 bytes give, so both hash alike. The bytes above them, which
 * only characters from U+0100 have, are `highBytesOf`'s.
 */
function fourUnitsAt<T>(at: usize): u32 {
  return sizeof<T>() == 1 ? load<u32>(at) : lowBytesOf(load<u64>(at));
}

/** The high bytes of the four UTF-16 units at `at` (0 for bytes, or characters below U+0100). */
function highBytesOf<T>(at: usize): u32 {
  return sizeof<T>() == 1 ? 0 : lowBytesOf(load<u64>(at) >> 8);
}

/**
 * One word into a running hash: multiplied in, then the product's high bits folded into its low
 * ones, so a difference anywhere in a word reaches every bit the next word meets (without the
 * fold, keys such as `key294` and `key300` hashed alike).
 */
function mixWord(hash: u32, word: u32): u32 {
  const mixed = (hash ^ word) * 0x9e3779b1;
  return mixed ^ (mixed >> 15);
}

/** Marks the high bytes' word apart from a word of units, so no sequence of either mimics the other. */
const HIGH_BYTES_STEP: u32 = 0x85ebca6b;

/**
 * A hash of `length` units of type `T` at `at` (a key's characters, or its ASCII bytes: the same
 * hash), four units a step: a pod stamp of a hundred bytes is looked up on every answer at the
 * edge. The last steps spread the high bits into the low ones the table's slots are taken from.
 */
function hashUnits<T>(at: usize, length: i32): u32 {
  let hash: u32 = 0x811c9dc5 ^ (<u32>length);
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const units = at + <usize>i * sizeof<T>();
    hash = mixWord(hash, fourUnitsAt<T>(units));
    const high = highBytesOf<T>(units);
    if (high != 0) hash = mixWord(hash ^ HIGH_BYTES_STEP, high);
  }
  for (; i < length; i++) hash = mixWord(hash, <u32>load<T>(at + <usize>i * sizeof<T>()));
  hash ^= hash >> 15;
  hash *= 0x2c1b3c6d;
  return hash ^ (hash >> 12);
}

/** Whether the `length` bytes at `at` are all ASCII (then each is the character it encodes). */
function isAscii(at: usize, length: i32): bool {
  let high: u64 = 0;
  let i = 0;
  for (; i + 8 <= length; i += 8) high |= load<u64>(at + <usize>i);
  for (; i < length; i++) high |= <u64>load<u8>(at + <usize>i);
  return (high & 0x8080808080808080) == 0;
}

/** Whether the `length` bytes at `a` and at `b` are the same, eight a step. */
function sameBytes(a: usize, b: usize, length: i32): bool {
  let i = 0;
  for (; i + 8 <= length; i += 8) {
    if (load<u64>(a + <usize>i) != load<u64>(b + <usize>i)) return false;
  }
  for (; i < length; i++) {
    if (load<u8>(a + <usize>i) != load<u8>(b + <usize>i)) return false;
  }
  return true;
}

/** Whether one of the first `length` code units of `key` is above U+00FF. */
function isWide(key: string, length: i32): bool {
  const at = changetype<usize>(key);
  for (let i = 0; i < length; i++) {
    if (load<u16>(at + ((<usize>i) << 1)) > 0xff) return true;
  }
  return false;
}

/** The arena bytes of a key of `length` characters. */
function bytesOf(length: i32, wide: bool): i32 {
  return wide ? length << 1 : length;
}

export class KeyTable {
  private hashes: StaticArray<u32> = new StaticArray<u32>(INITIAL_ENTRIES);
  /** Where each entry's characters start in the arena, in bytes. */
  private starts: StaticArray<i32> = new StaticArray<i32>(INITIAL_ENTRIES);
  /** Each entry's length in characters, with WIDE; REMOVED once removed. */
  private lengths: StaticArray<i32> = new StaticArray<i32>(INITIAL_ENTRIES);
  private values: StaticArray<u32> = new StaticArray<u32>(INITIAL_ENTRIES);
  /**
   * Entry index + 1 by hash, linear probing. Removed entries hold no slot, but count in the bound
   * of at most half full, as entries made.
   */
  private slots: StaticArray<i32> = new StaticArray<i32>(INITIAL_ENTRIES * 2);
  private arena: StaticArray<u8> = new StaticArray<u8>(INITIAL_BYTES);
  private arenaUsed: i32 = 0;
  /** Entries made, removed ones included (until reused, or a rebuild drops them). */
  private entries: i32 = 0;
  /**
   * Per arena byte count below REUSED_BYTES, the last removed entry of that many bytes, plus 1
   * (0: none); each links to the one removed before it through its `values`. Made at the first
   * removal: most tables never remove a key. A table whose keys come and go (the edge's pod
   * stamps: Knative makes and removes pods all day; the ready history's revisions) puts each new
   * key in a removed one's place and bytes, so it does not rebuild for them; a rebuild copies every
   * key it holds (100,000 pod stamps at the largest `maxSeries`: milliseconds on the request path).
   */
  private removedByBytes: StaticArray<i32> | null = null;
  /** Keys held. */
  size: i32 = 0;

  /** Arena bytes in use: the keys held, and removed ones' until reused or dropped by a rebuild. */
  get storedBytes(): i32 {
    return this.arenaUsed;
  }

  /** The value of the first `length` characters of `key` (all by default); `missing` when not a key. */
  get(key: string, missing: u32, length: i32 = -1): u32 {
    const n = length < 0 ? key.length : length;
    const slot = this.slotOf(key, n, hashText(key, n));
    return slot < 0 ? missing : unchecked(this.values[unchecked(this.slots[slot]) - 1]);
  }

  /**
   * get() of the key whose characters are the `length` bytes at `at` (a header value where the host
   * wrote it, found without decoding it); `missing` when not a key, `notAscii` when a byte is not
   * ASCII (only the decoded text can then be looked up).
   */
  getBytes(at: usize, length: i32, missing: u32, notAscii: u32): u32 {
    if (!isAscii(at, length)) return notAscii;
    const slot = this.slotOfUnits<u8>(at, length, hashUnits<u8>(at, length));
    return slot < 0 ? missing : unchecked(this.values[unchecked(this.slots[slot]) - 1]);
  }

  /**
   * The key whose characters hash to `hash` (hashText) and whose value is `value`, as a new string;
   * null when there is none. For a caller that keeps a key's hash rather than its text.
   */
  keyOf(hash: u32, value: u32): string | null {
    const entry = this.entryOf(hash, value);
    if (entry < 0) return null;
    const length = unchecked(this.lengths[entry]) & ~WIDE;
    const at = changetype<usize>(this.arena) + <usize>unchecked(this.starts[entry]);
    const key = allocateString(length);
    const to = changetype<usize>(key);
    if ((unchecked(this.lengths[entry]) & WIDE) != 0) memory.copy(to, at, (<usize>length) << 1);
    else for (let i = 0; i < length; i++) store<u16>(to + ((<usize>i) << 1), load<u8>(at + <usize>i));
    return key;
  }

  /** The length in characters of keyOf's key; -1 when there is none. */
  keyLengthOf(hash: u32, value: u32): i32 {
    const entry = this.entryOf(hash, value);
    return entry < 0 ? -1 : unchecked(this.lengths[entry]) & ~WIDE;
  }

  /**
   * keyOf's key as UTF-8 at `to`, with no string made (room for 3 bytes per character, see
   * keyLengthOf); returns the byte count, -1 when there is none.
   */
  writeKeyUtf8(hash: u32, value: u32, to: usize): i32 {
    const entry = this.entryOf(hash, value);
    if (entry < 0) return -1;
    const length = unchecked(this.lengths[entry]) & ~WIDE;
    const at = changetype<usize>(this.arena) + <usize>unchecked(this.starts[entry]);
    if ((unchecked(this.lengths[entry]) & WIDE) != 0) return <i32>String.UTF8.encodeUnsafe(at, length, to);
    if (isAscii(at, length)) {
      memory.copy(to, at, <usize>length);
      return length;
    }
    // A narrow key holds each character of U+0080..U+00FF as one byte: two in UTF-8.
    let n: usize = 0;
    for (let i = 0; i < length; i++) {
      const c = <u32>load<u8>(at + <usize>i);
      if (c < 0x80) {
        store<u8>(to + n++, <u8>c);
      } else {
        store<u8>(to + n++, <u8>(0xc0 | (c >> 6)));
        store<u8>(to + n++, <u8>(0x80 | (c & 0x3f)));
      }
    }
    return <i32>n;
  }

  /** Sets the value of the first `length` characters of `key` (all by default), adding the key if new. */
  set(key: string, value: u32, length: i32 = -1): void {
    const n = length < 0 ? key.length : length;
    const hash = hashText(key, n);
    const slot = this.slotOf(key, n, hash);
    if (slot >= 0) {
      unchecked((this.values[unchecked(this.slots[slot]) - 1] = value));
      return;
    }
    const wide = isWide(key, n);
    const bytes = bytesOf(n, wide);
    let entry = this.takeRemoved(bytes);
    if (entry < 0) {
      if ((this.entries + 1) * 2 > this.slots.length || this.arenaUsed + bytes > this.arena.length) {
        this.rebuild(bytes);
      }
      entry = this.entries++;
      unchecked((this.starts[entry] = this.arenaUsed));
      this.arenaUsed += bytes;
    }
    const to = changetype<usize>(this.arena) + <usize>unchecked(this.starts[entry]);
    const from = changetype<usize>(key);
    if (wide) memory.copy(to, from, <usize>bytes);
    else for (let i = 0; i < n; i++) store<u8>(to + <usize>i, load<u16>(from + ((<usize>i) << 1)));
    unchecked((this.hashes[entry] = hash));
    unchecked((this.lengths[entry] = wide ? n | WIDE : n));
    unchecked((this.values[entry] = value));
    this.place(entry, hash);
    this.size++;
  }

  /**
   * Removes the key whose characters hash to `hash` (hashText) and whose value is `value`, for a
   * caller that keeps a key's hash rather than its text (a no-op when there is none).
   */
  deleteValue(hash: u32, value: u32): void {
    const slot = this.slotOfValue(hash, value);
    if (slot < 0) return;
    const entry = unchecked(this.slots[slot]) - 1;
    this.freeSlot(slot);
    const stored = unchecked(this.lengths[entry]);
    const bytes = bytesOf(stored & ~WIDE, (stored & WIDE) != 0);
    unchecked((this.lengths[entry] = REMOVED));
    this.size--;
    if (bytes >= REUSED_BYTES) return;
    let removed = this.removedByBytes;
    if (removed == null) {
      removed = new StaticArray<i32>(REUSED_BYTES);
      this.removedByBytes = removed;
    }
    unchecked((this.values[entry] = <u32>unchecked(removed[bytes])));
    unchecked((removed[bytes] = entry + 1));
  }

  /**
   * A removed entry whose bytes hold a new key of `bytes` (of as many, else of the fewest more, up
   * to REUSE_SLACK more), taken for it; -1 when there is none.
   */
  private takeRemoved(bytes: i32): i32 {
    const removed = this.removedByBytes;
    if (removed == null) return -1;
    const most = min(bytes + REUSE_SLACK, REUSED_BYTES - 1);
    for (let held = bytes; held <= most; held++) {
      const entry = unchecked(removed[held]) - 1;
      if (entry >= 0) {
        unchecked((removed[held] = <i32>unchecked(this.values[entry])));
        return entry;
      }
    }
    return -1;
  }

  /**
   * Empties `slot` and moves up the entries after it that their probe would not find past a free
   * slot, so a lookup stops at the first free slot however many keys came and went: a removed
   * key leaves no marker to probe past.
   */
  private freeSlot(slot: i32): void {
    const slots = this.slots;
    const mask = slots.length - 1;
    let hole = slot;
    let next = (hole + 1) & mask;
    while (true) {
      const held = unchecked(slots[next]);
      if (held == FREE) break;
      const home = (<i32>unchecked(this.hashes[held - 1])) & mask;
      // The entry may fill the hole when the hole is on its probe, between its home and here.
      if (((next - home) & mask) >= ((next - hole) & mask)) {
        unchecked((slots[hole] = held));
        hole = next;
      }
      next = (next + 1) & mask;
    }
    unchecked((slots[hole] = FREE));
  }

  /** The entry held under `hash` with `value`, found by probing from the hash's slot; -1 when none. */
  private entryOf(hash: u32, value: u32): i32 {
    const slot = this.slotOfValue(hash, value);
    return slot < 0 ? -1 : unchecked(this.slots[slot]) - 1;
  }

  /** The slot of the entry held under `hash` with `value`; -1 when none. */
  private slotOfValue(hash: u32, value: u32): i32 {
    const slots = this.slots;
    const mask = slots.length - 1;
    let slot = (<i32>hash) & mask;
    while (true) {
      const held = unchecked(slots[slot]);
      if (held == FREE) return -1;
      const entry = held - 1;
      if (unchecked(this.hashes[entry]) == hash && unchecked(this.values[entry]) == value) return slot;
      slot = (slot + 1) & mask;
    }
  }

  /** The slot holding the key, or -1. */
  private slotOf(key: string, length: i32, hash: u32): i32 {
    return this.slotOfUnits<u16>(changetype<usize>(key), length, hash);
  }

  /** slotOf for a key of `length` units of type `T` at `from` (u8: ASCII bytes). */
  private slotOfUnits<T>(from: usize, length: i32, hash: u32): i32 {
    const slots = this.slots;
    const mask = slots.length - 1;
    let slot = (<i32>hash) & mask;
    while (true) {
      const held = unchecked(slots[slot]);
      if (held == FREE) return -1;
      const entry = held - 1;
      if (unchecked(this.hashes[entry]) == hash && this.holds<T>(entry, from, length)) return slot;
      slot = (slot + 1) & mask;
    }
  }

  /**
   * Whether `entry` is the `length` units of type `T` at `from`: characters (u16), or ASCII bytes
   * (u8), which a key with a character above U+00FF never is.
   */
  private holds<T>(entry: i32, from: usize, length: i32): bool {
    const stored = unchecked(this.lengths[entry]);
    if ((stored & ~WIDE) != length) return false;
    const at = changetype<usize>(this.arena) + <usize>unchecked(this.starts[entry]);
    if ((stored & WIDE) != 0) {
      return sizeof<T>() == 2 && memory.compare(at, from, (<usize>length) << 1) == 0;
    }
    if (sizeof<T>() == 1) return sameBytes(at, from, length);
    for (let i = 0; i < length; i++) {
      if (<u16>load<u8>(at + <usize>i) != load<u16>(from + ((<usize>i) << 1))) return false;
    }
    return true;
  }

  private place(entry: i32, hash: u32): void {
    const slots = this.slots;
    const mask = slots.length - 1;
    let slot = (<i32>hash) & mask;
    while (unchecked(slots[slot]) != FREE) slot = (slot + 1) & mask;
    unchecked((slots[slot] = entry + 1));
  }

  /**
   * Makes room for one more key of `bytes` arena bytes: drops removed entries, and doubles the
   * entries or the arena when what is left would fill more than half of them (so a table at a
   * steady size, one key removed for each added that no removed entry could hold, rebuilds once
   * per as many such additions as it holds).
   */
  private rebuild(bytes: i32): void {
    let capacity = this.hashes.length;
    if (this.size * 2 >= capacity) capacity <<= 1;
    let live = bytes;
    for (let e = 0; e < this.entries; e++) {
      const stored = unchecked(this.lengths[e]);
      if (stored != REMOVED) live += bytesOf(stored & ~WIDE, (stored & WIDE) != 0);
    }
    let arenaCapacity = this.arena.length;
    if (live * 2 > arenaCapacity) arenaCapacity <<= 1;
    while (live > arenaCapacity) arenaCapacity <<= 1;
    const hashes = new StaticArray<u32>(capacity);
    const starts = new StaticArray<i32>(capacity);
    const lengths = new StaticArray<i32>(capacity);
    const values = new StaticArray<u32>(capacity);
    const arena = new StaticArray<u8>(arenaCapacity);
    let kept = 0;
    let used = 0;
    for (let e = 0; e < this.entries; e++) {
      const stored = unchecked(this.lengths[e]);
      if (stored == REMOVED) continue;
      const n = bytesOf(stored & ~WIDE, (stored & WIDE) != 0);
      memory.copy(
        changetype<usize>(arena) + <usize>used,
        changetype<usize>(this.arena) + <usize>unchecked(this.starts[e]),
        <usize>n,
      );
      unchecked((hashes[kept] = this.hashes[e]));
      unchecked((starts[kept] = used));
      unchecked((lengths[kept] = stored));
      unchecked((values[kept] = this.values[e]));
      used += n;
      kept++;
    }
    this.hashes = hashes;
    this.starts = starts;
    this.lengths = lengths;
    this.values = values;
    this.arena = arena;
    this.arenaUsed = used;
    this.entries = kept;
    // The removed entries are gone: none is left to reuse.
    const removed = this.removedByBytes;
    if (removed != null) memory.fill(changetype<usize>(removed), 0, (<usize>REUSED_BYTES) << 2);
    this.slots = new StaticArray<i32>(capacity * 2);
    for (let e = 0; e < kept; e++) this.place(e, unchecked(hashes[e]));
  }
}

/** KeyedObjects.get's index of a key it does not hold. */
const NO_OBJECT: u32 = u32.MAX_VALUE;

/**
 * Objects by exact text key (the series caches by source cluster, the hop stamps' fields by their
 * start, the pod stamps' label values), their indexes in a KeyTable: a Map<string, T> would add
 * the Map and string hash code to the module, and an object per key for a collection to mark.
 * Objects are only added, never replaced or removed: a table is dropped whole. As with KeyTable,
 * a key may be the start of a longer text (`length`), or ASCII bytes where a host wrote them.
 */
export class KeyedObjects<T> {
  private readonly indexes: KeyTable = new KeyTable();
  private readonly objects: T[] = [];

  get size(): i32 {
    return this.objects.length;
  }

  /** The object of the first `length` characters of `key` (all by default); null when none. */
  get(key: string, length: i32 = -1): T | null {
    return this.objectAt(this.indexOf(key, length));
  }

  /** get() of the key whose characters are the `length` ASCII bytes at `at`. */
  getBytes(at: usize, length: i32): T | null {
    return this.objectAt(<i32>this.indexes.getBytes(at, length, NO_OBJECT, NO_OBJECT));
  }

  /** The index add() gave the first `length` characters of `key`; -1 when it has no object. */
  indexOf(key: string, length: i32 = -1): i32 {
    return <i32>this.indexes.get(key, NO_OBJECT, length);
  }

  /** The object add() gave `index`. */
  at(index: i32): T {
    return unchecked(this.objects[index]);
  }

  /** Adds `object` as the object of the first `length` characters of `key` (which has none yet); its index. */
  add(key: string, object: T, length: i32 = -1): i32 {
    const index = this.objects.length;
    this.indexes.set(key, <u32>index, length);
    this.objects.push(object);
    return index;
  }

  private objectAt(index: i32): T | null {
    return index < 0 ? null : unchecked(this.objects[index]);
  }
}
