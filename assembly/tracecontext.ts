// W3C Trace Context `traceparent`: parse, validate and format (spec/20-http_request_header_format.md,
// "traceparent Header" and "Versioning of traceparent"). Pure: no host calls.

import { allocateString, writeChar, writeText } from "./text";

export const TRACEPARENT_VERSION: string = "00";
export const FLAG_SAMPLED: u8 = 0x01;
/** Level 2 "random trace-id" flag: at least the right-most 7 bytes of the trace-id are random. */
export const FLAG_RANDOM: u8 = 0x02;
/** The flags this implementation knows; others are zeroed whenever the filter writes a traceparent. */
export const KNOWN_FLAGS: u8 = FLAG_SAMPLED | FLAG_RANDOM;

export const TRACE_ID_HEX_LENGTH: i32 = 32;
export const SPAN_ID_HEX_LENGTH: i32 = 16;
// version(2) "-" trace-id(32) "-" parent-id(16) "-" flags(2)
const VERSION_00_LENGTH: i32 = 55;
const TRACE_ID_START: i32 = 3;
const PARENT_ID_START: i32 = 36;
const FLAGS_START: i32 = 53;
const DASH: i32 = 0x2d;

/**
 * Why a traceparent was replaced: the `reason` label of kwt_traceparent_repaired_total. The first
 * field that fails decides, checked left to right at the fixed positions of version 00.
 */
export enum TraceParentProblem {
  None = 0,
  /** More than one traceparent header. */
  Duplicate = 1,
  /** Version is not two lower-case hex digits followed by "-", or is "ff". */
  Version = 2,
  /** trace-id: not 32 lower-case hex digits followed by "-", or all zeros. */
  TraceId = 3,
  /** parent-id: not 16 lower-case hex digits followed by "-", or all zeros. */
  ParentId = 4,
  /** trace-flags: not two lower-case hex digits. */
  Flags = 5,
  /** Version 00 with anything after the 55 characters, or a later version without "-" after the flags. */
  TrailingData = 6,
}

/** Label values for TraceParentProblem, indexed by the enum value (None has none). */
export const TRACEPARENT_PROBLEM_REASONS: string[] = [
  "",
  "duplicate",
  "version",
  "trace_id",
  "parent_id",
  "flags",
  "trailing_data",
];

export class TraceParent {
  constructor(
    /** The version the header carried (a later version is read by its version-00 fields). */
    public version: u8,
    public traceId: string,
    public parentId: string,
    public flags: u8,
  ) {}

  get sampled(): bool {
    return (this.flags & FLAG_SAMPLED) != 0;
  }
}

export class TraceParentParse {
  constructor(
    public traceParent: TraceParent | null,
    public problem: TraceParentProblem,
  ) {}
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1; // upper case is not allowed
}

/** True if text[start, start+length) is lower-case hex, not all zeros, and followed by "-" at start+length. */
function isNonZeroHexField(text: string, start: i32, length: i32): bool {
  if (text.length <= start + length) return false;
  let nonZero = false;
  for (let i = start; i < start + length; i++) {
    const digit = hexValue(text.charCodeAt(i));
    if (digit < 0) return false;
    if (digit != 0) nonZero = true;
  }
  return nonZero && text.charCodeAt(start + length) == 0x2d;
}

/** Two lower-case hex digits at start as a byte, or -1. */
function hexByte(text: string, start: i32): i32 {
  if (text.length < start + 2) return -1;
  const high = hexValue(text.charCodeAt(start));
  const low = hexValue(text.charCodeAt(start + 1));
  if (high < 0 || low < 0) return -1;
  return (high << 4) | low;
}

/** A space or a tab: OWS (RFC 9110 5.6.3). */
export function isOptionalWhitespace(c: i32): bool {
  return c == 0x20 || c == 0x09;
}

/** Strips spaces and tabs around a header value (OWS, RFC 9110 5.6.3). */
export function trimOptionalWhitespace(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isOptionalWhitespace(text.charCodeAt(start))) start++;
  while (end > start && isOptionalWhitespace(text.charCodeAt(end - 1))) end--;
  return start == 0 && end == text.length ? text : text.substring(start, end);
}

