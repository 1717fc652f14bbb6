// The scenario library's only contact with the harness: how a proxy is loaded, how a connection's
// facts (port, peer identity, mTLS, protocol) reach a stream, and how Envoy ends a stream it
// answered or reset itself. Property layouts, peer and upstream identities and the destination
// address are the harness's own stream facts; the endings below set the flags and details Envoy
// 1.28 and 1.33 report, not yet the harness's per-version stream-end table.

import {
  ManualClock,
  Plugin,
  PROPERTY_LAYOUTS,
  type PropertyLayout,
  StatStore,
  type HeaderList,
  type NodeIdentity,
  type StreamEnd,
  type StreamOptions,
} from "../harness/index.js";

export { PROPERTY_LAYOUTS, type PropertyLayout };

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
}

/** A loaded proxy with its own manual clock, started at `spec.startMs`. */
export async function loadProxy(spec: ProxySpec): Promise<Plugin> {
  return Plugin.load(
    {
      wasm: spec.wasm,
      pluginConfig: JSON.stringify(spec.pluginConfig),
      propertyLayout: spec.layout,
      direction: spec.direction,
      node: spec.node,
      workers: spec.workers,
      extraStatTags: [...spec.extraStatTags],
      clock: new ManualClock(spec.startMs),
    },
    spec.stats,
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

/** The downstream client reset its stream before any response (HTTP/2 RST_STREAM, a cancelled call). */
export function clientReset(): EnvoyEnding {
  // The details differ per Envoy version; the harness of issue 11 has the table, this is 1.28's and 1.33's.
  return {
    end: {
      responseFlags: ResponseFlags.DownstreamRemoteReset,
      responseCodeDetails: "downstream_remote_reset",
    },
  };
}

/** The upstream reset its stream before any response: Envoy answers 503 (UR). */
export function upstreamReset(grpc: boolean): EnvoyEnding {
  return localReply(
    503,
    ResponseFlags.UpstreamRemoteReset,
    "upstream_reset_before_response_started{remote_reset}",
    grpc,
  );
}

/** The route timeout passed before the upstream answered: Envoy answers 504 (UT). */
export function upstreamTimeout(grpc: boolean): EnvoyEnding {
  return localReply(504, ResponseFlags.UpstreamRequestTimeout, "upstream_response_timeout", grpc);
}

/** A local rate limit in the sidecar refused the request: 429 (RL), nothing reached the pod's containers. */
export function rateLimited(grpc: boolean): EnvoyEnding {
  return localReply(429, ResponseFlags.RateLimited, "local_rate_limited", grpc);
}
