// The filter's own versioned header format, `<version>;<key>=<value>;<key>=<value>...`, used by
// the hop stamp (`x-kwt-hop`) and the pod stamp (`x-kwt-pod`). Pure: no host calls.
//
// Grammar (docs/filter.md, "Headers"):
//   stamp   = version *( ";" field )
//   version = "1"-"9" *2DIGIT          ; no leading zero, at most 3 digits
//   field   = key "=" value
//   key     = 1*8( "a"-"z" )
//   value   = 0*63( ALPHA / DIGIT / "_" / "." / ":" / "/" / "-" )   ; a label value (labels.ts)
// A stamp is at most MAX_STAMP_LENGTH characters and MAX_STAMP_FIELDS fields; a key appears once.
// Anything else makes the whole stamp malformed: a forged or garbled header never yields labels.
//
// Versioning: version 1 is what this filter writes. A higher version is read with the same
// grammar; later versions may only add keys (readers ignore keys they do not know) and must use a
// new header name for any change that breaks this rule. So mixed filter versions interoperate
// during a rollout.

import { isLabelValue } from "./labels";
import { decimalText } from "./decimal";

export const STAMP_VERSION: i32 = 1;
export const MAX_STAMP_LENGTH: i32 = 512;
export const MAX_STAMP_FIELDS: i32 = 16;
const MAX_KEY_LENGTH: i32 = 8;
const MAX_VERSION_DIGITS: i32 = 3;

export class StampField {
  constructor(
    public key: string,
    public value: string,
  ) {}
}

export class Stamp {
  constructor(
    public version: i32,
    public fields: StampField[],
  ) {}

  /** The value of `key`, or null when the stamp has no such field. */
  get(key: string): string | null {
    for (let i = 0; i < this.fields.length; i++) {
      const field = unchecked(this.fields[i]);
      if (field.key == key) return field.value;
    }
    return null;
  }
}

function isLowerAlpha(c: i32): bool {
  return c >= 0x61 && c <= 0x7a;
}

/** A stamp key: 1..8 lower-case letters. */
export function isStampKey(key: string): bool {
  const n = key.length;
  if (n == 0 || n > MAX_KEY_LENGTH) return false;
  for (let i = 0; i < n; i++) {
    if (!isLowerAlpha(key.charCodeAt(i))) return false;
  }
  return true;
}

/** A stamp value is a label value: 0..63 characters of `[A-Za-z0-9_.:/-]`, empty allowed. */
export function isStampValue(value: string): bool {
  return isLabelValue(value);
}

/** Parses the version prefix `text[0, end)`; -1 when it is not 1..999 without a leading zero. */
function parseVersion(text: string, end: i32): i32 {
  if (end == 0 || end > MAX_VERSION_DIGITS || text.charCodeAt(0) == 0x30) return -1;
  let version = 0;
  for (let i = 0; i < end; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (<u32>digit > 9) return -1;
    version = version * 10 + digit;
  }
  return version;
}

/**
 * Keys seen in stamps so far, each one string for all stamps (a stamp is decoded on every request
 * that carries one). Bounded: keys beyond it are new strings each time.
 */
const knownKeys: string[] = [];
const MAX_KNOWN_KEYS: i32 = 32;

/** `text[start, end)` as a key string, reusing a known one. */
function keyOf(text: string, start: i32, end: i32): string {
  const length = end - start;
  const at = changetype<usize>(text) + ((<usize>start) << 1);
  for (let i = 0; i < knownKeys.length; i++) {
    const key = unchecked(knownKeys[i]);
    if (key.length == length && memory.compare(changetype<usize>(key), at, (<usize>length) << 1) == 0)
      return key;
  }
  const key = text.substring(start, end);
  if (knownKeys.length < MAX_KNOWN_KEYS && isStampKey(key)) knownKeys.push(key);
  return key;
}

/**
 * Reads a stamp; null when it is malformed in any way (see the grammar at the top). The caller
 * checks which keys it needs and what their values mean.
 */
export function decodeStamp(text: string): Stamp | null {
  const length = text.length;
  if (length == 0 || length > MAX_STAMP_LENGTH) return null;
  let end = text.indexOf(";");
  if (end < 0) end = length;
  const version = parseVersion(text, end);
  if (version < 1) return null;
  let separators = 0;
  for (let i = end; i < length; i++) if (text.charCodeAt(i) == 0x3b) separators++;
  if (separators > MAX_STAMP_FIELDS) return null;
  const fields = new Array<StampField>(separators);
  let count = 0;
  let start = end + 1;
  while (start <= length) {
    if (start == length) return null; // trailing ";" (or an empty field)
    end = text.indexOf(";", start);
    if (end < 0) end = length;
    const field = decodeField(text, start, end);
    if (field == null) return null;
    for (let i = 0; i < count; i++) {
      if (unchecked(fields[i]).key == field.key) return null;
    }
    unchecked((fields[count++] = field));
    start = end + 1;
  }
  return new Stamp(version, fields);
}

function decodeField(text: string, start: i32, end: i32): StampField | null {
  const equals = text.indexOf("=", start);
  if (equals < 0 || equals >= end) return null;
  const key = keyOf(text, start, equals);
  const value = text.substring(equals + 1, end);
  if (!isStampKey(key) || !isStampValue(value)) return null;
  return new StampField(key, value);
}

/**
 * Writes a version-1 stamp. Returns null if a key or value breaks the grammar, a key repeats, or
 * the result would be too long: the filter never emits a stamp it would itself refuse.
 */
export function encodeStamp(fields: StampField[]): string | null {
  if (fields.length > MAX_STAMP_FIELDS) return null;
  let text = decimalText(STAMP_VERSION);
  for (let i = 0; i < fields.length; i++) {
    const field = unchecked(fields[i]);
    if (!isStampKey(field.key) || !isStampValue(field.value)) return null;
    for (let j = 0; j < i; j++) {
      if (unchecked(fields[j]).key == field.key) return null;
    }
    text += ";" + field.key + "=" + field.value;
  }
  if (text.length > MAX_STAMP_LENGTH) return null;
  return text;
}
