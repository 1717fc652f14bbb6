import { describe, expect, it } from "vitest";
import { DEFAULT_HISTOGRAM_BUCKETS, StatStore, VmMetrics } from "../harness/stats.js";
import { MetricType, WasmResult } from "../harness/types.js";

const UINT64_MAX = (1n << 64n) - 1n;

function defineOk(metrics: VmMetrics, type: MetricType, name: string): number {
  const { result, id } = metrics.define(type, name);
  expect(result).toBe(WasmResult.Ok);
  return id;
}

describe("VmMetrics.define", () => {
  it("hands out ids per type stepping by 4 from the type value, a new id for every define", () => {
    const metrics = new VmMetrics(new StatStore());
    expect(metrics.define(MetricType.Counter, "requests_total")).toEqual({ result: WasmResult.Ok, id: 4 });
    expect(metrics.define(MetricType.Gauge, "in_flight")).toEqual({ result: WasmResult.Ok, id: 5 });
    expect(metrics.define(MetricType.Histogram, "latency")).toEqual({ result: WasmResult.Ok, id: 6 });
    expect(metrics.define(MetricType.Counter, "requests_total")).toEqual({ result: WasmResult.Ok, id: 8 });
    expect(metrics.define(MetricType.Counter, "errors_total")).toEqual({ result: WasmResult.Ok, id: 12 });
    expect(metrics.define(MetricType.Gauge, "in_flight")).toEqual({ result: WasmResult.Ok, id: 9 });
    expect(metrics.define(MetricType.Histogram, "latency")).toEqual({ result: WasmResult.Ok, id: 10 });
  });

  it("refuses a metric type above histogram without using up an id", () => {
    const metrics = new VmMetrics(new StatStore());
    expect(metrics.define(3, "x").result).toBe(WasmResult.BadArgument);
    expect(metrics.define(7, "x").result).toBe(WasmResult.BadArgument);
    expect(metrics.define(MetricType.Counter, "x").id).toBe(4);
  });

  it("creates the stat wasmcustom.<name> at zero; every id of a name shares it", () => {
    const store = new StatStore();
    const metrics = new VmMetrics(store);
    const first = defineOk(metrics, MetricType.Counter, "a.b_total");
    const second = defineOk(metrics, MetricType.Counter, "a.b_total");
    expect(store.counterValue("wasmcustom.a.b_total")).toBe(0n);
    expect(metrics.increment(first, 2n)).toBe(WasmResult.Ok);
    expect(metrics.increment(second, 3n)).toBe(WasmResult.Ok);
    expect(store.counterValue("wasmcustom.a.b_total")).toBe(5n);
    expect(metrics.get(first)).toEqual({ result: WasmResult.Ok, value: 5n });
    expect(store.names()).toEqual(["wasmcustom.a.b_total"]);
  });

  it("aggregates what several VMs (workers) record in one store; each VM numbers its own ids", () => {
    const store = new StatStore();
    const worker0 = new VmMetrics(store);
    const worker1 = new VmMetrics(store);
    expect(defineOk(worker0, MetricType.Counter, "hits_total")).toBe(4);
    expect(defineOk(worker1, MetricType.Counter, "hits_total")).toBe(4);
    worker0.increment(4, 1n);
    worker1.increment(4, 10n);
    expect(store.counterValue("wasmcustom.hits_total")).toBe(11n);
  });
});

