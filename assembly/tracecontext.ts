// W3C Trace Context `traceparent`: read and validate it as bytes where the header scan kept it, and
// write one into a buffer (spec/20-http_request_header_format.md, "traceparent Header" and
// "Versioning of traceparent"). Pure: no host calls.

import { hexDigitCode } from "./text";

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

/**
 * A request's traceparent as read (readTraceParentHeaders) where the header scan kept it: its ids
 * are read in place, valid until the next scan. Reused from request to request.
 */
export class TraceParentFields {
  /** One valid traceparent: the fields below are meaningful. */
  present: bool = false;
  /** Why it is not present: None when the request has no traceparent. */
  problem: TraceParentProblem = TraceParentProblem.None;
  /** The version the header carried (a later version is read by its version-00 fields). */
  version: u8 = 0;
  /** Of a later version, only the flags this version defines. */
  flags: u8 = 0;
  /** Where the value starts, after OWS. */
  at: usize = 0;

  /** Where its TRACE_ID_HEX_LENGTH hex digits of trace-id are. */
  get traceIdAt(): usize {
    return this.at + <usize>TRACE_ID_START;
  }

  /** Where its SPAN_ID_HEX_LENGTH hex digits of parent-id are. */
  get parentIdAt(): usize {
    return this.at + <usize>PARENT_ID_START;
  }

  get sampled(): bool {
    return (this.flags & FLAG_SAMPLED) != 0;
  }
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1; // upper case is not allowed
}

/** A space or a tab: OWS (RFC 9110 5.6.3). */
export function isOptionalWhitespace(c: i32): bool {
  return c == 0x20 || c == 0x09;
}

/** 0x01 in every byte of a word. */
const EVERY_BYTE: u64 = 0x0101010101010101;
/** Every byte's high bit. */
const HIGH_BITS: u64 = 0x8080808080808080;

/**
 * Per byte of `word`, its high bit when the byte is lower-case hex. Meaningful for bytes below
 * 0x80 only: each sum below then stays within its byte (at most 0x7f + 0x50) and its high bit says
 * whether the byte reached the bound subtracted from 0x80.
 */
function hexBytesOf(word: u64): u64 {
  const fromDigit = word + EVERY_BYTE * (0x80 - 0x30);
  const pastDigit = word + EVERY_BYTE * (0x80 - 0x3a);
  const fromLetter = word + EVERY_BYTE * (0x80 - 0x61);
  const pastLetter = word + EVERY_BYTE * (0x80 - 0x67);
  return ((fromDigit & ~pastDigit) | (fromLetter & ~pastLetter)) & HIGH_BITS;
}

/** Lower-case hex at each of the `length` bytes at `at`: 1 when some digit is not 0, 0 when all are, -1 when not hex. */
function hexRunAt(at: usize, length: i32): i32 {
  // Eight bytes a step, without a branch per byte: random ids mix digits and letters, which a
  // branch would mispredict. A word with a byte of 0x80 or more is not hex whatever the sums say.
  let notHex: u64 = 0;
  let nonZero: u64 = 0;
  let i = 0;
  for (; i + 8 <= length; i += 8) {
    const word = load<u64>(at + <usize>i);
    notHex |= (word | ~hexBytesOf(word)) & HIGH_BITS;
    nonZero |= word ^ (EVERY_BYTE * 0x30);
  }
  for (; i < length; i++) {
    const c = <u32>load<u8>(at + <usize>i);
    notHex |= <u64>((<u32>(c - 0x30 >= 10)) & (<u32>(c - 0x61 >= 6)));
    nonZero |= <u64>(c ^ 0x30);
  }
  if (notHex != 0) return -1;
  return nonZero != 0 ? 1 : 0;
}

/** Two lower-case hex digits at `at` as a byte, or -1. */
function hexByteAt(at: usize): i32 {
  const high = hexValue(<i32>load<u8>(at));
  const low = hexValue(<i32>load<u8>(at + 1));
  if (high < 0 || low < 0) return -1;
  return (high << 4) | low;
}

/**
 * Whether the `length`-byte value at `at` has at `start` `digits` lower-case hex digits, not all
 * zero, followed by "-".
 */
function isNonZeroHexFieldAt(at: usize, length: i32, start: i32, digits: i32): bool {
  return (
    length > start + digits &&
    hexRunAt(at + <usize>start, digits) > 0 &&
    <i32>load<u8>(at + <usize>(start + digits)) == DASH
  );
}

/** The first problem of the traceparent value of `length` bytes at `at`, without surrounding OWS; None when valid. */
function problemAt(at: usize, length: i32): TraceParentProblem {
  const version = length >= 2 ? hexByteAt(at) : -1;
  if (version < 0 || version == 0xff || length < 3 || <i32>load<u8>(at + 2) != DASH) {
    return TraceParentProblem.Version;
  }
  // A later version shorter than version 00 cannot carry its fields: restart (same check for 00).
  if (!isNonZeroHexFieldAt(at, length, TRACE_ID_START, TRACE_ID_HEX_LENGTH))
    return TraceParentProblem.TraceId;
  if (!isNonZeroHexFieldAt(at, length, PARENT_ID_START, SPAN_ID_HEX_LENGTH))
    return TraceParentProblem.ParentId;
  if (length < FLAGS_START + 2 || hexByteAt(at + <usize>FLAGS_START) < 0) return TraceParentProblem.Flags;
  if (length != VERSION_00_LENGTH) {
    // Version 00 has nothing after the flags; a later version may, after a "-".
    if (version == 0 || <i32>load<u8>(at + <usize>VERSION_00_LENGTH) != DASH)
      return TraceParentProblem.TrailingData;
  }
  return TraceParentProblem.None;
}

