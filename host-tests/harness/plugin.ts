// The in-process API: load a module the way Envoy loads a Wasm HTTP filter (checks, base VM, a
// configuration canary, one VM per worker), drive streams through it, move time, read what it did.

import { AccessLogFormat, connectionManagerLogsFirst, type StreamAccessLog } from "./access-log.js";
import { checkImports, checkMemories, detectAbiVersion, MAX_MEMORY_PAGES, type AbiVersion } from "./abi.js";
import { ManualClock, RealClock } from "./clock.js";
import { type PluginIdentity } from "./context.js";
import { ConfigurationRejectedError, ModuleRefusedError } from "./errors.js";
import { checkLoopbackUrl } from "./http-call.js";
import { istioNode } from "./properties.js";
import { SharedData, SharedQueues } from "./shared-data.js";
import { StatStore, VmMetrics } from "./stats.js";
import { Stream } from "./stream.js";
import { envoyMinorVersion, envoyStreamEnd, type StreamEndKind } from "./stream-ends.js";
import {
  LogLevel,
  type Clock,
  type LogRecord,
  type PluginOptions,
  type StreamEnd,
  type StreamOptions,
} from "./types.js";
import { WasmVm, type VmOptions } from "./vm.js";
import {
  capDefinedMemories,
  MalformedModuleError,
  parseModuleShape,
  type ModuleShape,
} from "./wasm-binary.js";

export { ConfigurationRejectedError, ModuleRefusedError } from "./errors.js";
export { Stream } from "./stream.js";

/** Index LogRecord.vm uses for the VMs Envoy starts before the workers. */
export const BASE_VM_INDEX = -2;
export const CANARY_VM_INDEX = -1;

interface CompiledModule {
  module: WebAssembly.Module;
  shape: ModuleShape;
  abi: AbiVersion;
}

