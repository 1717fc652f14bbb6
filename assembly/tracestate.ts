// W3C Trace Context `tracestate`: read every header value as one list where the header scan kept
// its bytes, validate it, and write it back with the filter's own member leftmost (or taken out)
// within the size limits (spec/20-http_request_header_format.md, "Tracestate Header" and "Mutating
// the tracestate Field"). Members are (address, key length, member length) in fixed arrays and the
// result is written into a buffer made once: rewriting a request's tracestate allocates nothing.
// Pure: no host calls.

import { isOptionalWhitespace } from "./tracecontext";

export const MAX_TRACESTATE_MEMBERS: i32 = 32;
/** The spec asks to propagate at least 512 characters; this filter propagates exactly that much. */
export const MAX_TRACESTATE_LENGTH: i32 = 512;
/** When truncating, members longer than this go first. */
export const LONG_MEMBER_LENGTH: i32 = 128;
const MAX_KEY_LENGTH: i32 = 256;
const MAX_VALUE_LENGTH: i32 = 256;
/** The longest member the grammar allows: a first member this long is kept alone. */
const MAX_MEMBER_LENGTH: i32 = MAX_KEY_LENGTH + 1 + MAX_VALUE_LENGTH;

const COMMA: u8 = 0x2c;
const EQUALS: u8 = 0x3d;
const SPACE: u8 = 0x20;
const TAB: u8 = 0x09;

/** What a byte may be in a member (bits of CHAR_CLASSES). */
const KEY_FIRST: u8 = 1;
const KEY_CHAR: u8 = 2;
/** chr: printable ASCII except "," and "=" (a space included). */
const VALUE_CHAR: u8 = 4;
/** Per byte value, its classes: the grammar as a table, so a member costs one load per byte. */
const CHAR_CLASSES = memory.data(256);
for (let c = 0x20; c <= 0x7e; c++) {
  const lowerAlphaOrDigit = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39);
  const keyOther = c == 0x5f || c == 0x2d || c == 0x2a || c == 0x2f || c == 0x40;
  let classes: u8 = c == COMMA || c == EQUALS ? 0 : VALUE_CHAR;
  if (lowerAlphaOrDigit) classes |= KEY_FIRST | KEY_CHAR;
  if (keyOther) classes |= KEY_CHAR;
  store<u8>(CHAR_CLASSES + <usize>c, classes);
}

function classesOf(c: u8): u8 {
  return load<u8>(CHAR_CLASSES + <usize>c);
}

/**
 * key = ( lcalpha / DIGIT ) 0*255( keychar ), keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@",
 * for the `length` bytes at `at`. The current spec grammar; the older `tenant@system` form (241/14
 * split) is a subset of it.
 */
export function isTraceStateKeyAt(at: usize, length: i32): bool {
  if (length == 0 || length > MAX_KEY_LENGTH) return false;
  if ((classesOf(load<u8>(at)) & KEY_FIRST) == 0) return false;
  for (let i = 1; i < length; i++) {
    if ((classesOf(load<u8>(at + <usize>i)) & KEY_CHAR) == 0) return false;
  }
  return true;
}

/** isTraceStateKeyAt for a configured key (any character outside ASCII fails the grammar). */
export function isTraceStateKey(key: string): bool {
  const bytes = String.UTF8.encode(key);
  return isTraceStateKeyAt(changetype<usize>(bytes), bytes.byteLength);
}

const FNV_OFFSET: u32 = 0x811c9dc5;
const FNV_PRIME: u32 = 0x01000193;

/** FNV-1a of a key's bytes, as TraceStateList.add computes it while it reads the key. */
function hashKey(at: usize, length: i32): u32 {
  let hash = FNV_OFFSET;
  for (let i = 0; i < length; i++) hash = (hash ^ (<u32>load<u8>(at + <usize>i))) * FNV_PRIME;
  return hash;
}

/** Slots of a list's table of keys by hash (a power of two, at most half used). */
const KEY_SLOTS: i32 = 2 * MAX_TRACESTATE_MEMBERS;

function keySlot(keyHash: u32): i32 {
  return <i32>(keyHash >> 26);
}

/** The filter's own member, `key=value` in UTF-8, made once per configuration. */
export class OwnMember {
  readonly bytes: ArrayBuffer;
  readonly keyLength: i32;
  readonly keyHash: u32;

  constructor(key: string, value: string) {
    this.keyLength = String.UTF8.byteLength(key);
    this.bytes = String.UTF8.encode(key + "=" + value);
    this.keyHash = hashKey(changetype<usize>(this.bytes), this.keyLength);
  }

  /** Where `key=value` starts: also the whole tracestate of every trace the filter starts. */
  get at(): usize {
    return changetype<usize>(this.bytes);
  }

