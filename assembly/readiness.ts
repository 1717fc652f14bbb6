// What an edge (the gateway or outbound sidecar that owns a measurement) knows about when a
// revision had a ready pod, to tell a cold start from a wait for capacity (docs/filter.md, "Cold
// starts"). Pure: no host calls; the glue (filter.ts) reads and writes the shared copy.
//
// Each pod stamp says since when its pod is ready (`rd`, the pod's clock) and the edge sees it
// answer (its own clock). A revision that answered at L still had a ready pod at L, and Knative
// cannot scale it to zero within a stable window of its last traffic, so pods whose ready times
// fall within `gapMs` of the last answer belong to one era: the revision was ready from the era's
// earliest ready time to its last answer. A ready time later than that starts a new era (the
// revision went to zero and came back).

import { parseMillisBytes, writeDecimal } from "./decimal";
import { KeyTable, hashBytes, hashText } from "./keytable";

/**
 * Revisions one VM keeps an era for before a configuration asks for more (the edge keeps as many as
 * its largest `maxSeries`); past it the one answered longest ago is forgotten.
 */
export const MAX_REVISION_ERAS: i32 = 512;

/** An era is written to shared data at most this often per revision and VM. */
export const PUBLISH_INTERVAL_MS: i64 = 1_000;

/**
 * An era as another worker published it (readEra): from the earliest ready time of the pods seen
 * answering to the latest answer, in ms. The history keeps its eras as numbers, not as these; a
 * reader reuses one.
 */
export class ReadyEra {
  constructor(
    public firstReadyMs: i64 = 0,
    public lastAnswerMs: i64 = 0,
  ) {}
}

/**
 * A request that entered at `entryMs`, held by the activator, found no ready pod when it entered
 * before its revision's era (which includes its own answer) began at `firstReadyMs`: a cold start.
 * Otherwise it waited for capacity while a pod was already ready.
 */
export function enteredBeforeReady(entryMs: i64, firstReadyMs: i64): bool {
  return entryMs < firstReadyMs;
}

/** Room writeEra needs: two numbers of up to 19 digits and a sign each, and the colon. */
export const ERA_BYTES: i32 = 41;

const COLON: u8 = 0x3a;

/**
 * Writes `<firstReadyMs>:<lastAnswerMs>`, the shared-data form of an era, as bytes at `to`
 * (ERA_BYTES of room; an era is written at every answer where revisions are answered rarely, so
 * it makes no string); returns its length.
 */
export function writeEra(firstReadyMs: i64, lastAnswerMs: i64, to: usize): i32 {
  const first = writeDecimal(firstReadyMs, to);
  store<u8>(to + first, COLON);
  return <i32>(first + 1 + writeDecimal(lastAnswerMs, to + first + 1));
}

/** Reads writeEra's form from the `length` bytes at `at` into `era`; false (`era` untouched) when it is anything else. */
export function readEra(at: usize, length: i32, era: ReadyEra): bool {
  let colon = 0;
  while (colon < length && load<u8>(at + <usize>colon) != COLON) colon++;
  if (colon == length) return false;
  const first = parseMillisBytes(at, <u32>colon);
  const last = parseMillisBytes(at + <usize>colon + 1, <u32>(length - colon - 1));
  if (first < 0 || last < 0) return false;
  era.firstReadyMs = first;
  era.lastAnswerMs = last;
  return true;
}

/**
 * Shared-data names for revisions' eras: one per slot, a hash of the revision's key choosing it, so
 * an Envoy process holds at most this many (about 300 bytes each) however many revisions it saw
 * answer. The ABI cannot remove shared data: a name per revision stayed for as long as the process
 * ran, one more for every revision made since (and one for every revision name an upstream with a
 * mesh identity made up).
 */
export const ERA_SLOTS: u32 = 65536;

/**
 * Whether another revision's era, last answered at `lastAnswerMs`, is still in use at `nowMs`, so
 * its slot is left to it: within `gapMs` of the clock either way (a last answer further ahead comes
 * from a pod's ready time set ahead, which would hold the slot for as long as the process ran).
 */
export function eraInUse(lastAnswerMs: i64, nowMs: i64, gapMs: i64): bool {
  return lastAnswerMs >= nowMs - gapMs && lastAnswerMs <= nowMs + gapMs;
}

/** The slot of the era of the revision whose key is the `length` UTF-8 bytes at `at`. */
export function eraSlot(at: usize, length: i32): u32 {
  return hashBytes(at, length) & (ERA_SLOTS - 1);
}

const SPACE: u8 = 0x20;