describe("VmMetrics.increment", () => {
  it("adds a positive offset to a counter and refuses zero or negative offsets", () => {
    const store = new StatStore();
    const metrics = new VmMetrics(store);
    const id = defineOk(metrics, MetricType.Counter, "c_total");
    expect(metrics.increment(id, 3n)).toBe(WasmResult.Ok);
    expect(metrics.increment(id, 0n)).toBe(WasmResult.BadArgument);
    expect(metrics.increment(id, -1n)).toBe(WasmResult.BadArgument);
    expect(store.counterValue("wasmcustom.c_total")).toBe(3n);
  });

  it("adds and subtracts on a gauge; below zero the uint64 wraps as in Envoy", () => {
    const store = new StatStore();
    const metrics = new VmMetrics(store);
    const id = defineOk(metrics, MetricType.Gauge, "g");
    expect(metrics.increment(id, 5n)).toBe(WasmResult.Ok);
    expect(metrics.increment(id, -2n)).toBe(WasmResult.Ok);
    expect(metrics.increment(id, 0n)).toBe(WasmResult.Ok);
    expect(store.gaugeValue("wasmcustom.g")).toBe(3n);
    expect(metrics.increment(id, -5n)).toBe(WasmResult.Ok);
    expect(store.gaugeValue("wasmcustom.g")).toBe(UINT64_MAX - 1n);
  });

  it("is BadArgument on histograms (defined or not) and NotFound on unknown counters and gauges", () => {
    const metrics = new VmMetrics(new StatStore());
    const histogram = defineOk(metrics, MetricType.Histogram, "h");
    expect(metrics.increment(histogram, 1n)).toBe(WasmResult.BadArgument);
    expect(metrics.increment(histogram + 4, 1n)).toBe(WasmResult.BadArgument);
    expect(metrics.increment(4, 1n)).toBe(WasmResult.NotFound);
    expect(metrics.increment(5, 1n)).toBe(WasmResult.NotFound);
    expect(metrics.increment(7, 1n)).toBe(WasmResult.BadArgument);
  });
});

describe("VmMetrics.record", () => {
  it("adds to a counter (zero allowed), sets a gauge, records into a histogram", () => {
    const store = new StatStore();
    const metrics = new VmMetrics(store);
    const counter = defineOk(metrics, MetricType.Counter, "c_total");
    const gauge = defineOk(metrics, MetricType.Gauge, "g");
    const histogram = defineOk(metrics, MetricType.Histogram, "h");
    expect(metrics.record(counter, 4n)).toBe(WasmResult.Ok);
    expect(metrics.record(counter, 0n)).toBe(WasmResult.Ok);
    expect(metrics.record(counter, 6n)).toBe(WasmResult.Ok);
    expect(metrics.record(gauge, 9n)).toBe(WasmResult.Ok);
    expect(metrics.record(gauge, 7n)).toBe(WasmResult.Ok);
    expect(metrics.record(histogram, 42n)).toBe(WasmResult.Ok);
    expect(store.counterValue("wasmcustom.c_total")).toBe(10n);
    expect(store.gaugeValue("wasmcustom.g")).toBe(7n);
    expect(store.histogramSummary("wasmcustom.h")?.count).toBe(1n);
  });

  it("reads a negative i64 from the module as its uint64 and wraps counters at 2^64", () => {
    const store = new StatStore();
    const metrics = new VmMetrics(store);
    const gauge = defineOk(metrics, MetricType.Gauge, "g");
    const counter = defineOk(metrics, MetricType.Counter, "c_total");
    expect(metrics.record(gauge, -1n)).toBe(WasmResult.Ok);
    expect(store.gaugeValue("wasmcustom.g")).toBe(UINT64_MAX);
    metrics.record(counter, UINT64_MAX);
    metrics.increment(counter, 2n);
    expect(store.counterValue("wasmcustom.c_total")).toBe(1n);
  });

  it("is NotFound for unknown ids of any type", () => {
    const metrics = new VmMetrics(new StatStore());
    for (const id of [4, 5, 6, 7, 0]) expect(metrics.record(id, 1n)).toBe(WasmResult.NotFound);
  });
});

describe("VmMetrics.get", () => {
  it("reads counters and gauges, is BadArgument on histograms and NotFound on unknown ids", () => {
    const metrics = new VmMetrics(new StatStore());
    const counter = defineOk(metrics, MetricType.Counter, "c_total");
    const gauge = defineOk(metrics, MetricType.Gauge, "g");
    const histogram = defineOk(metrics, MetricType.Histogram, "h");
    metrics.increment(counter, 12n);
    metrics.record(gauge, 30n);
    expect(metrics.get(counter)).toEqual({ result: WasmResult.Ok, value: 12n });
    expect(metrics.get(gauge)).toEqual({ result: WasmResult.Ok, value: 30n });
    expect(metrics.get(histogram).result).toBe(WasmResult.BadArgument);
    expect(metrics.get(counter + 4).result).toBe(WasmResult.NotFound);
    expect(metrics.get(gauge + 4).result).toBe(WasmResult.NotFound);
    expect(metrics.get(7).result).toBe(WasmResult.BadArgument);
  });
});

