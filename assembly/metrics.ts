// The metric registry: each (metric, label values) series is defined with the host once and its
// id reused; the number of series per VM is capped, and label sets beyond the cap are recorded in
// one overflow series per metric (every label `overflow`) and counted. Pure: the host is reached
// only through the MetricHost the glue hands in (tests hand in a fake).

import { noteGarbage } from "./garbage";
import { KeyTable } from "./keytable";
import { OVERFLOW_LABEL_VALUE, encodeSeriesKey, encodeStatName } from "./labels";
import { MetricFamily, MetricKind } from "./metricfamily";
import { SERIES_OVERFLOW } from "./generated/metric-families";

export { MetricFamily, MetricKind } from "./metricfamily";

// What a series found by its name leaves to the collector, roughly, counted (garbage.ts) so that
// requests doing it often (cold starts, label sets past the cap, a burst of new ones) are collected
// before they double linear memory rather than at the next tick. Measured on
// AssemblyScript's never-freeing stub runtime at the gateway: a cold start (three series by name)
// allocates about 7.5 KiB more than a warm answer, a new revision about 8 KiB more (its stamp
// decoded, its stat name built and encoded for the host, the tables grown; its era was published
// as strings then, as bytes now).
/** The series key and the label values gathered for it. */
const LOOKUP_GARBAGE_BYTES: i64 = 2 * 1024;
/** A new series: also the host's copy of its name, the tables grown, what its first sight did. */
const NEW_SERIES_GARBAGE_BYTES: i64 = 8 * 1024;

/** What the registry needs from the host. An id of 0 means "could not define": ignored. */
export abstract class MetricHost {
  abstract define(kind: MetricKind, name: string): u32;
  abstract increment(id: u32, offset: i64): void;
  abstract record(id: u32, value: u64): void;
}

export class SeriesRegistry {
  /**
   * Series ids by series key (labels.ts: the values and the metric, a third of the stat name, which
   * is built only to define a series); never 0: an id the host refused is not kept.
   */
  private readonly ids: KeyTable = new KeyTable();
  /** Overflow series by metric name. */
  private readonly overflowIds: KeyTable = new KeyTable();
  private overflowCounterId: u32 = 0;
  /** Series defined so far, overflow series not included. */
  series: i32 = 0;
  /** Whether the last id() went to an overflow series (callers must not cache that answer). */
  overflowed: bool = false;

  constructor(
    /** The cap; a new configuration may change it (series already defined stay). */
    public maxSeries: i32,
    private readonly host: MetricHost,
  ) {}

  /**
   * The id of `family` with these label values (sanitised here), defined on first use. Beyond the
   * cap, the family's overflow series (counted in kwt_series_overflow_total).
   */
  id(family: MetricFamily, values: string[]): u32 {
    this.overflowed = false;
    const key = encodeSeriesKey(family.labels, values, family.name);
    noteGarbage(LOOKUP_GARBAGE_BYTES);
    const known = this.ids.get(key, 0);
    if (known != 0) return known;
    if (this.series >= this.maxSeries) return this.overflow(family);
    const id = this.host.define(family.kind, encodeStatName(family.labels, values, family.name));
    if (id == 0) return 0;
    this.ids.set(key, id);
    this.series++;
    noteGarbage(NEW_SERIES_GARBAGE_BYTES);
    return id;
  }

  /**
   * Stores `id` (what id() just returned) in a caller's cache, `cache[index]`, unless it is an
   * overflow series: every recording sent there must go through id() to be counted in
   * kwt_series_overflow_total. Returns `id`.
   */
  remember(cache: StaticArray<u32> | null, index: i32, id: u32): u32 {
    if (cache != null && !this.overflowed) unchecked((cache[index] = id));
    return id;
  }

  /**
   * Whether a cache of label sets holding `size` of them may take one more: as many as the cap
   * (label sets beyond it go to the overflow series, which is never cached), so every series the
   * cap allows is found without building its name.
   */
  cacheHasRoom(size: i32): bool {
    return size < this.maxSeries;
  }

  /**
   * The id of one of the filter's own health series (a fixed, small set): defined once, never
   * counted against the cap, so the cap cannot hide the filter's health.
   */
  fixed(family: MetricFamily, values: string[]): u32 {
    const key = encodeSeriesKey(family.labels, values, family.name);
    const known = this.ids.get(key, 0);
    if (known != 0) return known;
    const id = this.host.define(family.kind, encodeStatName(family.labels, values, family.name));
    if (id != 0) this.ids.set(key, id);
    return id;
  }

  private overflow(family: MetricFamily): u32 {
    this.overflowed = true;
    if (this.overflowCounterId == 0) {
      this.overflowCounterId = this.host.define(SERIES_OVERFLOW.kind, SERIES_OVERFLOW.name);
    }
    if (this.overflowCounterId != 0) this.host.increment(this.overflowCounterId, 1);
    const known = this.overflowIds.get(family.name, 0);
    if (known != 0) return known;
    const values = new Array<string>(family.labels.length);
    values.fill(OVERFLOW_LABEL_VALUE);
    const id = this.host.define(family.kind, encodeStatName(family.labels, values, family.name));
    if (id != 0) this.overflowIds.set(family.name, id);
    return id;
  }

  /** Adds to a counter; id 0 (undefined) is ignored. */
  increment(id: u32, offset: i64 = 1): void {
    if (id != 0) this.host.increment(id, offset);
  }

  /** Records a histogram sample; id 0 is ignored. */
  record(id: u32, value: u64): void {
    if (id != 0) this.host.record(id, value);
  }
}
