import { MetricFamily, MetricHost, MetricKind, SeriesRegistry } from "../metrics";

class FakeHost extends MetricHost {
  names: string[] = [];
  kinds: MetricKind[] = [];
  values: Map<u32, i64> = new Map();
  nextId: u32 = 4;

  define(kind: MetricKind, name: string): u32 {
    this.names.push(name);
    this.kinds.push(kind);
    const id = this.nextId;
    this.nextId += 4;
    return id;
  }
  increment(id: u32, offset: i64): void {
    this.values.set(id, (this.values.has(id) ? this.values.get(id) : 0) + offset);
  }
  record(id: u32, value: u64): void {
    this.values.set(id, <i64>value);
  }
  valueOf(name: string): i64 {
    const index = this.names.indexOf(name);
    if (index < 0) return -1;
    const id = <u32>(4 + index * 4);
    return this.values.has(id) ? this.values.get(id) : 0;
  }
}

const FAMILY = new MetricFamily("m_total", MetricKind.Counter, ["a", "b"]);
const HISTOGRAM = new MetricFamily("h_ms", MetricKind.Histogram, ["a"]);

describe("SeriesRegistry", () => {
  it("defines each label set once and reuses its id", () => {
    const host = new FakeHost();
    const registry = new SeriesRegistry(16, host);
    const first = registry.id(FAMILY, ["x", "y"]);
    expect<u32>(registry.id(FAMILY, ["x", "y"])).toBe(first);
    expect<i32>(host.names.length).toBe(1);
    expect<string>(host.names[0]).toBe("a=.=x;.;b=.=y;.;m_total");
    expect<u32>(registry.id(FAMILY, ["x", "z"])).not.toBe(first);
    expect<i32>(registry.series).toBe(2);
  });

  it("defines histograms as histograms and sanitises values", () => {
    const host = new FakeHost();
    const registry = new SeriesRegistry(16, host);
    registry.id(HISTOGRAM, ["v;.;x"]);
    expect<string>(host.names[0]).toBe("a=.=v_._x;.;h_ms");
    expect<MetricKind>(host.kinds[0]).toBe(MetricKind.Histogram);
  });

  it("sends label sets beyond the cap to one overflow series and counts them", () => {
    const host = new FakeHost();
    const registry = new SeriesRegistry(2, host);
    registry.id(FAMILY, ["1", "1"]);
    registry.id(FAMILY, ["2", "2"]);
    expect<bool>(registry.overflowed).toBe(false);
    const overflowA = registry.id(FAMILY, ["3", "3"]);
    expect<bool>(registry.overflowed).toBe(true);
    const overflowB = registry.id(FAMILY, ["4", "4"]);
    expect<u32>(overflowB).toBe(overflowA);
    expect<i64>(host.valueOf("kwt_series_overflow_total")).toBe(2);
    expect<i32>(host.names.indexOf("a=.=overflow;.;b=.=overflow;.;m_total")).toBeGreaterThanOrEqual(0);
    // Label sets defined before the cap was reached keep their own series.
    registry.id(FAMILY, ["1", "1"]);
    expect<bool>(registry.overflowed).toBe(false);
    expect<i32>(registry.series).toBe(2);
    // Each family has its own overflow series.
    const histogramOverflow = registry.id(HISTOGRAM, ["q"]);
    expect<string>(host.names[host.names.length - 1]).toBe("a=.=overflow;.;h_ms");
    expect<u32>(histogramOverflow).not.toBe(overflowA);
  });

  it("keeps the filter's health series outside the cap", () => {
    const host = new FakeHost();
    const registry = new SeriesRegistry(1, host);
    registry.id(FAMILY, ["1", "1"]);
    const fixed = registry.fixed(new MetricFamily("kwt_config_rejected_total", MetricKind.Counter, []), []);
    expect<string>(host.names[1]).toBe("kwt_config_rejected_total");
    registry.increment(fixed);
    expect<i64>(host.valueOf("kwt_config_rejected_total")).toBe(1);
    expect<i32>(registry.series).toBe(1);
  });

  it("ignores id 0 (a metric the host refused)", () => {
    const host = new FakeHost();
    const registry = new SeriesRegistry(4, host);
    registry.increment(0);
    registry.record(0, 5);
    expect<i32>(host.values.size).toBe(0);
  });
});
