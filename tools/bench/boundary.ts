// What the benchmark sees at the host/module boundary, through the harness's CallBoundary hook:
// a timer that splits time inside module exports from time inside host functions, and a recorder
// that keeps each host call with its argument bytes (what the floor modules replay).

import { performance } from "node:perf_hooks";
import type { CallBoundary, LinkedFunction } from "../../host-tests/harness/index.js";

const OUTSIDE = 0;
const WASM = 1;
const HOST = 2;

/** The worker VM a one-worker plugin runs streams on (LogRecord.vm numbering). */
const WORKER_VM = 0;

/**
 * Accumulates the time spent in the module (exports, including the allocator the host calls back)
 * and in host functions, per mode, with the number of intervals each mode was cut into: every
 * interval carries one clock read and the wrapper's own work, which `biasNs` (measured) removes.
 */
export class CallTimer implements CallBoundary {
  private mode = OUTSIDE;
  private readonly stack: number[] = [];
  private last = 0;
  private readonly elapsed = new Float64Array(3);
  private readonly intervals = new Float64Array(3);
  hostCalls = 0;
  /** proxy_on_tick calls since reset. */
  ticks = 0;

  /** Measured cost of one interval (ns), subtracted per interval; set by each round's calibration. */
  biasNs = 0;

  private enter(next: number): void {
    const now = performance.now();
    this.elapsed[this.mode]! += now - this.last;
    this.intervals[this.mode]!++;
    this.stack.push(this.mode);
    this.mode = next;
    this.last = now;
  }

  private leave(): void {
    const now = performance.now();
    this.elapsed[this.mode]! += now - this.last;
    this.intervals[this.mode]!++;
    this.mode = this.stack.pop()!;
    this.last = now;
  }

  hostFunction(vm: number, _key: string, fn: LinkedFunction): LinkedFunction {
    if (vm !== WORKER_VM) return fn;
    return (...args) => {
      this.hostCalls++;
      this.enter(HOST);
      try {
        return fn(...args);
      } finally {
        this.leave();
      }
    };
  }

  moduleExport(vm: number, name: string, fn: LinkedFunction): LinkedFunction {
    if (vm !== WORKER_VM) return fn;
    const tick = name === "proxy_on_tick";
    return (...args) => {
      if (tick) this.ticks++;
      this.enter(WASM);
      try {
        return fn(...args);
      } finally {
        this.leave();
      }
    };
  }

  /** Forgets what was accumulated (start of a request). */
  reset(): void {
    this.elapsed.fill(0);
    this.intervals.fill(0);
    this.hostCalls = 0;
    this.ticks = 0;
  }

  /** Time in the module since reset, without the measuring's own cost (ns). */
  get wasmNs(): number {
    return this.elapsed[WASM]! * 1e6 - this.intervals[WASM]! * this.biasNs;
  }

  /** Time in host functions since reset, without the measuring's own cost (ns). */
  get hostNs(): number {
    return this.elapsed[HOST]! * 1e6 - this.intervals[HOST]! * this.biasNs;
  }

  /**
   * What one empty interval measures (ns): an export wrapped like the module's, around a function
   * that does nothing, called in batches. The least batch mean: on a shared machine, being
   * descheduled only ever adds.
   */
  static measureBias(batches = 8, samples = 5_000): number {
    const timer = new CallTimer();
    const empty = timer.moduleExport(WORKER_VM, "empty", () => 0);
    let least = Number.POSITIVE_INFINITY;
    for (let batch = 0; batch < batches; batch++) {
      timer.reset();
      for (let i = 0; i < samples; i++) empty();
      least = Math.min(least, (timer.elapsed[WASM]! * 1e6) / samples);
    }
    return least;
  }
}

/** Cost of one read of the clock the timer uses (ns): the least mean of batches of back-to-back reads. */
export function measureClockNs(batches = 8, samples = 20_000): number {
  let least = Number.POSITIVE_INFINITY;
  let sink = 0;
  for (let batch = 0; batch < batches; batch++) {
    const start = performance.now();
    for (let i = 0; i < samples; i++) sink += performance.now();
    least = Math.min(least, ((performance.now() - start) * 1e6) / samples);
  }
  return sink > 0 ? least : 0;
}

/**
 * How each argument of a host call is read: a scalar ("value"), a pointer and length the host
 * reads ("bytes", two words), a pointer the host writes through ("out"), or a buffer the host
 * fills ("fill": pointer, then its length as a value).
 */
type ArgumentKind = "value" | "bytes" | "out" | "fill";

