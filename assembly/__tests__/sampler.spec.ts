import { AdaptiveSampler, SamplerSettings, uniformFromBits } from "../sampler";

/** A deterministic "uniform" source: 0, 1/n, 2/n, ... (n-1)/n, repeated; so p samples about p * n of n. */
class EvenlySpread {
  private i: i32 = 0;
  constructor(private n: i32) {}
  next(): f64 {
    const value = <f64>this.i / <f64>this.n;
    this.i = (this.i + 1) % this.n;
    return value;
  }
}

/** Runs `count` decisions, returns how many were sampled. */
function decideMany(sampler: AdaptiveSampler, count: i32, source: EvenlySpread): i32 {
  let sampled = 0;
  for (let i = 0; i < count; i++) {
    if (sampler.decide(source.next())) sampled++;
  }
  return sampled;
}

describe("AdaptiveSampler", () => {
  it("starts at the upper bound so a quiet VM samples", () => {
    const sampler = new AdaptiveSampler(new SamplerSettings(5, 0.001, 1, 1000), 0);
    expect<f64>(sampler.probability).toBe(1);
    const source = new EvenlySpread(10);
    expect<i32>(decideMany(sampler, 3, source)).toBe(3);
  });

  it("lowers the probability to target / observed rate", () => {
    const sampler = new AdaptiveSampler(new SamplerSettings(5, 0.001, 1, 1000), 0);
    const source = new EvenlySpread(1000);
    decideMany(sampler, 100, source); // 100 new traces in the first second
    sampler.tick(1000);
    expect<f64>(sampler.probability).toBeCloseTo(0.05); // 5 / 100
    expect<i64>(sampler.probabilityPpm).toBe(50000);
  });

  it("smooths the rate over ticks", () => {
    const sampler = new AdaptiveSampler(new SamplerSettings(5, 0.001, 1, 1000), 0);
    const source = new EvenlySpread(1000);
    decideMany(sampler, 100, source);
    sampler.tick(1000); // rate 100
    decideMany(sampler, 300, source);
    sampler.tick(2000); // smoothed 0.5 * 300 + 0.5 * 100 = 200
    expect<f64>(sampler.probability).toBeCloseTo(0.025);
    sampler.tick(3000); // no traffic: 0.5 * 0 + 0.5 * 200 = 100
    expect<f64>(sampler.probability).toBeCloseTo(0.05);
  });

  it("uses the real elapsed time, not the configured period", () => {
    const sampler = new AdaptiveSampler(new SamplerSettings(10, 0.001, 1, 1000), 0);
    const source = new EvenlySpread(1000);
    decideMany(sampler, 100, source);
    sampler.tick(2000); // 100 in 2 s = 50/s
    expect<f64>(sampler.probability).toBeCloseTo(0.2);
  });

  it("clamps to the configured bounds", () => {
    const sampler = new AdaptiveSampler(new SamplerSettings(5, 0.01, 0.5, 1000), 0);
    expect<f64>(sampler.probability).toBe(0.5);
    const source = new EvenlySpread(1000);
    decideMany(sampler, 100000, source); // 100000/s: 5/100000 is below the floor
    sampler.tick(1000);
    expect<f64>(sampler.probability).toBe(0.01);
    sampler.tick(2000);
    sampler.tick(3000);
    sampler.tick(4000);
    sampler.tick(5000);
    sampler.tick(6000);
    sampler.tick(7000);
    sampler.tick(8000);
    sampler.tick(9000);
    sampler.tick(10000);
    sampler.tick(11000);
    sampler.tick(12000);
    sampler.tick(13000); // smoothed rate halves every tick: 100000 / 4096 < 25 -> 5/24.4 = 0.2
    expect<f64>(sampler.probability).toBeCloseTo(0.2048);
    sampler.tick(14000); // 12.2/s -> 0.41
    sampler.tick(15000); // 6.1/s -> 0.82 -> clamped to 0.5
    expect<f64>(sampler.probability).toBe(0.5);
  });

  it("caps a burst inside one period at twice the target, then samples at the floor", () => {
    const sampler = new AdaptiveSampler(new SamplerSettings(5, 0.001, 1, 1000), 0);
    // probability 1, budget 10 per period: a burst of 5000 samples 10 plus 0.001 of the rest.
    const source = new EvenlySpread(1000);
    const sampled = decideMany(sampler, 5000, source);
    // After the budget of 10, uniform values 0 (once per 1000) are < 0.001: 4990 decisions see
    // the value 0 at i = 1000, 2000, 3000, 4000.
    expect<i32>(sampled).toBe(14);
    sampler.tick(1000);
    expect<f64>(sampler.probability).toBe(0.001); // 5 / 5000
  });

  it("refills the budget on each tick", () => {
    const sampler = new AdaptiveSampler(new SamplerSettings(1, 0, 1, 1000), 0);
    const source = new EvenlySpread(4);
    expect<i32>(decideMany(sampler, 4, source)).toBe(2); // budget 2
    sampler.tick(1000); // 4/s -> 0.25
    expect<f64>(sampler.probability).toBe(0.25);
    // values 0, 0.25, 0.5, 0.75: only 0 is < 0.25
    expect<i32>(decideMany(sampler, 4, source)).toBe(1);
  });

  it("samples at the floor when the target is zero", () => {
    const sampler = new AdaptiveSampler(new SamplerSettings(0, 0.25, 1, 1000), 0);
    const source = new EvenlySpread(4);
    expect<i32>(decideMany(sampler, 8, source)).toBe(2);
    sampler.tick(1000);
    expect<f64>(sampler.probability).toBe(0.25);
  });

  it("ignores a tick that does not advance the clock", () => {
    const sampler = new AdaptiveSampler(new SamplerSettings(5, 0.001, 1, 1000), 1000);
    decideMany(sampler, 50, new EvenlySpread(10));
    sampler.tick(1000);
    expect<f64>(sampler.probability).toBe(1);
    sampler.tick(2000); // the 50 decisions still count
    expect<f64>(sampler.probability).toBeCloseTo(0.1);
  });
});

describe("uniformFromBits", () => {
  it("maps 32 bits to [0, 1)", () => {
    expect<f64>(uniformFromBits(0)).toBe(0);
    expect<f64>(uniformFromBits(0x80000000)).toBe(0.5);
    expect<bool>(uniformFromBits(0xffffffff) < 1).toBe(true);
  });
});
