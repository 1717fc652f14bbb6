// The whole benchmark: floors built from recordings of the filter, interleaved timed rounds over
// every path and module, the scaling families, and the figures results.json holds.

import os from "node:os";
import { measureClockNs, type RecordedCallback } from "./boundary.js";
import { wasmCompilerFlags } from "./engine.js";
import { compileFloor, floorWat } from "./floor.js";
import {
  bytesPerRequest,
  COPIES_PER_SUBJECT,
  callLines,
  median,
  recordWorkload,
  runInterleaved,
  Subject,
  type PathRecording,
} from "./measure.js";
import { PATH_WORKLOADS, SCALING_FAMILIES, type Workload } from "./workloads.js";

/** The floor that runs beside each scaling family, and its row's value. */
const NOISE_REFERENCE_PATH = "inbound";
export const NOISE_REFERENCE = "inbound floor (noise reference)";

/** What a V8 host call costs in Envoy, per call, in the Envoy estimate (see README "Benchmarks"). */
export const ENVOY_HOST_CALL_NS = 250;

export interface BenchScale {
  rounds: number;
  batch: number;
  /** Periods of a path workload run before recording and before timing. */
  warmupPeriods: number;
  /** Requests before timing a scaling case, beyond one full rotation of its values. */
  scalingWarmupExtra: number;
  /** At most this many warm-up requests per scaling case. */
  maxScalingWarmup: number;
  /** Ticks timed per filter subject after its rounds (Subject.measureTicks). */
  ticks: number;
}

export const FULL_SCALE: BenchScale = {
  rounds: 15,
  batch: 2_000,
  warmupPeriods: 128,
  scalingWarmupExtra: 10_000,
  maxScalingWarmup: Number.POSITIVE_INFINITY,
  ticks: 15,
};
export const QUICK_SCALE: BenchScale = {
  rounds: 3,
  batch: 100,
  warmupPeriods: 4,
  scalingWarmupExtra: 200,
  maxScalingWarmup: 300,
  ticks: 2,
};

export type ModuleKind = "filter" | "floor" | "empty";

export interface Tails {
  p50Ns: number;
  p99Ns: number;
  p999Ns: number;
  maxNs: number;
}

export interface Figure extends Tails {
  /**
   * Median over rounds of the lowest of the copies' median wasm times in each round
   * (measure.ts, lowestPerRound): what the goals and the Envoy estimate use.
   */
  wasmNs: number;
  /** Median over rounds of the first copy's median wasm time: wasmNs with the machine's slow phases. */
  firstCopyWasmNs: number;
  hostNs: number;
  hostCalls: number;
  envoyEstimateNs: number;
  memoryBeforeBytes: number;
  memoryAfterBytes: number;
  /**
   * Median and p99.9 of the per-request lowest wasm time over the subject's copies (measure.ts,
   * Subject): the tail the module itself makes, without most of the machine's.
   */
  replayedP50Ns: number;
  replayedP999Ns: number;
  /** p99.9 of the per-request lower of the first two copies: what the replay showed with two. */
  replayedOfTwoP999Ns: number;
  /**
   * Median over rounds of the first copy's request before each round, which the rounds do not
   * measure: the first after the rest of the rotation (measure.ts, Subject).
   */
  roundStartMedianNs: number;
  /** The filter's median and largest time in the module per tick, off the request path; null for floors. */
  tickMedianNs: number | null;
  tickMaxNs: number | null;
  /** The filter's median wasm time of the request right after a tick; null for floors. */
  afterTickMedianNs: number | null;
}

export interface PathFigure extends Figure {
  path: string;
  module: ModuleKind;
  /** Filter: median over rounds of its time in the module (wasm + host) over the floor's; floor 1; empty null. */
  floorRatio: number | null;
  /** Payload bytes per request the host handed in (through the allocator) and read out (arguments). */
  bytesIn: number;
  bytesOut: number;
  /** Requests the floor replays, and whether the filter's calls repeat exactly over them. */
  floorCycle: number;
  floorExact: boolean;
}

export interface ScalingFigure extends Figure {
  family: string;
  value: string;
  /** The filter, or a floor: a case's own (ScalingFamily.withFloors) or the noise reference. */
  module: "filter" | "floor";
  /**
   * Median over rounds of this case's wasm time over the family's first case's (the first case's
   * floor, for a case's floor) in the same round: the flatness goals' figure, in which the
   * machine's drift between rounds cancels. Null for the noise reference, which is no case.
   */
  vsFirstCase: number | null;
}

export interface FloorBuild {
  workload: Workload;
  /** The filter's recording the floor replays, and the floor's own recording of the same requests. */
  filter: PathRecording;
  floor: { requests: RecordedCallback[][]; check: RecordedCallback[][] };
  floorWasm: Uint8Array;
  emptyWasm: Uint8Array;
  wat: string;
}

