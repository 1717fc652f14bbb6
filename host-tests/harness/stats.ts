// Envoy's stats store as a Proxy-Wasm module sees it (proxy_define_metric & co.) and as
// /stats/prometheus shows it. Semantics follow Envoy's source/extensions/common/wasm/context.cc
// (defineMetric/incrementMetric/recordMetric/getMetric) and its stats library: counters and gauges
// are uint64 (arithmetic wraps), histograms are libcircllhist log-linear histograms.

import { istioTagExtractors, renderPrometheus, type StatsSnapshot, type TagExtractor } from "./prometheus.js";
import { MetricType, WasmResult } from "./types.js";

/** Envoy prefixes every stat a Wasm module defines with this namespace ("wasmcustom.<name>"). */
export const CUSTOM_STAT_NAMESPACE = "wasmcustom";

/** Envoy's default histogram bucket bounds (source/common/stats/histogram_impl.cc). */
export const DEFAULT_HISTOGRAM_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

const UINT64_BITS = 64;

/** A histogram bucket layout for stats whose full name starts with `prefix` (Envoy histogram_bucket_settings). */
export interface HistogramBucketSetting {
  prefix: string;
  buckets: number[];
}

export interface StatStoreOptions {
  /** Istio extraStatTags (mesh defaultConfig + pod annotation); each becomes `(<tag>=\.=(.*?);\.;)`. */
  extraStatTags?: string[];
  /**
   * Also install the tag rules every Istio sidecar has: pilot-agent's DefaultStatTags (source_cluster,
   * destination_cluster, ...) and the bootstrap's fixed rules (cache, component, tag, ...). Default true,
   * as in a real sidecar; false leaves only `extraStatTags`.
   */
  istioDefaultTags?: boolean;
  /** Per-prefix bucket bounds (Istio: sidecar.istio.io/statsHistogramBuckets); first match wins. */
  histogramBuckets?: HistogramBucketSetting[];
}

/** What a histogram looks like at /stats/prometheus: cumulative counts per bound, plus sum and count. */
export interface HistogramSummary {
  /** Cumulative sample count at or below each bound (libcircllhist's approximation, see below). */
  buckets: Array<{ le: number; count: bigint }>;
  sum: number;
  count: bigint;
}

class CounterStat {
  value = 0n;
  add(amount: bigint): void {
    this.value = BigInt.asUintN(UINT64_BITS, this.value + amount);
  }
}

class GaugeStat {
  value = 0n;
  add(amount: bigint): void {
    this.value = BigInt.asUintN(UINT64_BITS, this.value + amount);
  }
  set(value: bigint): void {
    this.value = BigInt.asUintN(UINT64_BITS, value);
  }
}

/**
 * A libcircllhist bin: value `mantissa/10 * 10^exponent`, two significant decimal digits. The zero
 * bin has mantissa 0. Negative mantissas are negative values.
 */
interface HistogramBin {
  mantissa: number;
  exponent: number;
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/** int_scale_to_hist_bucket(value, 0): how Envoy bins a recorded integer (hist_insert_intscale). */
function binOf(value: bigint): HistogramBin {
  if (value === 0n) return { mantissa: 0, exponent: 0 };
  let sign = 1;
  let magnitude = value;
  if (magnitude < 0n) {
    magnitude = magnitude === INT64_MIN ? INT64_MAX : -magnitude;
    sign = -1;
  }
  let exponent = 1;
  if (magnitude < 10n) {
    magnitude *= 10n;
    exponent -= 1;
  }
  while (magnitude >= 100n) {
    magnitude /= 10n;
    exponent += 1;
  }
  return { mantissa: sign * Number(magnitude), exponent };
}

// libcircllhist computes in doubles from a table of exact powers of ten; `1e<n>` literals give the same doubles.
function powerOfTen(exponent: number): number {
  return Number(`1e${exponent}`);
}

function binLowerBound(bin: HistogramBin): number {
  return bin.mantissa === 0 ? 0 : (bin.mantissa / 10) * powerOfTen(bin.exponent);
}

function binWidth(bin: HistogramBin): number {
  return bin.mantissa === 0 ? 0 : powerOfTen(bin.exponent) / 10;
}

type HistogramBins = Map<string, { bin: HistogramBin; count: bigint }>;

function addToBins(bins: HistogramBins, key: string, bin: HistogramBin, count: bigint): void {
  const entry = bins.get(key);
  if (entry) entry.count += count;
  else bins.set(key, { bin, count });
}

class HistogramStat {
  /** What /stats/prometheus shows: every sample merged so far. */
  private readonly bins: HistogramBins = new Map();
  /** The current interval's samples, when they only count once the stats flush merges them. */
  private interval: HistogramBins | undefined;