/**
 * Writes an era's shared-data entry: writeEra's form, a space and the key of its revision (the
 * `keyLength` bytes at `keyAt`), so a reader of the slot knows whose era it is; returns its length
 * (ERA_BYTES + 1 + keyLength of room).
 */
export function writeEraEntry(
  firstReadyMs: i64,
  lastAnswerMs: i64,
  keyAt: usize,
  keyLength: i32,
  to: usize,
): i32 {
  const eraLength = writeEra(firstReadyMs, lastAnswerMs, to);
  store<u8>(to + <usize>eraLength, SPACE);
  memory.copy(to + <usize>eraLength + 1, keyAt, <usize>keyLength);
  return eraLength + 1 + keyLength;
}

/** readEraEntry: the entry is no era (`era` untouched). */
export const NOT_AN_ERA_ENTRY: i32 = 0;
/** readEraEntry: the era of the revision looked for, read into `era`. */
export const ERA_OF_REVISION: i32 = 1;
/** readEraEntry: the era of another revision of the same slot, read into `era`. */
export const ERA_OF_ANOTHER: i32 = 2;

/**
 * Reads an entry (writeEraEntry's form, the `length` bytes at `at`) into `era`, and tells whether
 * it is the era of the revision whose key is the `keyLength` bytes at `keyAt`.
 */
export function readEraEntry(at: usize, length: i32, keyAt: usize, keyLength: i32, era: ReadyEra): i32 {
  let space = 0;
  while (space < length && load<u8>(at + <usize>space) != SPACE) space++;
  if (space == length || !readEra(at, space, era)) return NOT_AN_ERA_ENTRY;
  const keyStart = at + <usize>space + 1;
  return length - space - 1 == keyLength && memory.compare(keyStart, keyAt, <usize>keyLength) == 0
    ? ERA_OF_REVISION
    : ERA_OF_ANOTHER;
}

/** No place: the end of the answer order, or a place in its list rather than its heap. */
const NOWHERE: i32 = -1;

/** A ticket that names no place (ReadyHistory.placeOfTicket answers -1). */
export const NO_TICKET: i64 = -1;

/**
 * The eras of the revisions one VM's edge has seen answer, bounded, kept in arrays of numbers by
 * place (a forgotten revision's place is taken by the next new one), so a collection has nothing to
 * mark per revision. A revision is found by its key (text) once; a caller that answers it again
 * keeps a ticket for its place (ticketOf) and reaches its era by number, with no text to hash.
 */
export class ReadyHistory {
  /** Each revision key's place, + 1. */
  private readonly places: KeyTable = new KeyTable();
  /** Each place's key's hash (hashText), to forget it by. */
  private readonly keyHashes: u32[] = [];
  private readonly firstReadyMs: i64[] = [];
  private readonly lastAnswerMs: i64[] = [];
  /** i64.MIN_VALUE while never published: the first answer is published at once. */
  private readonly publishedMs: i64[] = [];
  /**
   * How many times each place was given to a revision, in its tickets: a ticket of a place
   * forgotten and taken since is refused rather than invalidated where it is kept (the tickets sit
   * in every root's pod stamps, which the history does not know). u32: a stale ticket would pass
   * only after exactly 2^32 more revisions took its place.
   */
  private readonly generations: u32[] = [];
  /**
   * The places in order of last answer, so the stalest is found without looking at every revision
   * (past the limit that is done on every new revision's answer), in two parts. Answers mostly come
   * in order (a warm answer's entry is the latest yet), so most places are in a list sorted by last
   * answer, taken from wherever they are to its newest end in a few steps; a last answer older than
   * the list's newest (a slow request's entry, another worker's era) goes to a binary min-heap
   * instead, whose log₂ steps only such places pay. A heap of every place made each warm answer
   * walk it top to bottom; a sorted list alone would make a long poll's answer walk past every
   * revision answered while it waited.
   */
  private readonly older: i32[] = [];
  private readonly newer: i32[] = [];
  private oldest: i32 = NOWHERE;
  private newest: i32 = NOWHERE;
  /** Each place's index in outOfOrder; NOWHERE for a place in the list. */
  private readonly heapIndex: i32[] = [];
  private readonly outOfOrder: i32[] = [];

  constructor(public limit: i32 = MAX_REVISION_ERAS) {}

  /** Raises the limit to `count` revisions (never lowers it: no era is dropped by a new setting). */
  admitAtLeast(count: i32): void {
    if (count > this.limit) this.limit = count;
  }

  get size(): i32 {
    return this.places.size;
  }