/** Records the filter on a path, generates and compiles its floor and the empty module, records the floor. */
export async function buildFloor(
  workload: Workload,
  filterWasm: Uint8Array,
  warmupPeriods: number,
): Promise<FloorBuild> {
  const filter = await recordWorkload(workload, filterWasm, warmupPeriods);
  const wat = floorWat(filter.script);
  const floorWasm = await compileFloor(wat);
  const floor = await recordWorkload(workload, floorWasm, warmupPeriods);
  const withoutCalls = (request: RecordedCallback[]): RecordedCallback[] =>
    request.map((callback) => ({ ...callback, calls: [] }));
  const emptyWasm = await compileFloor(
    floorWat({
      startup: [],
      warmupDefinitions: [],
      requests: filter.script.requests.slice(0, 1).map(withoutCalls),
    }),
  );
  return {
    workload,
    filter,
    floor: { requests: floor.script.requests, check: floor.check },
    floorWasm,
    emptyWasm,
    wat,
  };
}

/** buildFloor at one warm-up period, refused (an error naming the call) unless the floor stands for the path. */
async function checkedFloor(workload: Workload, filterWasm: Uint8Array): Promise<FloorBuild> {
  const build = await buildFloor(workload, filterWasm, 1);
  const mismatch = floorMismatch(build);
  if (mismatch !== undefined) throw new Error(`bench: ${mismatch}`);
  return build;
}

/** Why a floor does not stand for its path, or undefined when it does. */
export function floorMismatch(build: FloorBuild): string | undefined {
  const expected = callLines(build.filter.script.requests);
  const actual = callLines(build.floor.requests);
  const first = expected.findIndex((line, i) => line !== actual[i]);
  if (first >= 0 || expected.length !== actual.length) {
    const at = first >= 0 ? first : Math.min(expected.length, actual.length);
    return `the floor of ${build.workload.name} differs at host call ${at}: filter ${expected[at] ?? "(none)"}, floor ${actual[at] ?? "(none)"}`;
  }
  return undefined;
}

function figureOf(subject: Subject): Figure {
  const wasmNs = median(subject.lowestRoundWasmNs());
  const hostCalls = median(subject.rounds.map((r) => r.hostCalls));
  return {
    wasmNs,
    firstCopyWasmNs: median(subject.rounds.map((r) => r.wasmNs)),
    hostNs: median(subject.rounds.map((r) => r.hostNs)),
    hostCalls,
    envoyEstimateNs: wasmNs + ENVOY_HOST_CALL_NS * hostCalls,
    ...subject.tails(),
    memoryBeforeBytes: subject.memoryBeforeBytes,
    memoryAfterBytes: subject.memoryAfterBytes,
    roundStartMedianNs: median(subject.roundStartNs),
    tickMedianNs: subject.tickMedianNs,
    tickMaxNs: subject.tickMaxNs,
    afterTickMedianNs: subject.afterTickMedianNs,
  };
}

/** Median over rounds of `subject`'s wasm time over `base`'s in the same round (each the lowest of its copies'). */
function wasmRatio(subject: Subject, base: Subject): number {
  const baseNs = base.lowestRoundWasmNs();
  return median(subject.lowestRoundWasmNs().map((ns, i) => ns / baseNs[i]!));
}

/** The first copies' (the only ones whose host time the rounds keep). */
function ratioToFloor(filter: Subject, floor: Subject): number {
  return median(
    filter.rounds.map(
      (round, i) => (round.wasmNs + round.hostNs) / (floor.rounds[i]!.wasmNs + floor.rounds[i]!.hostNs),
    ),
  );
}

export interface BenchResults {
  quick: boolean;
  date: string;
  machine: { cpu: string; cores: number; memoryGiB: number; node: string; platform: string };
  measurement: {
    clock: string;
    clockNs: number;
    boundaryBiasNs: number;
    /** V8 flags the modules were compiled with ("" for Node's defaults); see engine.ts. */
    v8Flags: string;
    envoyHostCallNs: number;
    rounds: number;
    /** Measured requests per round and copy. */
    batch: number;
    /** Copies of each subject (measure.ts, COPIES_PER_SUBJECT); the replayed tails are their lowest. */
    copies: number;
  };
  moduleBytes: number;
  paths: PathFigure[];
  scaling: ScalingFigure[];
}

