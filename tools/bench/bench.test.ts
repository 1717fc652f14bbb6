// The benchmark itself must keep working and keep meaning what it says: a quick run through the
// bundled CLI produces every figure for every path, module and scaling case; each path's floor
// makes the same host calls as the filter; the README shows the committed results. Its timings are
// read by people, never asserted.

import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { runKwt } from "../testing/kwt-cli.js";
import {
  COPIES_PER_SUBJECT,
  RANDOM_SEED,
  Subject,
  lowestPerRound,
  runInterleaved,
  callKeysWithoutDraws,
  callLines,
  recordWorkload,
  seededRandomBytes,
} from "./measure.js";
import { ENVOY_V8_FLAGS } from "./engine.js";
import { currentReadmeBlock, readmeBlock } from "./report.js";
import { compileFloor, floorWat } from "./floor.js";
import { buildFloor, floorMismatch, ENVOY_HOST_CALL_NS, NOISE_REFERENCE, type BenchResults } from "./run.js";
import { PATH_WORKLOADS, SCALING_FAMILIES } from "./workloads.js";

const root = path.resolve(import.meta.dirname, "../..");
const filterWasm = async (): Promise<Uint8Array> =>
  new Uint8Array(await readFile(path.join(root, "build/filter.wasm")));

const FIGURE_FIELDS = [
  "wasmNs",
  "firstCopyWasmNs",
  "hostNs",
  "hostCalls",
  "envoyEstimateNs",
  "p50Ns",
  "p99Ns",
  "p999Ns",
  "maxNs",
  "memoryBeforeBytes",
  "memoryAfterBytes",
  "replayedP50Ns",
  "replayedP999Ns",
  "replayedOfTwoP999Ns",
  "roundStartMedianNs",
] as const;

function expectFigure(figure: Record<string, unknown>, where: string): void {
  for (const field of FIGURE_FIELDS) {
    expect(Number.isFinite(figure[field]), `${where}: ${field} = ${String(figure[field])}`).toBe(true);
  }
  const f = figure as Record<(typeof FIGURE_FIELDS)[number], number>;
  expect(f.envoyEstimateNs, where).toBeCloseTo(f.wasmNs + ENVOY_HOST_CALL_NS * f.hostCalls, 6);
  expect(f.p50Ns, where).toBeLessThanOrEqual(f.p99Ns);
  expect(f.p99Ns, where).toBeLessThanOrEqual(f.p999Ns);
  expect(f.p999Ns, where).toBeLessThanOrEqual(f.maxNs);
  // The lowest of three is at most the lowest of two, which is at most the first copy's.
  expect(f.replayedP999Ns, where).toBeLessThanOrEqual(f.replayedOfTwoP999Ns);
  expect(f.replayedOfTwoP999Ns, where).toBeLessThanOrEqual(f.p999Ns);
  expect(f.memoryAfterBytes, where).toBeGreaterThan(0);
  // Ticks are timed for the filter only: a floor sets no tick period.
  const { module, tickMedianNs, tickMaxNs, afterTickMedianNs } = figure as {
    module: string;
    tickMedianNs: unknown;
    tickMaxNs: unknown;
    afterTickMedianNs: unknown;
  };
  if (module === "filter") {
    expect(tickMedianNs, `${where}: tickMedianNs`).toBeGreaterThan(0);
    expect(tickMaxNs, `${where}: tickMaxNs`).toBeGreaterThan(0);
    expect(afterTickMedianNs, `${where}: afterTickMedianNs`).toBeGreaterThan(0);
  } else {
    expect([tickMedianNs, tickMaxNs, afterTickMedianNs], where).toEqual([null, null, null]);
  }
}