  get length(): i32 {
    return this.bytes.byteLength;
  }
}

/**
 * One request's tracestate list: its header values are added in order (`add`), then the list is
 * asked whether it holds the filter's member and written back (`writeOwnLeftmost`,
 * `writeWithoutOwn`). The members point into the added values, which must stay where they are
 * until the list is written. Reused: `clear` before each request.
 */
export class TraceStateList {
  /** Per distinct member, in order: where it starts, its key's length, its length (`key=value`). */
  private readonly memberAt: StaticArray<usize> = new StaticArray<usize>(MAX_TRACESTATE_MEMBERS);
  private readonly keyLength: StaticArray<i32> = new StaticArray<i32>(MAX_TRACESTATE_MEMBERS);
  private readonly memberLength: StaticArray<i32> = new StaticArray<i32>(MAX_TRACESTATE_MEMBERS);
  private readonly keyHash: StaticArray<u32> = new StaticArray<u32>(MAX_TRACESTATE_MEMBERS);
  /** The members by key hash (open addressing): member index + 1, 0 for an empty slot. */
  private readonly keySlots: StaticArray<u8> = new StaticArray<u8>(KEY_SLOTS);
  private members: i32 = 0;
  /** List-members seen, empty ones included: the 33rd makes the list invalid. */
  private listMembers: i32 = 0;
  private invalid: bool = false;
  /** The members a write picked (the own one first when it goes in) and which survive truncation. */
  private readonly pickedAt: StaticArray<usize> = new StaticArray<usize>(MAX_TRACESTATE_MEMBERS);
  /** Per picked member its length, 0 once truncation removed it. */
  private readonly pickedLength: StaticArray<i32> = new StaticArray<i32>(MAX_TRACESTATE_MEMBERS);
  /** What a write produces: at most 512 bytes, or a first member kept alone however long. */
  private readonly out: ArrayBuffer;

  constructor(readonly own: OwnMember) {
    this.out = new ArrayBuffer(max(max(MAX_TRACESTATE_LENGTH, MAX_MEMBER_LENGTH), own.length));
  }

  /** Forgets the last request's list. */
  clear(): void {
    this.forgetMembers();
    this.listMembers = 0;
    this.invalid = false;
  }

  /**
   * False when the values added make an invalid list (a malformed member or more than 32
   * list-members): the whole header is then discarded, as the conformance suite expects. Empty
   * and whitespace-only list-members are allowed but count towards the 32, as in the spec's
   * grammar (`list-member 0*31( OWS "," OWS list-member )`).
   */
  get valid(): bool {
    return !this.invalid;
  }

  /** Distinct members read so far (a repeated key counts once). */
  get size(): i32 {
    return this.members;
  }

  /**
   * Adds the list-members of one header value (the `length` bytes at `at`); false once the list is
   * invalid, and then reading stops, so a header of any size costs at most 33 list-members of
   * work. An empty value adds nothing. A repeated key keeps its first (leftmost) occurrence.
   */
  add(at: usize, length: u32): bool {
    if (this.invalid) return false;
    if (length == 0) return true;
    const end = at + <usize>length;
    let p = at;
    // One pass per list-member: OWS, the key up to "=", the value up to "," (or the end), and the
    // OWS before that "," trimmed off the value.
    while (true) {
      if (++this.listMembers > MAX_TRACESTATE_MEMBERS) return this.refuse();
      while (p < end && isOptionalWhitespace(load<u8>(p))) p++;
      if (p == end) break;
      let c = load<u8>(p);
      if (c == COMMA) {
        p++;
        continue;
      }
      const memberAt = p;
      if ((classesOf(c) & KEY_FIRST) == 0) return this.refuse();
      let keyHash: u32 = FNV_OFFSET;
      while (true) {
        keyHash = (keyHash ^ (<u32>c)) * FNV_PRIME;
        if (++p == end) return this.refuse();
        c = load<u8>(p);
        if (c == EQUALS) break;
        if ((classesOf(c) & KEY_CHAR) == 0) return this.refuse();
      }
      const keyLength = <i32>(p - memberAt);
      if (keyLength > MAX_KEY_LENGTH) return this.refuse();
      const valueAt = ++p;
      let valueEnd = valueAt;
      let trailing = false;
      while (p < end) {
        c = load<u8>(p);
        if (c == COMMA) break;
        if (c == TAB) trailing = true;
        else if ((classesOf(c) & VALUE_CHAR) == 0) return this.refuse();
        else if (c != SPACE) {
          // Only OWS may follow a tab: it cannot be inside a value.
          if (trailing) return this.refuse();
          valueEnd = p + 1;
        }
        p++;
      }
      const valueLength = <i32>(valueEnd - valueAt);
      if (valueLength == 0 || valueLength > MAX_VALUE_LENGTH) return this.refuse();
      const slot = this.slotOfKey(memberAt, keyLength, keyHash);
      if (unchecked(this.keySlots[slot]) == 0) {
        // At most 32 list-members were counted, so a new distinct one always has a place.
        const i = this.members++;
        unchecked((this.memberAt[i] = memberAt));
        unchecked((this.keyLength[i] = keyLength));
        unchecked((this.keyHash[i] = keyHash));
        unchecked((this.memberLength[i] = <i32>(valueEnd - memberAt)));
        unchecked((this.keySlots[slot] = <u8>(i + 1)));
      }
      if (p == end) break;
      p++; // past the ",": another list-member follows, empty at the end of the value
    }
    return true;
  }

