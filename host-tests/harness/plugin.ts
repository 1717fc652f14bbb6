// The in-process API: load a module the way Envoy loads a Wasm HTTP filter on a listener (checks,
// base VM, a configuration canary, a root context in each worker's VM), drive streams through it,
// move time, read what it did. Several plugins of one Envoy process share its VMs (EnvoyProcess).

import { type AbiVersion } from "./abi.js";
import { EnvoyProcess, type ListenerPluginOptions, type PluginInstance } from "./envoy-process.js";
import { Stream } from "./stream.js";
import { type Clock, type LogRecord, type PluginOptions, type StreamOptions } from "./types.js";
import { type StatStore } from "./stats.js";

export { ConfigurationRejectedError, ModuleRefusedError } from "./errors.js";
export { BASE_VM_INDEX, CANARY_VM_INDEX, DEFAULT_WORKERS, EnvoyProcess } from "./envoy-process.js";
export { Stream } from "./stream.js";

export class Plugin {
  private nextWorker = 0;
  private closed = false;

  private constructor(
    private readonly options: ListenerPluginOptions,
    readonly process: EnvoyProcess,
    private readonly instance: PluginInstance,
    /** Plugin.load made the process for this plugin; it closes once no plugin uses it. */
    private readonly ownsProcess: boolean,
  ) {}

  /**
   * A plugin in a process of its own (`workers`, `clock`, `extraStatTags`, `logLevel` and `stats`
   * are the process's). Refused modules throw ModuleRefusedError; a configuration the module
   * rejects (on_vm_start or on_configure returning false, in the canary or a worker) throws
   * ConfigurationRejectedError.
   */
  static async load(options: PluginOptions, stats?: StatStore): Promise<Plugin> {
    const process = new EnvoyProcess({
      workers: options.workers,
      clock: options.clock,
      stats,
      extraStatTags: options.extraStatTags,
      logLevel: options.logLevel,
    });
    try {
      return new Plugin(options, process, await process.acquire(options), true);
    } catch (error) {
      process.close();
      throw error;
    }
  }

  /**
   * A plugin on another listener of the same process (the outbound plugin beside the inbound one,
   * or an updated configuration): it shares the process's VMs when its VM is the same, with a
   * root context of its own unless its plugin key (root id, configuration, name, direction) is one
   * already loaded, whose roots it then shares.
   */
  static async loadInto(process: EnvoyProcess, options: ListenerPluginOptions): Promise<Plugin> {
    return new Plugin(options, process, await process.acquire(options), false);
  }

  get logs(): LogRecord[] {
    return this.process.logs;
  }

  get stats(): StatStore {
    return this.process.stats;
  }

  get clock(): Clock {
    return this.process.clock;
  }

  get abi(): AbiVersion {
    return this.instance.abi;
  }

  /** The root context id of this plugin in each worker VM. */
  get rootContextIds(): number[] {
    return this.instance.workers.map(({ root }) => root.id);
  }

  /** A VM trapped (its streams now follow failOpen). */
  get failed(): boolean {
    return this.instance.workers.some(({ vm }) => vm.failed);
  }

  get workerCount(): number {
    return this.instance.workers.length;
  }

  /** Each worker VM's linear memory size in bytes (what memory growth benchmarks watch). */
  linearMemoryBytes(): number[] {
    return this.instance.workers.map(({ vm }) => vm.memory.size);
  }

  /** Envoy spreads connections over worker threads; here streams go round-robin. */
  createStream(options: StreamOptions = {}): Stream {
    if (this.closed) throw new Error("Plugin.createStream: the plugin is closed");
    const workers = this.instance.workers;
    const { vm, root } = workers[this.nextWorker++ % workers.length] as (typeof workers)[number];
    const failOpen = this.options.failOpen ?? true;
    // With a failed VM, fail-open leaves the filter out of the chain entirely (createFilter returns null).
    const inChain = !(vm.failed && failOpen);
    return new Stream({
      vm: inChain ? vm : undefined,
      root: inChain ? root : undefined,
      failOpen,
      identity: this.instance.identity,
      clock: this.process.clock,
      connectionId: this.process.nextConnectionId(),
      options,
    });
  }

  /** ManualClock only: moves the process's time, firing each root's proxy_on_tick when due. */
  advance(ms: number): void {
    this.process.advance(ms);
  }

  /** Resolves once no http call or queue notification is in flight and their callbacks ran. */
  async idle(): Promise<void> {
    await this.process.idle();
  }

  /** Drops this plugin: its roots get on_done / on_delete unless another listener still uses them. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.process.release(this.instance);
    if (this.ownsProcess && !this.process.hasPlugins) this.process.close();
  }
}
