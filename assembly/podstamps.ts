// The pod stamps one root saw at the edge, by their text without the per-request arrival, decoded
// once. What a warm answer needs (the pod's ready time, whether it came through the activator, its
// revision's place in the VM's ready history) and the stamp's series ids are kept in arrays of
// numbers, so a collection has no object of its own to mark per stamp. The label values are
// decoded again from the stamp's text as the table keeps it, only when a series must be defined or
// is not cached (an overflow series), with the cluster and region the stamp was bounded to the
// first time.
//
// Every pod that answers adds a stamp (its ready time is its own), and Knative makes pods and
// removes them all day: a table that only grew would fill with pods long gone, and every answer of
// a newer pod would then be decoded and its series found by name. So each stamp keeps the time of
// its last answer and how many streams it answered are still open, and forgetIdle() frees the
// places of those idle long enough with none open, for the next new pods. A stamp keeps its place
// while it is kept: an open stream's index stays its own stamp's. Pure: no host calls.

import { KeyedObjects, KeyTable, hashText } from "./keytable";
import { HELD_FIELDS_CUT, PodStamp, decodePodStamp, heldFieldsEnd, heldFieldsEndBytes } from "./podstamp";
import { NO_TICKET } from "./readiness";

/** PodStamps.indexOfBytes of a stamp that is not ASCII: only its decoded text can be looked up. */
export const NOT_ASCII_STAMP: i32 = -2;

/**
 * A pod stamp's revision as the ready history and shared data name it: as the pod named it, before
 * its labels are bounded, so the revisions of one name in two clusters folded into `_other` (and
 * folded differently by each worker's root) keep their own eras.
 */
export function revisionEraKey(report: PodStamp): string {
  return report.cluster + "/" + report.namespace + "/" + report.revision;
}

/** PodStamps.answeredMs of a forgotten stamp's place. */
const FORGOTTEN: i64 = i64.MIN_VALUE;

export class PodStamps {
  private readonly byText: KeyTable = new KeyTable();
  readyMs: i64[] = [];
  viaActivator: bool[] = [];
  /**
   * Each stamp's ReadyHistory ticket for its revision's era (NO_TICKET until its first answer
   * with a ready time): a warm answer finds the era by it, with no key to build or hash.
   */
  eraTickets: i64[] = [];
  /**
   * When each stamp last came with an answer (the entry of the request it answered, on the
   * plugin's clock); FORGOTTEN for a free place.
   */
  private answeredMs: i64[] = [];
  /** How many streams each stamp answered are still open (noteAnswer to noteStreamEnd). */
  private openStreams: i32[] = [];
  /** Places forgetIdle() freed, for the next stamps added. */
  private readonly freePlaces: i32[] = [];
  /** The place forgetIdle() looks at next. */
  private nextLookAt: i32 = 0;
  /**
   * Each stamp's cluster and region as bounded, as an index in `labelValues`: the values are
   * the root's bounds' (or OTHER_LABEL_VALUE), at most `maxSourceLabelValues` of each (32 by
   * default) plus the known lists, whatever the number of stamps, so the arrays hold numbers, and a
   * collection does not visit a reference per stamp (2,000 stamps made 4,000 visits of every
   * collection, 100,000 made 200,000).
   */
  private clusterAt: i32[] = [];
  private regionAt: i32[] = [];
  /** `idSlots` per stamp (0: not defined yet). */
  ids: StaticArray<u32> = new StaticArray<u32>(0);
  /** Each stamp's text's hash (hashText): its text is found again from the table by it. */
  private textHashes: u32[] = [];
  /** Each stamp's key is its text after the held fields (heldFieldsEnd), not the whole text. */
  private heldFieldsCut: bool[] = [];

  /** The bounded clusters and regions the stamps name (by index in clusterAt and regionAt). */
  private readonly labelValues: KeyedObjects<string> = new KeyedObjects<string>();

  constructor(
    /** Series ids kept per stamp, in `ids`. */
    readonly idSlots: i32,
  ) {}

  /** Stamps kept (forgotten ones' places not counted). */
  get size(): i32 {
    return this.readyMs.length - this.freePlaces.length;
  }

  /** Places: the stamps kept and the forgotten ones' places (forgetIdle looks over them). */
  get places(): i32 {
    return this.readyMs.length;
  }

  /**
   * Stamp `index`'s era key, a new string, decoded again from its text: for an answer whose
   * revision the history forgot since (one it keeps is named from the history's key bytes).
   */
  eraKey(index: i32): string {
    return revisionEraKey(decodePodStamp(this.text(index))!);
  }

  /**
   * The index of the stamp that is the first `length` characters of `text`; -1 when not kept.
   * A stamp that starts with the held fields is kept, and found, by what follows them.
   */
  indexOf(text: string, length: i32): i32 {
    const cut = heldFieldsEnd(text, length);
    const found =
      cut == 0 ? this.byText.get(text, 0, length) : this.byText.get(text.substring(cut, length), 0);
    return this.ofKind(<i32>found - 1, cut > 0);
  }

  /** indexOf for the `length` bytes at `at`; -1 when not kept, NOT_ASCII_STAMP when not ASCII. */
  indexOfBytes(at: usize, length: i32): i32 {
    const cut = heldFieldsEndBytes(at, length);
    const found = this.byText.getBytes(at + <usize>cut, length - cut, 0, <u32>(NOT_ASCII_STAMP + 1));
    return this.ofKind(<i32>found - 1, cut > 0);
  }

