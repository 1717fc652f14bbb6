// One Wasm VM as proxy-wasm-cpp-host runs it on V8: link the host calls, start the module under
// the restricted call set, host the root context of every plugin that uses it (WasmBase keeps
// them by plugin key; their globals are the module's, shared), call into it with a current
// context, turn traps into a failed VM, run deferred actions after each callback, and own the
// VM's tick periods (one per root) and outgoing http calls.

import {
  ALLOCATOR_ALLOWED_CALLS,
  MAX_MEMORY_PAGES,
  START_ALLOWED_CALLS,
  checkExports,
  hostFunctionSignatures,
  type AbiVersion,
} from "./abi.js";
import {
  RootContext,
  VmContext,
  type ContextBase,
  type HttpCallResponse,
  type PluginIdentity,
} from "./context.js";
import { ModuleRefusedError } from "./errors.js";
import { HeaderMap, lowerCaseName } from "./headers.js";
import { sendHttpCall, type HttpCallHandle, type HttpCallOutcome } from "./http-call.js";
import { proxyHostFunctions, type HostFunction, type HostServices, type HttpCallRequest } from "./imports.js";
import { GuestMemory } from "./memory.js";
import { type SharedData, type SharedQueues } from "./shared-data.js";
import { type VmMetrics } from "./stats.js";
import {
  LogLevel,
  WasmResult,
  type CallBoundary,
  type Clock,
  type LinkedFunction,
  type LogRecord,
} from "./types.js";
import { wasiHostFunctions } from "./wasi.js";
import { type ModuleShape } from "./wasm-binary.js";

export interface VmOptions {
  module: WebAssembly.Module;
  shape: ModuleShape;
  abi: AbiVersion;
  /** LogRecord.vm: worker index, -1 canary, -2 base VM. */
  index: number;
  /** What the VM context (id 0) sees: the VM configuration of the plugin that created the VM. */
  identity: PluginIdentity;
  clock: Clock;
  metrics: VmMetrics;
  sharedData: SharedData;
  sharedQueues: SharedQueues;
  vmId: string;
  logLevel: LogLevel;
  log: (record: LogRecord) => void;
  env: Array<[string, string]>;
  clusters: ReadonlyMap<string, URL>;
  /** Keeps Plugin.idle() waiting until the work is done. */
  track: (work: Promise<unknown>) => void;
  callBoundary?: CallBoundary;
  randomBytes?: (into: Uint8Array) => void;
}

/** Thrown from a host function the module may not call now; V8 turns it into a trap. */
class RestrictedCallError extends Error {
  constructor(readonly call: string) {
    super("restricted_callback");
  }
}

/**
 * Thrown from a host function called by the module's start section: the runtime instantiates the
 * module before the host has a VM context or knows its memory, so no host call can be served.
 */
class StartSectionCallError extends Error {
  constructor(readonly call: string) {
    super(`the start section called ${call}`);
  }
}

/** Errors a call into the module can end with that mean the module itself failed. */
function isModuleFailure(error: unknown): error is Error {
  return (
    error instanceof WebAssembly.RuntimeError ||
    error instanceof RestrictedCallError ||
    // V8 reports a stack overflow inside Wasm as a RangeError.
    error instanceof RangeError
  );
}

function describeFailure(error: Error): string {
  if (error instanceof RestrictedCallError) {
    return (
      `restricted_callback: ${error.call} may not be called here (allowed while the VM starts: ` +
      `proxy_log, WASI fd_write, args/environ, prestat, clocks and random_get)`
    );
  }
  return `Uncaught ${error.name}: ${error.message}`;
}

type ModuleFunction = (...args: number[]) => number | bigint | undefined;

export class WasmVm implements HostServices {
  readonly memory: GuestMemory;
  readonly clock: Clock;
  readonly metrics: VmMetrics;
  readonly sharedData: SharedData;
  readonly sharedQueues: SharedQueues;
  readonly vmId: string;
  readonly logLevel: LogLevel;
  readonly vmContext: VmContext;
  /** Root contexts by plugin key (WasmBase::root_contexts_). */
  private readonly roots = new Map<string, RootContext>();
  failed = false;
  failure: string | undefined;
  /** Called when a root sets its tick period (proxy_set_tick_period_milliseconds). */
  onTickPeriodChange: (root: RootContext) => void = () => {};

