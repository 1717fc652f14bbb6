// Contexts as Envoy's Wasm Context sees them: what maps, buffers and properties a host call reaches
// from the VM context (id 0), a root context, or an HTTP stream context, and when.

import { HeaderMap } from "./headers.js";
import { type PropertyScope, type StreamFacts } from "./properties.js";
import { WasmResult, type LocalReply } from "./types.js";

/** WasmHeaderMapType (proxy_wasm_common.h). */
export enum HeaderMapType {
  RequestHeaders = 0,
  RequestTrailers = 1,
  ResponseHeaders = 2,
  ResponseTrailers = 3,
  GrpcReceiveInitialMetadata = 4,
  GrpcReceiveTrailingMetadata = 5,
  HttpCallResponseHeaders = 6,
  HttpCallResponseTrailers = 7,
}
export const HEADER_MAP_TYPE_MAX = 7;

/** WasmBufferType (proxy_wasm_common.h). */
export enum BufferType {
  HttpRequestBody = 0,
  HttpResponseBody = 1,
  NetworkDownstreamData = 2,
  NetworkUpstreamData = 3,
  HttpCallResponseBody = 4,
  GrpcReceiveBuffer = 5,
  VmConfiguration = 6,
  PluginConfiguration = 7,
  CallData = 8,
}
export const BUFFER_TYPE_MAX = 8;

/** WasmStreamType. */
export enum StreamType {
  Request = 0,
  Response = 1,
  Downstream = 2,
  Upstream = 3,
}

/** A buffer as get_buffer_* / set_buffer_bytes see it. */
export interface HostBuffer {
  bytes(): Uint8Array;
  /** Envoy's Buffer::copyFrom; immutable buffers answer BadArgument. */
  replace(start: number, length: number, data: Uint8Array): WasmResult;
}

export function constantBuffer(data: Uint8Array): HostBuffer {
  return { bytes: () => data, replace: () => WasmResult.BadArgument };
}

const EMPTY = new Uint8Array(0);
/** What Envoy's Buffer wrapper holds when no body is attached: size 0, not writable. */
export const EMPTY_BUFFER = constantBuffer(EMPTY);

/** A body chunk Envoy lets the module edit in place (Buffer::copyFrom on a Buffer::Instance). */
export class BodyBuffer implements HostBuffer {
  constructor(public data: Uint8Array) {}

  bytes(): Uint8Array {
    return this.data;
  }

  replace(start: number, length: number, data: Uint8Array): WasmResult {
    if (start === 0) {
      // Drain `length` bytes from the front, then prepend.
      this.data = concat(data, this.data.subarray(Math.min(length, this.data.length)));
      return WasmResult.Ok;
    }
    if (start >= this.data.length) {
      this.data = concat(this.data, data);
      return WasmResult.Ok;
    }
    return WasmResult.BadArgument;
  }
}

export function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The parts of Envoy's http call response readable during proxy_on_http_call_response. */
export interface HttpCallResponse {
  headers: HeaderMap;
  body: Uint8Array;
  trailers: HeaderMap;
}

export interface PluginIdentity {
  layoutScope: Omit<PropertyScope, "stream">;
  pluginConfig: Uint8Array;
  vmConfig: Uint8Array;
}

export abstract class ContextBase {
  constructor(
    readonly id: number,
    protected readonly identity: PluginIdentity,
  ) {}

  abstract get rootContext(): RootContext;

  /** Read access (getConstMap). */
  headerMap(type: HeaderMapType): HeaderMap | undefined {
    const root = this.rootContext;
    if (type === HeaderMapType.HttpCallResponseHeaders) return root.httpCallResponse?.headers;
    if (type === HeaderMapType.HttpCallResponseTrailers) return root.httpCallResponse?.trailers;
    return undefined;
  }

  /** Write access (getMap): only the four HTTP maps of a stream, while Envoy holds them. */
  mutableHeaderMap(_type: HeaderMapType): HeaderMap | undefined {
    return undefined;
  }

  /** Envoy answers NotFound instead of BadArgument for absent maps in the access-log phase. */
  get inAccessLogPhase(): boolean {
    return false;
  }

  /** Context::getBuffer; undefined means NotFound. */
  buffer(type: BufferType): HostBuffer | undefined {
    switch (type) {
      case BufferType.VmConfiguration:
        return constantBuffer(this.identity.vmConfig);
      case BufferType.PluginConfiguration:
        return this.rootContext.configurationReadable
          ? constantBuffer(this.identity.pluginConfig)
          : undefined;
      case BufferType.HttpCallResponseBody: {
        const response = this.rootContext.httpCallResponse;
        return response === undefined ? undefined : constantBuffer(response.body);
      }
      default:
        return EMPTY_BUFFER;
    }
  }

  /** proxy_get_configuration (ABI 0.1.0): the plugin configuration during configure, else the VM's. */
  configuration(): Uint8Array {
    return this.rootContext.configurationReadable ? this.identity.pluginConfig : this.identity.vmConfig;
  }

  private scope: PropertyScope | undefined;

  /** What property reads see; built once, as nothing in it changes during the context's life. */
  propertyScope(): PropertyScope {
    return (this.scope ??= this.buildPropertyScope());
  }

  protected buildPropertyScope(): PropertyScope {
    return { ...this.identity.layoutScope };
  }

  /** Root and VM contexts have no decoder callbacks: the reply is accepted and goes nowhere. */
  sendLocalResponse(_reply: LocalReply): void {}

  continueStream(_type: StreamType): WasmResult {
    return WasmResult.Ok;
  }

  closeStream(_type: StreamType): WasmResult {
    return WasmResult.Ok;
  }

  /** Counted per stream for cost tests. */
  countHostCall(): void {}
}