it("kwt bench --quick writes every figure for every path, module and scaling case", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "kwt-bench-"));
  try {
    const out = path.join(dir, "results.json");
    const { code, stdout, stderr } = await runKwt(
      ["bench", "--quick", "--out", out],
      { CI: "true" },
      120_000,
    );
    expect(code, stderr).toBe(0);
    const results = JSON.parse(await readFile(out, "utf8")) as BenchResults;

    expect(results.quick).toBe(true);
    expect(results.machine.node).toBe(process.version);
    expect(results.machine.cores).toBeGreaterThan(0);
    expect(results.measurement.envoyHostCallNs).toBe(ENVOY_HOST_CALL_NS);
    expect(results.measurement.v8Flags).toBe(ENVOY_V8_FLAGS);
    expect(results.measurement.clockNs).toBeGreaterThan(0);
    expect(results.measurement.copies).toBe(COPIES_PER_SUBJECT);
    expect(results.moduleBytes).toBe((await filterWasm()).length);

    expect(results.paths.map((f) => `${f.path}/${f.module}`)).toEqual(
      PATH_WORKLOADS.flatMap((w) => [`${w.name}/filter`, `${w.name}/floor`, `${w.name}/empty`]),
    );
    for (const figure of results.paths) {
      const where = `${figure.path}/${figure.module}`;
      expectFigure(figure as unknown as Record<string, unknown>, where);
      expect(Number.isFinite(figure.bytesIn) && Number.isFinite(figure.bytesOut), where).toBe(true);
    }
    for (const workload of PATH_WORKLOADS) {
      const of = (module: string) =>
        results.paths.find((f) => f.path === workload.name && f.module === module)!;
      expect(of("filter").hostCalls, workload.name).toBeGreaterThan(0);
      // Equal, but for the filter's random draws, which repeat only on average.
      expect(Math.abs(of("floor").hostCalls - of("filter").hostCalls), workload.name).toBeLessThan(0.05);
      expect(of("floor").bytesOut, workload.name).toBe(of("filter").bytesOut);
      expect(of("empty").hostCalls, workload.name).toBe(0);
      expect(of("filter").floorRatio, workload.name).toBeGreaterThan(0);
      expect(of("floor").floorRatio).toBe(1);
      expect(of("empty").floorRatio).toBeNull();
    }

    expect(results.scaling.map((f) => `${f.family}: ${f.value} ${f.module}`)).toEqual(
      SCALING_FAMILIES.flatMap((family) => [
        ...family.cases.flatMap((c) => [
          `${family.name}: ${c.value} filter`,
          ...(family.withFloors === true ? [`${family.name}: ${c.value} floor`] : []),
        ]),
        `${family.name}: ${NOISE_REFERENCE} floor`,
      ]),
    );
    for (const floor of results.scaling.filter((f) => f.module === "floor" && f.value !== NOISE_REFERENCE)) {
      const filter = results.scaling.find(
        (f) => f.family === floor.family && f.value === floor.value && f.module === "filter",
      )!;
      expect(Math.abs(floor.hostCalls - filter.hostCalls), `${floor.family} ${floor.value}`).toBeLessThan(
        0.05,
      );
    }
    for (const figure of results.scaling) {
      const where = `${figure.family} ${figure.value}`;
      expectFigure(figure as unknown as Record<string, unknown>, where);
      if (figure.value === NOISE_REFERENCE) expect(figure.vsFirstCase, where).toBeNull();
      else expect(figure.vsFirstCase, where).toBeGreaterThan(0);
    }
    for (const family of SCALING_FAMILIES) {
      for (const module of ["filter", "floor"] as const) {
        const first = results.scaling.find(
          (f) => f.family === family.name && f.value === family.cases[0]!.value && f.module === module,
        );
        if (module === "filter" || family.withFloors === true)
          expect(first?.vsFirstCase, family.name).toBe(1);
      }
    }
    expect(stdout).toContain("Envoy est. ns");
    expect(stdout).toContain("goal (issue 18)");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 120_000);

/** Paths where the filter starts traces: its random ids come from a pool refilled now and then. */
const DRAWS_RANDOM_IDS = new Set(["gateway", "outbound-new-trace", "gateway-cold-start"]);

