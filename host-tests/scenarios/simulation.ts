// Discrete-event time for a scenario: actions run in time order, and before each one every proxy's
// manual clock is moved to that time (firing its VMs' ticks), so the filter reads the same instant
// the models act at. Nothing waits on real time.

import type { Plugin } from "../harness/index.js";

interface Scheduled {
  atMs: number;
  order: number;
  action: () => void | Promise<void>;
}

export class Simulation {
  private readonly queue: Scheduled[] = [];
  private readonly proxies: Array<{ plugin: Plugin; atMs: number }> = [];
  private order = 0;
  private current = 0;

  /** `epochMs`: the wall-clock time of scenario time 0. */
  constructor(readonly epochMs = 1_700_000_000_000) {}

  /** Scenario time, ms since its start. */
  get nowMs(): number {
    return this.current;
  }

  /** Wall-clock time now, ms since the epoch (what a proxy started now is given). */
  get wallMs(): number {
    return this.epochMs + this.current;
  }

  /** Moves with the scenario from now on; its clock must read `wallMs` now. */
  attach(plugin: Plugin): void {
    this.proxies.push({ plugin, atMs: this.current });
  }

  detach(plugin: Plugin): void {
    const index = this.proxies.findIndex((p) => p.plugin === plugin);
    if (index >= 0) this.proxies.splice(index, 1);
  }

  at(atMs: number, action: () => void | Promise<void>): void {
    if (!(atMs >= this.current)) {
      throw new RangeError(`Simulation.at: ${atMs} ms is before now (${this.current} ms)`);
    }
    const item = { atMs, order: this.order++, action };
    let index = this.queue.length;
    while (index > 0 && this.queue[index - 1]!.atMs > atMs) index--;
    this.queue.splice(index, 0, item);
  }

  after(delayMs: number, action: () => void | Promise<void>): void {
    this.at(this.current + delayMs, action);
  }

  /** `action` at `fromMs`, then every `periodMs` while it returns true and before `untilMs`. */
  every(periodMs: number, fromMs: number, untilMs: number, action: () => boolean | void): void {
    const step = (atMs: number): void => {
      if (atMs >= untilMs) return;
      this.at(atMs, () => {
        if (action() !== false) step(atMs + periodMs);
      });
    };
    step(fromMs);
  }

  /** Runs every action due up to `untilMs` (all of them when absent); time ends at `untilMs`. */
  async run(untilMs = Number.POSITIVE_INFINITY): Promise<void> {
    for (;;) {
      const next = this.queue[0];
      if (next === undefined || next.atMs > untilMs) break;
      this.queue.shift();
      this.moveTo(next.atMs);
      await next.action();
    }
    if (Number.isFinite(untilMs)) this.moveTo(untilMs);
  }

  private moveTo(atMs: number): void {
    if (atMs === this.current) return;
    this.current = atMs;
    for (const proxy of this.proxies) {
      proxy.plugin.advance(atMs - proxy.atMs);
      proxy.atMs = atMs;
    }
  }
}
