// Running modules in the harness for the benchmark: recording a path's host calls (for its floor),
// and timed rounds that run every subject in turn, order rotated, one process. Each request's
// time inside the module and inside host functions comes from CallTimer; figures are medians of
// per-round means and per-round ratios, tails are over every request.

import { ManualClock, Plugin } from "../../host-tests/harness/index.js";
import { CallRecorder, CallTimer, type RecordedCall, type RecordedCallback } from "./boundary.js";
import type { FloorScript } from "./floor.js";
import type { Tails } from "./run.js";
import { BENCH_CLOCK_START_MS, pluginOptionsFor, type Workload } from "./workloads.js";

const NS_PER_MS = 1_000_000n;
/**
 * Requests between two timed ticks: at the filter's default tickPeriodMs (1 s, which the
 * workloads keep), a worker serving 1,000 requests a second.
 */
const TICK_EVERY_REQUESTS = 1_000;
/** The stream's request.duration as the filter reads it in on_log. */
const REQUEST_DURATION_NS = 2_000_000n;

/**
 * Runs one full stream lifecycle: context create, request headers, response headers, log, done,
 * delete; then moves the clock by the workload's request interval (outside the timed callbacks).
 * Ticks do not fire (ManualClock.advance, not Plugin.advance): the figures are per request, and
 * what the filter does on a tick (its garbage collection, tracing's sampler and span batches, its
 * look for idle pod stamps) is not on the request path; Subject.measureTicks times it apart. A
 * workload's pause ends with one tick, standing for those of the time it moved the clock by: what
 * the filter does at a tick depends on the clock's time, not on how many ticks came.
 */
function runRequest(plugin: Plugin, workload: Workload, clock: ManualClock, i: number): void {
  const shape = workload.request(i, Number(clock.realtimeNs() / NS_PER_MS));
  const stream = plugin.createStream(shape.connection);
  stream.onRequestHeaders(shape.request, true);
  stream.onResponseHeaders(shape.response, true);
  stream.end({ responseCode: shape.responseCode, durationNs: REQUEST_DURATION_NS });
  if (workload.requestIntervalMs) clock.advance(workload.requestIntervalMs);
  if (workload.pause?.afterRequest === i) {
    clock.advance(workload.pause.ms);
    plugin.fireTicksNow();
  }
}

async function load(
  workload: Workload,
  wasm: Uint8Array,
  boundary: CallTimer | CallRecorder,
  randomBytes?: (into: Uint8Array) => void,
) {
  const clock = new ManualClock(BENCH_CLOCK_START_MS);
  const plugin = await Plugin.load({
    ...pluginOptionsFor(workload, wasm, clock),
    callBoundary: boundary,
    randomBytes,
  });
  return { plugin, clock };
}

/** The seed of every subject's random bytes: a subject's copies draw the same ones. */
export const RANDOM_SEED = 0x9e3779b9;

/** Random-looking bytes from a 32-bit xorshift generator started at `seed`: the same every run. */
export function seededRandomBytes(seed: number): (into: Uint8Array) => void {
  let state = seed >>> 0 || 1;
  return (into) => {
    for (let i = 0; i < into.length; i++) {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      into[i] = state & 0xff;
    }
  };
}

/** A module on a workload with its own clock, timer and seeded random bytes. */
interface Copy {
  plugin: Plugin;
  clock: ManualClock;
  timer: CallTimer;
}

async function loadCopy(workload: Workload, wasm: Uint8Array): Promise<Copy> {
  const timer = new CallTimer();
  const { plugin, clock } = await load(workload, wasm, timer, seededRandomBytes(RANDOM_SEED));
  return { plugin, clock, timer };
}

export interface PathRecording {
  script: FloorScript;
  /** The cycle after it, recorded the same way (the floor must reproduce `script.requests`). */
  check: RecordedCallback[][];
  /**
   * The filter's calls repeat exactly with this cycle; false when they depend on random draws (its
   * pool of random bytes is refilled after a varying number of requests, the sampler's decision
   * picks the series): then the cycle is the longest tried and only the sequence of calls without
   * random_get repeats, with the same number of draws on average.
   */
  exact: boolean;
}

