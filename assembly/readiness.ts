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

/** Revisions one VM keeps an era for; past it the one answered longest ago is forgotten. */
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

/** One revision's era at this VM, and when this VM last wrote it to shared data. */
export class RevisionEra {
  /** Never published yet: the first answer is published at once. */
  publishedMs: i64 = i64.MIN_VALUE;
  constructor(public era: ReadyEra) {}

  /** Whether the era should be written to shared data now. */
  publishDue(nowMs: i64): bool {
    return this.publishedMs == i64.MIN_VALUE || nowMs - this.publishedMs >= PUBLISH_INTERVAL_MS;
  }
}

/** The eras of the revisions one VM's edge has seen answer, by revision key, bounded. */
export class ReadyHistory {
  private readonly eras: Map<string, RevisionEra> = new Map();

  constructor(public readonly limit: i32 = MAX_REVISION_ERAS) {}

  get size(): i32 {
    return this.eras.size;
  }

  /** The revision's era, or null when this VM has none. */
  eraOf(key: string): ReadyEra | null {
    return this.eras.has(key) ? this.eras.get(key).era : null;
  }

  /** Joins `seen` (e.g. the shared copy) into the revision's era; returns the revision's entry. */
  join(key: string, seen: ReadyEra, gapMs: i64): RevisionEra {
    if (this.eras.has(key)) {
      const entry = this.eras.get(key);
      entry.era = joinEras(entry.era, seen, gapMs)!;
      return entry;
    }
    if (this.eras.size >= this.limit) this.forgetStalest();
    const entry = new RevisionEra(seen);
    this.eras.set(key, entry);
    return entry;
  }

  /** An answer at `answerMs` from a pod ready since `readyMs`. */
  noteAnswer(key: string, readyMs: i64, answerMs: i64, gapMs: i64): RevisionEra {
    return this.join(key, new ReadyEra(readyMs, answerMs > readyMs ? answerMs : readyMs), gapMs);
  }

  /** Drops the revision answered longest ago: the one whose next held request most likely starts a new era anyway. */
  private forgetStalest(): void {
    const keys = this.eras.keys();
    let stalest = "";
    let oldest = i64.MAX_VALUE;
    for (let i = 0; i < keys.length; i++) {
      const key = unchecked(keys[i]);
      const last = this.eras.get(key).era.lastAnswerMs;
      if (last < oldest) {
        oldest = last;
        stalest = key;
      }
    }
    if (keys.length > 0) this.eras.delete(stalest);
  }
}
