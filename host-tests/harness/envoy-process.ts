// One Envoy process as its Wasm plugins see it (proxy-wasm-cpp-host src/wasm.cc at Envoy 1.28's pin
// 5d76116): worker threads; for each distinct VM (vm key: vm_id, VM configuration, code) a base VM
// and one VM per worker that every plugin with that VM shares (getOrCreateThreadLocalWasm); in
// each of those VMs one root context per plugin key (getOrCreateThreadLocalPlugin), so the inbound
// and outbound plugin of a sidecar, or an old and a new configuration, run side by side on the
// same module globals; a configuration canary per new plugin key (WasmHandleBase::canary); shared
// data and queues for the whole process, keyed by vm_id; one stats store with its flush, one
// clock, one timer per root context.

import { createHash } from "node:crypto";

import {
  checkExports,
  checkImports,
  checkMemories,
  detectAbiVersion,
  MAX_MEMORY_PAGES,
  type AbiVersion,
} from "./abi.js";
import { ManualClock, RealClock } from "./clock.js";
import { type PluginIdentity, type RootContext } from "./context.js";
import { ConfigurationRejection, ModuleRefusedError } from "./errors.js";
import { checkLoopbackUrl } from "./http-call.js";
import { istioNode, propertyLayoutOf } from "./properties.js";
import { SharedData, SharedQueues } from "./shared-data.js";
import { StatStore, VmMetrics } from "./stats.js";
import { DEFAULT_ENVOY_VERSION } from "./stream-ends.js";
import { LogLevel, type Clock, type LogRecord, type PluginOptions } from "./types.js";
import { WasmVm, type VmOptions } from "./vm.js";
import {
  capDefinedMemories,
  MalformedModuleError,
  parseModuleShape,
  type ModuleShape,
} from "./wasm-binary.js";

/** Index LogRecord.vm uses for the VMs Envoy starts before the workers. */
export const BASE_VM_INDEX = -2;
export const CANARY_VM_INDEX = -1;

/** Istio runs sidecars and gateways with two worker threads (proxy concurrency 2). */
export const DEFAULT_WORKERS = 2;

/** What belongs to the process rather than to one plugin. */
export interface ProcessOptions {
  /** Envoy worker threads, each with its own VM. Default 2, as Istio runs. */
  workers?: number;
  /** Default: the real clock. */
  clock?: Clock;
  /** The store every plugin records into; default a new one with `extraStatTags`. */
  stats?: StatStore;
  /**
   * The process's shared data; default a new store. A new module on a running Envoy keeps it (the
   * store is keyed by vm_id and outlives every VM), as it keeps the stats.
   */
  sharedData?: SharedData;
  /** Istio extraStatTags (used when `stats` is not given). */
  extraStatTags?: string[];
  /** Envoy's `wasm` logger level. Default Info. */
  logLevel?: LogLevel;
  /** As PluginOptions.statsFlushIntervalMs: the process's stats flush. */
  statsFlushIntervalMs?: number;
}

/** What a plugin on one listener brings; the process-wide fields of PluginOptions are not its own. */
export type ListenerPluginOptions = Omit<
  PluginOptions,
  "workers" | "clock" | "extraStatTags" | "logLevel" | "statsFlushIntervalMs"
>;

function msToNs(ms: number): bigint {
  return BigInt(Math.round(ms * 1_000_000));
}

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

/**
 * The checks Envoy makes on a module before it starts a VM (parse, ABI version, memories, imports,
 * allocator export); ModuleRefusedError names the first one that fails. Packaging tools use it to
 * refuse a module Envoy would refuse.
 */
export async function checkProxyWasmModule(bytes: Uint8Array): Promise<AbiVersion> {
  const { shape, abi } = await compileForEnvoy(bytes);
  checkExports(shape, abi);
  return abi;
}

/** One VM (vm key) of the process: its base VM, its worker VMs, and the canary verdicts. */
interface WasmService {
  compiled: CompiledModule;
  workers: WasmVm[];
  /** A configuration canary: a clone of the base VM, the same module started afresh. */
  startCanary: () => WasmVm;
  /** plugin_canary_cache_: whether a plugin key's configuration was accepted. */
  canaryVerdicts: Map<string, ConfigurationRejection | undefined>;
  instances: number;
}

