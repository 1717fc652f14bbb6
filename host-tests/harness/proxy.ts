// An HTTP/1.1 proxy that runs the filter the way an Envoy listener with one Wasm HTTP filter and a
// router does: request headers, body and trailers go through the filter, then upstream; the
// response comes back through the filter; every stream ends with proxy_on_log. Local replies (from
// the filter or from Envoy itself: upstream unreachable, timeout, reset, body too large) are
// encoded through the filter like Envoy's, with Envoy's status, body, details and response flags.
// Bodies are buffered whole and handed to the filter once, with end_of_stream set.

import http from "node:http";
import { randomUUID } from "node:crypto";
import { AdminServer, closeServer, listenOn, type AdminOptions, type HostPort } from "./admin.js";
import type { StatStore } from "./stats.js";
import {
  DEFAULT_ENVOY_VERSION,
  DEFAULT_REQUEST_HEADER_LIMITS,
  envoyMinorVersion,
  envoyStreamEnd,
  requestHeaderLimitExceeded,
  type RequestHeaderLimits,
  type StreamEndKind,
} from "./stream-ends.js";
import type { HeaderList, HeadersOutcome, LocalReply, StreamEnd, StreamOptions } from "./types.js";

export { ResponseFlag } from "./response-flags.js";

/** What the proxy needs from a body or trailers callback. */
export interface FilterDataOutcome {
  status: number;
  localReply?: LocalReply;
}

/** The stream driver the proxy runs each request through (plugin.ts's Stream). */
export interface FilterStream {
  onRequestHeaders(headers: HeaderList, endOfStream: boolean): HeadersOutcome;
  onRequestBody(body: Uint8Array, endOfStream: boolean): FilterDataOutcome & { body: Uint8Array };
  onRequestTrailers(trailers: HeaderList): FilterDataOutcome & { trailers?: HeaderList };
  onResponseHeaders(headers: HeaderList, endOfStream: boolean): HeadersOutcome;
  recordResponseFlags(flags: number): void;
  onResponseBody(body: Uint8Array, endOfStream: boolean): FilterDataOutcome & { body: Uint8Array };
  onResponseTrailers(trailers: HeaderList): FilterDataOutcome & { trailers?: HeaderList };
  end(end?: StreamEnd): void;
}

/** A loaded plugin (plugin.ts's Plugin) as the proxy uses it. */
export interface FilterPlugin {
  createStream(options?: StreamOptions): FilterStream;
}

/**
 * A listener standing for one port of the pod: requests arriving on `listen` were addressed to
 * `destinationPort`. Envoy's inbound listener (15006) takes every port of the pod and reads each
 * connection's original destination port; several local listeners, one per pod port, model that
 * where iptables cannot redirect.
 */
export interface PortListener {
  listen: HostPort;
  destinationPort: number;
}

export interface ProxyOptions {
  /** Loads the plugin; the listener opens only once it resolved (the admin answers /ready 503 until then). */
  loadPlugin: () => Promise<FilterPlugin>;
  /** The store /stats/prometheus shows; the plugin must record into the same one. */
  stats: StatStore;
  /** The first listener; destination.port is `identity.destinationPort`, else the port it is bound to. */
  listen: HostPort;
  /** More listeners, each for one pod port; all go to the same upstream, through the same plugin. */
  portListeners?: readonly PortListener[];
  /** Where requests go: http://host:port; the request path is kept. */
  upstream: string;
  admin?: HostPort;
  /** The admin's POST /kwt/reload (a configuration update); without it the admin has none. */
  reload?: AdminOptions["reload"];
  /** Every downstream connection counts as mutual TLS (connection.mtls true), as behind a sidecar. */
  mtls?: boolean;
  /** Per connection, as StreamOptions: the downstream's and upstream's URI SANs, destination.port (of `listen` only), the route's cluster. */
  identity?: Pick<StreamOptions, "peerIdentity" | "upstreamIdentity" | "destinationPort" | "upstreamCluster">;
  /** Envoy's route timeout, from sending upstream to the end of the response. Default 15 s, as Envoy. */
  upstreamTimeoutMs?: number;
  /** Largest request or response body buffered; beyond it Envoy answers 413 / 500. Default 8 MiB. */
  maxBodyBytes?: number;
  /** Envoy version whose stream ends (code details, flags) the proxy records, "1.MINOR". Default 1.33. */
  envoy?: string;
  /** max_request_headers_kb and max_headers_count; default 60 KiB and 100, as Envoy. */
  requestHeaderLimits?: RequestHeaderLimits;
}

