// One HTTP stream through the Wasm filter, as Envoy's HTTP filter (Context::decodeHeaders & co.)
// drives it: the context is created on the first callback, maps are held only while their
// callback runs (or stops), statuses are converted as proxy-wasm-cpp-host converts them, a failed
// VM passes traffic (fail open) or answers 503 wasm_fail_stream (fail closed), and the end runs
// on_log (maps readable again), on_done and on_delete.

import { AbiVersion } from "./abi.js";
import { type StreamAccessLog } from "./access-log.js";
import { BodyBuffer, StreamContext, concat, type PluginIdentity, type RootContext } from "./context.js";
import { HeaderMap, lowerCaseName } from "./headers.js";
import { propertyFromJs, type PropertyValue, type StreamFacts } from "./properties.js";
import { ResponseFlag } from "./response-flags.js";
import {
  type Clock,
  type HeaderList,
  type HeadersOutcome,
  type LocalReply,
  type StreamEnd,
  type StreamOptions,
} from "./types.js";
import { type WasmVm } from "./vm.js";

/** proxy-wasm FilterHeadersStatus / FilterDataStatus / FilterTrailersStatus values. */
export const HeadersStatus = { Continue: 0, StopIteration: 1, StopAllIterationAndWatermark: 4 } as const;
export const DataStatus = { Continue: 0, StopIterationAndBuffer: 1, StopIterationNoBuffer: 3 } as const;
export const TrailersStatus = { Continue: 0, StopIteration: 1 } as const;

/** Grpc::Status::WellKnownGrpcStatus::Unavailable. */
const GRPC_UNAVAILABLE = 14;

export const FAIL_STREAM_REPLY: Readonly<LocalReply> = Object.freeze({
  status: 503,
  details: "wasm_fail_stream",
  body: new Uint8Array(0),
  headers: [],
  grpcStatus: GRPC_UNAVAILABLE,
});

export interface BodyOutcome {
  status: number;
  /** The body as it leaves the filter (for a buffering stop: what is buffered so far). */
  body: Uint8Array;
  localReply?: LocalReply;
  /** Trailers the module added while handling the last request body chunk. */
  trailers?: HeaderList;
}

export interface TrailersOutcome {
  status: number;
  trailers: HeaderList;
  localReply?: LocalReply;
}

function convertHeadersStatus(result: number, stopped: boolean): number {
  // StopIteration is turned into StopAllIterationAndWatermark unless allow_on_headers_stop_iteration.
  if (
    stopped ||
    result > HeadersStatus.StopAllIterationAndWatermark ||
    result === HeadersStatus.StopIteration
  ) {
    return HeadersStatus.StopAllIterationAndWatermark;
  }
  return result;
}

function convertDataStatus(result: number, stopped: boolean): number {
  return stopped || result > DataStatus.StopIterationNoBuffer ? DataStatus.StopIterationNoBuffer : result;
}

function convertTrailersStatus(result: number, stopped: boolean): number {
  return stopped || result > TrailersStatus.StopIteration ? TrailersStatus.StopIteration : result;
}

/** connection.mtls and the peer certificates' URI SANs; a peer identity comes with a client certificate. */
function peerIdentityFacts(
  options: StreamOptions,
): Pick<StreamFacts, "mtls" | "peerUriSan" | "upstreamUriSan"> {
  if (options.peerIdentity !== undefined && options.mtls === false) {
    throw new RangeError(
      "StreamOptions: peerIdentity needs a client certificate, so mtls cannot be false; drop one of them",
    );
  }
  return {
    mtls: options.mtls ?? options.peerIdentity !== undefined,
    peerUriSan: options.peerIdentity,
    upstreamUriSan: options.upstreamIdentity,
  };
}

/** `address` ("ip:port" or "[ip6]:port") with its port replaced. */
export function withPort(address: string, port: number | undefined): string {
  if (port === undefined) return address;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(
      `StreamOptions.destinationPort: ${port} is not a port; expected an integer 0 to 65535`,
    );
  }
  const colon = address.lastIndexOf(":");
  return `${colon > 0 && !address.endsWith("]") ? address.slice(0, colon) : address}:${port}`;
}