/** The root contexts of one plugin key, one in each worker VM. */
export interface PluginInstance {
  readonly key: string;
  readonly identity: PluginIdentity;
  readonly abi: AbiVersion;
  readonly workers: ReadonlyArray<{ vm: WasmVm; root: RootContext }>;
}

interface InstanceEntry {
  instance: PluginInstance;
  service: WasmService;
  vmKey: string;
  references: number;
}

/** makeVmKey (src/wasm.cc): a VM is shared by plugins with the same vm_id, VM configuration and code. */
function vmKeyOf(options: ListenerPluginOptions): string {
  return createHash("sha256")
    .update(options.vmId ?? "")
    .update("\0")
    .update(options.vmConfig ?? "")
    .update("\0")
    .update(options.wasm)
    .digest("hex");
}

/**
 * PluginBase::key (include/proxy-wasm/context.h) is root_id || configuration || Envoy's key, and
 * Envoy's key is name || direction (createPluginKey, source/extensions/common/wasm/plugin.h).
 */
function pluginKeyOf(identity: PluginIdentity): string {
  const scope = identity.layoutScope;
  const direction = scope.direction === "inbound" ? "INBOUND" : "OUTBOUND";
  // One character per byte: configurations that are not UTF-8 keep distinct keys.
  const configuration = Buffer.from(identity.pluginConfig).toString("latin1");
  return `${scope.rootId}||${configuration}||${scope.pluginName}||${direction}`;
}

export class EnvoyProcess {
  readonly logs: LogRecord[] = [];
  readonly stats: StatStore;
  readonly clock: Clock;
  readonly workerCount: number;
  private readonly logLevel: LogLevel;
  readonly sharedData: SharedData;
  private readonly sharedQueues = new SharedQueues();
  /** Envoy clusters proxy_http_call may target: one cluster manager for the process. */
  private readonly clusters = new Map<string, URL>();
  private readonly services = new Map<string, WasmService>();
  private readonly instances = new Map<string, InstanceEntry>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly timers = new Map<RootContext, NodeJS.Timeout>();
  private readonly statsFlushIntervalMs: number | undefined;
  /** ManualClock: when the next stats flush is due; real clock: the flush timer. */
  private nextStatsFlushNs: bigint | undefined;
  private statsFlushTimer: NodeJS.Timeout | undefined;
  private connectionIds = 1;
  private closed = false;

  constructor(options: ProcessOptions = {}) {
    const workers = options.workers ?? DEFAULT_WORKERS;
    if (!Number.isInteger(workers) || workers < 1) {
      throw new RangeError(`workers: ${workers} is not a worker count; expected an integer >= 1`);
    }
    this.workerCount = workers;
    this.clock = options.clock ?? new RealClock();
    this.stats = options.stats ?? new StatStore({ extraStatTags: options.extraStatTags ?? [] });
    this.sharedData = options.sharedData ?? new SharedData();
    this.logLevel = options.logLevel ?? LogLevel.Info;
    const flushInterval = options.statsFlushIntervalMs;
    if (flushInterval !== undefined && (!Number.isInteger(flushInterval) || flushInterval < 1)) {
      throw new RangeError(
        `statsFlushIntervalMs: ${flushInterval} is not an interval; expected an integer >= 1 (ms)`,
      );
    }
    this.statsFlushIntervalMs = flushInterval;
    this.startStatsFlushes();
  }

  /** Envoy's stats flush runs every interval from the process start, on the process's clock. */
  private startStatsFlushes(): void {
    const interval = this.statsFlushIntervalMs;
    if (interval === undefined) return;
    this.stats.mergeHistogramsOnFlush();
    if (this.clock instanceof ManualClock) {
      this.nextStatsFlushNs = this.clock.monotonicNs() + msToNs(interval);
    } else {
      this.statsFlushTimer = setInterval(() => this.stats.flushHistograms(), interval);
      this.statsFlushTimer.unref();
    }
  }

  /** Some plugin still holds an instance. */
  get hasPlugins(): boolean {
    return this.instances.size > 0;
  }

  nextConnectionId(): number {
    return this.connectionIds++;
  }