const DEFAULT_UPSTREAM_TIMEOUT_MS = 15_000;
const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

/** Hop-by-hop headers: the codec consumes them, filters and the other side never see them. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
]);

/** A reply Envoy makes itself (sendLocalReply): the stream end it records and its text body. */
interface EnvoyReply {
  kind: StreamEndKind;
  body: string;
}

const UPSTREAM_CONNECTION_FAILURE: EnvoyReply = {
  kind: "upstream_connection_failure",
  body: "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
};
const UPSTREAM_CONNECTION_TERMINATION: EnvoyReply = {
  kind: "upstream_reset_before_response",
  body: "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
};
const UPSTREAM_TIMEOUT: EnvoyReply = { kind: "upstream_timeout", body: "upstream request timeout" };
const REQUEST_TOO_LARGE: EnvoyReply = { kind: "request_payload_too_large", body: "Payload Too Large" };
const RESPONSE_TOO_LARGE: EnvoyReply = { kind: "response_payload_too_large", body: "Internal Server Error" };
/** The HTTP/1 codec's reply to a header block over the limits (CodeUtility::toString(431)); it then closes the connection. */
const HEADER_LIMIT_BODY = "Request Header Fields Too Large";

/**
 * Envoy's HTTP/1 codec view of a request: pseudo-headers first, then the rest in arrival order.
 * `secure`: the downstream connection is TLS (the scheme Envoy records is then https).
 */
export function requestHeaderList(request: http.IncomingMessage, secure: boolean): HeaderList {
  const scheme = secure ? "https" : "http";
  const headers: HeaderList = [
    [":authority", request.headers.host ?? ""],
    [":path", request.url ?? "/"],
    [":method", request.method ?? "GET"],
    [":scheme", scheme],
  ];
  headers.push(...rawHeaderList(request.rawHeaders).filter(([name]) => name !== "host"));
  // The connection manager adds these before any filter runs.
  if (!headers.some(([name]) => name === "x-forwarded-proto")) headers.push(["x-forwarded-proto", scheme]);
  if (!headers.some(([name]) => name === "x-request-id")) headers.push(["x-request-id", randomUUID()]);
  return headers;
}

/** Node's raw header array as an Envoy header list: names lower-cased, hop-by-hop headers dropped. */
export function rawHeaderList(raw: readonly string[]): HeaderList {
  return rawHeaderPairs(raw)
    .map(([name, value]): [string, string] => [name.toLowerCase(), value])
    .filter(([name]) => !HOP_BY_HOP.has(name));
}

/** Node's raw header array as the header lines received, unchanged. */
function rawHeaderPairs(raw: readonly string[]): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i] as string, raw[i + 1] as string]);
  return pairs;
}

/** First value of a header, as Envoy's get() returns. */
export function headerValue(headers: HeaderList, name: string): string | undefined {
  return headers.find(([key]) => key === name)?.[1];
}

/**
 * How to frame a message on the wire: a body length (replacing any content-length the filter left),
 * "chunked" (trailers follow; no content-length), or "as-is" (a HEAD response or a 204/304, whose
 * content-length describes a body that is not sent).
 */
export type Framing = number | "chunked" | "as-is";

/** The headers to write on the wire: no pseudo-headers or hop-by-hop headers, as name/value pairs. */
export function wireHeaders(headers: HeaderList, framing: Framing): Array<[string, string]> {
  const wire = headers.filter(
    ([name]) =>
      !name.startsWith(":") && !HOP_BY_HOP.has(name) && (framing === "as-is" || name !== "content-length"),
  );
  if (typeof framing === "number") wire.push(["content-length", String(framing)]);
  return wire;
}

/** The headers Envoy's sendLocalReply builds: :status, the filter's additions, then the text body's. */
export function localReplyHeaders(status: number, extra: HeaderList, body: Uint8Array): HeaderList {
  const headers: HeaderList = [[":status", String(status)], ...extra];
  if (body.length > 0) headers.push(["content-length", String(body.length)], ["content-type", "text/plain"]);
  return headers;
}

/** response.grpc_status: from the trailers, else from the headers (a trailers-only response). */
export function grpcStatusOf(headers: HeaderList, trailers: HeaderList): number | undefined {
  const text = headerValue(trailers, "grpc-status") ?? headerValue(headers, "grpc-status");
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  return Number(text);
}

function statusOf(headers: HeaderList, fallback: number): number {
  const status = Number(headerValue(headers, ":status"));
  return Number.isInteger(status) && status >= 100 && status <= 999 ? status : fallback;
}