/**
 * Reads the traceparent of a request from its `count` header values (the pairs call gives every
 * one), the first being the `length` bytes at `at`, into `into`: none is absent with no problem;
 * two or more are invalid.
 */
export function readTraceParentHeaders(count: i32, at: usize, length: u32, into: TraceParentFields): void {
  into.present = false;
  into.problem = TraceParentProblem.None;
  if (count == 0) return;
  if (count > 1) {
    into.problem = TraceParentProblem.Duplicate;
    return;
  }
  let start = at;
  let end = at + <usize>length;
  while (start < end && isOptionalWhitespace(<i32>load<u8>(start))) start++;
  while (end > start && isOptionalWhitespace(<i32>load<u8>(end - 1))) end--;
  const problem = problemAt(start, <i32>(end - start));
  if (problem != TraceParentProblem.None) {
    into.problem = problem;
    return;
  }
  const version = <u8>hexByteAt(start);
  const flags = <u8>hexByteAt(start + <usize>FLAGS_START);
  into.version = version;
  // Of a later version only the flags this version defines are understood.
  into.flags = version == 0 ? flags : flags & KNOWN_FLAGS;
  into.at = start;
  into.present = true;
}

/**
 * Writes the `length` bytes at `ptr` as lower-case hex at `out` (2 x `length` ASCII bytes), with
 * the last byte forced non-zero when every byte is zero: W3C forbids all-zero ids, and a generated
 * id must never be one.
 */
export function writeHexId(out: usize, ptr: usize, length: i32): void {
  let any: u32 = 0;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    const four = load<u32>(ptr + <usize>i);
    any |= four;
    store<u64>(out + ((<usize>i) << 1), hexOfFourBytes(four));
  }
  for (; i < length; i++) {
    const byte = <i32>load<u8>(ptr + <usize>i);
    any |= <u32>byte;
    const at = out + ((<usize>i) << 1);
    store<u8>(at, <u8>hexDigitCode(byte >> 4));
    store<u8>(at + 1, <u8>hexDigitCode(byte & 0xf));
  }
  if (any == 0 && length > 0) store<u8>(out + ((<usize>length) << 1) - 1, <u8>hexDigitCode(1));
}

/**
 * The lower-case hex of four bytes (one u32 load), eight ASCII digits in one word in the bytes'
 * order: each nibble in a byte of its own, then '0' added to all and 39 more ('a' - '0' - 10) to
 * those of ten or more, found as the nibbles that reach 16 with 6 added. No sum leaves its byte.
 */
function hexOfFourBytes(four: u32): u64 {
  let spread = <u64>four;
  spread = (spread | (spread << 16)) & 0x0000_ffff_0000_ffff;
  spread = (spread | (spread << 8)) & 0x00ff_00ff_00ff_00ff;
  const nibbles = ((spread >> 4) & 0x000f_000f_000f_000f) | ((spread & 0x000f_000f_000f_000f) << 8);
  const letters = ((nibbles + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
  return nibbles + 0x3030_3030_3030_3030 + letters * 39;
}

/** Bytes of a version-00 traceparent, and where its trace id and parent id start in them. */
export const TRACEPARENT_BYTES: i32 = VERSION_00_LENGTH;
export const TRACEPARENT_TRACE_ID_AT: i32 = TRACE_ID_START;
export const TRACEPARENT_PARENT_ID_AT: i32 = PARENT_ID_START;

/**
 * Writes the parts of a version-00 traceparent around its ids at `out` (TRACEPARENT_BYTES ASCII
 * bytes): the version, the dashes and `flags`, those this version does not define written as zero.
 * The caller writes the ids at TRACEPARENT_TRACE_ID_AT and TRACEPARENT_PARENT_ID_AT.
 */
export function writeTraceParentFrame(out: usize, flags: u8): void {
  const known = flags & KNOWN_FLAGS;
  store<u8>(out, <u8>TRACEPARENT_VERSION.charCodeAt(0));
  store<u8>(out + 1, <u8>TRACEPARENT_VERSION.charCodeAt(1));
  store<u8>(out + <usize>(TRACE_ID_START - 1), <u8>DASH);
  store<u8>(out + <usize>(PARENT_ID_START - 1), <u8>DASH);
  store<u8>(out + <usize>(FLAGS_START - 1), <u8>DASH);
  store<u8>(out + <usize>FLAGS_START, <u8>hexDigitCode((known >> 4) & 0xf));
  store<u8>(out + <usize>(FLAGS_START + 1), <u8>hexDigitCode(known & 0xf));
}
