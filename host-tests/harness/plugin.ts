// The in-process API: a Wasm HTTP filter on a listener, configured the way Istio delivers it (an
// ECDS resource) and loaded the way Envoy loads it (checks, base VM, a configuration canary, a root
// context in each worker's VM); drive streams through it, move time, read what it did. Several
// plugins of one Envoy process share its VMs (EnvoyProcess). The listener's own parts (its access
// log, how its streams end on the Envoy version modelled) stay here.

import { type AbiVersion } from "./abi.js";
import { AccessLogFormat, connectionManagerLogsFirst, type StreamAccessLog } from "./access-log.js";
import { EnvoyProcess, type ListenerPluginOptions, type PluginInstance } from "./envoy-process.js";
import { ConfigurationRejection } from "./errors.js";
import { type SharedData } from "./shared-data.js";
import { type StatStore } from "./stats.js";
import { Stream } from "./stream.js";
import {
  DEFAULT_ENVOY_VERSION,
  envoyMinorVersion,
  envoyStreamEnd,
  type StreamEndKind,
} from "./stream-ends.js";
import {
  type Clock,
  type LogRecord,
  type PluginOptions,
  type StreamEnd,
  type StreamOptions,
} from "./types.js";

export { ConfigurationRejection, ModuleRefusedError } from "./errors.js";
export { BASE_VM_INDEX, CANARY_VM_INDEX, DEFAULT_WORKERS, EnvoyProcess } from "./envoy-process.js";
export { Stream } from "./stream.js";

/** What an ECDS update can change: the filter's resource, not the listener's Envoy or access log. */
export type PluginUpdate = Partial<Omit<ListenerPluginOptions, "envoy" | "accessLog">>;

interface Served {
  instance: PluginInstance;
  /** Streams still running on it: Envoy releases a replaced configuration once they end. */
  streams: number;
  replaced: boolean;
}

export class Plugin {
  /** Why the last configuration update was rejected; undefined once one is accepted. */
  rejection: ConfigurationRejection | undefined;
  private served: Served | undefined;
  /** The Envoy minor version the listener behaves as (PluginOptions.envoy, 33 for 1.33). */
  readonly envoyMinor: number;
  private readonly accessLog: StreamAccessLog | undefined;
  private nextWorker = 0;
  private closed = false;

  private constructor(
    private options: ListenerPluginOptions,
    readonly process: EnvoyProcess,
    /** Plugin.load made the process for this plugin; it closes once no plugin uses it. */
    private readonly ownsProcess: boolean,
  ) {
    this.envoyMinor = envoyMinorVersion(options.envoy ?? DEFAULT_ENVOY_VERSION);
    this.accessLog = options.accessLog && {
      format: AccessLogFormat.parse(options.accessLog.format),
      write: options.accessLog.write,
      beforeFilters: connectionManagerLogsFirst(this.envoyMinor),
    };
  }

  /**
   * A plugin in a process of its own (`workers`, `clock`, `extraStatTags`, `logLevel`,
   * `statsFlushIntervalMs`, `stats` and `sharedData` are the process's). Refused modules throw ModuleRefusedError. A configuration the module
   * rejects (on_vm_start or on_configure returning false, in the canary or a worker) does not
   * throw: the plugin has no configuration (`rejection` says why) and answers every request as
   * Envoy's missing-config filter does, until `update` brings one the module accepts.
   */
  static async load(options: PluginOptions, stats?: StatStore, sharedData?: SharedData): Promise<Plugin> {
    const process = new EnvoyProcess({
      workers: options.workers,
      clock: options.clock,
      stats,
      sharedData,
      extraStatTags: options.extraStatTags,
      logLevel: options.logLevel,
      statsFlushIntervalMs: options.statsFlushIntervalMs,
    });
    try {
      return await Plugin.loadInto(process, options, true);
    } catch (error) {
      process.close();
      throw error;
    }
  }

  /**
   * A plugin on another listener of the same process (the outbound plugin beside the inbound one,
   * say): it shares the process's VMs when its VM is the same, with a root context of its own
   * unless its plugin key (root id, configuration, name, direction) is one already loaded, whose
   * roots it then shares.
   */
  static async loadInto(
    process: EnvoyProcess,
    options: ListenerPluginOptions,
    ownsProcess = false,
  ): Promise<Plugin> {
    const plugin = new Plugin(options, process, ownsProcess);
    await plugin.update();
    return plugin;
  }