function recordAll(values: bigint[], options?: ConstructorParameters<typeof StatStore>[0]): StatStore {
  const store = new StatStore(options);
  const metrics = new VmMetrics(store);
  const id = defineOk(metrics, MetricType.Histogram, "latency_milliseconds");
  for (const value of values) expect(metrics.record(id, value)).toBe(WasmResult.Ok);
  return store;
}

function bucketCounts(store: StatStore): Record<string, bigint> {
  const summary = store.histogramSummary("wasmcustom.latency_milliseconds");
  return Object.fromEntries((summary?.buckets ?? []).map((bucket) => [String(bucket.le), bucket.count]));
}

describe("histograms", () => {
  it("reproduces Envoy's own expected Prometheus buckets, sum and count for 50,20,30,70,100,5000,200", () => {
    // Envoy's test/server/admin/prometheus_stats_test.cc expects these numbers for this input.
    const store = recordAll([50n, 20n, 30n, 70n, 100n, 5000n, 200n]);
    const summary = store.histogramSummary("wasmcustom.latency_milliseconds");
    expect(summary?.count).toBe(7n);
    expect(summary?.sum).toBe(5532);
    expect(summary?.buckets.map((bucket) => bucket.le)).toEqual(DEFAULT_HISTOGRAM_BUCKETS);
    expect(summary?.buckets.map((bucket) => bucket.count)).toEqual([
      0n,
      0n,
      0n,
      0n,
      1n,
      2n,
      4n,
      6n,
      6n,
      6n,
      6n,
      6n,
      7n,
      7n,
      7n,
      7n,
      7n,
      7n,
      7n,
    ]);
  });

  it("counts a sample only in buckets its whole two-digit bin lies under", () => {
    const store = recordAll([0n, 1n, 9n, 10n, 99n, 3600000n]);
    expect(bucketCounts(store)).toMatchObject({
      "0.5": 1n, // 0 is the zero bin
      "1": 1n, // 1 is the bin [1, 1.1): not under 1
      "5": 2n,
      "10": 3n, // 9 -> [9, 9.1)
      "25": 4n, // 10 -> [10, 11)
      "100": 5n, // 99 -> [99, 100)
      "3600000": 5n, // 3600000 -> [3.6e6, 3.7e6) is above every bound
    });
    const summary = store.histogramSummary("wasmcustom.latency_milliseconds");
    expect(summary?.count).toBe(6n);
    expect(summary?.sum).toBe(0 + 1.05 + 9.05 + 10.5 + 99.5 + 3650000);
  });

  it("treats a uint64 above 2^63 as the negative int64 Envoy passes to libcircllhist", () => {
    const store = recordAll([UINT64_MAX]);
    const summary = store.histogramSummary("wasmcustom.latency_milliseconds");
    expect(summary?.buckets[0]).toEqual({ le: 0.5, count: 1n });
    expect(summary?.sum).toBe(-1.05);
  });

  it("uses the bucket bounds of the first matching prefix setting, sorted", () => {
    const store = recordAll([3n, 30n], {
      histogramBuckets: [
        { prefix: "wasmcustom.other", buckets: [1] },
        { prefix: "wasmcustom.latency", buckets: [40, 4, 2] },
        { prefix: "wasmcustom", buckets: [7] },
      ],
    });
    expect(bucketCounts(store)).toEqual({ "2": 0n, "4": 1n, "40": 2n });
  });

  it("shows an unused histogram as all zeros", () => {
    const store = recordAll([]);
    const summary = store.histogramSummary("wasmcustom.latency_milliseconds");
    expect(summary).toEqual({
      buckets: DEFAULT_HISTOGRAM_BUCKETS.map((le) => ({ le, count: 0n })),
      sum: 0,
      count: 0n,
    });
  });
});
