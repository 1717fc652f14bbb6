// The pod stamp (`x-kwt-pod`): what a revision pod's inbound sidecar reports back on the response,
// so the gateway or the caller's sidecar can label the client-visible latency with the revision
// and tell cold starts (docs/filter.md, "Cold starts"). Written with the shared stamp codec
// (assembly/stamp.ts). Pure.
//
//   1;cs=<0|1>;w=<wait-ms or empty>;c=<cluster>;r=<region>;n=<namespace>;s=<service>;cf=<configuration>;v=<revision>;a=<0|1>;rd=<ready-ms>[;t=<arrival-ms>]
//
// `cs`/`w` (held by the activator, as far as the pod knows, and how long) stay for edges of
// earlier versions, which read them as a cold start; this version's edges decide from `a`
// (through the activator), `rd` (since when the pod is ready) and `t` (when the request reached
// the pod; only with `a=1`, and always last, so everything before it is the same on every
// request of a pod and can be cached).

import { decimalText, parseDecimal, parseMillis, parseMillisBytes } from "./decimal";
import { noteGarbage } from "./garbage";
import { MAX_STAMP_LENGTH, StampField, decodeStamp, encodeStamp } from "./stamp";

/** Waits above this (about 11 days) are not believed. */
const MAX_WAIT_DIGITS: i32 = 12;
/** The per-request arrival field; encodePodStamp writes it last. */
const ARRIVAL_FIELD = ";t=";

export class PodStamp {
  constructor(
    /** The activator held the request (its entry stamp is older than the pod's readiness). */
    public held: bool,
    /** How long a held request waited before reaching the pod; -1 when not measured. */
    public waitMs: i64,
    public cluster: string,
    public region: string,
    public namespace: string,
    public service: string,
    public configuration: string,
    public revision: string,
    /** The request came through the activator (`K-Proxy-Request: activator`). */
    public viaActivator: bool = false,
    /** Since when the pod is ready, ms on the pod's clock; -1 when the stamp does not say. */
    public readyMs: i64 = -1,
    /** When the request reached the pod, ms on the pod's clock; -1 when the stamp does not say. */
    public arrivalMs: i64 = -1,
  ) {}
}

/** The wait in ms; -1 when empty (untimed), -2 when not a number. */
function parseWait(text: string): i64 {
  if (text.length == 0) return -1;
  const wait = parseDecimal(text, MAX_WAIT_DIGITS);
  return wait < 0 ? -2 : wait;
}

/** An optional time field: -1 when absent, -2 when not a number. */
function parseTime(text: string | null): i64 {
  if (text == null) return -1;
  const ms = parseMillis(text);
  return ms < 0 ? -2 : ms;
}

/**
 * What decoding or encoding a stamp leaves to the collector, roughly: its fields, the report or
 * the text built field by field, and what the filter builds from a decoded one (an era key, a
 * revision's era restarted past the ready history's limit), counted (garbage.ts) with the names
 * metrics.ts counts, from the same measurement (about 6 KiB per answer past the cap; 3 to 4 KiB
 * per held request's stamp). Counted at every decode and encode: a kept stamp is decoded again
 * for a label value or a forgotten era, and a burst of held requests (the activator releases its
 * queue when a pod is ready) encodes one stamp each; uncounted, either let linear memory double
 * between ticks.
 */
const STAMP_GARBAGE_BYTES: i64 = 4 * 1024;

/** Reads a pod stamp; null when it is malformed or misses a required field. */
export function decodePodStamp(text: string | null): PodStamp | null {
  if (text == null) return null;
  noteGarbage(STAMP_GARBAGE_BYTES);
  const stamp = decodeStamp(text);
  if (stamp == null) return null;
  const cs = stamp.get("cs");
  const w = stamp.get("w");
  const cluster = stamp.get("c");
  const region = stamp.get("r");
  const namespace = stamp.get("n");
  const service = stamp.get("s");
  const revision = stamp.get("v");
  if (cs == null || w == null || cluster == null || region == null) return null;
  if (namespace == null || service == null || revision == null) return null;
  if (cs != "0" && cs != "1") return null;
  const wait = parseWait(w);
  if (wait < -1) return null;
  // `cf`, then `a`, `rd` and `t` were added after the first format: absent, they read as an empty
  // configuration and a request not known to come through the activator.
  const configuration = stamp.get("cf");
  const a = stamp.get("a");
  if (a != null && a != "0" && a != "1") return null;
  const readyMs = parseTime(stamp.get("rd"));
  const arrivalMs = parseTime(stamp.get("t"));
  if (readyMs < -1 || arrivalMs < -1) return null;
  return new PodStamp(
    cs == "1",
    wait,
    cluster,
    region,
    namespace,
    service,
    configuration != null ? configuration : "",
    revision,
    a == "1",
    readyMs,
    arrivalMs,
  );
}