  /** The revision's place, or -1 when this VM has no era of it. */
  placeOf(key: string): i32 {
    return <i32>this.places.get(key, 0) - 1;
  }

  /** The length in characters of the key of the revision at `place`. */
  keyLengthAt(place: i32): i32 {
    return this.places.keyLengthOf(unchecked(this.keyHashes[place]), <u32>place + 1);
  }

  /**
   * The key of the revision at `place` as UTF-8 at `to` (room for 3 bytes per character of
   * keyLengthAt); returns the byte count.
   */
  writeKeyUtf8At(place: i32, to: usize): i32 {
    return this.places.writeKeyUtf8(unchecked(this.keyHashes[place]), <u32>place + 1, to);
  }

  /** The era's start at `place`: the earliest ready time of the pods seen answering. */
  firstReadyAt(place: i32): i64 {
    return unchecked(this.firstReadyMs[place]);
  }

  /** The era's end at `place`: the latest answer. */
  lastAnswerAt(place: i32): i64 {
    return unchecked(this.lastAnswerMs[place]);
  }

  /** A number that names `place` as long as the revision there keeps it. */
  ticketOf(place: i32): i64 {
    return ((<i64>unchecked(this.generations[place])) << 32) | (<i64>place);
  }

  /** The place a ticket (ticketOf) names; -1 when its revision was forgotten since, or NO_TICKET. */
  placeOfTicket(ticket: i64): i32 {
    // A generation from 2^31 on makes a ticket negative: only NO_TICKET itself names no place.
    if (ticket == NO_TICKET) return -1;
    const place = <i32>(ticket & 0xffffffff);
    return unchecked(this.generations[place]) == <u32>(ticket >>> 32) ? place : -1;
  }

  /**
   * Joins an era another view saw (e.g. the shared copy) into the revision's, adding the revision
   * when new; returns its place.
   */
  join(key: string, firstReadyMs: i64, lastAnswerMs: i64, gapMs: i64): i32 {
    let place = this.placeOf(key);
    if (place >= 0) {
      this.joinAt(place, firstReadyMs, lastAnswerMs, gapMs);
      return place;
    }
    place = this.places.size >= this.limit ? this.forgetStalest() : -1;
    if (place < 0) {
      place = this.keyHashes.length;
      this.keyHashes.push(hashText(key, key.length));
      this.firstReadyMs.push(firstReadyMs);
      this.lastAnswerMs.push(lastAnswerMs);
      this.publishedMs.push(i64.MIN_VALUE);
      this.generations.push(0);
      this.older.push(NOWHERE);
      this.newer.push(NOWHERE);
      this.heapIndex.push(NOWHERE);
    } else {
      unchecked((this.keyHashes[place] = hashText(key, key.length)));
      unchecked((this.firstReadyMs[place] = firstReadyMs));
      unchecked((this.lastAnswerMs[place] = lastAnswerMs));
      unchecked((this.publishedMs[place] = i64.MIN_VALUE));
      unchecked((this.generations[place] = this.generations[place] + 1));
    }
    this.places.set(key, <u32>place + 1);
    this.order(place);
    return place;
  }

  /**
   * Joins an era into the one at `place`: one era when the later of the two (by first ready time;
   * the held one on a tie) starts within `gapMs` of the earlier one's last answer, else the later
   * one alone (the revision was at zero between).
   */
  joinAt(place: i32, firstReadyMs: i64, lastAnswerMs: i64, gapMs: i64): void {
    const heldFirst = unchecked(this.firstReadyMs[place]);
    const heldLast = unchecked(this.lastAnswerMs[place]);
    const seenLater = firstReadyMs > heldFirst;
    if (seenLater ? firstReadyMs > heldLast + gapMs : heldFirst > lastAnswerMs + gapMs) {
      if (!seenLater) return;
      unchecked((this.firstReadyMs[place] = firstReadyMs));
      unchecked((this.lastAnswerMs[place] = lastAnswerMs));
    } else {
      if (!seenLater) unchecked((this.firstReadyMs[place] = firstReadyMs));
      if (lastAnswerMs > heldLast) unchecked((this.lastAnswerMs[place] = lastAnswerMs));
    }
    // A later last answer leaves a list place where it is when its next is as late. An earlier
    // one (a new era read from shared data whose last answer is before its first ready time, which
    // no VM writes) moves it like any other.
    const key = unchecked(this.lastAnswerMs[place]);
    if (key == heldLast) return;
    if (key > heldLast && unchecked(this.heapIndex[place]) == NOWHERE) {
      const next = unchecked(this.newer[place]);
      if (next == NOWHERE || unchecked(this.lastAnswerMs[next]) >= key) return;
    }
    this.unorder(place);
    this.order(place);
  }

