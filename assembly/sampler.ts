// Adaptive head sampling for the traces the filter starts. Pure and deterministic: the caller
// hands in the clock readings and a uniform random number for each decision.
//
// Goal: about `targetPerSecond` sampled new traces per second per VM. On every tick the observed
// rate of new traces (smoothed) gives the probability target / rate, clamped to
// [minProbability, maxProbability]; a quiet VM gets maxProbability. Because the probability only
// changes on ticks, a burst inside one tick period could still sample at the old, high
// probability: a per-period budget of twice the target caps that, after which the period
// continues at minProbability (never below the configured bound).

export class SamplerSettings {
  constructor(
    public targetPerSecond: f64,
    public minProbability: f64,
    public maxProbability: f64,
    public tickPeriodMs: i64,
  ) {}
}

/** Weight of the newest period in the smoothed rate (the rest is the previous estimate). */
const RATE_SMOOTHING: f64 = 0.5;
/** Sampled decisions allowed per period, as a multiple of the target for that period. */
const BURST_BUDGET_FACTOR: f64 = 2;

export class AdaptiveSampler {
  /** Current probability of sampling a new trace. */
  probability: f64;
  /** Smoothed rate of new traces per second; negative until the first full period was seen. */
  private smoothedRate: f64 = -1;
  private periodStartMs: i64;
  private decisionsInPeriod: i64 = 0;
  private sampledInPeriod: i64 = 0;
  private readonly budgetPerPeriod: i64;

  constructor(
    private settings: SamplerSettings,
    nowMs: i64,
  ) {
    this.probability = settings.maxProbability;
    this.periodStartMs = nowMs;
    const periodSeconds = <f64>settings.tickPeriodMs / 1000;
    this.budgetPerPeriod = <i64>Math.ceil(settings.targetPerSecond * periodSeconds * BURST_BUDGET_FACTOR);
  }

  /**
   * Decides one new trace. `uniform` is a random number in [0, 1). Within a period, once the
   * budget is spent, the decision uses minProbability.
   */
  decide(uniform: f64): bool {
    this.decisionsInPeriod++;
    const probability =
      this.sampledInPeriod >= this.budgetPerPeriod ? this.settings.minProbability : this.probability;
    const sampled = uniform < probability;
    if (sampled) this.sampledInPeriod++;
    return sampled;
  }

  /** Recomputes the probability from the decisions since the last tick. */
  tick(nowMs: i64): void {
    const elapsedMs = nowMs - this.periodStartMs;
    if (elapsedMs <= 0) return;
    const rate = (<f64>this.decisionsInPeriod * 1000) / <f64>elapsedMs;
    this.smoothedRate =
      this.smoothedRate < 0 ? rate : RATE_SMOOTHING * rate + (1 - RATE_SMOOTHING) * this.smoothedRate;
    const settings = this.settings;
    let probability =
      this.smoothedRate > 0 ? settings.targetPerSecond / this.smoothedRate : settings.maxProbability;
    if (probability > settings.maxProbability) probability = settings.maxProbability;
    if (probability < settings.minProbability) probability = settings.minProbability;
    this.probability = probability;
    this.periodStartMs = nowMs;
    this.decisionsInPeriod = 0;
    this.sampledInPeriod = 0;
  }

  /** The probability as the kwt_sampling_probability gauge reports it (parts per million). */
  get probabilityPpm(): i64 {
    return <i64>Math.round(this.probability * 1e6);
  }
}

/** A uniform number in [0, 1) from 32 random bits. */
export function uniformFromBits(bits: u32): f64 {
  return <f64>bits / 4294967296.0;
}