  private readonly functions = new Map<string, ModuleFunction>();
  private readonly contexts = new Map<number, ContextBase>();
  private nextContextId = 1;
  private current: ContextBase | undefined;
  private effectiveContextId = 0;
  private restricted: ReadonlySet<string> | undefined;
  private stopIteration = false;
  private afterCallActions: Array<() => void> = [];
  private nextHttpCallId = 0;
  private readonly httpCalls = new Map<number, HttpCallHandle>();
  private closed = false;

  private constructor(private readonly options: VmOptions) {
    this.clock = options.clock;
    this.metrics = options.metrics;
    this.sharedData = options.sharedData;
    this.sharedQueues = options.sharedQueues;
    this.vmId = options.vmId;
    this.logLevel = options.logLevel;
    // Context 0 belongs to no plugin; what it reaches through a root (the configuration buffer,
    // an http call response) is never there, as no root is configuring or called back meanwhile.
    const detachedRoot = new RootContext(0, options.identity, "");
    this.vmContext = new VmContext(options.identity, () => detachedRoot);
    this.contexts.set(0, this.vmContext);

    const instance = this.instantiate();
    const boundary = options.callBoundary;
    for (const [name, value] of Object.entries(instance.exports)) {
      if (typeof value !== "function") continue;
      const fn = value as ModuleFunction;
      this.functions.set(
        name,
        boundary === undefined
          ? fn
          : (boundary.moduleExport(options.index, name, fn as LinkedFunction) as ModuleFunction),
      );
    }
    const allocatorName = checkExports(options.shape, options.abi);
    const memory = this.findMemory(instance);
    this.memory = new GuestMemory(memory, (size) => this.allocate(allocatorName, size));
    this.startVm();
  }

  /**
   * Instantiates and runs the start functions; a module that traps or makes a restricted call while
   * starting is refused, like Envoy's "Failed to initialize Wasm code".
   */
  static start(options: VmOptions): WasmVm {
    return new WasmVm(options);
  }

  private importedMemory: WebAssembly.Memory | undefined;
  private instantiating = false;

  private instantiate(): WebAssembly.Instance {
    const host = proxyHostFunctions(this);
    const wasi = wasiHostFunctions(this, {
      env: this.options.env,
      randomBytes: this.options.randomBytes,
    });
    const signatures = hostFunctionSignatures(this.options.abi);
    const imports: Record<string, Record<string, WebAssembly.ImportValue>> = {};
    for (const entry of this.options.shape.imports) {
      const key = `${entry.module}.${entry.name}`;
      const table = (imports[entry.module] ??= {});
      if (entry.kind === "memory" && entry.memory) {
        this.importedMemory = new WebAssembly.Memory({
          initial: entry.memory.min,
          maximum: Math.min(entry.memory.max ?? MAX_MEMORY_PAGES, MAX_MEMORY_PAGES),
        });
        table[entry.name] = this.importedMemory;
      } else if (entry.kind === "table" && entry.table) {
        table[entry.name] = new WebAssembly.Table({
          element: "anyfunc",
          initial: entry.table.min,
          ...(entry.table.max === undefined ? {} : { maximum: entry.table.max }),
        });
      } else if (entry.kind === "function" && signatures.has(key)) {
        const implementation = entry.module === "env" ? host[entry.name] : wasi[entry.name];
        const guarded = this.guard(key, implementation ?? unimplemented(key));
        const boundary = this.options.callBoundary;
        table[entry.name] =
          boundary === undefined
            ? guarded
            : (boundary.hostFunction(this.options.index, key, guarded, (ptr, len) =>
                this.memory.read(ptr, len),
              ) as HostFunction);
      }
    }
    this.instantiating = true;
    try {
      return new WebAssembly.Instance(this.options.module, imports);
    } catch (error) {
      // proxy-wasm-cpp-host's runtimes (src/v8/v8.cc, src/wamr/wamr.cc link) report any failed
      // instantiation, a trapping start section included, as "Failed to create new Wasm instance".
      const cause =
        error instanceof StartSectionCallError || (error instanceof Error && isModuleFailure(error))
          ? `: ${error.message}`
          : "";
      throw new ModuleRefusedError(`Failed to create new Wasm instance${cause}`);
    } finally {
      this.instantiating = false;
    }
  }