const ARGUMENT_LAYOUTS: Record<string, ArgumentKind[]> = {
  "env.proxy_log": ["value", "bytes"],
  "env.proxy_get_log_level": ["out"],
  "env.proxy_get_property": ["bytes", "out", "out"],
  "env.proxy_set_property": ["bytes", "bytes"],
  "env.proxy_get_configuration": ["out", "out"],
  "env.proxy_get_header_map_pairs": ["value", "out", "out"],
  "env.proxy_set_header_map_pairs": ["value", "bytes"],
  "env.proxy_get_header_map_size": ["value", "out"],
  "env.proxy_get_header_map_value": ["value", "bytes", "out", "out"],
  "env.proxy_add_header_map_value": ["value", "bytes", "bytes"],
  "env.proxy_replace_header_map_value": ["value", "bytes", "bytes"],
  "env.proxy_remove_header_map_value": ["value", "bytes"],
  "env.proxy_get_buffer_status": ["value", "out", "out"],
  "env.proxy_get_buffer_bytes": ["value", "value", "value", "out", "out"],
  "env.proxy_get_current_time_nanoseconds": ["out"],
  "env.proxy_set_tick_period_milliseconds": ["value"],
  "env.proxy_define_metric": ["value", "bytes", "out"],
  "env.proxy_increment_metric": ["value", "value"],
  "env.proxy_record_metric": ["value", "value"],
  "env.proxy_get_metric": ["value", "out"],
  "env.proxy_get_shared_data": ["bytes", "out", "out", "out"],
  "env.proxy_set_shared_data": ["bytes", "bytes", "value"],
  "env.proxy_register_shared_queue": ["bytes", "out"],
  "env.proxy_enqueue_shared_queue": ["value", "bytes"],
  "env.proxy_dequeue_shared_queue": ["value", "out", "out"],
  "env.proxy_send_local_response": ["value", "bytes", "bytes", "bytes", "value"],
  "env.proxy_continue_stream": ["value"],
  "env.proxy_close_stream": ["value"],
  "env.proxy_set_effective_context": ["value"],
  "env.proxy_done": [],
  "wasi_snapshot_preview1.random_get": ["fill"],
  "wasi_snapshot_preview1.clock_time_get": ["value", "value", "out"],
};

/** One argument as recorded: a scalar, bytes the host read, or an out-pointer (its address differs per module). */
export type RecordedArgument =
  | { kind: "value"; value: string }
  | { kind: "bytes"; bytes: string }
  | { kind: "out" }
  | { kind: "fill"; length: number };

export interface RecordedCall {
  /** "env.proxy_get_property" etc. */
  key: string;
  args: RecordedArgument[];
  /** Bytes the host handed to the module inside this call (through the module's allocator). */
  bytesIn: number;
}

/** One call into the module (an ABI callback) with the host calls it made, in order. */
export interface RecordedCallback {
  name: string;
  result: number | undefined;
  calls: RecordedCall[];
}

function recordArguments(
  key: string,
  args: Array<number | bigint>,
  read: (ptr: number, len: number) => Uint8Array | undefined,
): RecordedArgument[] {
  const layout = ARGUMENT_LAYOUTS[key];
  if (layout === undefined) {
    throw new Error(
      `bench: no argument layout for host call ${key}; add one to ARGUMENT_LAYOUTS in tools/bench/boundary.ts`,
    );
  }
  const recorded: RecordedArgument[] = [];
  let at = 0;
  for (const kind of layout) {
    if (kind === "value") {
      recorded.push({ kind, value: String(args[at++]) });
    } else if (kind === "out") {
      recorded.push({ kind });
      at++;
    } else if (kind === "fill") {
      recorded.push({ kind, length: Number(args[at + 1]) });
      at += 2;
    } else {
      const bytes = read(Number(args[at]) >>> 0, Number(args[at + 1]) >>> 0) ?? new Uint8Array(0);
      recorded.push({ kind, bytes: Buffer.from(bytes).toString("hex") });
      at += 2;
    }
  }
  return recorded;
}

/** The callbacks an export-calling harness step can be: the VM's allocator is not one of them. */
const ALLOCATORS = new Set(["malloc", "proxy_on_memory_allocate"]);

/**
 * Records, on the worker VM, every top-level callback with the host calls made inside it. The
 * allocator, called back by the host inside a host call, counts as bytes handed in.
 */
export class CallRecorder implements CallBoundary {
  readonly callbacks: RecordedCallback[] = [];
  private current: RecordedCallback | undefined;
  private call: RecordedCall | undefined;

  hostFunction(
    vm: number,
    key: string,
    fn: LinkedFunction,
    read: (ptr: number, len: number) => Uint8Array | undefined,
  ): LinkedFunction {
    if (vm !== WORKER_VM) return fn;
    return (...args) => {
      const call: RecordedCall = { key, args: recordArguments(key, args, read), bytesIn: 0 };
      this.current?.calls.push(call);
      const outer = this.call;
      this.call = call;
      try {
        return fn(...args);
      } finally {
        this.call = outer;
      }
    };
  }

  moduleExport(vm: number, name: string, fn: LinkedFunction): LinkedFunction {
    if (vm !== WORKER_VM) return fn;
    if (ALLOCATORS.has(name)) {
      return (...args) => {
        if (this.call !== undefined) this.call.bytesIn += Number(args[0]);
        return fn(...args);
      };
    }
    return (...args) => {
      const callback: RecordedCallback = { name, result: undefined, calls: [] };
      const outer = this.current;
      this.current = callback;
      try {
        const result = fn(...args);
        callback.result = result === undefined ? undefined : Number(result);
        return result;
      } finally {
        this.current = outer;
        if (outer === undefined) this.callbacks.push(callback);
      }
    };
  }

  /** Takes what was recorded so far and starts afresh. */
  take(): RecordedCallback[] {
    return this.callbacks.splice(0);
  }
}