describe("each path's floor", () => {
  for (const workload of PATH_WORKLOADS) {
    it(`makes the filter's host calls on ${workload.name}: names, order, scalars and argument bytes`, async () => {
      const build = await buildFloor(workload, await filterWasm(), 1);
      const filterCalls = callLines(build.filter.script.requests);
      expect(filterCalls.length).toBeGreaterThan(0);
      expect(callLines(build.floor.requests)).toEqual(filterCalls);
      expect(floorMismatch(build)).toBeUndefined();
      // The next cycle of the filter makes the same calls (exactly, or but for where its random
      // draws fall): the floor stands for the timed rounds too.
      expect(build.filter.exact).toBe(!DRAWS_RANDOM_IDS.has(workload.name));
      if (build.filter.exact) {
        expect(callLines(build.filter.check, true)).toEqual(callLines(build.filter.script.requests, true));
      }
      expect(callKeysWithoutDraws(build.filter.check)).toEqual(
        callKeysWithoutDraws(build.filter.script.requests),
      );
      const empty = await recordWorkload(workload, build.emptyWasm, 1);
      expect(callLines(empty.script.requests)).toEqual([]);
    }, 60_000);
  }
});

describe("a subject's copies", () => {
  // The replayed tails are the module's own only if every copy does the same work: on the paths
  // that draw random trace ids, the seeded copies must make the same calls with the same bytes.
  for (const name of DRAWS_RANDOM_IDS) {
    it(`make the same host calls, bytes included, on ${name}`, async () => {
      const workload = PATH_WORKLOADS.find((w) => w.name === name)!;
      const record = async (random?: (into: Uint8Array) => void) =>
        callLines((await recordWorkload(workload, await filterWasm(), 1, random)).script.requests);
      const subject = await record(seededRandomBytes(RANDOM_SEED));
      expect(await record(seededRandomBytes(RANDOM_SEED))).toEqual(subject);
      // The system's random bytes make other trace ids: the comparison above can fail.
      expect(await record()).not.toEqual(subject);
    }, 60_000);
  }
});

/**
 * A canary: the empty module of `workload`'s path, spinning `steps` steps in each stream for which
 * `when` (a WAT i32 expression of `(global.get $streams)`, the streams it has seen, this one
 * included) holds. The module counts, so every copy spins at the same request number.
 */
async function canaryWasm(
  workload: (typeof PATH_WORKLOADS)[number],
  when: string,
  steps: number,
): Promise<Uint8Array> {
  const recording = await recordWorkload(workload, await filterWasm(), 1);
  const empty = floorWat({
    startup: [],
    warmupDefinitions: [],
    requests: recording.script.requests
      .slice(0, 1)
      .map((request) => request.map((c) => ({ ...c, calls: [] }))),
  });
  const countStream = "(global.set $streams (i32.add (global.get $streams) (i32.const 1)))";
  const streamsGlobal = "(global $streams";
  expect(empty).toContain(countStream);
  expect(empty).toContain(streamsGlobal);
  const spin =
    `(if ${when}` +
    ` (then (global.set $spin (i32.const ${steps}))` +
    ` (loop $spinning (global.set $spin (i32.sub (global.get $spin) (i32.const 1))) (br_if $spinning (global.get $spin)))))`;
  return compileFloor(
    empty
      .replace(countStream, `${countStream} ${spin}`)
      .replace(streamsGlobal, `(global $spin (mut i32) (i32.const 0))\n  ${streamsGlobal}`),
  );
}

describe("the replayed tails", () => {
  // The replay keeps a stall of the module's own only if every copy meets it at the same measured
  // request. A canary spinning for tens of µs in one stream in STALL_EVERY: 0.2% of the requests,
  // above the p99.9 line, must show there. Copies out of step hide it: in a run with the replays
  // one request ahead of the first copy, the replayed p99.9 was 1.2 µs.
  const STALL_EVERY = 500;
  const SPIN_STEPS = 200_000;
  const ROUNDS = 3;
  const BATCH = 1_000;

  it(`keep a stall in one request of ${STALL_EVERY}, which every copy meets at the same request`, async () => {
    const workload = PATH_WORKLOADS.find((w) => w.name === "inbound")!;
    const stalls = `(i32.eqz (i32.rem_u (global.get $streams) (i32.const ${STALL_EVERY})))`;
    const subject = await Subject.load(
      "canary",
      workload,
      await canaryWasm(workload, stalls, SPIN_STEPS),
      ROUNDS * BATCH,
    );
    subject.warm(workload.period * 4);
    runInterleaved([subject], ROUNDS, BATCH);
    subject.finish();
    const tails = subject.tails();
    // The stalls are 6 of the 3,000 measured requests; without them the empty module's requests
    // take well under a µs.
    expect(tails.replayedP999Ns).toBeGreaterThan(20 * tails.replayedP50Ns);
    expect(tails.replayedP999Ns).toBeGreaterThan(10_000);
  }, 60_000);
});