/**
 * What Envoy's MissingConfigFilter (source/common/http/filter_chain_helper.h) does in the Wasm
 * filter's place while the ECDS resource has no accepted configuration: response flag
 * NoFilterConfigFound and a local 500 with an empty body and empty details.
 */
export const MISSING_CONFIG_REPLY: Readonly<LocalReply> = Object.freeze({
  status: 500,
  details: "",
  body: new Uint8Array(0),
  headers: [],
  grpcStatus: -1,
  responseFlags: ResponseFlag.NoFilterConfigFound,
});

export interface StreamSetup {
  /** The listener has no accepted configuration: the missing-config filter replies, the module never runs. */
  missingConfig?: boolean;
  /** Called once when the stream ends (Envoy drops its filter and with it the plugin handle). */
  onEnd?: () => void;
  /** Undefined when the VM had failed before the stream began and the plugin fails open: no filter. */
  vm: WasmVm | undefined;
  /** The plugin's root context in that VM. */
  root: RootContext | undefined;
  failOpen: boolean;
  /** The plugin's identity (undefined with no filter in the chain). */
  identity: PluginIdentity | undefined;
  clock: Clock;
  connectionId: number;
  options: StreamOptions;
  accessLog?: StreamAccessLog;
}

export class Stream {
  private readonly vm: WasmVm | undefined;
  private readonly context: StreamContext | undefined;
  private readonly facts: StreamFacts;
  private readonly failOpen: boolean;
  private readonly clock: Clock;
  private readonly startMonotonicNs: bigint;
  private requestTxDurationNs: bigint | undefined;
  private readonly accessLog: StreamAccessLog | undefined;
  /** The request headers when no filter holds them (the filter is not in the chain). */
  private requestHeadersWithoutFilter: HeaderMap | undefined;
  private created = false;
  private streamFailed = false;
  private failureReplySent = false;
  private requestBuffering = false;
  private responseBuffering = false;
  private ended = false;
  private readonly missingConfig: boolean;
  private readonly onEnd: (() => void) | undefined;

  constructor(setup: StreamSetup) {
    this.missingConfig = setup.missingConfig ?? false;
    this.onEnd = setup.onEnd;
    this.vm = setup.vm;
    this.failOpen = setup.failOpen;
    this.clock = setup.clock;
    this.startMonotonicNs = setup.clock.monotonicNs();
    this.accessLog = setup.accessLog;
    const options = setup.options;
    const overrides = new Map<string, PropertyValue>(
      Object.entries(options.properties ?? {}).map(([path, value]) => [path, propertyFromJs(value)]),
    );
    const visible = (held: () => boolean, map: () => HeaderMap | undefined) => (): HeaderMap | undefined => {
      const context = this.context;
      return context !== undefined && (held() || context.accessLogPhase) ? map() : undefined;
    };
    this.facts = {
      requestHeaders: visible(
        () => this.context?.held.requestHeaders ?? false,
        () => this.context?.requestHeaders,
      ),
      responseHeaders: visible(
        () => this.context?.held.responseHeaders ?? false,
        () => (this.context?.hasResponseHeaders ? this.context.responseHeaders : undefined),
      ),
      responseTrailers: visible(
        () => this.context?.held.responseTrailers ?? false,
        () => this.context?.responseTrailers,
      ),
      startTimeNs: options.startTimeNs ?? setup.clock.realtimeNs(),
      protocol: options.protocol ?? "HTTP/1.1",
      bytesReceived: 0,
      bytesSent: 0,
      responseFlags: 0,
      ...peerIdentityFacts(options),
      requestedServerName: options.requestedServerName ?? "",
      connectionId: setup.connectionId,
      sourceAddress: options.sourceAddress ?? "10.0.0.2:40000",
      destinationAddress: withPort(options.destinationAddress ?? "10.0.0.1:8012", options.destinationPort),
      upstreamAddress: options.upstreamAddress,
      upstreamCluster: options.upstreamCluster,
      routeName: "",
      filterState: new Map(),
      overrides,
    };
    if (this.vm !== undefined && setup.root !== undefined && setup.identity !== undefined) {
      // The stream context takes its id when Envoy creates the filter.
      this.context = new StreamContext(this.vm.allocateContextId(), setup.identity, setup.root, this.facts);
      this.vm.registerContext(this.context);
    }
  }