  constructor(readonly supportedBuckets: readonly number[]) {}

  record(value: bigint): void {
    const bin = binOf(value);
    addToBins(this.interval ?? this.bins, `${bin.mantissa}e${bin.exponent}`, bin, 1n);
  }

  /** From now on samples wait for flush(). */
  mergeOnFlush(): void {
    this.interval ??= new Map();
  }

  /** Envoy's histogram merge at a stats flush: the interval's samples join the cumulative ones. */
  flush(): void {
    if (this.interval === undefined) return;
    for (const [key, { bin, count }] of this.interval) addToBins(this.bins, key, bin, count);
    this.interval.clear();
  }

  /**
   * HistogramStatisticsImpl over the libcircllhist Envoy 1.28-1.37 links (2019 revision 63a16dd):
   * a bin counts towards bound `le` only when its whole range lies at or below it
   * (hist_approx_count_below), so a sample exactly on a bound lands in the next bucket; the sum adds
   * each bin's linear midpoint (hist_approx_sum). Bins are visited in ascending order, as the library
   * keeps them, so the floating-point sum rounds the same way.
   */
  summary(): HistogramSummary {
    const ordered = [...this.bins.values()].sort((a, b) => binLowerBound(a.bin) - binLowerBound(b.bin));
    let count = 0n;
    let sum = 0;
    const upperBounds = ordered.map(({ bin, count: binCount }) => {
      const lower = binLowerBound(bin);
      const width = binWidth(bin);
      count += binCount;
      sum += (lower < 0 ? lower - width / 2 : lower + width / 2) * Number(binCount);
      return { upper: lower < 0 ? lower : lower + width, count: binCount };
    });
    const buckets = this.supportedBuckets.map((le) => {
      let below = 0n;
      for (const bin of upperBounds) {
        if (bin.upper > le) break;
        below += bin.count;
      }
      return { le, count: below };
    });
    return { buckets, sum, count };
  }
}

/**
 * All stats of one proxy. Every VM (worker) of a plugin shares it, so what two workers record on the
 * same name adds up, as in Envoy's thread-local store.
 */
export class StatStore {
  private readonly counters = new Map<string, CounterStat>();
  private readonly gauges = new Map<string, GaugeStat>();
  private readonly histograms = new Map<string, HistogramStat>();
  private readonly tagExtractors: TagExtractor[];
  private readonly histogramBuckets: HistogramBucketSetting[];
  private histogramsMergeOnFlush = false;

  constructor(options: StatStoreOptions = {}) {
    this.tagExtractors = istioTagExtractors(options.extraStatTags ?? [], options.istioDefaultTags ?? true);
    this.histogramBuckets = (options.histogramBuckets ?? []).map((setting) => ({
      prefix: setting.prefix,
      buckets: [...setting.buckets].sort((a, b) => a - b),
    }));
  }

  /** The counter with this full stat name, created at 0 on first use. */
  counter(name: string): CounterStat {
    return getOrCreate(this.counters, name, () => new CounterStat());
  }

  gauge(name: string): GaugeStat {
    return getOrCreate(this.gauges, name, () => new GaugeStat());
  }

  histogram(name: string): HistogramStat {
    return getOrCreate(this.histograms, name, () => {
      const histogram = new HistogramStat(this.bucketsFor(name));
      if (this.histogramsMergeOnFlush) histogram.mergeOnFlush();
      return histogram;
    });
  }

  /**
   * Histograms as Envoy keeps them: samples recorded on the workers show at /stats/prometheus only
   * after the next stats flush (stats_flush_interval, 5 s in Istio's bootstrap) merged them.
   * Counters and gauges stay live. Before this call every sample shows at once.
   */
  mergeHistogramsOnFlush(): void {
    this.histogramsMergeOnFlush = true;
    for (const histogram of this.histograms.values()) histogram.mergeOnFlush();
  }

  /** The stats flush: merges each histogram's interval samples. */
  flushHistograms(): void {
    for (const histogram of this.histograms.values()) histogram.flush();
  }

  counterValue(name: string): bigint | undefined {
    return this.counters.get(name)?.value;
  }

  gaugeValue(name: string): bigint | undefined {
    return this.gauges.get(name)?.value;
  }

  histogramSummary(name: string): HistogramSummary | undefined {
    return this.histograms.get(name)?.summary();
  }

  /** Full stat names of every type, sorted; for tests and diagnostics. */
  names(): string[] {
    return [...new Set([...this.counters.keys(), ...this.gauges.keys(), ...this.histograms.keys()])].sort();
  }