  private findMemory(instance: WebAssembly.Instance): WebAssembly.Memory {
    const exported = Object.values(instance.exports).find((v) => v instanceof WebAssembly.Memory);
    const memory = (exported as WebAssembly.Memory | undefined) ?? this.importedMemory;
    if (memory === undefined) {
      throw new ModuleRefusedError(
        "Failed to initialize Wasm code: the module neither exports nor imports a memory",
      );
    }
    return memory;
  }

  /** Host functions check the restricted set, count calls per stream, and run as the current context. */
  private guard(key: string, implementation: HostFunction): HostFunction {
    return (...args) => {
      if (this.instantiating) throw new StartSectionCallError(key);
      if (this.restricted !== undefined && !this.restricted.has(key)) throw new RestrictedCallError(key);
      this.current?.countHostCall();
      return implementation(...args);
    };
  }

  private startVm(): void {
    this.restricted = START_ALLOWED_CALLS;
    try {
      // WasmBase::startVm at the pin: a reactor's `_initialize`, then its `main(0, 0)` if exported;
      // else a command's `_start`. `__main_void` is not called there.
      if (this.functions.has("_initialize")) {
        this.invoke(this.vmContext, "_initialize", []);
        if (this.functions.has("main")) this.invoke(this.vmContext, "main", [0, 0]);
      } else if (this.functions.has("_start")) {
        this.invoke(this.vmContext, "_start", []);
      }
    } finally {
      this.restricted = undefined;
    }
    if (this.failed) throw new ModuleRefusedError(`Failed to initialize Wasm code: ${this.failure}`);
  }

  get abi(): AbiVersion {
    return this.options.abi;
  }

  exports(name: string): boolean {
    return this.functions.has(name);
  }

  allocateContextId(): number {
    return this.nextContextId++;
  }

  registerContext(context: ContextBase): void {
    this.contexts.set(context.id, context);
  }

  forgetContext(context: ContextBase): void {
    this.contexts.delete(context.id);
  }

  /**
   * One call into the module with `context` current (SaveRestoreContext). Returns the result as
   * u32, 0 for void functions, undefined when the function is not exported or the VM failed.
   */
  private invoke(context: ContextBase, name: string, args: number[]): number | undefined {
    const fn = this.functions.get(name);
    if (fn === undefined || this.failed) return undefined;
    const saved = { current: this.current, effective: this.effectiveContextId };
    this.current = context;
    this.effectiveContextId = 0;
    try {
      const result = fn(...args);
      return result === undefined ? 0 : Number(result) >>> 0;
    } catch (error) {
      if (!isModuleFailure(error)) throw error;
      this.fail(`Function: ${name} failed: ${describeFailure(error)}`);
      return undefined;
    } finally {
      this.current = saved.current;
      this.effectiveContextId = saved.effective;
    }
  }

  /**
   * A top-level callback (ContextBase::on*): `interpret` sees the raw result and whether a local
   * reply forced a stop; afterwards deferred actions run (DeferAfterCallActions).
   */
  callback<T>(
    context: ContextBase,
    name: string,
    args: number[],
    interpret: (result: number | undefined, stopped: boolean) => T,
  ): T {
    const result = this.invoke(context, name, args);
    const outcome = interpret(result, this.stopIteration);
    this.stopIteration = false;
    const actions = this.afterCallActions;
    this.afterCallActions = [];
    for (const action of actions) action();
    return outcome;
  }

  /** A callback whose result does not matter. */
  notify(context: ContextBase, name: string, args: number[]): void {
    this.callback(context, name, args, () => undefined);
  }