  /** Host calls the module made while running this stream's callbacks. */
  get hostCalls(): number {
    return this.context?.hostCalls ?? 0;
  }

  /** The stream's context id in its VM (undefined when the filter is not in the chain). */
  get contextId(): number | undefined {
    return this.context?.id;
  }

  /** Which sides the module resumed with proxy_continue_stream / proxy_continue_request. */
  get continued(): { request: boolean; response: boolean } {
    return { ...(this.context?.continued ?? { request: false, response: false }) };
  }

  /** Which sides the module reset with proxy_close_stream (response.code_details "wasm_close_stream"). */
  get closed(): { request: boolean; response: boolean } {
    return { ...(this.context?.closed ?? { request: false, response: false }) };
  }

  private get abi01(): boolean {
    return this.vm?.abi === AbiVersion.V0_1_0;
  }

  /** Context::onCreate: proxy_on_context_create(stream, root) once. */
  private ensureCreated(vm: WasmVm, context: StreamContext): void {
    if (this.created) return;
    this.created = true;
    if (!vm.failed) vm.notify(context, "proxy_on_context_create", [context.id, context.rootContext.id]);
  }

  /** CHECK_FAIL: pass (fail open) or answer 503 once (fail closed). */
  private failedStatus(context: StreamContext, closedStatus: number): number {
    if (this.failOpen) return 0;
    if (!this.streamFailed) {
      this.streamFailed = true;
      if (!this.failureReplySent) {
        this.failureReplySent = true;
        context.localReply = { ...FAIL_STREAM_REPLY };
      }
    }
    return closedStatus;
  }

  /**
   * A fresh outcome each time, which the callers complete in place with Object.assign: V8 copies
   * `{ ...outcome, key }` slowly (~0.6 µs, twice a request).
   */
  private run(
    vm: WasmVm,
    context: StreamContext,
    name: string,
    args: number[],
    convert: (result: number, stopped: boolean) => number,
    closedStatus: number,
  ): { status: number; localReply?: LocalReply } {
    const replyBefore = context.localReply;
    let status: number;
    if (vm.failed) {
      status = this.failedStatus(context, closedStatus);
    } else if (!vm.exports(name)) {
      status = 0;
    } else {
      status = vm.callback(context, name, args, (result, stopped) => convert(result ?? 0, stopped));
      if (vm.failed) status = this.failedStatus(context, closedStatus);
    }
    const localReply = context.localReply !== replyBefore ? context.localReply : undefined;
    return localReply === undefined ? { status } : { status, localReply };
  }

  onRequestHeaders(headers: HeaderList, endOfStream: boolean): HeadersOutcome {
    const { vm, context } = this;
    if (vm === undefined || context === undefined) {
      if (this.accessLog) this.requestHeadersWithoutFilter = new HeaderMap(headers);
      // PassThroughDecoderFilter's decodeHeaders answers StopIteration (1), not a Wasm status.
      if (this.missingConfig) return { status: 1, headers, localReply: { ...MISSING_CONFIG_REPLY } };
      return { status: 0, headers };
    }
    this.ensureCreated(vm, context);
    context.requestHeaders.setAll(headers);
    context.held.requestHeaders = true;
    const args = this.abi01
      ? [context.id, context.requestHeaders.count]
      : [context.id, context.requestHeaders.count, endOfStream ? 1 : 0];
    const outcome = this.run(
      vm,
      context,
      "proxy_on_request_headers",
      args,
      convertHeadersStatus,
      HeadersStatus.StopAllIterationAndWatermark,
    );
    if (outcome.status === HeadersStatus.Continue) context.held.requestHeaders = false;
    return Object.assign(outcome, { headers: context.requestHeaders.toList() });
  }