  /** An answer at `answerMs` from a pod ready since `readyMs`; returns the revision's place. */
  noteAnswer(key: string, readyMs: i64, answerMs: i64, gapMs: i64): i32 {
    return this.join(key, readyMs, answerMs > readyMs ? answerMs : readyMs, gapMs);
  }

  /** noteAnswer of the revision at `place`. */
  noteAnswerAt(place: i32, readyMs: i64, answerMs: i64, gapMs: i64): void {
    this.joinAt(place, readyMs, answerMs > readyMs ? answerMs : readyMs, gapMs);
  }

  /** Whether the era at `place` should be written to shared data at `nowMs`. */
  publishDue(place: i32, nowMs: i64): bool {
    const publishedMs = unchecked(this.publishedMs[place]);
    return publishedMs == i64.MIN_VALUE || nowMs - publishedMs >= PUBLISH_INTERVAL_MS;
  }

  setPublishedAt(place: i32, ms: i64): void {
    unchecked((this.publishedMs[place] = ms));
  }

  /**
   * Drops the revision answered longest ago: the one whose next held request most likely starts a
   * new era anyway. Returns its place, now free (-1 when there is none).
   */
  private forgetStalest(): i32 {
    const listed = this.oldest;
    const heap = this.outOfOrder;
    let stalest = listed;
    if (heap.length > 0) {
      const top = unchecked(heap[0]);
      if (listed == NOWHERE || unchecked(this.lastAnswerMs[top]) < unchecked(this.lastAnswerMs[listed])) {
        stalest = top;
      }
    }
    if (stalest == NOWHERE) return -1;
    this.places.deleteValue(unchecked(this.keyHashes[stalest]), <u32>stalest + 1);
    this.unorder(stalest);
    return stalest;
  }

  /** Puts `place` (in neither part) in order: at the list's newest end when as late as it, else in the heap. */
  private order(place: i32): void {
    const last = this.newest;
    if (last == NOWHERE || unchecked(this.lastAnswerMs[place]) >= unchecked(this.lastAnswerMs[last])) {
      unchecked((this.older[place] = last));
      unchecked((this.newer[place] = NOWHERE));
      if (last == NOWHERE) this.oldest = place;
      else unchecked((this.newer[last] = place));
      this.newest = place;
      return;
    }
    const heap = this.outOfOrder;
    const at = heap.length;
    heap.push(place);
    unchecked((this.heapIndex[place] = at));
    this.restore(at);
  }

  /** Takes `place` out of whichever part holds it. */
  private unorder(place: i32): void {
    const at = unchecked(this.heapIndex[place]);
    if (at == NOWHERE) {
      const before = unchecked(this.older[place]);
      const after = unchecked(this.newer[place]);
      if (before == NOWHERE) this.oldest = after;
      else unchecked((this.newer[before] = after));
      if (after == NOWHERE) this.newest = before;
      else unchecked((this.older[after] = before));
      return;
    }
    unchecked((this.heapIndex[place] = NOWHERE));
    const heap = this.outOfOrder;
    const moved = heap.pop();
    if (at < heap.length) {
      this.putInHeap(moved, at);
      this.restore(at);
    }
  }

  private lastAnswerOfHeap(index: i32): i64 {
    return unchecked(this.lastAnswerMs[unchecked(this.outOfOrder[index])]);
  }

  private putInHeap(place: i32, index: i32): void {
    unchecked((this.outOfOrder[index] = place));
    unchecked((this.heapIndex[place] = index));
  }

  /** Moves the entry at `index` up or down until the heap is ordered again. */
  private restore(index: i32): void {
    const heap = this.outOfOrder;
    const entry = unchecked(heap[index]);
    const key = unchecked(this.lastAnswerMs[entry]);
    let at = index;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (this.lastAnswerOfHeap(parent) <= key) break;
      this.putInHeap(unchecked(heap[parent]), at);
      at = parent;
    }
    const n = heap.length;
    while (true) {
      let child = 2 * at + 1;
      if (child >= n) break;
      if (child + 1 < n && this.lastAnswerOfHeap(child + 1) < this.lastAnswerOfHeap(child)) child++;
      if (this.lastAnswerOfHeap(child) >= key) break;
      this.putInHeap(unchecked(heap[child]), at);
      at = child;
    }
    this.putInHeap(entry, at);
  }
}