/** Envoy's load steps up to linking; each refusal names its cause. */
async function compileForEnvoy(bytes: Uint8Array): Promise<CompiledModule> {
  let shape: ModuleShape;
  try {
    shape = parseModuleShape(bytes);
  } catch (error) {
    if (error instanceof MalformedModuleError) {
      throw new ModuleRefusedError(`Failed to parse corrupted Wasm module: ${error.message}`);
    }
    throw error;
  }
  const abi = detectAbiVersion(shape);
  checkMemories(shape);
  let module: WebAssembly.Module;
  try {
    module = await WebAssembly.compile(capDefinedMemories(bytes, MAX_MEMORY_PAGES));
  } catch (error) {
    throw new ModuleRefusedError(
      `Failed to load Wasm bytecode: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  checkImports(shape, abi);
  return { module, shape, abi };
}

function msToNs(ms: number): bigint {
  return BigInt(Math.round(ms * 1_000_000));
}

export class Plugin {
  readonly logs: LogRecord[] = [];
  private readonly workers: WasmVm[] = [];
  private readonly pending = new Set<Promise<unknown>>();
  private readonly timers = new Map<WasmVm, NodeJS.Timeout>();
  private nextWorker = 0;
  private nextConnectionId = 1;
  private closed = false;
  /** ManualClock: when the next stats flush is due; real clock: the flush timer. */
  private nextStatsFlushNs: bigint | undefined;
  private statsFlushTimer: NodeJS.Timeout | undefined;
  private accessLog: StreamAccessLog | undefined;

  private constructor(
    private readonly options: PluginOptions,
    readonly stats: StatStore,
    readonly clock: Clock,
    readonly abi: AbiVersion,
    private readonly identity: PluginIdentity,
  ) {}

  /**
   * Refused modules throw ModuleRefusedError; a configuration the module rejects (on_vm_start or
   * on_configure returning false, in the canary or a worker) throws ConfigurationRejectedError.
   */
  static async load(options: PluginOptions, stats?: StatStore): Promise<Plugin> {
    const workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1) {
      throw new RangeError(
        `PluginOptions.workers: ${workers} is not a worker count; expected an integer >= 1`,
      );
    }
    const flushInterval = options.statsFlushIntervalMs;
    if (flushInterval !== undefined && (!Number.isInteger(flushInterval) || flushInterval < 1)) {
      throw new RangeError(
        `PluginOptions.statsFlushIntervalMs: ${flushInterval} is not an interval; expected an integer >= 1 (ms)`,
      );
    }
    const accessLogFormat = options.accessLog && AccessLogFormat.parse(options.accessLog.format);
    const compiled = await compileForEnvoy(options.wasm);
    const clusters = new Map(
      Object.entries(options.upstreamClusters ?? {}).map(([name, url]) => [
        name,
        checkLoopbackUrl(name, url),
      ]),
    );
    const encoder = new TextEncoder();
    const rootId = options.rootId ?? "kwt";
    const identity: PluginIdentity = {
      layoutScope: {
        layout: options.envoy ?? "1.33",
        node: istioNode(options.node),
        direction: options.direction ?? "inbound",
        pluginName: options.pluginName ?? rootId,
        rootId,
        vmId: options.vmId ?? "",
      },
      pluginConfig:
        options.pluginConfig instanceof Uint8Array
          ? options.pluginConfig
          : encoder.encode(options.pluginConfig ?? ""),
      vmConfig: encoder.encode(options.vmConfig ?? ""),
    };
    const store = stats ?? new StatStore({ extraStatTags: options.extraStatTags ?? [] });
    const plugin = new Plugin(options, store, options.clock ?? new RealClock(), compiled.abi, identity);
    if (options.accessLog && accessLogFormat) {
      plugin.accessLog = {
        format: accessLogFormat,
        write: options.accessLog.write,
        beforeFilters: connectionManagerLogsFirst(plugin.envoyMinor),
      };
    }
    const sharedData = new SharedData();
    const sharedQueues = new SharedQueues();
    const vmOptions = (index: number): VmOptions => ({
      ...compiled,
      index,
      identity,
      clock: plugin.clock,
      metrics: new VmMetrics(store),
      sharedData,
      sharedQueues,
      vmId: identity.layoutScope.vmId,
      logLevel: options.logLevel ?? LogLevel.Info,
      log: (record) => plugin.logs.push(record),
      env: Object.entries(options.env ?? {}),
      clusters,
      track: (work) => plugin.track(work),
      callBoundary: options.callBoundary,
    });

    // The base VM only starts (it is what workers are cloned from); the canary is configured and
    // dropped without on_done/on_delete; then each worker gets its own VM.
    WasmVm.start(vmOptions(BASE_VM_INDEX));
    const canary = WasmVm.start(vmOptions(CANARY_VM_INDEX));
    plugin.startAndConfigure(canary, "base");
    canary.kill();
    for (let index = 0; index < workers; index++) {
      const worker = WasmVm.start(vmOptions(index));
      worker.onTickPeriodChange = () => plugin.scheduleTicks(worker);
      plugin.startAndConfigure(worker, "thread-local");
      plugin.workers.push(worker);
    }
    plugin.startStatsFlushes();
    return plugin;
  }

  private startStatsFlushes(): void {
    const interval = this.options.statsFlushIntervalMs;
    if (interval === undefined) return;
    this.stats.mergeHistogramsOnFlush();
    if (this.clock instanceof ManualClock) {
      this.nextStatsFlushNs = this.clock.monotonicNs() + msToNs(interval);
    } else {
      this.statsFlushTimer = setInterval(() => this.stats.flushHistograms(), interval);
      this.statsFlushTimer.unref();
    }
  }

  private startAndConfigure(vm: WasmVm, which: "base" | "thread-local"): void {
    const reject = (step: string, cause: string): never => {
      const message = `Failed to ${step} ${which} Wasm${step === "configure" ? " plugin" : ""}: ${cause}`;
      vm.log(LogLevel.Error, `Wasm VM failed ${message}`);
      for (const worker of this.workers) worker.shutdown();
      throw new ConfigurationRejectedError(`${message}; the plugin is not loaded`, [...this.logs]);
    };
    if (!vm.startRoot(this.identity.vmConfig.length)) {
      reject("start", vm.failure ?? "proxy_on_vm_start returned false");
    }
    if (!vm.configureRoot(this.identity.pluginConfig.length)) {
      reject("configure", vm.failure ?? "proxy_on_configure returned false");
    }
  }

  /** The Envoy minor version the plugin behaves as (PluginOptions.envoy). */
  get envoyMinor(): number {
    return envoyMinorVersion(this.options.envoy ?? "1.33");
  }

  /** How Envoy ends a stream this way on the plugin's Envoy version, for Stream.end(). */
  streamEnd(kind: StreamEndKind): StreamEnd {
    return envoyStreamEnd(kind, this.envoyMinor);
  }

  /** A VM trapped (its streams now follow failOpen). */
  get failed(): boolean {
    return this.workers.some((vm) => vm.failed);
  }

  get workerCount(): number {
    return this.workers.length;
  }

  /** Each worker VM's linear memory size in bytes (what memory growth benchmarks watch). */
  linearMemoryBytes(): number[] {
    return this.workers.map((vm) => vm.memory.size);
  }

  /** Envoy spreads streams over worker threads; here round-robin. */
  createStream(options: StreamOptions = {}): Stream {
    if (this.closed) throw new Error("Plugin.createStream: the plugin is closed");
    const vm = this.workers[this.nextWorker++ % this.workers.length] as WasmVm;
    const failOpen = this.options.failOpen ?? true;
    return new Stream({
      // With a failed VM, fail-open leaves the filter out of the chain entirely (createFilter returns null).
      vm: (vm.failed && failOpen) || options.beforeFilterChain === true ? undefined : vm,
      failOpen,
      identity: this.identity,
      clock: this.clock,
      connectionId: this.nextConnectionId++,
      options,
      accessLog: this.accessLog,
    });
  }

  /** ManualClock only: moves time, firing each VM's proxy_on_tick whenever its period comes due. */
  advance(ms: number): void {
    const clock = this.clock;
    if (!(clock instanceof ManualClock)) {
      throw new Error(
        "Plugin.advance needs a ManualClock (PluginOptions.clock); with the real clock ticks run on timers",
      );
    }
    const target = clock.monotonicNs() + msToNs(ms);
    // A flush and a tick due at the same instant: the tick runs first (its samples make the flush).
    while (this.nextStatsFlushNs !== undefined && this.nextStatsFlushNs <= target) {
      this.runTicksUntil(clock, this.nextStatsFlushNs);
      this.stats.flushHistograms();
      this.nextStatsFlushNs += msToNs(this.options.statsFlushIntervalMs ?? 0);
    }
    this.runTicksUntil(clock, target);
  }

  private runTicksUntil(clock: ManualClock, target: bigint): void {
    for (;;) {
      const due = this.workers
        .filter((vm) => vm.tickPeriodMs > 0 && !vm.failed && vm.nextTickNs <= target)
        .sort((a, b) => (a.nextTickNs < b.nextTickNs ? -1 : a.nextTickNs > b.nextTickNs ? 1 : 0))[0];
      if (due === undefined) break;
      const step = due.nextTickNs - clock.monotonicNs();
      if (step > 0n) clock.advance(Number(step) / 1_000_000);
      due.tick();
    }
    const rest = target - clock.monotonicNs();
    if (rest > 0n) clock.advance(Number(rest) / 1_000_000);
  }

  private scheduleTicks(vm: WasmVm): void {
    const existing = this.timers.get(vm);
    if (existing !== undefined) clearTimeout(existing);
    this.timers.delete(vm);
    if (this.clock instanceof ManualClock || vm.tickPeriodMs === 0 || this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(vm);
      vm.tick();
      if (!this.timers.has(vm)) this.scheduleTicks(vm);
    }, vm.tickPeriodMs);
    timer.unref();
    this.timers.set(vm, timer);
  }

  private track(work: Promise<unknown>): void {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(settled);
    void settled.then(() => this.pending.delete(settled));
  }

  /** Resolves once no http call or queue notification is in flight and their callbacks ran. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** proxy_on_done / proxy_on_delete on every worker's root context; stops timers and http calls. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    clearInterval(this.statsFlushTimer);
    for (const vm of this.workers) vm.shutdown();
  }
}
