// The scenario clock: actions in time order (ties in the order scheduled), every attached proxy's
// clock at the action's time, periodic actions that stop themselves.

import { describe, expect, it } from "vitest";
import { FILTER_WASM } from "../filter-tracing/setup.js";
import { loadProxy } from "./proxy-adapter.js";
import { Simulation } from "./simulation.js";

describe("Simulation", () => {
  it("runs actions in time order, ties in scheduling order, and refuses the past", async () => {
    const sim = new Simulation(1_000);
    const seen: string[] = [];
    sim.at(30, () => void seen.push(`c@${sim.nowMs}`));
    sim.at(10, () => {
      seen.push(`a@${sim.nowMs}`);
      sim.after(5, () => void seen.push(`a+5@${sim.nowMs}`));
    });
    sim.at(10, () => void seen.push(`b@${sim.nowMs}`));
    await sim.run(20);
    expect(seen).toEqual(["a@10", "b@10", "a+5@15"]);
    expect(sim.nowMs).toBe(20);
    expect(sim.wallMs).toBe(1_020);
    expect(() => sim.at(19, () => undefined)).toThrow("Simulation.at: 19 ms is before now (20 ms)");
    await sim.run();
    expect(seen.at(-1)).toBe("c@30");
  });

  it("repeats a periodic action until it returns false or its end", async () => {
    const sim = new Simulation();
    const ticks: number[] = [];
    sim.every(200, 100, 2_000, () => {
      ticks.push(sim.nowMs);
      return ticks.length < 3;
    });
    const bounded: number[] = [];
    sim.every(300, 0, 1_000, () => void bounded.push(sim.nowMs));
    await sim.run();
    expect(ticks).toEqual([100, 300, 500]);
    expect(bounded).toEqual([0, 300, 600, 900]);
  });

  it("moves each attached proxy's clock to the scenario's time, from when it was attached", async () => {
    const sim = new Simulation(1_700_000_000_000);
    await sim.run(5_000);
    const plugin = await loadProxy({
      wasm: FILTER_WASM,
      layout: "xds",
      direction: "inbound",
      node: {},
      pluginConfig: {},
      workers: 2,
      extraStatTags: [],
      startMs: sim.wallMs,
    });
    sim.attach(plugin);
    await sim.run(7_500);
    expect(plugin.clock.realtimeNs()).toBe(BigInt(sim.wallMs) * 1_000_000n);
    expect(plugin.clock.monotonicNs()).toBe(2_500_000_000n);
    plugin.close();
  });
});
