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

function isLowerAlphaOrDigit(c: u8): bool {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39);
}

/**
 * key = ( lcalpha / DIGIT ) 0*255( keychar ), keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@",
 * for the `length` bytes at `at`. The current spec grammar; the older `tenant@system` form (241/14
 * split) is a subset of it.
 */
export function isTraceStateKeyAt(at: usize, length: i32): bool {
  if (length == 0 || length > MAX_KEY_LENGTH) return false;
  if (!isLowerAlphaOrDigit(load<u8>(at))) return false;
  for (let i = 1; i < length; i++) {
    const c = load<u8>(at + <usize>i);
    if (!(isLowerAlphaOrDigit(c) || c == 0x5f || c == 0x2d || c == 0x2a || c == 0x2f || c == 0x40))
      return false;
  }
  return true;
}

/** isTraceStateKeyAt for a configured key (any character outside ASCII fails the grammar). */
export function isTraceStateKey(key: string): bool {
  const bytes = String.UTF8.encode(key);
  return isTraceStateKeyAt(changetype<usize>(bytes), bytes.byteLength);
}

/**
 * value = 0*255( chr ) nblk-chr for the `length` bytes at `at`: 1..256 printable ASCII except ","
 * and "=", not ending in a space.
 */
export function isTraceStateValueAt(at: usize, length: i32): bool {
  if (length == 0 || length > MAX_VALUE_LENGTH) return false;
  for (let i = 0; i < length; i++) {
    const c = load<u8>(at + <usize>i);
    if (c < 0x20 || c > 0x7e || c == COMMA || c == EQUALS) return false;
  }
  return load<u8>(at + <usize>(length - 1)) != 0x20;
}

/** The filter's own member, `key=value` in UTF-8, made once per configuration. */
export class OwnMember {
  readonly bytes: ArrayBuffer;
  readonly keyLength: i32;

  constructor(key: string, value: string) {
    this.keyLength = String.UTF8.byteLength(key);
    this.bytes = String.UTF8.encode(key + "=" + value);
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
  private members: i32 = 0;
  /** List-members seen, empty ones included: the 33rd makes the list invalid. */
  private listMembers: i32 = 0;
  private invalid: bool = false;
  /** The members a write picked (the own one first when it goes in) and which survive truncation. */
  private readonly pickedAt: StaticArray<usize> = new StaticArray<usize>(MAX_TRACESTATE_MEMBERS);
  private readonly pickedLength: StaticArray<i32> = new StaticArray<i32>(MAX_TRACESTATE_MEMBERS);
  private readonly pickedKept: StaticArray<bool> = new StaticArray<bool>(MAX_TRACESTATE_MEMBERS);
  /** What a write produces: at most 512 bytes, or a first member kept alone however long. */
  private readonly out: ArrayBuffer;

  constructor(readonly own: OwnMember) {
    this.out = new ArrayBuffer(max(max(MAX_TRACESTATE_LENGTH, MAX_MEMBER_LENGTH), own.length));
  }

  /** Forgets the last request's list. */
  clear(): void {
    this.members = 0;
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
    const end = at + <usize>length;
    let start = at;
    while (length > 0 && start <= end) {
      if (++this.listMembers > MAX_TRACESTATE_MEMBERS) return this.refuse();
      let comma = start;
      while (comma < end && load<u8>(comma) != COMMA) comma++;
      let memberStart = start;
      let memberEnd = comma;
      start = comma + 1;
      while (memberStart < memberEnd && isOptionalWhitespace(load<u8>(memberStart))) memberStart++;
      while (memberEnd > memberStart && isOptionalWhitespace(load<u8>(memberEnd - 1))) memberEnd--;
      if (memberStart == memberEnd) continue;
      let equals = memberStart;
      while (equals < memberEnd && load<u8>(equals) != EQUALS) equals++;
      if (equals == memberEnd) return this.refuse();
      const keyLength = <i32>(equals - memberStart);
      const memberLength = <i32>(memberEnd - memberStart);
      if (!isTraceStateKeyAt(memberStart, keyLength)) return this.refuse();
      if (!isTraceStateValueAt(equals + 1, memberLength - keyLength - 1)) return this.refuse();
      if (this.indexOfKey(memberStart, keyLength) >= 0) continue;
      // At most 32 list-members were counted, so a new distinct one always has a place.
      const i = this.members++;
      unchecked((this.memberAt[i] = memberStart));
      unchecked((this.keyLength[i] = keyLength));
      unchecked((this.memberLength[i] = memberLength));
    }
    return true;
  }

  private refuse(): bool {
    this.invalid = true;
    this.members = 0;
    return false;
  }

  /** The index of the member whose key is the `keyLength` bytes at `keyAt`, or -1. */
  private indexOfKey(keyAt: usize, keyLength: i32): i32 {
    for (let i = 0; i < this.members; i++) {
      if (
        unchecked(this.keyLength[i]) == keyLength &&
        memory.compare(unchecked(this.memberAt[i]), keyAt, <usize>keyLength) == 0
      )
        return i;
    }
    return -1;
  }

  /** Whether the list holds a member with the filter's key. */
  hasOwnMember(): bool {
    return this.indexOfKey(this.own.at, this.own.keyLength) >= 0;
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
    const ownIndex = this.indexOfKey(own.at, own.keyLength);
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
    for (let i = 0; i < picked; i++) unchecked((this.pickedKept[i] = true));
    total += picked - 1; // commas
    while (total > MAX_TRACESTATE_LENGTH) {
      let victim = this.rightmostRemovable(picked, true);
      if (victim < 0) victim = this.rightmostRemovable(picked, false);
      if (victim < 0) break;
      unchecked((this.pickedKept[victim] = false));
      total -= unchecked(this.pickedLength[victim]) + 1;
    }
    let at = changetype<usize>(this.out);
    for (let i = 0; i < picked; i++) {
      if (!unchecked(this.pickedKept[i])) continue;
      if (i > 0) store<u8>(at++, COMMA);
      const length = <usize>unchecked(this.pickedLength[i]);
      memory.copy(at, unchecked(this.pickedAt[i]), length);
      at += length;
    }
    return total;
  }

  /** The rightmost kept picked member other than the first (only those over 128 bytes if `longOnly`), or -1. */
  private rightmostRemovable(picked: i32, longOnly: bool): i32 {
    for (let i = picked - 1; i >= 1; i--) {
      if (!unchecked(this.pickedKept[i])) continue;
      if (!longOnly || unchecked(this.pickedLength[i]) > LONG_MEMBER_LENGTH) return i;
    }
    return -1;
  }
}