/** Requests as lists of callbacks: each starts at a stream's proxy_on_context_create. */
function splitRequests(callbacks: RecordedCallback[]): RecordedCallback[][] {
  const requests: RecordedCallback[][] = [];
  for (const callback of callbacks) {
    if (callback.name === "proxy_on_context_create" || requests.length === 0) requests.push([]);
    requests[requests.length - 1]!.push(callback);
  }
  return requests;
}

/**
 * The filter's host calls may repeat over more requests than the workload's period (it refills a
 * pool of random bytes every so many traces): cycles tried are the period times these.
 */
const CYCLE_MULTIPLES = [1, 2, 4, 8, 16];
const LONGEST_CYCLE_MULTIPLE = CYCLE_MULTIPLES[CYCLE_MULTIPLES.length - 1]!;

/**
 * Records a module on a workload: its start, `warmupCycles` of the longest cycle, then two longest
 * cycles, and keeps the shortest cycle whose host calls (keys, scalars, argument lengths) repeat
 * over all of them.
 * Request numbers start at 0, as in the timed rounds, and the warm-up is a whole number of every
 * cycle, so recorded request j is request i of any later run with i = j modulo the cycle.
 */
export async function recordWorkload(
  workload: Workload,
  wasm: Uint8Array,
  warmupCycles: number,
  randomBytes?: (into: Uint8Array) => void,
): Promise<PathRecording> {
  if (workload.requestIntervalMs || workload.pause) {
    throw new Error(
      `bench: ${workload.name} moves the clock (${workload.requestIntervalMs ?? 0} ms per request${workload.pause ? `, a pause of ${workload.pause.ms} ms` : ""}); a floor replays calls that repeat with the period, so it needs a workload whose clock stands still`,
    );
  }
  const recorder = new CallRecorder();
  const { plugin, clock } = await load(workload, wasm, recorder, randomBytes);
  try {
    const startup = recorder.take();
    const longest = workload.period * LONGEST_CYCLE_MULTIPLE;
    let i = 0;
    for (; i < warmupCycles * longest; i++) runRequest(plugin, workload, clock, i);
    const warmupDefinitions: RecordedCall[] = recorder
      .take()
      .flatMap((callback) => callback.calls)
      .filter((call) => call.key === "env.proxy_define_metric");
    for (const end = i + 2 * longest; i < end; i++) runRequest(plugin, workload, clock, i);
    const recorded = splitRequests(recorder.take());
    if (plugin.failed) throw new Error(`bench: the module trapped while recording ${workload.name}`);
    const repeats = (shapes: string[], cycle: number): boolean =>
      shapes.every((shape, r) => shape === shapes[r % cycle]);
    const recording = (cycle: number, exact: boolean): PathRecording => ({
      script: { startup, warmupDefinitions, requests: recorded.slice(0, cycle) },
      check: recorded.slice(cycle, 2 * cycle),
      exact,
    });
    const shapes = recorded.map((request) => JSON.stringify(callLines([request], true)));
    for (const multiple of CYCLE_MULTIPLES) {
      if (repeats(shapes, workload.period * multiple)) return recording(workload.period * multiple, true);
    }
    const withoutDraws = recorded.map((request) => JSON.stringify(callKeysWithoutDraws([request])));
    if (repeats(withoutDraws, workload.period)) return recording(longest, false);
    throw new Error(
      `bench: the host calls on ${workload.name} do not repeat within ${longest} requests, even without random draws; a floor cannot replay them`,
    );
  } finally {
    plugin.close();
  }
}

/**
 * Host calls of a recording as comparable lines: callback, key, scalars and argument bytes (or, with
 * `lengthsOnly`, their lengths: random trace ids differ from one period to the next), out-pointers
 * as "out" (their addresses are the module's own).
 */
