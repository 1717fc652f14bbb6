// Pod stamps relayed by a workload that is no Knative revision (an auth proxy or API gateway in
// front of a Knative service). The edge trusts a pod stamp from any mesh identity, so such a
// workload's sidecar lets a stamp out of its inbound side only if its own outbound side saw that
// very stamp come back from a trusted upstream moments before: otherwise the workload made it up
// (a service that echoes any header a client names would let an outside client invent cold
// starts). The outbound side notes the stamp in shared data (one Envoy process: both sides), the
// inbound side looks for the note. Pure: no host calls; the glue (filter.ts) reads and writes
// shared data.

import { parseMillisBytes, writeDecimal } from "./decimal";
import { hashBytes } from "./keytable";

/**
 * Shared-data slots for the notes: a process holds at most this many (a stamp each). A slot keeps
 * the latest relay's note: a relay whose slot another stamp's relay took between its upstream's
 * answer and its own (milliseconds) loses its stamp, as a made-up one would (about n / 4,096 of
 * the relays with n different stamps on their way back at once).
 */
export const RELAY_SLOTS: u32 = 4096;

/**
 * How long a note lets its stamp out (ms): a relaying workload sends its response's headers on
 * when its upstream's arrive; it can replay a relayed stamp only that long.
 */
export const RELAY_NOTE_MS: i64 = 30_000;

/** A stamp longer than this is never relayed (a pod's own is a few hundred bytes at most). */
export const RELAY_MAX_STAMP_BYTES: i32 = 1024;

/** Room a note needs past its stamp: the separator and a time in decimal. */
export const RELAY_NOTE_TAIL_BYTES: i32 = 1 + 20;

/**
 * Between a note's stamp and its time: a header value holds no line feed, so the last one in a
 * note ends its stamp.
 */
const SEPARATOR: u8 = 0x0a;

/** The slot of the note of the stamp of `length` bytes at `at`. */
export function relaySlot(at: usize, length: i32): u32 {
  return hashBytes(at, length) & (RELAY_SLOTS - 1);
}

/**
 * Completes a note whose stamp (`stampLength` bytes) is already at `note`: the separator and the
 * time it came back, `nowMs`; returns the note's length.
 */
export function finishRelayNote(note: usize, stampLength: i32, nowMs: i64): i32 {
  store<u8>(note + <usize>stampLength, SEPARATOR);
  return stampLength + 1 + <i32>writeDecimal(nowMs, note + <usize>stampLength + 1);
}

/**
 * Whether the note of the `noteLength` bytes at `noteAt` is of the stamp of `stampLength` bytes at
 * `stampAt`, byte for byte, written within RELAY_NOTE_MS of `nowMs`.
 */
export function notesRelay(
  noteAt: usize,
  noteLength: i32,
  stampAt: usize,
  stampLength: i32,
  nowMs: i64,
): bool {
  if (noteLength <= stampLength || load<u8>(noteAt + <usize>stampLength) != SEPARATOR) return false;
  if (memory.compare(noteAt, stampAt, <usize>stampLength) != 0) return false;
  const timeAt = noteAt + <usize>stampLength + 1;
  const notedMs = parseMillisBytes(timeAt, <u32>(noteLength - stampLength - 1));
  // Also not more than that ahead: a wall clock stepped back would let an old note out for longer.
  return notedMs >= 0 && nowMs - notedMs <= RELAY_NOTE_MS && notedMs - nowMs <= RELAY_NOTE_MS;
}