  fail(message: string): void {
    if (this.failed) return;
    this.failed = true;
    this.failure = message;
    // WasmVm::fail reports through the integration's error(), which Envoy logs at error level
    // (include/proxy-wasm/wasm_vm.h at the pin; source/extensions/common/wasm/wasm_vm.cc).
    this.log(LogLevel.Error, message);
    for (const call of this.httpCalls.values()) call.cancel();
  }

  private allocate(allocator: string, size: number): number {
    const previous = this.restricted;
    this.restricted = ALLOCATOR_ALLOWED_CALLS;
    try {
      return this.invoke(this.vmContext, allocator, [size]) ?? 0;
    } finally {
      this.restricted = previous;
    }
  }

  // HostServices

  context(): ContextBase {
    const current = this.current ?? this.vmContext;
    if (this.effectiveContextId === 0) return current;
    return this.contexts.get(this.effectiveContextId) ?? current;
  }

  log(level: LogLevel, message: string): void {
    // Like Envoy's logger, messages below the configured level are dropped, not kept.
    if (level < this.logLevel) return;
    this.options.log({ level, message, vm: this.options.index });
  }

  setEffectiveContext(id: number): WasmResult {
    if (!this.contexts.has(id)) return WasmResult.BadArgument;
    this.effectiveContextId = id;
    return WasmResult.Ok;
  }

  /** WasmBase::done: only a root that is waiting after on_done returned false. */
  done(): WasmResult {
    const root = this.context().rootContext;
    if (!root.pendingDone) return WasmResult.NotFound;
    root.pendingDone = false;
    this.afterCurrentCall(() => this.notify(root, "proxy_on_delete", [root.id]));
    return WasmResult.Ok;
  }

  /** Envoy keeps one timer per root context id (Wasm::setTimerPeriod). */
  setTickPeriod(rootContextId: number, periodMs: number): void {
    const root = this.contexts.get(rootContextId);
    if (!(root instanceof RootContext)) return;
    root.tickPeriodMs = periodMs;
    root.nextTickNs = this.clock.monotonicNs() + BigInt(periodMs) * 1_000_000n;
    this.onTickPeriodChange(root);
  }

  stopNextIteration(): void {
    this.stopIteration = true;
  }

  afterCurrentCall(action: () => void): void {
    this.afterCallActions.push(action);
  }

  registerQueue(name: string): number {
    const root = this.context().rootContext;
    return this.sharedQueues.register(this.vmId, name, (token) => {
      // Envoy posts on_queue_ready to the registering VM's dispatcher.
      this.options.track(
        new Promise<void>((resolve) =>
          setImmediate(() => {
            if (!this.closed && !this.failed) this.notify(root, "proxy_on_queue_ready", [root.id, token]);
            resolve();
          }),
        ),
      );
    });
  }

  httpCall(request: HttpCallRequest): { result: WasmResult; token: number } {
    if (request.timeoutMs < 0) return { result: WasmResult.BadArgument, token: 0 };
    const base = this.options.clusters.get(request.cluster);
    if (base === undefined) return { result: WasmResult.BadArgument, token: 0 };
    const headers = request.headers.map(([k, v]): [string, string] => [lowerCaseName(k), v]);
    const has = (name: string): boolean => headers.some(([k]) => k === name);
    if (!has(":path") || !has(":method") || !has(":authority"))
      return { result: WasmResult.BadArgument, token: 0 };
    this.nextHttpCallId += 4;
    const token = this.nextHttpCallId;
    const trailers = request.trailers.map(([k, v]): [string, string] => [lowerCaseName(k), v]);
    const call = sendHttpCall(base, headers, request.body, trailers, request.timeoutMs);
    this.httpCalls.set(token, call);
    const root = this.context().rootContext;
    this.options.track(
      call.outcome.then((outcome) => {
        const live = this.httpCalls.delete(token);
        // A root waiting after on_done returned false is still alive (cpp-host's pending_done_):
        // its calls' answers reach it, and it calls proxy_done from one of them.
        const rootAlive = this.roots.get(root.key) === root || root.pendingDone;
        if (live && !this.closed && rootAlive) {
          this.deliverHttpCallResponse(root, token, outcome);
        }
      }),
    );
    return { result: WasmResult.Ok, token };
  }