export function callLines(requests: RecordedCallback[][], lengthsOnly = false): string[] {
  return requests.flatMap((request, r) =>
    request.flatMap((callback) =>
      callback.calls.map(
        (call) =>
          `request ${r} ${callback.name}: ${call.key}(${call.args
            .map((a) => {
              if (a.kind === "value") return a.value;
              if (a.kind === "fill") return `fill ${a.length}`;
              if (a.kind === "out") return "out";
              return lengthsOnly ? `${a.bytes.length / 2} bytes` : `"${a.bytes}"`;
            })
            .join(", ")})`,
      ),
    ),
  );
}

const RANDOM_GET = "wasi_snapshot_preview1.random_get";

/** The host calls' keys in order, without the filter's random draws. */
export function callKeysWithoutDraws(requests: RecordedCallback[][]): string[] {
  return requests
    .flatMap((request) => request.flatMap((callback) => callback.calls.map((call) => call.key)))
    .filter((key) => key !== RANDOM_GET);
}

/** Bytes each way per request, averaged over a recorded period. */
export function bytesPerRequest(requests: RecordedCallback[][]): { bytesIn: number; bytesOut: number } {
  let bytesIn = 0;
  let bytesOut = 0;
  for (const call of requests.flat().flatMap((callback) => callback.calls)) {
    bytesIn += call.bytesIn;
    for (const argument of call.args) if (argument.kind === "bytes") bytesOut += argument.bytes.length / 2;
  }
  return { bytesIn: bytesIn / requests.length, bytesOut: bytesOut / requests.length };
}

/**
 * Copies of each subject: the first, whose figures are reported but wasm time (the lowest of the
 * copies' round medians), and replays of it. The replayed tails take each request's lowest time
 * over all copies. In one interleaved run of the seven paths' filters (15 rounds of 2,000, four
 * copies each), the lowest of two copies gave a p99.9 of 2.3 to 2.9 times the median, of three
 * 1.4 to 2.3, of four 0.1 or less below the lowest of three on five paths (0.11 and 0.28 on the
 * others): past three, little of the machine is left to take out. Every run also reports the lowest of the first two (Subject.tails), to compare.
 */
export const COPIES_PER_SUBJECT = 3;

/**
 * One module on one workload, loaded once, driven in every round, as COPIES_PER_SUBJECT copies.
 * Each copy runs the same requests in its own slot of the interleaved rounds (runInterleaved),
 * about a second apart. The copies do the same work request for request (the same clock, the same
 * random bytes), so whatever the module itself stalls on (a collection, a table that grows) recurs
 * at the same request in every copy. The machine's pauses (an interrupt, the process descheduled,
 * a neighbour's burst) seldom hit one request in all of them: the tails of the per-request lowest
 * time are the module's own. The copies share V8's compiled code, so a function's first call
 * compiles it for all: warm() takes each through a tick (the collector's first run) before the
 * rounds. A cost the module pays at random (a cache miss on a big table) shows less often in the
 * lowest, as the machine's pauses do. Wasm time is per round the lowest of the copies' medians
 * (lowestRoundWasmNs); the other figures and tails are the first copy's.
 */
export class Subject {
  /** Per copy: the next request number of its rounds and the wasm ns of each measured request so far. */
  private readonly next: number[];
  private readonly samples: Float64Array[];
  private readonly taken: number[];
  /** Per round, the first copy's: median wasm ns, median host ns, median of their sum, mean host calls per request. */
  readonly rounds: Array<{ wasmNs: number; hostNs: number; insideNs: number; hostCalls: number }> = [];
  /** Per replay (copy 1 and on): the median wasm ns of each of its rounds; the first copy's are `rounds`'. */
  private readonly replayMedians: number[][];
  memoryBeforeBytes = 0;
  memoryAfterBytes = 0;
  /** The first copy's request before each round, not measured in it (refetch): its wasm ns. */
  readonly roundStartNs: number[] = [];
  /** measureTicks' median and largest time in the module per tick; null when not measured. */
  tickMedianNs: number | null = null;
  tickMaxNs: number | null = null;
  /** measureTicks' median wasm time of the request right after a tick; null when not measured. */
  afterTickMedianNs: number | null = null;