  /**
   * An ECDS update of this listener's filter (`changes` over the current options, e.g. a new
   * `pluginConfig`). Accepted: new streams run on the new roots; the old ones get on_done /
   * on_delete once their last stream ended, unless the key is the same (then nothing changes).
   * Rejected: returns the rejection; the listener keeps the configuration it had, if any.
   */
  async update(changes: PluginUpdate = {}): Promise<ConfigurationRejection | undefined> {
    if (this.closed) throw new Error("Plugin.update: the plugin is closed");
    const options = { ...this.options, ...changes };
    let instance: PluginInstance;
    try {
      instance = await this.process.acquire(options);
    } catch (error) {
      if (!(error instanceof ConfigurationRejection)) throw error;
      this.rejection = error;
      return error;
    }
    this.options = options;
    this.rejection = undefined;
    const previous = this.served;
    this.served = { instance, streams: 0, replaced: false };
    if (previous !== undefined) this.retire(previous);
    return undefined;
  }

  private retire(served: Served): void {
    served.replaced = true;
    if (served.streams === 0) this.process.release(served.instance);
  }

  /** The listener has an accepted configuration (else requests get the missing-config 500). */
  get configured(): boolean {
    return this.served !== undefined;
  }

  get logs(): LogRecord[] {
    return this.process.logs;
  }

  get stats(): StatStore {
    return this.process.stats;
  }

  get sharedData(): SharedData {
    return this.process.sharedData;
  }

  get clock(): Clock {
    return this.process.clock;
  }

  /** The module's ABI version; undefined while no configuration was accepted. */
  get abi(): AbiVersion | undefined {
    return this.served?.instance.abi;
  }

  /** The root context id of this plugin in each worker VM. */
  get rootContextIds(): number[] {
    return this.workers.map(({ root }) => root.id);
  }

  private get workers(): PluginInstance["workers"] {
    return this.served?.instance.workers ?? [];
  }

  /** How Envoy ends a stream this way on the listener's Envoy version, for Stream.end(). */
  streamEnd(kind: StreamEndKind): StreamEnd {
    return envoyStreamEnd(kind, this.envoyMinor);
  }

  /** A VM trapped (its streams now follow failOpen). */
  get failed(): boolean {
    return this.workers.some(({ vm }) => vm.failed);
  }

  get workerCount(): number {
    return this.process.workerCount;
  }

  /** Each worker VM's linear memory size in bytes (what memory growth benchmarks watch). */
  linearMemoryBytes(): number[] {
    return this.workers.map(({ vm }) => vm.memory.size);
  }

  /** Envoy spreads connections over worker threads; here streams go round-robin. */
  createStream(options: StreamOptions = {}): Stream {
    if (this.closed) throw new Error("Plugin.createStream: the plugin is closed");
    const failOpen = this.options.failOpen ?? true;
    const clock = this.process.clock;
    const connectionId = this.process.nextConnectionId();
    const served = this.served;
    const beforeFilterChain = options.beforeFilterChain === true;
    if (served === undefined || beforeFilterChain) {
      // Refused by the codec before the filter chain existed, neither the module nor the
      // missing-config filter sees the stream; only the access log does.
      return new Stream({
        missingConfig: !beforeFilterChain,
        vm: undefined,
        root: undefined,
        identity: undefined,
        failOpen,
        clock,
        connectionId,
        options,
        accessLog: this.accessLog,
      });
    }
    const workers = served.instance.workers;
    const { vm, root } = workers[this.nextWorker++ % workers.length] as (typeof workers)[number];
    // With a failed VM, fail-open leaves the filter out of the chain entirely (createFilter returns null).
    const inChain = !(vm.failed && failOpen);
    served.streams++;
    // Object literals, not spreads: V8 copies a spread slowly, and this runs for every request.
    return new Stream({
      vm: inChain ? vm : undefined,
      root: inChain ? root : undefined,
      identity: served.instance.identity,
      failOpen,
      clock,
      connectionId,
      options,
      accessLog: this.accessLog,
      onEnd: () => {
        served.streams--;
        if (served.replaced && served.streams === 0) this.process.release(served.instance);
      },
    });
  }

  /** ManualClock only: moves the process's time, firing each root's proxy_on_tick and the stats flushes when due. */
  advance(ms: number): void {
    this.process.advance(ms);
  }

  /** Benchmarks: fires every root's proxy_on_tick now, the clock unmoved (EnvoyProcess.fireTicksNow). */
  fireTicksNow(): void {
    this.process.fireTicksNow();
  }

  /** Resolves once no http call or queue notification is in flight and their callbacks ran. */
  async idle(): Promise<void> {
    await this.process.idle();
  }

  /** Drops this plugin: its roots get on_done / on_delete unless another listener still uses them. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.served !== undefined) this.process.release(this.served.instance);
    this.served = undefined;
    if (this.ownsProcess && !this.process.hasPlugins) this.process.close();
  }
}