  private deliverHttpCallResponse(root: RootContext, token: number, outcome: HttpCallOutcome): void {
    if (this.failed) return;
    if (outcome.kind === "reset") {
      root.status = { code: WasmResult.BrokenConnection, message: "reset" };
      this.afterCurrentCall(() => (root.status = { code: root.status.code, message: "" }));
      this.notify(root, "proxy_on_http_call_response", [root.id, token, 0, 0, 0]);
      return;
    }
    const response: HttpCallResponse = {
      headers: new HeaderMap(outcome.headers),
      body: outcome.body,
      trailers: new HeaderMap(outcome.trailers),
    };
    root.httpCallResponse = response;
    this.afterCurrentCall(() => (root.httpCallResponse = undefined));
    this.notify(root, "proxy_on_http_call_response", [
      root.id,
      token,
      response.headers.count,
      response.body.length,
      response.trailers.count,
    ]);
  }

  /** Roots this VM hosts, in the order they were created. */
  get rootContexts(): RootContext[] {
    return [...this.roots.values()];
  }

  /**
   * WasmBase::start for a new plugin key: a new root context (the next context id), then
   * proxy_on_context_create + proxy_on_vm_start (ContextBase::onStart).
   */
  startRoot(pluginKey: string, identity: PluginIdentity): RootContext | undefined {
    const root = new RootContext(this.allocateContextId(), identity, pluginKey);
    this.roots.set(pluginKey, root);
    this.registerContext(root);
    root.configurationReadable = true;
    this.notify(root, "proxy_on_context_create", [root.id, 0]);
    root.configurationReadable = false;
    if (!this.exports("proxy_on_vm_start")) return root;
    const started = this.callback(
      root,
      "proxy_on_vm_start",
      [root.id, identity.vmConfig.length],
      (r) => r !== undefined && r !== 0,
    );
    return started ? root : undefined;
  }

  /** ContextBase::onConfigure: a failed VM counts as configured; the configuration is readable only now. */
  configureRoot(root: RootContext): boolean {
    if (this.failed) return true;
    if (!this.exports("proxy_on_configure")) return true;
    root.configurationReadable = true;
    try {
      return this.callback(
        root,
        "proxy_on_configure",
        [root.id, root.pluginConfigSize],
        (r) => r !== undefined && r !== 0,
      );
    } finally {
      root.configurationReadable = false;
    }
  }

  tick(root: RootContext): void {
    if (this.failed || this.closed || root.tickPeriodMs === 0 || this.roots.get(root.key) !== root) return;
    this.notify(root, "proxy_on_tick", [root.id]);
    if (root.tickPeriodMs > 0)
      root.nextTickNs = this.clock.monotonicNs() + BigInt(root.tickPeriodMs) * 1_000_000n;
  }

  /** Drops the VM without telling the module (the configuration canary): pending calls are cancelled. */
  kill(): void {
    this.closed = true;
    for (const call of this.httpCalls.values()) call.cancel();
    this.httpCalls.clear();
  }

  /**
   * WasmBase::startShutdown(plugin_key): on_done for that root, then on_delete unless it asked to
   * wait (proxy_done later). Its timer stops; the VM and its other roots go on.
   */
  shutdownRoot(pluginKey: string): void {
    const root = this.roots.get(pluginKey);
    if (root === undefined) return;
    this.roots.delete(pluginKey);
    root.tickPeriodMs = 0;
    this.onTickPeriodChange(root);
    if (this.failed || this.closed) return;
    const done = this.exports("proxy_on_done")
      ? this.callback(root, "proxy_on_done", [root.id], (r) => r === undefined || r !== 0)
      : true;
    if (done) this.notify(root, "proxy_on_delete", [root.id]);
    else root.pendingDone = true;
  }

  /** WasmBase::startShutdown() for the whole VM: every root, then the VM's calls are cancelled. */
  shutdown(): void {
    if (this.closed) return;
    for (const key of [...this.roots.keys()]) this.shutdownRoot(key);
    this.kill();
  }
}

function unimplemented(key: string): HostFunction {
  return () => {
    throw new Error(`harness bug: no implementation for ${key}`);
  };
}