  onRequestBody(body: Uint8Array, endOfStream: boolean): BodyOutcome {
    const { vm, context } = this;
    this.facts.bytesReceived += body.length;
    if (vm === undefined || context === undefined || !this.created) return { status: 0, body };
    const data = this.requestBuffering && context.requestBody ? concat(context.requestBody.data, body) : body;
    context.requestBody = new BodyBuffer(data);
    context.requestEndOfStream = endOfStream;
    const hadTrailers = context.requestTrailers !== undefined;
    const outcome = this.run(
      vm,
      context,
      "proxy_on_request_body",
      [context.id, data.length, endOfStream ? 1 : 0],
      convertDataStatus,
      DataStatus.StopIterationNoBuffer,
    );
    const result: BodyOutcome = Object.assign(outcome, { body: context.requestBody?.data ?? data });
    if (!hadTrailers && context.requestTrailers !== undefined)
      result.trailers = context.requestTrailers.toList();
    context.requestEndOfStream = false;
    this.requestBuffering = outcome.status === DataStatus.StopIterationAndBuffer;
    if (outcome.status === DataStatus.Continue) context.requestBody = undefined;
    return result;
  }

  onRequestTrailers(trailers: HeaderList): TrailersOutcome {
    const { vm, context } = this;
    if (vm === undefined || context === undefined || !this.created) return { status: 0, trailers };
    context.requestTrailers = new HeaderMap(trailers);
    context.held.requestTrailers = true;
    const outcome = this.run(
      vm,
      context,
      "proxy_on_request_trailers",
      [context.id, context.requestTrailers.count],
      convertTrailersStatus,
      TrailersStatus.StopIteration,
    );
    if (outcome.status === TrailersStatus.Continue) context.held.requestTrailers = false;
    return Object.assign(outcome, { trailers: context.requestTrailers.toList() });
  }

  /** Encoder side: skipped once the fail-closed reply was sent (failure_local_reply_sent_). */
  private encoderActive(): boolean {
    return this.created && !this.failureReplySent;
  }

  /**
   * The router picked an upstream host and connected to it: from now on upstream.address and the
   * URI SAN of its certificate (upstream.uri_san_peer_certificate; none for plaintext) are
   * readable, as in Envoy once the upstream request began.
   */
  connectUpstream(address: string, identity?: string): void {
    this.facts.upstreamAddress = address;
    this.facts.upstreamUriSan = identity;
  }

  /**
   * Response flags Envoy records before it encodes a local reply (UF, UT, NR, ...): the filter's
   * response callbacks and the access log see them; end() may add more.
   */
  recordResponseFlags(flags: number): void {
    this.facts.responseFlags |= flags;
  }

  onResponseHeaders(headers: HeaderList, endOfStream: boolean): HeadersOutcome {
    const { vm, context } = this;
    if (vm === undefined || context === undefined) return { status: 0, headers };
    // The first :status, as a HeaderMap of `headers` would answer, without building one.
    const status = Number(headers.find(([name]) => lowerCaseName(name) === ":status")?.[1]);
    // The router records the response code before encoder filters run.
    if (Number.isInteger(status) && status > 0) this.facts.responseCode = status;
    if (!this.encoderActive()) return { status: 0, headers };
    context.responseHeaders.setAll(headers);
    context.hasResponseHeaders = true;
    context.held.responseHeaders = true;
    const args = this.abi01
      ? [context.id, context.responseHeaders.count]
      : [context.id, context.responseHeaders.count, endOfStream ? 1 : 0];
    const outcome = this.run(
      vm,
      context,
      "proxy_on_response_headers",
      args,
      convertHeadersStatus,
      HeadersStatus.StopAllIterationAndWatermark,
    );
    if (outcome.status === HeadersStatus.Continue) context.held.responseHeaders = false;
    return Object.assign(outcome, { headers: context.responseHeaders.toList() });
  }