/** Writes a pod stamp; null if a value is not a label value (the caller sanitised them). */
export function encodePodStamp(report: PodStamp): string | null {
  noteGarbage(STAMP_GARBAGE_BYTES);
  const fields: StampField[] = [
    new StampField("cs", report.held ? "1" : "0"),
    new StampField("w", report.waitMs >= 0 ? decimalText(report.waitMs) : ""),
    new StampField("c", report.cluster),
    new StampField("r", report.region),
    new StampField("n", report.namespace),
    new StampField("s", report.service),
    new StampField("cf", report.configuration),
    new StampField("v", report.revision),
    new StampField("a", report.viaActivator ? "1" : "0"),
  ];
  if (report.readyMs >= 0) fields.push(new StampField("rd", decimalText(report.readyMs)));
  if (report.arrivalMs >= 0) fields.push(new StampField("t", decimalText(report.arrivalMs)));
  return encodeStamp(fields);
}

/**
 * What comes before the arrival's digits on a stamp without its arrival (encoded without `t`):
 * a PrefixedDecimalWriter of it writes the stamp with an arrival appended.
 */
export function arrivalStampPrefix(stampWithoutArrival: string): string {
  return stampWithoutArrival + ARRIVAL_FIELD;
}

/**
 * What an edge keeps of a stamp whose held fields came first, as this filter writes them, in
 * place of those fields: `cs` and `w` differ on every held answer of a pod (each its own wait),
 * and an edge of this version reads neither. Decoded with it, the rest is the pod's stamp again.
 */
export const HELD_FIELDS_CUT = "1;cs=0;w=;";

/**
 * Where the fields after a leading `1;cs=<0|1>;w=<up to 12 digits>;` start, in the first
 * `length` characters of `text` (a stamp without its arrival); 0 when it does not start so, or
 * is longer than a stamp may be (then it is decoded whole, and refused). Two stamps that both
 * start so and are alike after that head are the same pod's, and either is valid exactly when
 * the other is: the head is valid whatever its digits. (What follows the head of one stamp may
 * be the whole of another: a cut key is only ever compared with cut keys.)
 */
export function heldFieldsEnd(text: string, length: i32): i32 {
  return heldFieldsEndIn<u16>(changetype<usize>(text), length);
}

/** heldFieldsEnd of the `length` bytes at `at` (a stamp where the host wrote it). */
export function heldFieldsEndBytes(at: usize, length: i32): i32 {
  return heldFieldsEndIn<u8>(at, length);
}

function heldFieldsEndIn<T>(base: usize, length: i32): i32 {
  if (length > MAX_STAMP_LENGTH) return 0;
  // "1;cs=" (5), the flag, ";w=" (3): the digits start at 9.
  const digitsAt = 9;
  if (length <= digitsAt) return 0;
  const head = changetype<usize>(HELD_FIELDS_CUT);
  for (let i = 0; i < digitsAt; i++) {
    const unit = <u16>load<T>(base + <usize>i * sizeof<T>());
    if (i == 5 ? unit != 0x30 && unit != 0x31 : unit != load<u16>(head + ((<usize>i) << 1))) return 0;
  }
  const digitsEnd = min(length, digitsAt + MAX_WAIT_DIGITS + 1);
  for (let i = digitsAt; i < digitsEnd; i++) {
    const unit = <u16>load<T>(base + <usize>i * sizeof<T>());
    // The head ends at its `;`, with fields after it.
    if (unit == 0x3b) return i + 1 < length ? i + 1 : 0;
    if (<u32>(unit - 0x30) > 9) return 0;
  }
  return 0;
}

/** Where a stamp's trailing arrival field starts; the text's length when it has none. */
export function arrivalFieldStart(text: string): i32 {
  return arrivalFieldStartIn<u16>(changetype<usize>(text), text.length);
}

/** arrivalFieldStart of the `length` ASCII bytes at `at` (a stamp where the host wrote it). */
export function arrivalFieldStartBytes(at: usize, length: i32): i32 {
  return arrivalFieldStartIn<u8>(at, length);
}

/** arrivalFieldStart of `length` units of type `T` at `base`: characters (u16) or ASCII bytes (u8). */
function arrivalFieldStartIn<T>(base: usize, length: i32): i32 {
  // Scanned back for the field's `;` in place: a warm stamp from a pod not behind the activator has
  // no arrival, and String#lastIndexOf would compare the whole field at every one of its positions.
  const field = changetype<usize>(ARRIVAL_FIELD);
  const first = load<u16>(field);
  const fieldUnits = ARRIVAL_FIELD.length;
  for (let i = length - fieldUnits; i >= 0; i--) {
    const at = base + <usize>i * sizeof<T>();
    if (<u16>load<T>(at) != first) continue;
    let j = 1;
    while (
      j < fieldUnits &&
      <u16>load<T>(at + <usize>j * sizeof<T>()) == load<u16>(field + ((<usize>j) << 1))
    )
      j++;
    if (j == fieldUnits) return i;
  }
  return length;
}

/** The arrival ms in the trailing field at `start` (arrivalFieldStart); -1 when none, -2 when malformed. */
export function parseArrivalField(text: string, start: i32): i64 {
  if (start >= text.length) return -1;
  return parseTime(text.substring(start + ARRIVAL_FIELD.length));
}

/** parseArrivalField of the `length` ASCII bytes at `at`. */
export function parseArrivalFieldBytes(at: usize, length: i32, start: i32): i64 {
  if (start >= length) return -1;
  const from = start + ARRIVAL_FIELD.length;
  const ms = parseMillisBytes(at + <usize>from, <u32>(length - from));
  return ms < 0 ? -2 : ms;
}