export async function runBenchmark(
  filterWasm: Uint8Array,
  scale: BenchScale,
  progress: (line: string) => void,
): Promise<BenchResults> {
  const clockNs = measureClockNs();
  const biases: number[] = [];
  progress(`clock read: ${clockNs.toFixed(1)} ns`);

  const capacity = scale.rounds * scale.batch;
  const builds: FloorBuild[] = [];
  for (const workload of PATH_WORKLOADS) {
    builds.push(await checkedFloor(workload, filterWasm));
  }
  const pathSubjects: Array<{ build: FloorBuild; filter: Subject; floor: Subject; empty: Subject }> = [];
  for (const build of builds) {
    const load = (module: ModuleKind, wasm: Uint8Array): Promise<Subject> =>
      Subject.load(module, build.workload, wasm, capacity);
    pathSubjects.push({
      build,
      filter: await load("filter", filterWasm),
      floor: await load("floor", build.floorWasm),
      empty: await load("empty", build.emptyWasm),
    });
  }
  const all = pathSubjects.flatMap((p) => [p.filter, p.floor, p.empty]);
  for (const subject of all) subject.warm(scale.warmupPeriods * subject.workload.period);
  progress(`paths: ${scale.rounds} interleaved rounds of ${all.length} subjects x ${scale.batch} requests`);
  biases.push(...runInterleaved(all, scale.rounds, scale.batch));
  for (const { filter } of pathSubjects) filter.measureTicks(scale.ticks);
  for (const subject of all) subject.finish();

  const paths: PathFigure[] = [];
  for (const { build, filter, floor, empty } of pathSubjects) {
    const bytes = bytesPerRequest(build.filter.script.requests);
    const row = (subject: Subject, floorRatio: number | null): PathFigure => ({
      path: build.workload.name,
      module: subject.module as ModuleKind,
      ...figureOf(subject),
      floorRatio,
      ...(subject.module === "empty" ? { bytesIn: 0, bytesOut: 0 } : bytes),
      floorCycle: build.filter.script.requests.length,
      floorExact: build.filter.exact,
    });
    paths.push(row(filter, ratioToFloor(filter, floor)), row(floor, 1), row(empty, null));
  }

  // Each family's rounds also run the inbound floor: its tail is the noise of that part of the run.
  const noise = builds.find((build) => build.workload.name === NOISE_REFERENCE_PATH)!;
  const scaling: ScalingFigure[] = [];
  for (const family of SCALING_FAMILIES) {
    const subjects: Subject[] = [];
    const floors: Subject[] = [];
    for (const { workload } of family.cases) {
      const subject = await Subject.load("filter", workload, filterWasm, capacity);
      subject.warm(Math.min(scale.maxScalingWarmup, workload.period + scale.scalingWarmupExtra));
      subjects.push(subject);
      if (family.withFloors !== true) continue;
      const build = await checkedFloor(workload, filterWasm);
      const floor = await Subject.load("floor", workload, build.floorWasm, capacity);
      floor.warm(scale.warmupPeriods * workload.period);
      floors.push(floor);
    }
    const reference = await Subject.load("floor", noise.workload, noise.floorWasm, capacity);
    reference.warm(scale.warmupPeriods * noise.workload.period);
    const withFloors = floors.length > 0 ? ", each with its floor," : "";
    progress(
      `${family.name}: ${scale.rounds} interleaved rounds of ${subjects.length} cases${withFloors} and the ${NOISE_REFERENCE_PATH} floor`,
    );
    biases.push(...runInterleaved([...subjects, ...floors, reference], scale.rounds, scale.batch));
    for (const subject of subjects) subject.measureTicks(scale.ticks);
    const figure = (subject: Subject, value: string, base: Subject | null): ScalingFigure => {
      subject.finish();
      return {
        family: family.name,
        value,
        module: subject.module === "filter" ? "filter" : "floor",
        ...figureOf(subject),
        vsFirstCase: base === null ? null : wasmRatio(subject, base),
      };
    };
    family.cases.forEach(({ value }, i) => {
      scaling.push(figure(subjects[i]!, value, subjects[0]!));
      if (floors.length > 0) scaling.push(figure(floors[i]!, value, floors[0]!));
    });
    scaling.push(figure(reference, NOISE_REFERENCE, null));
  }

  const cpus = os.cpus();
  return {
    quick: scale === QUICK_SCALE,
    date: new Date().toISOString().slice(0, 10),
    machine: {
      cpu: cpus[0]?.model.trim() ?? "unknown",
      cores: cpus.length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
    },
    measurement: {
      clock: "performance.now()",
      clockNs,
      boundaryBiasNs: median(biases),
      v8Flags: wasmCompilerFlags(),
      envoyHostCallNs: ENVOY_HOST_CALL_NS,
      rounds: scale.rounds,
      batch: scale.batch,
      copies: COPIES_PER_SUBJECT,
    },
    moduleBytes: filterWasm.length,
    paths,
    scaling,
  };
}