  private refuse(): bool {
    this.invalid = true;
    this.forgetMembers();
    return false;
  }

  private forgetMembers(): void {
    if (this.members == 0) return;
    this.members = 0;
    memory.fill(changetype<usize>(this.keySlots), 0, <usize>KEY_SLOTS);
  }

  /**
   * The slot in `keySlots` of the member whose key is the `keyLength` bytes at `keyAt` (hashed
   * `keyHash`), or the empty slot where it would go.
   */
  private slotOfKey(keyAt: usize, keyLength: i32, keyHash: u32): i32 {
    const slots = this.keySlots;
    let slot = keySlot(keyHash);
    while (true) {
      const entry = <i32>unchecked(slots[slot]);
      if (entry == 0) return slot;
      const i = entry - 1;
      if (
        unchecked(this.keyHash[i]) == keyHash &&
        unchecked(this.keyLength[i]) == keyLength &&
        memory.compare(unchecked(this.memberAt[i]), keyAt, <usize>keyLength) == 0
      )
        return slot;
      slot = (slot + 1) & (KEY_SLOTS - 1);
    }
  }

  /** The index of the member with the filter's key, or -1. */
  private indexOfOwn(): i32 {
    const own = this.own;
    return <i32>unchecked(this.keySlots[this.slotOfKey(own.at, own.keyLength, own.keyHash)]) - 1;
  }

  /** Whether the list holds a member with the filter's key. */
  hasOwnMember(): bool {
    return this.indexOfOwn() >= 0;
  }

  /** Where a write put its result (until the next write). */
  get outAt(): usize {
    return changetype<usize>(this.out);
  }

  /**
   * Writes the list with the filter's member leftmost (an earlier member with its key removed, the
   * others in order, members beyond 32 dropped from the right) at `outAt`; returns its length.
   */
  writeOwnLeftmost(): i32 {
    return this.write(true);
  }

  /** Writes the list without the filter's member at `outAt`; returns its length (0: nothing to send). */
  writeWithoutOwn(): i32 {
    return this.write(false);
  }

  /**
   * Picks the members, then, while the list is longer than 512 bytes, removes whole members: first
   * those longer than 128 bytes, then from the right. The first member (the filter's own, when it
   * goes in) is never removed.
   */
  private write(ownLeftmost: bool): i32 {
    const own = this.own;
    const ownIndex = this.indexOfOwn();
    let picked = 0;
    let total = 0;
    if (ownLeftmost) {
      unchecked((this.pickedAt[0] = own.at));
      unchecked((this.pickedLength[0] = own.length));
      total = own.length;
      picked = 1;
    }
    for (let i = 0; i < this.members && picked < MAX_TRACESTATE_MEMBERS; i++) {
      if (i == ownIndex) continue;
      const length = unchecked(this.memberLength[i]);
      unchecked((this.pickedAt[picked] = unchecked(this.memberAt[i])));
      unchecked((this.pickedLength[picked] = length));
      total += length;
      picked++;
    }
    if (picked == 0) return 0;
    total += picked - 1; // commas
    // Removing the rightmost long member again and again, then the rightmost of any length, is one
    // pass from the right for each.
    const lengths = this.pickedLength;
    for (let i = picked - 1; i >= 1 && total > MAX_TRACESTATE_LENGTH; i--) {
      const length = unchecked(lengths[i]);
      if (length <= LONG_MEMBER_LENGTH) continue;
      total -= length + 1;
      unchecked((lengths[i] = 0));
    }
    for (let i = picked - 1; i >= 1 && total > MAX_TRACESTATE_LENGTH; i--) {
      const length = unchecked(lengths[i]);
      if (length == 0) continue;
      total -= length + 1;
      unchecked((lengths[i] = 0));
    }
    let at = changetype<usize>(this.out);
    for (let i = 0; i < picked; i++) {
      const length = <usize>unchecked(lengths[i]);
      if (length == 0) continue;
      if (i > 0) store<u8>(at++, COMMA);
      memory.copy(at, unchecked(this.pickedAt[i]), length);
      at += length;
    }
    return total;
  }
}