  /**
   * `found`, unless it was kept whole and looked up cut, or the other way round: the rest of one
   * stamp can be the whole of another (`<rest>` alone, or `1;cs=1;w=5;` before a kept whole stamp),
   * which is not that stamp, and is decoded (and refused) as it is.
   */
  private ofKind(found: i32, cut: bool): i32 {
    return found >= 0 && unchecked(this.heldFieldsCut[found]) != cut ? -1 : found;
  }

  /**
   * Notes that stamp `index` came with the answer of a stream that entered at `nowMs`, open until
   * noteStreamEnd.
   */
  noteAnswer(index: i32, nowMs: i64): void {
    // A slow answer's request entered before a quicker one's that came first.
    if (nowMs > unchecked(this.answeredMs[index])) unchecked((this.answeredMs[index] = nowMs));
    unchecked(this.openStreams[index]++);
  }

  /** A stream that noteAnswer noted for stamp `index` ended. */
  noteStreamEnd(index: i32): void {
    unchecked(this.openStreams[index]--);
  }

  /**
   * Keeps a stamp decoded (and its labels bounded) from `text`, which came with the answer of a
   * stream that entered at `nowMs` (noted as noteAnswer does); returns its index, a forgotten
   * stamp's place if there is one.
   */
  add(text: string, report: PodStamp, nowMs: i64): i32 {
    const cut = heldFieldsEnd(text, text.length);
    const key = cut > 0 ? text.substring(cut) : text;
    const free = this.freePlaces;
    let index: i32;
    if (free.length > 0) {
      index = free.pop();
      // The place's series ids were the forgotten pod's: its revision's, maybe not this one's.
      memory.fill(
        changetype<usize>(this.ids) + ((<usize>index * this.idSlots) << 2),
        0,
        (<usize>this.idSlots) << 2,
      );
    } else {
      index = this.readyMs.length;
      this.readyMs.push(0);
      this.viaActivator.push(false);
      this.eraTickets.push(NO_TICKET);
      this.answeredMs.push(0);
      this.openStreams.push(0);
      this.clusterAt.push(0);
      this.regionAt.push(0);
      this.textHashes.push(0);
      this.heldFieldsCut.push(false);
      const needed = (index + 1) * this.idSlots;
      if (needed > this.ids.length) {
        const ids = new StaticArray<u32>(max(needed, this.ids.length * 2));
        memory.copy(changetype<usize>(ids), changetype<usize>(this.ids), (<usize>this.ids.length) << 2);
        this.ids = ids;
      }
    }
    unchecked((this.readyMs[index] = report.readyMs));
    unchecked((this.viaActivator[index] = report.viaActivator));
    unchecked((this.eraTickets[index] = NO_TICKET));
    unchecked((this.answeredMs[index] = nowMs));
    unchecked((this.openStreams[index] = 1));
    unchecked((this.clusterAt[index] = this.indexOfLabelValue(report.cluster)));
    unchecked((this.regionAt[index] = this.indexOfLabelValue(report.region)));
    unchecked((this.textHashes[index] = hashText(key, key.length)));
    unchecked((this.heldFieldsCut[index] = cut > 0));
    this.byText.set(key, <u32>index + 1);
    return index;
  }

  /**
   * Looks over the next `count` places, from where the last look stopped and round the table, and
   * forgets the stamps whose last answer entered before `sinceMs` and whose streams all ended;
   * returns how many. Their places take the next stamps added; the others keep theirs.
   */
  forgetIdle(sinceMs: i64, count: i32): i32 {
    const places = this.places;
    let at = this.nextLookAt;
    let forgotten = 0;
    for (let looked = 0, n = min(count, places); looked < n; looked++, at++) {
      if (at >= places) at = 0;
      const answeredMs = unchecked(this.answeredMs[at]);
      if (answeredMs >= sinceMs || answeredMs == FORGOTTEN || unchecked(this.openStreams[at]) > 0) continue;
      this.byText.deleteValue(unchecked(this.textHashes[at]), <u32>at + 1);
      unchecked((this.answeredMs[at] = FORGOTTEN));
      this.freePlaces.push(at);
      forgotten++;
    }
    this.nextLookAt = at;
    return forgotten;
  }

  /**
   * Stamp `index` decoded again from its text, found in the table by its hash, and bounded as
   * before: when one of its series is defined or its answer goes to an overflow series (which is
   * never cached), so it costs one probe and the decode, never a walk of the table.
   */
  report(index: i32): PodStamp {
    const report = decodePodStamp(this.text(index))!;
    report.cluster = this.labelValues.at(unchecked(this.clusterAt[index]));
    report.region = this.labelValues.at(unchecked(this.regionAt[index]));
    return report;
  }

  /** `value`'s index in `labelValues`, added if new. */
  private indexOfLabelValue(value: string): i32 {
    const known = this.labelValues.indexOf(value);
    return known >= 0 ? known : this.labelValues.add(value, value);
  }

  /**
   * Stamp `index`'s text (without the arrival), found in the table by its hash: with held fields
   * of their own in place of the ones cut off, so that it decodes as the pod's stamp.
   */
  private text(index: i32): string {
    const key = this.byText.keyOf(unchecked(this.textHashes[index]), <u32>index + 1)!;
    return unchecked(this.heldFieldsCut[index]) ? HELD_FIELDS_CUT + key : key;
  }
}
