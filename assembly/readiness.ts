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

import { parseMillis } from "./decimal";
import { KeyTable, hashText } from "./keytable";

/**
 * Revisions one VM keeps an era for before a configuration asks for more (the edge keeps as many as
 * its largest `maxSeries`); past it the one answered longest ago is forgotten.
 */
export const MAX_REVISION_ERAS: i32 = 512;

/** An era is written to shared data at most this often per revision and VM. */
export const PUBLISH_INTERVAL_MS: i64 = 1_000;

/** From the earliest ready time of the pods seen answering to the latest answer, in ms. */
export class ReadyEra {
  constructor(
    public readonly firstReadyMs: i64,
    public readonly lastAnswerMs: i64,
  ) {}
}

/**
 * Two views of one revision's readiness (this VM's, another worker's): one era when the later one
 * starts within `gapMs` of the earlier one's last answer, else the later era alone.
 */
export function joinEras(a: ReadyEra | null, b: ReadyEra | null, gapMs: i64): ReadyEra | null {
  if (a == null) return b;
  if (b == null) return a;
  const later = a.firstReadyMs >= b.firstReadyMs ? a : b;
  const earlier = later === a ? b : a;
  if (later.firstReadyMs > earlier.lastAnswerMs + gapMs) return later;
  return new ReadyEra(
    earlier.firstReadyMs,
    later.lastAnswerMs > earlier.lastAnswerMs ? later.lastAnswerMs : earlier.lastAnswerMs,
  );
}

/**
 * A request that entered at `entryMs`, held by the activator, found no ready pod when it entered
 * before the era (which includes its own answer) began: a cold start. Otherwise it waited for
 * capacity while a pod was already ready.
 */
export function enteredBeforeReady(entryMs: i64, era: ReadyEra): bool {
  return entryMs < era.firstReadyMs;
}

/** `<firstReadyMs>:<lastAnswerMs>`: the shared-data form of an era. */
export function encodeEra(era: ReadyEra): string {
  return era.firstReadyMs.toString() + ":" + era.lastAnswerMs.toString();
}

/** Reads encodeEra's form; null when it is anything else. */
export function decodeEra(text: string): ReadyEra | null {
  const colon = text.indexOf(":");
  if (colon < 0) return null;
  const first = parseMillis(text.substring(0, colon));
  const last = parseMillis(text.substring(colon + 1));
  if (first < 0 || last < 0) return null;
  return new ReadyEra(first, last);
}

/**
 * One revision's era at this VM, and when this VM last wrote it to shared data: a view of its
 * history's entry, valid until the history next forgets a revision.
 */
export class RevisionEra {
  constructor(
    private readonly history: ReadyHistory,
    /** Its place in the history's arrays. */
    public readonly place: i32,
  ) {}

  /** Changed through ReadyHistory.join only: the history is ordered by its last answer. */
  get era(): ReadyEra {
    return this.history.eraAt(this.place);
  }

  /** i64.MIN_VALUE while never published: the first answer is published at once. */
  get publishedMs(): i64 {
    return this.history.publishedAt(this.place);
  }

  set publishedMs(ms: i64) {
    this.history.setPublishedAt(this.place, ms);
  }

  /** Whether the era should be written to shared data now. */
  publishDue(nowMs: i64): bool {
    const publishedMs = this.publishedMs;
    return publishedMs == i64.MIN_VALUE || nowMs - publishedMs >= PUBLISH_INTERVAL_MS;
  }
}

/**
 * The eras of the revisions one VM's edge has seen answer, by revision key, bounded. Kept in arrays
 * of numbers by place (a forgotten revision's place is taken by the next new one), so a collection
 * has nothing to mark per revision.
 */
export class ReadyHistory {
  /** Each revision key's place, + 1. */
  private readonly places: KeyTable = new KeyTable();
  /** Each place's key's hash (hashText), to forget it by. */
  private readonly keyHashes: u32[] = [];
  private readonly firstReadyMs: i64[] = [];
  private readonly lastAnswerMs: i64[] = [];
  private readonly publishedMs: i64[] = [];
  /** Each place's index in byLastAnswer. */
  private readonly heapIndex: i32[] = [];
  /**
   * The places as a binary min-heap by last answer, so the stalest is found without looking at
   * every revision: past the limit that is done on every new revision's answer.
   */
  private readonly byLastAnswer: i32[] = [];