class BodyTooLargeError extends Error {}

interface Received {
  body: Buffer;
  trailers: HeaderList;
}

/** Buffers a whole message; rejects with BodyTooLargeError past `limit` bytes. */
function receive(message: http.IncomingMessage, limit: number): Promise<Received> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    message.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        message.removeAllListeners("data");
        message.resume();
        reject(new BodyTooLargeError(`body larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    message.on("end", () =>
      resolve({ body: Buffer.concat(chunks), trailers: rawHeaderList(message.rawTrailers) }),
    );
    message.on("error", reject);
    message.on("close", () => {
      if (!message.complete) reject(new Error("connection closed before the message was complete"));
    });
  });
}

/** How forwarding ended when no full response came back. */
class UpstreamFailure extends Error {
  constructor(
    readonly reply: EnvoyReply,
    /** The response headers, when the failure came after them (reset or timeout mid-body). */
    readonly responseHeaders?: HeaderList,
  ) {
    super(reply.kind);
  }
}

interface UpstreamResponse {
  headers: HeaderList;
  body: Buffer;
  trailers: HeaderList;
}

type ExchangeOptions = Required<Pick<ProxyOptions, "upstreamTimeoutMs" | "maxBodyBytes" | "mtls">> & {
  upstream: URL;
  envoyMinor: number;
};

/** One downstream request through the filter. Ends the filter stream exactly once. */
class Exchange {
  private ended = false;
  private upstreamRequest: http.ClientRequest | undefined;
  private requestTxDurationNs: bigint | undefined;

  constructor(
    private readonly stream: FilterStream,
    /** When the request arrived, before its stream (and the module's context) was created. */
    private readonly startedNs: bigint,
    private readonly request: http.IncomingMessage,
    private readonly response: http.ServerResponse,
    private readonly options: ExchangeOptions,
  ) {
    response.on("close", () => {
      if (this.ended) return;
      // The client went away before the response was complete.
      this.upstreamRequest?.destroy();
      this.finish(this.envoyEnd("http1_client_disconnect"));
    });
  }

  private envoyEnd(kind: StreamEndKind): StreamEnd {
    return envoyStreamEnd(kind, this.options.envoyMinor);
  }

  /**
   * The HTTP/1 codec refused the header block (too large or too many headers) before the filter
   * chain existed: a 431 the filter never sees, then the connection closes.
   */
  rejectHeaderBlock(kind: StreamEndKind): void {
    this.stream.onRequestHeaders(requestHeaderList(this.request, this.options.mtls), true);
    this.request.resume();
    this.response.shouldKeepAlive = false;
    const body = Buffer.from(HEADER_LIMIT_BODY);
    this.write(localReplyHeaders(431, [], body), body, []);
    this.finishWhenSent(this.envoyEnd(kind));
  }

  async run(): Promise<void> {
    const requestHeaders = requestHeaderList(this.request, this.options.mtls);
    const hasBody =
      this.request.headers["transfer-encoding"] !== undefined ||
      (this.request.headers["content-length"] !== undefined &&
        this.request.headers["content-length"] !== "0");
    const headersOutcome = this.stream.onRequestHeaders(requestHeaders, !hasBody);
    if (headersOutcome.localReply) {
      this.request.resume();
      this.replyLocally(headersOutcome.localReply);
      return;
    }
    let body = Buffer.alloc(0);
    let trailers: HeaderList = [];
    if (hasBody) {
      let received: Received;
      try {
        received = await receive(this.request, this.options.maxBodyBytes);
      } catch (error) {
        if (error instanceof BodyTooLargeError) this.replyAsEnvoy(REQUEST_TOO_LARGE);
        return; // otherwise the client went away; the close handler ends the stream
      }
      const bodyOutcome = this.stream.onRequestBody(received.body, received.trailers.length === 0);
      if (bodyOutcome.localReply) {
        this.replyLocally(bodyOutcome.localReply);
        return;
      }
      body = Buffer.from(bodyOutcome.body);
      trailers = received.trailers;
      if (trailers.length > 0) {
        const trailersOutcome = this.stream.onRequestTrailers(trailers);
        if (trailersOutcome.localReply) {
          this.replyLocally(trailersOutcome.localReply);
          return;
        }
        trailers = trailersOutcome.trailers ?? trailers;
      }
    }
    if (this.ended) return;
    let upstream: UpstreamResponse;
    try {
      upstream = await this.forward(headersOutcome.headers, body, trailers);
    } catch (error) {
      if (this.ended) return;
      if (!(error instanceof UpstreamFailure)) throw error;
      if (error.responseHeaders) this.resetAfterResponseHeaders(error);
      else this.replyAsEnvoy(error.reply);
      return;
    }
    if (!this.ended) this.respond(upstream);
  }

  /** Sends the request upstream and buffers the whole response. */
  private forward(headers: HeaderList, body: Buffer, trailers: HeaderList): Promise<UpstreamResponse> {
    const { upstream, upstreamTimeoutMs, maxBodyBytes } = this.options;
    const sentAt = Date.now();
    const hasBody = body.length > 0 || headerValue(headers, "content-length") !== undefined;
    const framing: Framing = trailers.length > 0 ? "chunked" : hasBody ? body.length : "as-is";
    const wire = [
      ["host", headerValue(headers, ":authority") ?? upstream.host],
      ...wireHeaders(headers, framing),
    ].flat();
    return new Promise((resolve, reject) => {
      let connected = false;
      let responseHeaders: HeaderList | undefined;
      const request = http.request({
        host: upstream.hostname,
        port: upstream.port === "" ? 80 : Number(upstream.port),
        method: headerValue(headers, ":method") ?? "GET",
        path: headerValue(headers, ":path") ?? "/",
        headers: wire,
        // A fresh connection per request: no pooled socket that the upstream may have closed meanwhile.
        agent: false,
      });
      this.upstreamRequest = request;
      const timer = setTimeout(() => {
        reject(new UpstreamFailure(UPSTREAM_TIMEOUT, responseHeaders));
        request.destroy();
      }, upstreamTimeoutMs);
      const fail = (reply: EnvoyReply): void => {
        clearTimeout(timer);
        reject(new UpstreamFailure(reply, responseHeaders));
      };
      request.on("socket", (socket) => {
        if (!socket.connecting) connected = true;
        else socket.once("connect", () => (connected = true));
      });
      request.on("error", () =>
        fail(connected ? UPSTREAM_CONNECTION_TERMINATION : UPSTREAM_CONNECTION_FAILURE),
      );
      request.on("response", (message) => {
        const headersFromUpstream: HeaderList = [
          [":status", String(message.statusCode ?? 502)],
          ...rawHeaderList(message.rawHeaders),
          ["x-envoy-upstream-service-time", String(Date.now() - sentAt)],
        ];
        responseHeaders = headersFromUpstream;
        receive(message, maxBodyBytes).then(
          (received) => {
            clearTimeout(timer);
            resolve({ headers: headersFromUpstream, body: received.body, trailers: received.trailers });
          },
          (error: unknown) => {
            if (error instanceof BodyTooLargeError) {
              clearTimeout(timer);
              request.destroy();
              // The response headers stayed in the buffer, so Envoy can still answer itself.
              reject(new UpstreamFailure(RESPONSE_TOO_LARGE));
            } else fail(UPSTREAM_CONNECTION_TERMINATION);
          },
        );
      });
      if (trailers.length > 0) {
        request.write(body);
        request.addTrailers(wireHeaders(trailers, "chunked"));
        request.end();
      } else request.end(body);
      // Handed to the upstream connection, as Envoy's codec takes the last byte (the socket writes
      // once it connects).
      this.requestTxDurationNs = process.hrtime.bigint() - this.startedNs;
    });
  }

  /** The upstream answered: its response goes through the filter to the client. */
  private respond(upstream: UpstreamResponse): void {
    const endOfStreamAtHeaders = upstream.body.length === 0 && upstream.trailers.length === 0;
    const headersOutcome = this.stream.onResponseHeaders(upstream.headers, endOfStreamAtHeaders);
    if (headersOutcome.localReply) {
      this.sendDirectly(headersOutcome.localReply);
      return;
    }
    let body = upstream.body;
    let trailers = upstream.trailers;
    if (!endOfStreamAtHeaders) {
      const bodyOutcome = this.stream.onResponseBody(upstream.body, trailers.length === 0);
      if (bodyOutcome.localReply) {
        this.sendDirectly(bodyOutcome.localReply);
        return;
      }
      body = Buffer.from(bodyOutcome.body);
      if (trailers.length > 0) {
        const trailersOutcome = this.stream.onResponseTrailers(trailers);
        if (trailersOutcome.localReply) {
          this.sendDirectly(trailersOutcome.localReply);
          return;
        }
        trailers = trailersOutcome.trailers ?? trailers;
      }
    }
    this.write(headersOutcome.headers, body, trailers);
    this.finishWhenSent({
      // response.code is what the router recorded from upstream, whatever :status the filter wrote.
      responseCode: statusOf(upstream.headers, 0),
      responseCodeDetails: "via_upstream",
      responseFlags: 0,
      grpcStatus: grpcStatusOf(headersOutcome.headers, trailers),
    });
  }

  /** The filter called proxy_send_local_response while decoding: Envoy encodes it through the filter. */
  private replyLocally(reply: LocalReply): void {
    this.encodeLocalReply(reply.status, reply.headers, reply.body, {
      responseCodeDetails: reply.details,
      responseFlags: reply.responseFlags ?? 0,
      grpcStatus: reply.grpcStatus >= 0 ? reply.grpcStatus : undefined,
    });
  }

  /** Envoy answers itself (upstream failure, body limit); the reply is encoded through the filter. */
  private replyAsEnvoy(reply: EnvoyReply): void {
    const end = this.envoyEnd(reply.kind);
    this.encodeLocalReply(end.responseCode ?? 502, [], Buffer.from(reply.body), end);
  }

  private encodeLocalReply(status: number, extra: HeaderList, body: Uint8Array, end: StreamEnd): void {
    if (this.ended) return;
    const headers = localReplyHeaders(status, extra, body);
    this.stream.recordResponseFlags(end.responseFlags ?? 0);
    const headersOutcome = this.stream.onResponseHeaders(headers, body.length === 0);
    let finalBody = body;
    if (!headersOutcome.localReply && body.length > 0) {
      finalBody = this.stream.onResponseBody(body, true).body;
    }
    this.write(headersOutcome.headers, finalBody, []);
    this.finishWhenSent({ ...end, responseCode: status });
  }

  /** A local reply while encoding: Envoy sends it without running the filters again. */
  private sendDirectly(reply: LocalReply): void {
    this.write(localReplyHeaders(reply.status, reply.headers, reply.body), reply.body, []);
    this.finishWhenSent({
      responseCode: reply.status,
      responseCodeDetails: reply.details,
      responseFlags: 0,
      grpcStatus: reply.grpcStatus >= 0 ? reply.grpcStatus : undefined,
    });
  }

  /**
   * The upstream reset or timed out after its headers. Envoy had passed the headers through the
   * filter and on to the client, then resets the downstream stream.
   */
  private resetAfterResponseHeaders(failure: UpstreamFailure): void {
    const headers = failure.responseHeaders ?? [];
    this.stream.onResponseHeaders(headers, false);
    const timedOut = failure.reply === UPSTREAM_TIMEOUT;
    this.finish({
      ...this.envoyEnd(timedOut ? "upstream_timeout" : "upstream_reset_after_response"),
      responseCode: statusOf(headers, 0),
    });
    this.response.destroy();
  }

  /** Writes status, headers, body and trailers. */
  private write(headers: HeaderList, body: Uint8Array, trailers: HeaderList): void {
    const status = statusOf(headers, 502);
    const bodiless = this.request.method === "HEAD" || status === 204 || status === 304;
    const framing: Framing = bodiless ? "as-is" : trailers.length > 0 ? "chunked" : body.length;
    this.response.writeHead(status, wireHeaders(headers, framing).flat());
    if (bodiless) this.response.end();
    else if (trailers.length > 0) {
      this.response.write(body);
      this.response.addTrailers(wireHeaders(trailers, "chunked"));
      this.response.end();
    } else this.response.end(body);
  }

  private finishWhenSent(end: StreamEnd): void {
    this.response.once("finish", () => this.finish(end));
  }

  private finish(end: StreamEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.stream.end({
      ...end,
      durationNs: process.hrtime.bigint() - this.startedNs,
      requestTxDurationNs: this.requestTxDurationNs,
    });
  }
}

/** A running proxy: its listeners, its admin listener and the plugin behind them. */
export class HarnessProxy {
  private constructor(
    private readonly servers: http.Server[],
    private readonly admin: AdminServer | undefined,
    readonly listenAddress: HostPort,
    /** Where each of `portListeners` is bound, by the pod port it stands for. */
    readonly portAddresses: ReadonlyMap<number, HostPort>,
  ) {}

  get adminAddress(): HostPort | undefined {
    return this.admin?.address;
  }

  /**
   * Opens the admin listener (if asked), loads the plugin, then opens the proxy listener. A plugin
   * that fails to load closes the admin listener again and rejects with the load error.
   */
  static async start(options: ProxyOptions): Promise<HarnessProxy> {
    const upstream = parseUpstreamUrl(options.upstream);
    let plugin: FilterPlugin | undefined;
    const admin = options.admin
      ? await AdminServer.start({
          address: options.admin,
          stats: options.stats,
          isReady: () => plugin !== undefined,
          reload: options.reload,
        })
      : undefined;
    try {
      plugin = await options.loadPlugin();
    } catch (error) {
      await admin?.close();
      throw error;
    }
    const loaded = plugin;
    const exchangeOptions: ExchangeOptions = {
      upstream,
      mtls: (options.mtls ?? false) || options.identity?.peerIdentity !== undefined,
      upstreamTimeoutMs: options.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS,
      maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
      envoyMinor: envoyMinorVersion(options.envoy ?? DEFAULT_ENVOY_VERSION),
    };
    const headerLimits = options.requestHeaderLimits ?? DEFAULT_REQUEST_HEADER_LIMITS;
    // Node's own parser limits stay out of the way, so the codec limits below are Envoy's.
    const serverOptions = { maxHeaderSize: headerLimits.maxBytes * 2 + 16 * 1024 };
    const createServer = (destinationPort: number | undefined): http.Server => {
      const server = http.createServer(serverOptions, (request, response) => {
        // One arrival for %START_TIME% (the wall clock) and the durations (the monotonic one).
        const startTimeNs = BigInt(Date.now()) * 1_000_000n;
        const startedNs = process.hrtime.bigint();
        const overLimit = requestHeaderLimitExceeded(rawHeaderPairs(request.rawHeaders), headerLimits);
        const stream = loaded.createStream({
          ...(overLimit === undefined ? {} : { beforeFilterChain: true }),
          mtls: exchangeOptions.mtls,
          sourceAddress: `${request.socket.remoteAddress ?? ""}:${request.socket.remotePort ?? 0}`,
          destinationAddress: `${request.socket.localAddress ?? ""}:${request.socket.localPort ?? 0}`,
          // Known from the start: this proxy has exactly one upstream host.
          upstreamAddress: upstream.host,
          protocol: `HTTP/${request.httpVersion}`,
          startTimeNs,
          ...options.identity,
          ...(destinationPort === undefined ? {} : { destinationPort }),
        });
        const exchange = new Exchange(stream, startedNs, request, response, exchangeOptions);
        if (overLimit !== undefined) {
          exchange.rejectHeaderBlock(overLimit);
          return;
        }
        exchange.run().catch((error: unknown) => {
          // A harness bug, not an Envoy behaviour: make it loud and drop the connection.
          console.error("kwt proxy: request failed:", error);
          response.destroy();
        });
      });
      server.maxHeadersCount = 0;
      return server;
    };
    const portListeners = options.portListeners ?? [];
    const ports = portListeners.map((p) => p.destinationPort);
    const repeated = ports.find((port, i) => ports.indexOf(port) !== i);
    if (repeated !== undefined) {
      await admin?.close();
      throw new Error(
        `ProxyOptions.portListeners: pod port ${repeated} has two listeners; give each port one`,
      );
    }
    const servers = [createServer(undefined), ...portListeners.map((p) => createServer(p.destinationPort))];
    // Settled, not raced: a listener still binding when another failed must be closed too.
    const listening = await Promise.allSettled(
      servers.map((server, i) => listenOn(server, i === 0 ? options.listen : portListeners[i - 1]!.listen)),
    );
    const failed = listening.find((result) => result.status === "rejected");
    if (failed !== undefined) {
      await Promise.all([...servers.map(closeServer), admin?.close()]);
      throw failed.reason;
    }
    const bound = listening.map((result) => (result as PromiseFulfilledResult<HostPort>).value);
    const portAddresses = new Map(portListeners.map((p, i) => [p.destinationPort, bound[i + 1]!]));
    return new HarnessProxy(servers, admin, bound[0]!, portAddresses);
  }

  async close(): Promise<void> {
    await Promise.all([...this.servers.map(closeServer), this.admin?.close()]);
  }
}

/** The upstream must be a plain http:// origin; the proxy keeps each request's own path. */
export function parseUpstreamUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`upstream '${text}' is not a URL; expected http://host:port`);
  }
  if (url.protocol !== "http:") throw new Error(`upstream '${text}' must use http://, got ${url.protocol}`);
  if (url.pathname !== "/" || url.search !== "") {
    throw new Error(`upstream '${text}' must have no path or query; requests keep their own path`);
  }
  return url;
}