  onResponseBody(body: Uint8Array, endOfStream: boolean): BodyOutcome {
    const { vm, context } = this;
    this.facts.bytesSent += body.length;
    if (vm === undefined || context === undefined || !this.encoderActive()) return { status: 0, body };
    const data =
      this.responseBuffering && context.responseBody ? concat(context.responseBody.data, body) : body;
    context.responseBody = new BodyBuffer(data);
    const outcome = this.run(
      vm,
      context,
      "proxy_on_response_body",
      [context.id, data.length, endOfStream ? 1 : 0],
      convertDataStatus,
      DataStatus.StopIterationNoBuffer,
    );
    const result: BodyOutcome = Object.assign(outcome, { body: context.responseBody?.data ?? data });
    this.responseBuffering = outcome.status === DataStatus.StopIterationAndBuffer;
    if (outcome.status === DataStatus.Continue) context.responseBody = undefined;
    return result;
  }

  onResponseTrailers(trailers: HeaderList): TrailersOutcome {
    const { vm, context } = this;
    if (vm === undefined || context === undefined || !this.encoderActive()) return { status: 0, trailers };
    context.responseTrailers = new HeaderMap(trailers);
    context.held.responseTrailers = true;
    const outcome = this.run(
      vm,
      context,
      "proxy_on_response_trailers",
      [context.id, context.responseTrailers.count],
      convertTrailersStatus,
      TrailersStatus.StopIteration,
    );
    if (outcome.status === TrailersStatus.Continue) context.held.responseTrailers = false;
    return Object.assign(outcome, { trailers: context.responseTrailers.toList() });
  }

  /** Context::log (proxy_on_log with the maps readable again), then Context::onDestroy (on_done, on_delete). */
  end(end: StreamEnd = {}): void {
    const { vm, context } = this;
    if (this.ended) return;
    this.ended = true;
    if (end.responseCode !== undefined) this.facts.responseCode = end.responseCode;
    if (end.responseFlags !== undefined) this.facts.responseFlags = end.responseFlags;
    if (end.responseCodeDetails !== undefined) this.facts.responseCodeDetails = end.responseCodeDetails;
    if (end.grpcStatus !== undefined) this.facts.grpcStatus = end.grpcStatus;
    this.facts.durationNs = end.durationNs ?? this.clock.monotonicNs() - this.startMonotonicNs;
    this.requestTxDurationNs = end.requestTxDurationNs;
    if (vm === undefined || context === undefined) {
      this.writeAccessLog();
      this.onEnd?.();
      return;
    }
    if (this.facts.responseCodeDetails === undefined && context.localReply !== undefined) {
      this.facts.responseCodeDetails = context.localReply.details;
    }
    this.ensureCreated(vm, context);
    if (this.accessLog?.beforeFilters) this.writeAccessLog();
    context.accessLogPhase = true;
    if (!vm.failed) vm.notify(context, "proxy_on_log", [context.id]);
    context.accessLogPhase = false;
    if (this.accessLog?.beforeFilters === false) this.writeAccessLog();
    if (!vm.failed) vm.notify(context, "proxy_on_done", [context.id]);
    if (!vm.failed) vm.notify(context, "proxy_on_delete", [context.id]);
    vm.forgetContext(context);
    this.onEnd?.();
  }

  /** The connection manager's access log line for this stream. */
  private writeAccessLog(): void {
    const accessLog = this.accessLog;
    if (accessLog === undefined) return;
    const facts = this.facts;
    const requestHeaders = this.context?.requestHeaders ?? this.requestHeadersWithoutFilter;
    accessLog.write(
      accessLog.format.format({
        filterState: (key) => facts.filterState.get(key),
        requestHeader: (name) => requestHeaders?.get(name),
        responseCode: facts.responseCode,
        responseFlags: facts.responseFlags,
        responseCodeDetails: facts.responseCodeDetails,
        durationNs: facts.durationNs,
        startTimeNs: facts.startTimeNs,
        requestTxDurationNs: this.requestTxDurationNs,
        upstreamCluster: facts.upstreamCluster,
      }),
    );
  }
}