  private constructor(
    readonly module: string,
    readonly workload: Workload,
    private readonly copies: Copy[],
    capacity: number,
  ) {
    this.next = copies.map(() => 0);
    this.samples = copies.map(() => new Float64Array(capacity));
    this.taken = copies.map(() => 0);
    this.replayMedians = copies.slice(1).map(() => []);
  }

  static async load(
    module: string,
    workload: Workload,
    wasm: Uint8Array,
    capacity: number,
  ): Promise<Subject> {
    const copies: Copy[] = [];
    for (let c = 0; c < COPIES_PER_SUBJECT; c++) copies.push(await loadCopy(workload, wasm));
    return new Subject(module, workload, copies, capacity);
  }

  private get first(): Copy {
    return this.copies[0]!;
  }

  /**
   * Requests that are not measured (fills caches, defines series), on every copy; memory is read
   * after them. Half way, a tick on each: the module's first collection (and V8's compile of the
   * collector) comes before the rounds, at the same request in all.
   */
  warm(requests: number): void {
    const start = this.next[0]!;
    const half = Math.floor(requests / 2);
    for (const copy of this.copies) {
      for (let n = 0; n < requests; n++) {
        if (n === half) copy.plugin.fireTicksNow();
        runRequest(copy.plugin, this.workload, copy.clock, start + n);
      }
    }
    this.next.fill(start + requests);
    this.memoryBeforeBytes = this.first.plugin.linearMemoryBytes()[0]!;
  }

  /** One round of `batch` measured requests on the first copy; `biasNs` is this round's calibration. */
  round(batch: number, biasNs: number): void {
    this.refuseAfterTicks();
    const timer = this.first.timer;
    timer.biasNs = biasNs;
    this.refetch(0);
    const wasm = new Float64Array(batch);
    const host = new Float64Array(batch);
    const inside = new Float64Array(batch);
    let calls = 0;
    for (let n = 0; n < batch; n++) {
      this.timeRequest(0);
      wasm[n] = timer.wasmNs;
      host[n] = timer.hostNs;
      inside[n] = wasm[n]! + host[n]!;
      calls += timer.hostCalls;
    }
    this.rounds.push({
      wasmNs: sortedMedian(wasm.sort()),
      hostNs: sortedMedian(host.sort()),
      insideNs: sortedMedian(inside.sort()),
      hostCalls: calls / batch,
    });
  }

  /** A replay's round (copy 1 and on): the same `batch` requests as the first copy's round of that number. */
  replayRound(copy: number, batch: number, biasNs: number): void {
    this.refuseAfterTicks();
    this.copies[copy]!.timer.biasNs = biasNs;
    this.refetch(copy);
    for (let n = 0; n < batch; n++) this.timeRequest(copy);
    const taken = this.taken[copy]!;
    this.replayMedians[copy - 1]!.push(sortedMedian(this.samples[copy]!.slice(taken - batch, taken).sort()));
  }

  /**
   * Per round, the lowest of the copies' median wasm times in it (lowestPerRound): the module's
   * time without the machine's slow phases, which last about a slot of the rotation.
   */
  lowestRoundWasmNs(): number[] {
    return lowestPerRound(
      [this.rounds.map((round) => round.wasmNs), ...this.replayMedians],
      `${this.module} on ${this.workload.name}`,
    );
  }

