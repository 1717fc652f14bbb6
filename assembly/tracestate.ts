// W3C Trace Context `tracestate`: parse every header value as one list, validate, put the
// filter's own member leftmost, and format within the size limits
// (spec/20-http_request_header_format.md, "Tracestate Header" and "Mutating the tracestate Field").
// Pure: no host calls.

import { allocateString, writeChar, writeText } from "./text";
import { trimOptionalWhitespace } from "./tracecontext";

export const MAX_TRACESTATE_MEMBERS: i32 = 32;
/** The spec asks to propagate at least 512 characters; this filter propagates exactly that much. */
export const MAX_TRACESTATE_LENGTH: i32 = 512;
/** When truncating, members longer than this go first. */
export const LONG_MEMBER_LENGTH: i32 = 128;
const MAX_KEY_LENGTH: i32 = 256;
const MAX_VALUE_LENGTH: i32 = 256;

export class TraceStateMember {
  private alone: string | null = null;

  constructor(
    public readonly key: string,
    public readonly value: string,
  ) {}

  /** formatTraceState([this]), made once: the whole tracestate of every trace the filter starts. */
  get asTraceState(): string {
    let text = this.alone;
    if (text == null) {
      text = formatTraceState([this]);
      this.alone = text;
    }
    return text;
  }

  /** Characters of `key=value`. */
  get length(): i32 {
    return this.key.length + 1 + this.value.length;
  }
}

function isLowerAlphaOrDigit(c: i32): bool {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39);
}

/**
 * key = ( lcalpha / DIGIT ) 0*255( keychar ), keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@".
 * The current spec grammar; the older `tenant@system` form (241/14 split) is a subset of it.
 */
export function isTraceStateKey(key: string): bool {
  const n = key.length;
  if (n == 0 || n > MAX_KEY_LENGTH) return false;
  if (!isLowerAlphaOrDigit(key.charCodeAt(0))) return false;
  for (let i = 1; i < n; i++) {
    const c = key.charCodeAt(i);
    if (!(isLowerAlphaOrDigit(c) || c == 0x5f || c == 0x2d || c == 0x2a || c == 0x2f || c == 0x40))
      return false;
  }
  return true;
}

/** value = 0*255( chr ) nblk-chr: 1..256 printable ASCII except "," and "=", not ending in a space. */
export function isTraceStateValue(value: string): bool {
  const n = value.length;
  if (n == 0 || n > MAX_VALUE_LENGTH) return false;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c == 0x2c || c == 0x3d) return false;
  }
  return value.charCodeAt(n - 1) != 0x20;
}

/**
 * Parses all tracestate header values of a request, in order, as one list. Returns null when the
 * list is invalid (a malformed member or more than 32 list-members): the whole header is then
 * discarded, as the conformance suite expects. Empty and whitespace-only list-members are allowed
 * but count towards the 32, as in the spec's grammar (`list-member 0*31( OWS "," OWS list-member )`),
 * so parsing stops at the 33rd whatever the header's size. A repeated key keeps its first
 * (leftmost) occurrence. An absent or empty header gives an empty list.
 */
export function parseTraceState(values: string[]): TraceStateMember[] | null {
  const members = new Array<TraceStateMember>();
  let count = 0;
  for (let v = 0; v < values.length; v++) {
    const text = unchecked(values[v]);
    let start = 0;
    if (text.length == 0) continue;
    while (start <= text.length) {
      if (++count > MAX_TRACESTATE_MEMBERS) return null;
      let end = text.indexOf(",", start);
      if (end < 0) end = text.length;
      const member = trimOptionalWhitespace(text.substring(start, end));
      start = end + 1;
      if (member.length == 0) continue;
      const equals = member.indexOf("=");
      if (equals < 0) return null;
      const key = member.substring(0, equals);
      const value = member.substring(equals + 1);
      if (!isTraceStateKey(key) || !isTraceStateValue(value)) return null;
      if (indexOfKey(members, key) < 0) members.push(new TraceStateMember(key, value));
    }
  }
  return members;
}

function indexOfKey(members: TraceStateMember[], key: string): i32 {
  for (let i = 0; i < members.length; i++) {
    if (unchecked(members[i]).key == key) return i;
  }
  return -1;
}

/**
 * The list with `own` leftmost: an earlier member with the same key is removed, the others keep
 * their order, and members beyond 32 are dropped from the right.
 */
export function putLeftmost(members: TraceStateMember[], own: TraceStateMember): TraceStateMember[] {
  const out = new Array<TraceStateMember>();
  out.push(own);
  for (let i = 0; i < members.length && out.length < MAX_TRACESTATE_MEMBERS; i++) {
    const member = unchecked(members[i]);
    if (member.key != own.key) out.push(member);
  }
  return out;
}

function joinedLength(members: TraceStateMember[], kept: StaticArray<bool>): i32 {
  let total = 0;
  let count = 0;
  for (let i = 0; i < members.length; i++) {
    if (!unchecked(kept[i])) continue;
    total += unchecked(members[i]).length;
    count++;
  }
  return count > 0 ? total + count - 1 : 0;
}

/** The rightmost kept member other than the first (only those over 128 characters if `longOnly`), or -1. */
function rightmostRemovable(members: TraceStateMember[], kept: StaticArray<bool>, longOnly: bool): i32 {
  for (let i = members.length - 1; i >= 1; i--) {
    if (!unchecked(kept[i])) continue;
    if (!longOnly || unchecked(members[i]).length > LONG_MEMBER_LENGTH) return i;
  }
  return -1;
}

/**
 * Formats the list as one header value of at most `maxLength` characters. When it is longer,
 * whole members are removed: first those longer than 128 characters, then from the right. The
 * first member (the filter's own, when it put one) is never removed.
 */
export function formatTraceState(
  members: TraceStateMember[],
  maxLength: i32 = MAX_TRACESTATE_LENGTH,
): string {
  const kept = new StaticArray<bool>(members.length);
  for (let i = 0; i < members.length; i++) unchecked((kept[i] = true));
  while (joinedLength(members, kept) > maxLength) {
    let victim = rightmostRemovable(members, kept, true);
    if (victim < 0) victim = rightmostRemovable(members, kept, false);
    if (victim < 0) break;
    unchecked((kept[victim] = false));
  }
  // In place (text.ts): this runs for every request that starts or continues a trace.
  const out = allocateString(joinedLength(members, kept));
  let at = changetype<usize>(out);
  let first = true;
  for (let i = 0; i < members.length; i++) {
    if (!unchecked(kept[i])) continue;
    const member = unchecked(members[i]);
    if (!first) at = writeChar(at, 0x2c);
    first = false;
    at = writeText(writeChar(writeText(at, member.key), 0x3d), member.value);
  }
  return out;
}