  /**
   * The plugin's root contexts in every worker VM: an existing instance when the plugin key is
   * already loaded (nothing is called in the module), else a canary first, then a root per worker.
   * Throws ModuleRefusedError for a module Envoy does not load; a ConfigurationRejection when
   * proxy_on_vm_start or proxy_on_configure answers false.
   */
  async acquire(options: ListenerPluginOptions): Promise<PluginInstance> {
    if (this.closed) throw new Error("EnvoyProcess.acquire: the process is closed");
    for (const [name, url] of Object.entries(options.upstreamClusters ?? {})) {
      this.clusters.set(name, checkLoopbackUrl(name, url));
    }
    const identity = this.identityOf(options);
    const vmKey = vmKeyOf(options);
    const pluginKey = pluginKeyOf(identity);
    const entryKey = `${vmKey}||${pluginKey}`;
    const existing = this.instances.get(entryKey);
    if (existing !== undefined) {
      existing.references++;
      return existing.instance;
    }
    const service = await this.serviceFor(vmKey, options, identity);
    if (!service.canaryVerdicts.has(pluginKey)) {
      const verdict = this.canaryVerdict(service, pluginKey, identity);
      // Only a configure verdict is cached; a failed start is tried again next time.
      if (verdict === undefined || verdict.message.startsWith("Failed to configure")) {
        service.canaryVerdicts.set(pluginKey, verdict);
      }
      if (verdict !== undefined) throw verdict;
    }
    const cached = service.canaryVerdicts.get(pluginKey);
    if (cached !== undefined) throw cached;
    const workers: Array<{ vm: WasmVm; root: RootContext }> = [];
    for (const vm of service.workers) {
      const root = vm.startRoot(pluginKey, identity);
      const step = root === undefined ? "start" : vm.configureRoot(root) ? undefined : "configure";
      if (step !== undefined) {
        for (const started of [...workers.map((w) => w.vm), vm]) started.shutdownRoot(pluginKey);
        throw this.rejection(vm, step, "thread-local");
      }
      workers.push({ vm, root: root as RootContext });
    }
    service.instances++;
    const instance: PluginInstance = { key: pluginKey, identity, abi: service.compiled.abi, workers };
    this.instances.set(entryKey, { instance, service, vmKey, references: 1 });
    return instance;
  }

  /**
   * The plugin handle is dropped: once no listener holds the instance, its roots get on_done /
   * on_delete (WasmBase::startShutdown(plugin_key)); a VM no plugin uses any more is shut down.
   */
  release(instance: PluginInstance): void {
    for (const [entryKey, entry] of this.instances) {
      if (entry.instance !== instance) continue;
      if (--entry.references > 0) return;
      this.instances.delete(entryKey);
      for (const { vm } of instance.workers) vm.shutdownRoot(instance.key);
      if (--entry.service.instances === 0) {
        for (const vm of entry.service.workers) vm.shutdown();
        this.services.delete(entry.vmKey);
      }
      return;
    }
  }