  constructor(public limit: i32 = MAX_REVISION_ERAS) {}

  /** Raises the limit to `count` revisions (never lowers it: no era is dropped by a new setting). */
  admitAtLeast(count: i32): void {
    if (count > this.limit) this.limit = count;
  }

  get size(): i32 {
    return this.places.size;
  }

  /** The revision's era, or null when this VM has none. */
  eraOf(key: string): ReadyEra | null {
    const place = <i32>this.places.get(key, 0) - 1;
    return place >= 0 ? this.eraAt(place) : null;
  }

  eraAt(place: i32): ReadyEra {
    return new ReadyEra(unchecked(this.firstReadyMs[place]), unchecked(this.lastAnswerMs[place]));
  }

  publishedAt(place: i32): i64 {
    return unchecked(this.publishedMs[place]);
  }

  setPublishedAt(place: i32, ms: i64): void {
    unchecked((this.publishedMs[place] = ms));
  }

  /** Joins `seen` (e.g. the shared copy) into the revision's era; returns the revision's entry. */
  join(key: string, seen: ReadyEra, gapMs: i64): RevisionEra {
    let place = <i32>this.places.get(key, 0) - 1;
    if (place >= 0) {
      this.store(place, joinEras(this.eraAt(place), seen, gapMs)!);
      this.restore(unchecked(this.heapIndex[place]));
      return new RevisionEra(this, place);
    }
    place = this.places.size >= this.limit ? this.forgetStalest() : -1;
    if (place < 0) {
      place = this.keyHashes.length;
      this.keyHashes.push(hashText(key, key.length));
      this.firstReadyMs.push(0);
      this.lastAnswerMs.push(0);
      this.publishedMs.push(i64.MIN_VALUE);
      this.heapIndex.push(-1);
    } else {
      unchecked((this.keyHashes[place] = hashText(key, key.length)));
      unchecked((this.publishedMs[place] = i64.MIN_VALUE));
    }
    this.store(place, seen);
    this.places.set(key, <u32>place + 1);
    const heap = this.byLastAnswer;
    const at = heap.length;
    heap.push(place);
    unchecked((this.heapIndex[place] = at));
    this.restore(at);
    return new RevisionEra(this, place);
  }

  /** An answer at `answerMs` from a pod ready since `readyMs`. */
  noteAnswer(key: string, readyMs: i64, answerMs: i64, gapMs: i64): RevisionEra {
    return this.join(key, new ReadyEra(readyMs, answerMs > readyMs ? answerMs : readyMs), gapMs);
  }

  private store(place: i32, era: ReadyEra): void {
    unchecked((this.firstReadyMs[place] = era.firstReadyMs));
    unchecked((this.lastAnswerMs[place] = era.lastAnswerMs));
  }

  /**
   * Drops the revision answered longest ago: the one whose next held request most likely starts a
   * new era anyway. Returns its place, now free (-1 when there is none).
   */
  private forgetStalest(): i32 {
    const heap = this.byLastAnswer;
    if (heap.length == 0) return -1;
    const stalest = unchecked(heap[0]);
    this.places.deleteValue(unchecked(this.keyHashes[stalest]), <u32>stalest + 1);
    const last = heap.pop();
    if (heap.length > 0) {
      this.place(last, 0);
      this.restore(0);
    }
    return stalest;
  }

  private lastAnswerAt(index: i32): i64 {
    return unchecked(this.lastAnswerMs[unchecked(this.byLastAnswer[index])]);
  }

  private place(place: i32, index: i32): void {
    unchecked((this.byLastAnswer[index] = place));
    unchecked((this.heapIndex[place] = index));
  }

  /** Moves the entry at `index` up or down until the heap is ordered again. */
  private restore(index: i32): void {
    const heap = this.byLastAnswer;
    const entry = unchecked(heap[index]);
    const key = unchecked(this.lastAnswerMs[entry]);
    let at = index;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (this.lastAnswerAt(parent) <= key) break;
      this.place(unchecked(heap[parent]), at);
      at = parent;
    }
    const n = heap.length;
    while (true) {
      let child = 2 * at + 1;
      if (child >= n) break;
      if (child + 1 < n && this.lastAnswerAt(child + 1) < this.lastAnswerAt(child)) child++;
      if (this.lastAnswerAt(child) >= key) break;
      this.place(unchecked(heap[child]), at);
      at = child;
    }
    this.place(entry, at);
  }
}
