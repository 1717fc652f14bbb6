// The scenario library's only contact with the harness: how a proxy is loaded, how a connection's
// facts (port, peer identity, mTLS, protocol) reach a stream, and how Envoy ends a stream it
// answered or reset itself. Property layouts, peer and upstream identities and the destination
// address are the harness's own stream facts; Envoy's own endings (resets, timeouts) take their
// flags and details from the harness's per-version stream-end table.

import {
  envoyStreamEnd,
  ManualClock,
  Plugin,
  PROPERTY_LAYOUTS,
  type PropertyLayout,
  StatStore,
  type SharedData,
  type HeaderList,
  type NodeIdentity,
  type StreamEnd,
  type StreamOptions,
} from "../harness/index.js";

export { PROPERTY_LAYOUTS, type PropertyLayout };

/**
 * The Envoy version a scenario runs for each layout: the first with that layout (1.28, 1.30, 1.33),
 * so each layout also brings its Envoy's stream ends (an HTTP/2 client reset has no flag on 1.28).
 */
export const LAYOUT_ENVOY_MINOR: Readonly<Record<PropertyLayout, number>> = {
  legacy: 28,
  "legacy-and-xds": 30,
  xds: 33,
};

/** Who opened the connection a stream arrives on, as the receiving Envoy sees it. */
export interface Peer {
  /** The peer's address, `ip:port`. */
  address: string;
  /** Mutual TLS: the peer presented a certificate (connection.mtls). */
  mtls: boolean;
  /** The SPIFFE URI SAN of the peer's certificate (mesh identity); absent for plaintext or outside clients. */
  identity?: string;
}

/** Where and how a stream arrives at a proxy. */
export interface Arrival {
  peer: Peer;
  /** The local address the connection was made to, `ip:port` (destination.address, destination.port). */
  destination: string;
  protocol: "HTTP/1.1" | "HTTP/2";
  /** The identity of the upstream the proxy forwards to, once known (upstream.uri_san_peer_certificate). */
  upstreamIdentity?: string;
  upstreamAddress?: string;
  /** The route's cluster (xds.cluster_name), known at request headers. */
  upstreamCluster?: string;
}

/** The harness's stream options for an arrival. */
export function streamOptions(arrival: Arrival): StreamOptions {
  return {
    mtls: arrival.peer.mtls,
    ...(arrival.peer.identity !== undefined && { peerIdentity: arrival.peer.identity }),
    ...(arrival.upstreamIdentity !== undefined && { upstreamIdentity: arrival.upstreamIdentity }),
    sourceAddress: arrival.peer.address,
    destinationAddress: arrival.destination,
    upstreamAddress: arrival.upstreamAddress,
    ...(arrival.upstreamCluster !== undefined && { upstreamCluster: arrival.upstreamCluster }),
    protocol: arrival.protocol,
  };
}

export interface ProxySpec {
  wasm: Uint8Array;
  layout: PropertyLayout;
  direction: "inbound" | "outbound";
  node: NodeIdentity;
  pluginConfig: Record<string, unknown>;
  workers: number;
  extraStatTags: readonly string[];
  /** Wall-clock time at which the proxy (and so each of its VMs) starts, ms since the epoch. */
  startMs: number;
  /** Keep counting into this store (a new module on a running Envoy); absent: a fresh Envoy. */
  stats?: StatStore;
  /** Keep this shared data (a new module on a running Envoy); absent: a fresh Envoy. */
  sharedData?: SharedData;
  /** The listener's access log (Envoy's file access log: a format and where lines go). */
  accessLog?: { format: string; write: (line: string) => void };
}