  private identityOf(options: ListenerPluginOptions): PluginIdentity {
    const encoder = new TextEncoder();
    const rootId = options.rootId ?? "kwt";
    return {
      layoutScope: {
        layout: options.propertyLayout ?? propertyLayoutOf(options.envoy ?? DEFAULT_ENVOY_VERSION),
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
  }

  /** The base VM starts once per vm key (workers are cloned from it); then one VM per worker. */
  private async serviceFor(
    vmKey: string,
    options: ListenerPluginOptions,
    identity: PluginIdentity,
  ): Promise<WasmService> {
    const existing = this.services.get(vmKey);
    if (existing !== undefined) return existing;
    const compiled = await compileForEnvoy(options.wasm);
    const vmOptions = (index: number): VmOptions => ({
      ...compiled,
      index,
      identity,
      clock: this.clock,
      metrics: new VmMetrics(this.stats),
      sharedData: this.sharedData,
      sharedQueues: this.sharedQueues,
      vmId: identity.layoutScope.vmId,
      logLevel: this.logLevel,
      log: (record) => this.logs.push(record),
      env: Object.entries(options.env ?? {}),
      clusters: this.clusters,
      track: (work) => this.track(work),
      // The VM is shared by every plugin of its vm key: the first plugin's boundary (benchmarks) applies.
      callBoundary: options.callBoundary,
      randomBytes: options.randomBytes,
    });
    WasmVm.start(vmOptions(BASE_VM_INDEX));
    const service: WasmService = {
      compiled,
      workers: [],
      startCanary: () => WasmVm.start(vmOptions(CANARY_VM_INDEX)),
      canaryVerdicts: new Map(),
      instances: 0,
    };
    service.workers.push(
      ...Array.from({ length: this.workerCount }, (_, index) => {
        const vm = WasmVm.start(vmOptions(index));
        vm.onTickPeriodChange = (root) => this.scheduleTicks(vm, root);
        return vm;
      }),
    );
    this.services.set(vmKey, service);
    return service;
  }

  /** The canary is started, configured and dropped without on_done/on_delete. */
  private canaryVerdict(
    service: WasmService,
    pluginKey: string,
    identity: PluginIdentity,
  ): ConfigurationRejection | undefined {
    const canary = service.startCanary();
    try {
      const root = canary.startRoot(pluginKey, identity);
      if (root === undefined) return this.rejection(canary, "start", "base");
      if (!canary.configureRoot(root)) return this.rejection(canary, "configure", "base");
      return undefined;
    } finally {
      canary.kill();
    }
  }

  private rejection(
    vm: WasmVm,
    step: "start" | "configure",
    which: "base" | "thread-local",
  ): ConfigurationRejection {
    const reason = `Failed to ${step} ${which} Wasm${step === "configure" ? " plugin" : ""}`;
    // WasmBase::fail -> Envoy's Wasm::error logs exactly "Wasm VM failed <reason>"
    // (source/extensions/common/wasm/wasm.cc); the cause is ours, for the error only.
    vm.log(LogLevel.Error, `Wasm VM failed ${reason}`);
    const cause = vm.failure ?? `proxy_on_${step === "start" ? "vm_start" : "configure"} returned false`;
    return new ConfigurationRejection(`${reason}: ${cause}`, [...this.logs]);
  }

  /**
   * ManualClock only: moves time, firing each root's proxy_on_tick whenever its period comes due,
   * and the stats flushes that fall in it.
   */
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
      this.nextStatsFlushNs += msToNs(this.statsFlushIntervalMs ?? 0);
    }
    this.runTicksUntil(clock, target);
  }

  /**
   * Benchmarks: the proxy_on_tick of each root with a tick period now, as if its period came due
   * this instant, without moving the clock (a workload whose clock stands still keeps its
   * meaning); the next comes a period later.
   */
  fireTicksNow(): void {
    for (const { vm, root } of this.tickingRoots()) vm.tick(root);
  }

  /** Every root context that set a tick period, on a worker VM that has not failed. */
  private *tickingRoots(): Generator<{ vm: WasmVm; root: RootContext }> {
    for (const service of this.services.values()) {
      for (const vm of service.workers) {
        if (vm.failed) continue;
        for (const root of vm.rootContexts) if (root.tickPeriodMs !== 0) yield { vm, root };
      }
    }
  }

  private runTicksUntil(clock: ManualClock, target: bigint): void {
    for (;;) {
      let due: { vm: WasmVm; root: RootContext } | undefined;
      for (const candidate of this.tickingRoots()) {
        if (candidate.root.nextTickNs > target) continue;
        if (due === undefined || candidate.root.nextTickNs < due.root.nextTickNs) due = candidate;
      }
      if (due === undefined) break;
      const step = due.root.nextTickNs - clock.monotonicNs();
      if (step > 0n) clock.advance(Number(step) / 1_000_000);
      due.vm.tick(due.root);
    }
    const rest = target - clock.monotonicNs();
    if (rest > 0n) clock.advance(Number(rest) / 1_000_000);
  }

  private scheduleTicks(vm: WasmVm, root: RootContext): void {
    const existing = this.timers.get(root);
    if (existing !== undefined) clearTimeout(existing);
    this.timers.delete(root);
    if (this.clock instanceof ManualClock || root.tickPeriodMs === 0 || this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(root);
      vm.tick(root);
      if (!this.timers.has(root)) this.scheduleTicks(vm, root);
    }, root.tickPeriodMs);
    timer.unref();
    this.timers.set(root, timer);
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

  /** Every VM's roots get on_done / on_delete; timers and http calls stop. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    clearInterval(this.statsFlushTimer);
    for (const service of this.services.values()) for (const vm of service.workers) vm.shutdown();
    this.services.clear();
    this.instances.clear();
  }
}