  snapshot(): StatsSnapshot {
    return {
      counters: [...this.counters].map(([name, stat]) => ({ name, value: stat.value })),
      gauges: [...this.gauges].map(([name, stat]) => ({ name, value: stat.value })),
      histograms: [...this.histograms].map(([name, stat]) => ({ name, ...stat.summary() })),
    };
  }

  /** The body Envoy's admin /stats/prometheus answers with. */
  prometheusText(): string {
    return renderPrometheus(this.snapshot(), this.tagExtractors);
  }

  private bucketsFor(name: string): readonly number[] {
    return (
      this.histogramBuckets.find((setting) => name.startsWith(setting.prefix))?.buckets ??
      DEFAULT_HISTOGRAM_BUCKETS
    );
  }
}

function getOrCreate<T>(map: Map<string, T>, name: string, create: () => T): T {
  let stat = map.get(name);
  if (!stat) {
    stat = create();
    map.set(name, stat);
  }
  return stat;
}

// Envoy's Wasm class keeps one id counter per type, starting at the type's value and stepping by 4,
// so the type can be read back from the id's low two bits (kMetricTypeMask).
const METRIC_TYPE_MASK = 3;
const METRIC_ID_STEP = 4;

/**
 * The metric ids of one VM. Each define hands out a new id, even for a name defined before; all ids
 * of a name point at the same stat in the shared store.
 */
export class VmMetrics {
  private readonly lastId = [MetricType.Counter, MetricType.Gauge, MetricType.Histogram];
  private readonly counters = new Map<number, CounterStat>();
  private readonly gauges = new Map<number, GaugeStat>();
  private readonly histograms = new Map<number, HistogramStat>();

  constructor(private readonly store: StatStore) {}

  define(type: number, name: string): { result: WasmResult; id: number } {
    const statName = `${CUSTOM_STAT_NAMESPACE}.${name}`;
    switch (type) {
      case MetricType.Counter:
        return this.assign(type, this.counters, this.store.counter(statName));
      case MetricType.Gauge:
        return this.assign(type, this.gauges, this.store.gauge(statName));
      case MetricType.Histogram:
        return this.assign(type, this.histograms, this.store.histogram(statName));
      default:
        return { result: WasmResult.BadArgument, id: 0 };
    }
  }

  /** `offset` is the module's signed i64. */
  increment(id: number, offset: bigint): WasmResult {
    switch (id & METRIC_TYPE_MASK) {
      case MetricType.Counter: {
        const counter = this.counters.get(id);
        if (!counter) return WasmResult.NotFound;
        if (offset <= 0n) return WasmResult.BadArgument;
        counter.add(offset);
        return WasmResult.Ok;
      }
      case MetricType.Gauge: {
        const gauge = this.gauges.get(id);
        if (!gauge) return WasmResult.NotFound;
        gauge.add(offset);
        return WasmResult.Ok;
      }
      default:
        return WasmResult.BadArgument;
    }
  }

  /** `value` is the module's u64 (a signed i64 from the import is reinterpreted). */
  record(id: number, value: bigint): WasmResult {
    const unsigned = BigInt.asUintN(UINT64_BITS, value);
    switch (id & METRIC_TYPE_MASK) {
      case MetricType.Counter:
        return applyIfFound(this.counters.get(id), (counter) => counter.add(unsigned));
      case MetricType.Gauge:
        return applyIfFound(this.gauges.get(id), (gauge) => gauge.set(unsigned));
      case MetricType.Histogram:
        // Envoy hands the uint64 to libcircllhist as int64.
        return applyIfFound(this.histograms.get(id), (histogram) =>
          histogram.record(BigInt.asIntN(UINT64_BITS, unsigned)),
        );
      default:
        return WasmResult.NotFound;
    }
  }

  get(id: number): { result: WasmResult; value: bigint } {
    const stat =
      (id & METRIC_TYPE_MASK) === MetricType.Counter
        ? this.counters.get(id)
        : (id & METRIC_TYPE_MASK) === MetricType.Gauge
          ? this.gauges.get(id)
          : null;
    if (stat === null) return { result: WasmResult.BadArgument, value: 0n };
    if (stat === undefined) return { result: WasmResult.NotFound, value: 0n };
    return { result: WasmResult.Ok, value: stat.value };
  }

  private assign<T>(type: MetricType, ids: Map<number, T>, stat: T): { result: WasmResult; id: number } {
    const id = (this.lastId[type] as number) + METRIC_ID_STEP;
    this.lastId[type] = id;
    ids.set(id, stat);
    return { result: WasmResult.Ok, id };
  }
}

function applyIfFound<T>(stat: T | undefined, apply: (stat: T) => void): WasmResult {
  if (stat === undefined) return WasmResult.NotFound;
  apply(stat);
  return WasmResult.Ok;
}