/** A loaded proxy with its own manual clock, started at `spec.startMs`. */
export async function loadProxy(spec: ProxySpec): Promise<Plugin> {
  return Plugin.load(
    {
      wasm: spec.wasm,
      pluginConfig: JSON.stringify(spec.pluginConfig),
      propertyLayout: spec.layout,
      envoy: `1.${LAYOUT_ENVOY_MINOR[spec.layout]}`,
      direction: spec.direction,
      node: spec.node,
      workers: spec.workers,
      extraStatTags: [...spec.extraStatTags],
      clock: new ManualClock(spec.startMs),
      accessLog: spec.accessLog,
    },
    spec.stats,
    spec.sharedData,
  );
}

/** Envoy's response flags the scenarios produce (StreamInfo::ResponseFlag bits, `response.flags`). */
export const ResponseFlags = {
  UpstreamRequestTimeout: 0x4,
  UpstreamRemoteReset: 0x10,
  UpstreamConnectionFailure: 0x20,
  RateLimited: 0x800,
  DownstreamRemoteReset: 0x10000000,
} as const;

/** A reply Envoy makes itself, or a reset, as the stream end and the headers it encodes. */
export interface EnvoyEnding {
  /** Response headers Envoy encodes through the filter; absent for a reset before any response. */
  headers?: HeaderList;
  end: StreamEnd;
}

/** gRPC status Envoy maps HTTP codes of its local replies to (Grpc::Utility::httpToGrpcStatus). */
function grpcStatusForHttp(code: number): number {
  if (code === 429 || code === 502 || code === 503 || code === 504) return 14; // UNAVAILABLE
  if (code === 400) return 13; // INTERNAL
  if (code === 401) return 16;
  if (code === 403) return 7;
  if (code === 404) return 12;
  return 2; // UNKNOWN
}

/**
 * Envoy's local reply: for a gRPC request it is a trailers-only HTTP 200 carrying grpc-status
 * (`response.code` is then 200), otherwise the HTTP code itself.
 */
export function localReply(code: number, flags: number, details: string, grpc: boolean): EnvoyEnding {
  if (grpc) {
    const grpcStatus = grpcStatusForHttp(code);
    return {
      headers: [
        [":status", "200"],
        ["content-type", "application/grpc"],
        ["grpc-status", String(grpcStatus)],
      ],
      end: { responseCode: 200, responseFlags: flags, responseCodeDetails: details, grpcStatus },
    };
  }
  return {
    headers: [
      [":status", String(code)],
      ["content-type", "text/plain"],
    ],
    end: { responseCode: code, responseFlags: flags, responseCodeDetails: details },
  };
}

/**
 * The downstream client gave up before any response: an HTTP/2 stream reset (a cancelled gRPC call),
 * or an HTTP/1 client closing its connection, as `layout`'s Envoy reports it.
 */
export function clientReset(layout: PropertyLayout, http2: boolean): EnvoyEnding {
  return {
    end: envoyStreamEnd(http2 ? "http2_client_reset" : "http1_client_disconnect", LAYOUT_ENVOY_MINOR[layout]),
  };
}

/** Envoy's local reply with the flags and details `layout`'s Envoy sets for `kind`. */
function envoyReply(kind: "upstream_reset_before_response" | "upstream_timeout", code: number) {
  return (layout: PropertyLayout, grpc: boolean): EnvoyEnding => {
    const end = envoyStreamEnd(kind, LAYOUT_ENVOY_MINOR[layout]);
    return localReply(code, end.responseFlags ?? 0, end.responseCodeDetails ?? "", grpc);
  };
}

/** The upstream reset its stream before any response: Envoy answers 503 (UR). */
export const upstreamReset = envoyReply("upstream_reset_before_response", 503);

/** The route timeout passed before the upstream answered: Envoy answers 504 (UT). */
export const upstreamTimeout = envoyReply("upstream_timeout", 504);

/** A local rate limit in the sidecar refused the request: 429 (RL), nothing reached the pod's containers. */
export function rateLimited(grpc: boolean): EnvoyEnding {
  return localReply(429, ResponseFlags.RateLimited, "local_rate_limited", grpc);
}
