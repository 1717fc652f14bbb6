// Pod stamps relayed by a workload that is no Knative revision (an auth proxy or API gateway in
// front of a Knative service). The edge trusts a pod stamp from any mesh identity, so such a
// workload's sidecar lets a stamp out of its inbound side only if its own outbound side saw that
// stamp come back from a trusted upstream moments before: otherwise the workload made it up (a
// service that echoes any header a client names would let an outside client invent cold starts).
// The outbound side notes the stamp in shared data (one Envoy process: both sides), the inbound
// side looks for the note. Pure: no host calls; the glue (filter.ts) reads and writes shared data.

import { parseMillisBytes, writeDecimal } from "./decimal";
import { hashBytes } from "./keytable";

/**
 * Shared-data slots for the notes: a process holds at most this many (a few dozen bytes each). Two
 * stamps relayed within RELAY_NOTE_MS that share a slot leave only the later's note: the earlier
 * is then removed at the inbound side, as a made-up one would be (one relay in thousands at a
 * thousand different stamps in flight).
 */
export const RELAY_SLOTS: u32 = 4096;

/**
 * How long a note lets its stamp out (ms): a relaying workload sends its response's headers on
 * when its upstream's arrive; a replay of a relayed stamp by the workload is possible only as long.
 */
export const RELAY_NOTE_MS: i64 = 30_000;

/** Room writeRelayNote needs: a hash, a length and a time in decimal, and two colons. */
export const RELAY_NOTE_BYTES: i32 = 10 + 1 + 10 + 1 + 20;

/** The hash of the stamp of `length` bytes at `at` (its note's slot and what the note holds). */
export function relayedStampHash(at: usize, length: i32): u32 {
  return hashBytes(at, length);
}

/** The slot of the note of a stamp whose hash is `hash`. */
export function relaySlot(hash: u32): u32 {
  return hash & (RELAY_SLOTS - 1);
}

const COLON: u8 = 0x3a;

/** Writes the note `<hash>:<length>:<ms>` of a stamp relayed at `nowMs` at `to`; returns its length. */
export function writeRelayNote(hash: u32, length: i32, nowMs: i64, to: usize): i32 {
  let at = writeDecimal(hash, to);
  store<u8>(to + at, COLON);
  at += 1;
  at += writeDecimal(length, to + at);
  store<u8>(to + at, COLON);
  at += 1;
  return <i32>(at + writeDecimal(nowMs, to + at));
}

/**
 * Whether the note of the `noteLength` bytes at `noteAt` is of the stamp whose hash is `hash` and
 * length `length`, written within RELAY_NOTE_MS before `nowMs` (and not after it).
 */
export function notesRelay(noteAt: usize, noteLength: i32, hash: u32, length: i32, nowMs: i64): bool {
  const firstColon = colonAfter(noteAt, 0, noteLength);
  if (firstColon < 0) return false;
  const secondColon = colonAfter(noteAt, firstColon + 1, noteLength);
  if (secondColon < 0) return false;
  if (parseMillisBytes(noteAt, <u32>firstColon) != <i64>hash) return false;
  const lengthAt = noteAt + <usize>firstColon + 1;
  if (parseMillisBytes(lengthAt, <u32>(secondColon - firstColon - 1)) != <i64>length) return false;
  const notedMs = parseMillisBytes(noteAt + <usize>secondColon + 1, <u32>(noteLength - secondColon - 1));
  return notedMs >= 0 && notedMs <= nowMs && nowMs - notedMs <= RELAY_NOTE_MS;
}

/** The index of the first colon at or after `from` in the `length` bytes at `at`; -1 when none. */
function colonAfter(at: usize, from: i32, length: i32): i32 {
  for (let i = from; i < length; i++) if (load<u8>(at + <usize>i) == COLON) return i;
  return -1;
}