  /**
   * One request on copy `c`, not measured, before each of its rounds. After the other slots of
   * the rotation (thousands of requests through other modules and the harness), a module's first
   * request was slow in every copy, whatever the module: after 2,000 requests of another copy of
   * the filter, 12 to 17 µs for the filter (0.7 to 1.5 µs at the median, inbound and gateway),
   * 10 to 11 for its floor and 5 for the empty module, which makes no host call. In the replayed
   * tails that was 15 requests of 30,000, half of those past p99.9: the rotation's, not the
   * module's, since a worker does not run thousands of other modules' requests between two. The
   * first copy's is timed and kept apart (roundStartNs), to be shown beside the measured ones.
   */
  private refetch(c: number): void {
    const ns = this.timed(this.copies[c]!, this.next[c]!++);
    if (c === 0) this.roundStartNs.push(ns);
  }

  private refuseAfterTicks(): void {
    if (this.tickMedianNs !== null)
      throw new Error("bench: a round after measureTicks would time copies out of step");
  }

  /** The next request on copy `c`, its timer reset first (it then holds that request alone); keeps its wasm time. */
  private timeRequest(c: number): void {
    if (this.taken[c]! >= this.samples[c]!.length) {
      throw new Error(
        `bench: ${this.module} on ${this.workload.name}: more measured requests than the ${this.samples[c]!.length} it was loaded for`,
      );
    }
    this.samples[c]![this.taken[c]!++] = this.timed(this.copies[c]!, this.next[c]!++);
  }

  /** Request `i` on `copy`, its timer reset first (it then holds that request alone); its wasm ns. */
  private timed(copy: Copy, i: number): number {
    copy.timer.reset();
    runRequest(copy.plugin, this.workload, copy.clock, i);
    return copy.timer.wasmNs;
  }

  /**
   * After the rounds: `count` times, TICK_EVERY_REQUESTS requests and then a tick
   * (Plugin.fireTicksNow: the clock unmoved, so a standing-clock workload keeps its meaning),
   * whose time in the module is recorded: what a worker spends once a second off the request path,
   * its collection of what those requests left included. The first request after each tick (the
   * first of the next period's) is timed too: the rounds fire no tick, so they never hold the one
   * request in a thousand that follows a collection. The first copy only; its requests go on
   * from its rounds', which `next` keeps (no round may follow).
   */
  measureTicks(count: number): void {
    const { plugin, clock, timer } = this.first;
    const ticks = new Float64Array(count);
    const afterTicks = new Float64Array(count);
    let i = this.next[0]!;
    for (let t = 0; t < count; t++) {
      // The timed request after the tick before is one of this period's TICK_EVERY_REQUESTS.
      const untimed = t === 0 ? TICK_EVERY_REQUESTS : TICK_EVERY_REQUESTS - 1;
      for (let n = 0; n < untimed; n++) runRequest(plugin, this.workload, clock, i++);
      timer.reset();
      plugin.fireTicksNow();
      if (timer.ticks !== 1) {
        throw new Error(
          `bench: ${timer.ticks} ticks in one timed tick period on ${this.workload.name}, not 1`,
        );
      }
      ticks[t] = timer.wasmNs;
      afterTicks[t] = this.timed(this.first, i++);
    }
    ticks.sort();
    this.tickMedianNs = sortedMedian(ticks);
    this.tickMaxNs = ticks[count - 1]!;
    this.afterTickMedianNs = sortedMedian(afterTicks.sort());
  }

  /** Closes every copy; none may have trapped. */
  finish(): void {
    this.memoryAfterBytes = this.first.plugin.linearMemoryBytes()[0]!;
    const failed = this.copies.some((copy) => copy.plugin.failed);
    for (const copy of this.copies) copy.plugin.close();
    if (failed) throw new Error(`bench: ${this.module} trapped on ${this.workload.name}`);
  }