describe("the lowest of the copies' round medians", () => {
  it("is each round's lowest; copies that ran different numbers of rounds are refused", () => {
    expect(
      lowestPerRound(
        [
          [700, 1300, 650],
          [1310, 680, 640],
          [690, 1290, 1280],
        ],
        "a subject",
      ),
    ).toEqual([690, 680, 640]);
    expect(() => lowestPerRound([[700, 650], [690]], "filter on inbound")).toThrow(
      "bench: filter on inbound: copy 2 ran 1 rounds, the first 2",
    );
  });

  it("keeps a slow round the module makes itself, which every copy makes", async () => {
    // A canary spinning in every stream of the second round alone: one request before each round
    // and the warm-up's WARM (one round's worth) come first, so the second round's streams are
    // those after 2 * (BATCH + 1).
    const BATCH = 500;
    const WARM = BATCH + 1;
    const workload = PATH_WORKLOADS.find((w) => w.name === "inbound")!;
    const inSecondRound =
      `(i32.and (i32.gt_u (global.get $streams) (i32.const ${2 * WARM}))` +
      ` (i32.le_u (global.get $streams) (i32.const ${3 * WARM})))`;
    const subject = await Subject.load(
      "canary",
      workload,
      await canaryWasm(workload, inSecondRound, 200_000),
      3 * BATCH,
    );
    subject.warm(WARM);
    runInterleaved([subject], 3, BATCH);
    subject.finish();
    const lowest = subject.lowestRoundWasmNs();
    const [first, second, third] = lowest;
    expect(second!).toBeGreaterThan(10 * Math.max(first!, third!));
    expect(second!).toBeGreaterThan(20_000);
  }, 60_000);
});

describe("the live-label-set family's moving clock", () => {
  const family = SCALING_FAMILIES.find((f) => f.name === "live label sets")!;
  const labelSets = (value: string) => family.cases.find((c) => c.value === value)!.workload;

  /** Host calls per request once every revision has been answered twice. */
  async function callsPerRequest(value: string): Promise<number> {
    const workload = labelSets(value);
    const requests = 2 * Math.max(workload.period, 1_000);
    const subject = await Subject.load(value, workload, await filterWasm(), requests);
    try {
      subject.warm(requests);
      subject.round(requests, 0);
      return subject.rounds[0]!.hostCalls;
    } finally {
      subject.finish();
    }
  }

  it("publishes each revision's era as production would: at every answer when each is answered once a second, once a second when more often", async () => {
    // 1,000 answers a second: 1,000 revisions are each answered once a second, 10 every 10 ms.
    // Publishing is a get_shared_data and a set_shared_data; a standing clock would publish once.
    const everyAnswer = await callsPerRequest("1000");
    const everyHundredth = await callsPerRequest("10");
    expect(everyAnswer - everyHundredth).toBeCloseTo(2 - 2 / 100, 1);
  }, 60_000);

  it("has no floor: a floor's calls must repeat with the period", async () => {
    const workload = labelSets("10");
    await expect(recordWorkload(workload, await filterWasm(), 1)).rejects.toThrow(
      `moves the clock (${workload.requestIntervalMs} ms per request); a floor replays calls that repeat with the period`,
    );
  });

  it("has no floor where the traffic pauses either", async () => {
    const workload = { ...labelSets("10"), requestIntervalMs: 0, pause: { afterRequest: 3, ms: 60_000 } };
    await expect(recordWorkload(workload, await filterWasm(), 1)).rejects.toThrow(
      "moves the clock (0 ms per request, a pause of 60000 ms); a floor replays",
    );
  });
});

it("the README's benchmark tables are those of bench/results.json", async () => {
  const results = JSON.parse(await readFile(path.join(root, "bench/results.json"), "utf8")) as BenchResults;
  const readme = await readFile(path.join(root, "README.md"), "utf8");
  expect(currentReadmeBlock(readme)).toBe(readmeBlock(results));
});