/** Context 0: the VM itself (start functions, the allocator). */
export class VmContext extends ContextBase {
  constructor(
    identity: PluginIdentity,
    private readonly rootProvider: () => RootContext,
  ) {
    super(0, identity);
  }

  get rootContext(): RootContext {
    return this.rootProvider();
  }
}

export class RootContext extends ContextBase {
  constructor(
    id: number,
    identity: PluginIdentity,
    /** The plugin key it serves in its VM (root_id || configuration || name || direction). */
    readonly key: string,
  ) {
    super(id, identity);
  }

  get pluginConfigSize(): number {
    return this.identity.pluginConfig.length;
  }

  /** Set by proxy_set_tick_period_milliseconds; 0 = no ticks. Envoy keeps a timer per root. */
  tickPeriodMs = 0;
  /** Monotonic time the next tick is due (ns). */
  nextTickNs = 0n;
  /** on_done returned false: the root waits for proxy_done. */
  pendingDone = false;
  /** Set while Envoy holds the plugin (temp_plugin_): on_context_create of the root and on_configure. */
  configurationReadable = false;
  /** Set during proxy_on_http_call_response. */
  httpCallResponse: HttpCallResponse | undefined;
  /** proxy_get_status: BrokenConnection / "reset" while a failed http call's callback runs. */
  status = { code: 0, message: "" };

  get rootContext(): RootContext {
    return this;
  }
}

/** Which maps Envoy currently holds for a stream. */
interface HeldMaps {
  requestHeaders: boolean;
  requestTrailers: boolean;
  responseHeaders: boolean;
  responseTrailers: boolean;
}

export class StreamContext extends ContextBase {
  readonly requestHeaders = new HeaderMap();
  requestTrailers: HeaderMap | undefined;
  readonly responseHeaders = new HeaderMap();
  responseTrailers: HeaderMap | undefined;
  requestBody: BodyBuffer | undefined;
  responseBody: BodyBuffer | undefined;
  /** Set during on_request_body with end_of_stream: Envoy lets the module add trailers then. */
  requestEndOfStream = false;
  readonly held: HeldMaps = {
    requestHeaders: false,
    requestTrailers: false,
    responseHeaders: false,
    responseTrailers: false,
  };
  accessLogPhase = false;
  hasResponseHeaders = false;
  localReply: LocalReply | undefined;
  hostCalls = 0;
  readonly continued = { request: false, response: false };
  /** Set by proxy_close_stream: Envoy resets the stream once the callback returns. */
  readonly closed = { request: false, response: false };

  constructor(
    id: number,
    identity: PluginIdentity,
    private readonly root: RootContext,
    readonly facts: StreamFacts,
  ) {
    super(id, identity);
  }

  get rootContext(): RootContext {
    return this.root;
  }

  override get inAccessLogPhase(): boolean {
    return this.accessLogPhase;
  }

  override headerMap(type: HeaderMapType): HeaderMap | undefined {
    if (this.accessLogPhase) {
      switch (type) {
        case HeaderMapType.RequestHeaders:
          return this.requestHeaders;
        case HeaderMapType.RequestTrailers:
          return undefined;
        case HeaderMapType.ResponseHeaders:
          return this.hasResponseHeaders ? this.responseHeaders : undefined;
        case HeaderMapType.ResponseTrailers:
          return this.responseTrailers;
      }
    }
    return this.mutableHeaderMap(type) ?? super.headerMap(type);
  }

  override mutableHeaderMap(type: HeaderMapType): HeaderMap | undefined {
    switch (type) {
      case HeaderMapType.RequestHeaders:
        return this.held.requestHeaders ? this.requestHeaders : undefined;
      case HeaderMapType.RequestTrailers:
        if (this.requestTrailers === undefined && this.requestBody !== undefined && this.requestEndOfStream) {
          this.requestTrailers = new HeaderMap();
          this.held.requestTrailers = true;
        }
        return this.held.requestTrailers ? this.requestTrailers : undefined;
      case HeaderMapType.ResponseHeaders:
        return this.held.responseHeaders ? this.responseHeaders : undefined;
      case HeaderMapType.ResponseTrailers:
        return this.held.responseTrailers ? this.responseTrailers : undefined;
      default:
        return undefined;
    }
  }

  override buffer(type: BufferType): HostBuffer | undefined {
    if (type === BufferType.HttpRequestBody) return this.requestBody ?? EMPTY_BUFFER;
    if (type === BufferType.HttpResponseBody) return this.responseBody ?? EMPTY_BUFFER;
    return super.buffer(type);
  }

  protected override buildPropertyScope(): PropertyScope {
    // Not `{ ...layoutScope, stream }`: V8 copies a spread followed by more keys slowly (~0.6 µs a stream).
    return Object.assign({ stream: this.facts }, this.identity.layoutScope);
  }

  override sendLocalResponse(reply: LocalReply): void {
    this.localReply = reply;
  }

  override continueStream(type: StreamType): WasmResult {
    switch (type) {
      case StreamType.Request:
        this.continued.request = true;
        break;
      case StreamType.Response:
        this.continued.response = true;
        break;
      case StreamType.Downstream:
        return WasmResult.Ok;
      case StreamType.Upstream:
        return WasmResult.Unimplemented;
    }
    // Context::continueStream drops the request-side references whichever side continues.
    this.held.requestHeaders = false;
    this.held.requestTrailers = false;
    this.requestBody = undefined;
    return WasmResult.Ok;
  }

  override closeStream(type: StreamType): WasmResult {
    if (type === StreamType.Request || type === StreamType.Response) {
      this.closed[type === StreamType.Request ? "request" : "response"] = true;
      this.facts.responseCodeDetails ??= "wasm_close_stream";
    }
    return WasmResult.Ok;
  }

  override countHostCall(): void {
    this.hostCalls++;
  }
}