/** The first problem of a traceparent value without surrounding whitespace; None when valid. */
function problemOf(text: string): TraceParentProblem {
  const version = hexByte(text, 0);
  if (version < 0 || version == 0xff || text.length < 3 || text.charCodeAt(2) != 0x2d) {
    return TraceParentProblem.Version;
  }
  // A later version shorter than version 00 cannot carry its fields: restart (same check for 00).
  if (!isNonZeroHexField(text, TRACE_ID_START, TRACE_ID_HEX_LENGTH)) return TraceParentProblem.TraceId;
  if (!isNonZeroHexField(text, PARENT_ID_START, SPAN_ID_HEX_LENGTH)) return TraceParentProblem.ParentId;
  if (hexByte(text, FLAGS_START) < 0) return TraceParentProblem.Flags;
  if (text.length != VERSION_00_LENGTH) {
    // Version 00 has nothing after the flags; a later version may, after a "-".
    if (version == 0 || text.charCodeAt(VERSION_00_LENGTH) != 0x2d) return TraceParentProblem.TrailingData;
  }
  return TraceParentProblem.None;
}

/** Parses one traceparent header value. */
export function parseTraceParent(raw: string): TraceParentParse {
  const text = trimOptionalWhitespace(raw);
  const problem = problemOf(text);
  if (problem != TraceParentProblem.None) return new TraceParentParse(null, problem);
  const version = hexByte(text, 0);
  const flags = hexByte(text, FLAGS_START);
  const traceId = text.substring(TRACE_ID_START, TRACE_ID_START + TRACE_ID_HEX_LENGTH);
  const parentId = text.substring(PARENT_ID_START, PARENT_ID_START + SPAN_ID_HEX_LENGTH);
  // Of a later version only the flags this version defines are understood.
  const knownFlags = version == 0 ? <u8>flags : (<u8>flags) & KNOWN_FLAGS;
  return new TraceParentParse(
    new TraceParent(<u8>version, traceId, parentId, knownFlags),
    TraceParentProblem.None,
  );
}

/** Lower-case hex at each of the `length` bytes at `at`: 1 when some digit is not 0, 0 when all are, -1 when not hex. */
function hexRunAt(at: usize, length: i32): i32 {
  let nonZero = 0;
  for (let i = 0; i < length; i++) {
    const digit = hexValue(<i32>load<u8>(at + <usize>i));
    if (digit < 0) return -1;
    if (digit != 0) nonZero = 1;
  }
  return nonZero;
}

/**
 * Whether the `length` bytes at `at` (a traceparent value where the header scan kept it) are a
 * valid version 00, as parseTraceParent would find, without making a string or cutting its ids
 * out: such a traceparent passes a proxy that takes no part in the trace untouched.
 */
export function isValidVersion00(at: usize, length: u32): bool {
  let start = at;
  let end = at + <usize>length;
  while (start < end && isOptionalWhitespace(<i32>load<u8>(start))) start++;
  while (end > start && isOptionalWhitespace(<i32>load<u8>(end - 1))) end--;
  if (end - start != <usize>VERSION_00_LENGTH) return false;
  if (load<u8>(start) != 0x30 || load<u8>(start + 1) != 0x30) return false;
  const dashes =
    <i32>load<u8>(start + TRACE_ID_START - 1) == DASH &&
    <i32>load<u8>(start + PARENT_ID_START - 1) == DASH &&
    <i32>load<u8>(start + FLAGS_START - 1) == DASH;
  return (
    dashes &&
    hexRunAt(start + TRACE_ID_START, TRACE_ID_HEX_LENGTH) > 0 &&
    hexRunAt(start + PARENT_ID_START, SPAN_ID_HEX_LENGTH) > 0 &&
    hexRunAt(start + FLAGS_START, 2) >= 0
  );
}

/**
 * Reads the traceparent of a request from all its traceparent header values (the pairs call
 * gives every one): none gives a null traceParent with no problem; two or more are invalid.
 */
