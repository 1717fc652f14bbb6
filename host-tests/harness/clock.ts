// Clocks the host reads for proxy_get_current_time_nanoseconds, WASI clock_time_get, request.time
// and ticks. Tests use ManualClock to make time-dependent behaviour exact.

import type { Clock } from "./types.js";

export class RealClock implements Clock {
  realtimeNs(): bigint {
    return BigInt(Date.now()) * 1_000_000n;
  }

  monotonicNs(): bigint {
    return process.hrtime.bigint();
  }
}

/** Time moves only when a test calls advance(); starts at `startMs` since the epoch. */
export class ManualClock implements Clock {
  private elapsedNs = 0n;
  private readonly startNs: bigint;

  constructor(startMs = 1_700_000_000_000) {
    this.startNs = BigInt(startMs) * 1_000_000n;
  }

  realtimeNs(): bigint {
    return this.startNs + this.elapsedNs;
  }

  monotonicNs(): bigint {
    return this.elapsedNs;
  }

  /** Moves both clocks forward; the Plugin fires ticks that fall due (use Plugin.advance for that). */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new RangeError(`ManualClock.advance: ms must be a finite number >= 0, got ${ms}`);
    }
    this.elapsedNs += BigInt(Math.round(ms * 1_000_000));
  }
}