  /**
   * Quantiles of wasm time per request over every measured request (the first copy's), the median
   * and p99.9 of the per-request lowest over all copies, and the p99.9 of the lowest of the first
   * two (what two copies would have shown).
   */
  tails(): Tails & { replayedP50Ns: number; replayedP999Ns: number; replayedOfTwoP999Ns: number } {
    const measured = this.taken[0]!;
    this.copies.forEach((_, c) => {
      if (this.taken[c] !== measured || this.next[c] !== this.next[0]) {
        throw new Error(
          `bench: ${this.module} on ${this.workload.name}: copy ${c + 1} ran ${this.next[c]} requests (${this.taken[c]} measured), the first ${this.next[0]} (${measured})`,
        );
      }
    });
    const quantiles = (samples: Float64Array) => {
      const sorted = samples.slice(0, measured).sort();
      return (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
    };
    const at = quantiles(this.samples[0]!);
    const lowest = this.samples[0]!.slice(0, measured);
    let ofTwo: Float64Array | null = null;
    for (const replay of this.samples.slice(1)) {
      for (let i = 0; i < measured; i++) lowest[i] = Math.min(lowest[i]!, replay[i]!);
      ofTwo ??= lowest.slice();
    }
    const replayedAt = quantiles(lowest);
    return {
      p50Ns: at(0.5),
      p99Ns: at(0.99),
      p999Ns: at(0.999),
      maxNs: at(1),
      replayedP50Ns: replayedAt(0.5),
      replayedP999Ns: replayedAt(0.999),
      replayedOfTwoP999Ns: quantiles(ofTwo ?? lowest)(0.999),
    };
  }
}

/**
 * Per round, the lowest of the copies' medians (`medians[copy][round]`). The copies run the same
 * requests a third of the rotation apart, and the machine switches between speeds about two times
 * apart from one slot of the rotation to the next (README, "Benchmarks", wasm time): the first
 * copy's median over rounds takes whichever speed held most of its rounds, the lowest of the
 * copies' the speed one of them met. A median of a round's requests, not a request's lowest time
 * (the replayed tails'), so a request's own noise does not lower it. `what` names the subject in
 * the error when the copies ran different numbers of rounds.
 */
export function lowestPerRound(medians: number[][], what: string): number[] {
  const rounds = medians[0]?.length ?? 0;
  medians.forEach((copy, c) => {
    if (copy.length !== rounds) {
      throw new Error(`bench: ${what}: copy ${c + 1} ran ${copy.length} rounds, the first ${rounds}`);
    }
  });
  return medians[0]!.map((_, r) => Math.min(...medians.map((copy) => copy[r]!)));
}

/**
 * Every subject runs `batch` requests per round on each of its copies, each copy in a slot of its
 * own: the subjects' first copies, then their second, and so on, so a subject's copies are a
 * COPIES_PER_SUBJECT-th of the rotation apart; round r starts at slot r (mod count). Each slot is
 * calibrated first; returns the calibrations.
 */
export function runInterleaved(subjects: Subject[], rounds: number, batch: number): number[] {
  const slots: Array<(biasNs: number) => void> = [
    ...subjects.map((subject) => (biasNs: number) => subject.round(batch, biasNs)),
  ];
  for (let copy = 1; copy < COPIES_PER_SUBJECT; copy++) {
    slots.push(...subjects.map((subject) => (biasNs: number) => subject.replayRound(copy, batch, biasNs)));
  }
  const biases: number[] = [];
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < slots.length; k++) {
      // Calibrated at the slot, not once a round: the machine's speed changes from one slot to the
      // next, and an empty interval measured at the other speed is subtracted wrongly from each of
      // a request's 13 to 20 intervals. In a run calibrated once a round, the empty module, which
      // makes no host call, read 105 ns at the outbound path in its first copy and 12 in the lowest
      // of its copies'.
      const biasNs = CallTimer.measureBias();
      biases.push(biasNs);
      slots[(round + k) % slots.length]!(biasNs);
    }
  }
  return biases;
}

function sortedMedian(sorted: Float64Array): number {
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function median(values: number[]): number {
  return sortedMedian(Float64Array.from(values).sort());
}