export function parseTraceParentHeaders(values: string[]): TraceParentParse {
  if (values.length == 0) return new TraceParentParse(null, TraceParentProblem.None);
  if (values.length > 1) return new TraceParentParse(null, TraceParentProblem.Duplicate);
  return parseTraceParent(unchecked(values[0]));
}

function hexCharCode(value: i32): u16 {
  return <u16>(value < 10 ? 0x30 + value : 0x61 + value - 10);
}

/** Formats a version-00 traceparent; flags this version does not define are written as zero. */
export function formatTraceParent(traceId: string, parentId: string, flags: u8): string {
  const known = flags & KNOWN_FLAGS;
  // In place (text.ts): this runs for every request that starts or continues a trace.
  const out = allocateString(TRACEPARENT_VERSION.length + traceId.length + parentId.length + 5);
  let at = writeText(changetype<usize>(out), TRACEPARENT_VERSION);
  at = writeText(writeChar(at, DASH), traceId);
  at = writeText(writeChar(at, DASH), parentId);
  at = writeChar(writeChar(at, DASH), hexCharCode((known >> 4) & 0xf));
  writeChar(at, hexCharCode(known & 0xf));
  return out;
}

/**
 * Lower-case hex of `length` bytes at `ptr`, with the last byte forced non-zero when every byte
 * is zero: W3C forbids all-zero ids, and a generated id must never be one.
 */
export function hexIdFromBytes(ptr: usize, length: i32): string {
  // Written in place: this runs for every span the filter makes.
  const out = changetype<string>(__new((<usize>length) << 2, idof<string>()));
  writeHexId<u16>(changetype<usize>(out), ptr, length);
  return out;
}

/**
 * Writes hexIdFromBytes(ptr, length) at `out` as `T` units: u16 for a string's characters, u8 for
 * the ASCII bytes a header value is handed to the host as.
 */
export function writeHexId<T>(out: usize, ptr: usize, length: i32): void {
  let allZero = true;
  for (let i = 0; i < length; i++) {
    if (load<u8>(ptr + i) != 0) {
      allZero = false;
      break;
    }
  }
  const unit = <usize>sizeof<T>();
  for (let i = 0; i < length; i++) {
    let byte = <i32>load<u8>(ptr + i);
    if (allZero && i == length - 1) byte = 1;
    const at = out + ((<usize>i) << 1) * unit;
    store<T>(at, <T>hexCharCode(byte >> 4));
    store<T>(at + unit, <T>hexCharCode(byte & 0xf));
  }
}

/** Bytes of a version-00 traceparent, and where its trace id and parent id start in them. */
export const TRACEPARENT_BYTES: i32 = VERSION_00_LENGTH;
export const TRACEPARENT_TRACE_ID_AT: i32 = TRACE_ID_START;
export const TRACEPARENT_PARENT_ID_AT: i32 = PARENT_ID_START;

/**
 * Writes the parts of a version-00 traceparent around its ids at `out` (TRACEPARENT_BYTES ASCII
 * bytes): the version, the dashes and `flags` as formatTraceParent writes them. The caller writes
 * the ids at TRACEPARENT_TRACE_ID_AT and TRACEPARENT_PARENT_ID_AT (writeHexId<u8>).
 */
export function writeTraceParentFrame(out: usize, flags: u8): void {
  const known = flags & KNOWN_FLAGS;
  store<u8>(out, <u8>TRACEPARENT_VERSION.charCodeAt(0));
  store<u8>(out + 1, <u8>TRACEPARENT_VERSION.charCodeAt(1));
  store<u8>(out + <usize>(TRACE_ID_START - 1), <u8>DASH);
  store<u8>(out + <usize>(PARENT_ID_START - 1), <u8>DASH);
  store<u8>(out + <usize>(FLAGS_START - 1), <u8>DASH);
  store<u8>(out + <usize>FLAGS_START, <u8>hexCharCode((known >> 4) & 0xf));
  store<u8>(out + <usize>(FLAGS_START + 1), <u8>hexCharCode(known & 0xf));
}
