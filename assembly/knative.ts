// What a request at a revision pod means for Knative: probe or invocation, through the activator
// or not, and which kind of error it ended in. Pure: no host calls. (Cold starts are decided at
// the edge: readiness.ts.)

import { startsWithBytes } from "./headerscan";
import { coldBytes, ColdText } from "./generated/cold-text";

// --- Probes -----------------------------------------------------------------------------------

/** The user agents of Knative's and Kubernetes' probes start with these (UTF-8, compared in place). */
const PROBE_USER_AGENT_PREFIXES: ArrayBuffer[] = [
  coldBytes(ColdText.KubeProbeAgent),
  coldBytes(ColdText.ActivatorProbeAgent),
  coldBytes(ColdText.AutoscalingProbeAgent),
  coldBytes(ColdText.IngressProbeAgent),
];

/**
 * True for Knative's and Kubernetes' health probes, which are never invocations: any
 * `K-Network-Probe` or `K-Kubelet-Probe` header, or a probe user agent (the `userAgentLength`
 * bytes at `userAgentAt`, where the header scan kept them; `userAgentAt` 0: none).
 */
export function isProbe(
  userAgentAt: usize,
  userAgentLength: u32,
  hasNetworkProbe: bool,
  hasKubeletProbe: bool,
): bool {
  if (hasNetworkProbe || hasKubeletProbe) return true;
  if (userAgentAt == 0) return false;
  for (let i = 0; i < PROBE_USER_AGENT_PREFIXES.length; i++) {
    if (startsWithBytes(userAgentAt, userAgentLength, unchecked(PROBE_USER_AGENT_PREFIXES[i]))) return true;
  }
  return false;
}

const QUEUE = coldBytes(ColdText.QueueProbeValue);
const ACTIVATOR = coldBytes(ColdText.ActivatorValue);
const GRPC_CONTENT_TYPE = coldBytes(ColdText.GrpcContentType);

/**
 * The activator's readiness probe of a pod (`K-Network-Probe: queue`, answered by queue-proxy
 * with 200 once the pod is ready; Knative's pkg/network probe handler), from the value's bytes
 * where the header scan kept them (`at` 0: absent).
 */
export function isReadinessProbe(kNetworkProbeAt: usize, kNetworkProbeLength: u32): bool {
  return equalsIgnoringCase(kNetworkProbeAt, kNetworkProbeLength, QUEUE);
}

/**
 * Whether the `length` bytes at `at` (a header value where the scan kept it; `at` 0: absent) start
 * with the lower-case ASCII `expected`, ignoring ASCII case.
 */
function startsIgnoringCase(at: usize, length: u32, expected: ArrayBuffer): bool {
  const n = <u32>expected.byteLength;
  if (at == 0 || length < n) return false;
  const want = changetype<usize>(expected);
  for (let i: u32 = 0; i < n; i++) {
    let c = <u32>load<u8>(at + i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c != <u32>load<u8>(want + i)) return false;
  }
  return true;
}

/** startsIgnoringCase of the whole value. */
function equalsIgnoringCase(at: usize, length: u32, expected: ArrayBuffer): bool {
  return length == <u32>expected.byteLength && startsIgnoringCase(at, length, expected);
}

/** `K-Proxy-Request: activator`: the activator forwarded this request (the value as bytes). */
export function isActivatorRequest(kProxyRequestAt: usize, kProxyRequestLength: u32): bool {
  return equalsIgnoringCase(kProxyRequestAt, kProxyRequestLength, ACTIVATOR);
}

/**
 * A gRPC request (`application/grpc`, `application/grpc+proto`, `application/grpc-web...`), from
 * the content type's bytes.
 */
export function isGrpcContentType(contentTypeAt: usize, contentTypeLength: u32): bool {
  return startsIgnoringCase(contentTypeAt, contentTypeLength, GRPC_CONTENT_TYPE);
}

// --- Response code classes --------------------------------------------------------------------

export const CODE_CLASS_COUNT: i32 = 6;
const CODE_CLASS_NAMES: string[] = ["none", "1xx", "2xx", "3xx", "4xx", "5xx"];

/** 0 for no (or an invalid) response code, else the hundreds digit (1..5). */
export function codeClassIndex(code: i64): i32 {
  if (code < 100 || code > 599) return 0;
  return <i32>(code / 100);
}

export function codeClassName(index: i32): string {
  return index >= 0 && index < CODE_CLASS_COUNT ? unchecked(CODE_CLASS_NAMES[index]) : "none";
}

// --- Errors -----------------------------------------------------------------------------------

export enum ErrorKind {
  None,
  Http5xx,
  LocalReply,
  UpstreamReset,
  Timeout,
  NoHealthyUpstream,
  DownstreamReset,
  Grpc,
}

export const ERROR_KIND_COUNT: i32 = 8;
const ERROR_KIND_NAMES: string[] = [
  "",
  "http_5xx",
  "local_reply",
  "upstream_reset",
  "timeout",
  "no_healthy_upstream",
  "downstream_reset",
  "grpc",
];

export function errorKindName(kind: ErrorKind): string {
  const index = <i32>kind;
  return index >= 0 && index < ERROR_KIND_COUNT ? unchecked(ERROR_KIND_NAMES[index]) : "";
}

// Envoy's response flags (StreamInfo CoreResponseFlag / legacy bitmask in `response.flags`).
const FAILED_LOCAL_HEALTH_CHECK: u64 = 0x1;
const NO_HEALTHY_UPSTREAM: u64 = 0x2;
const UPSTREAM_REQUEST_TIMEOUT: u64 = 0x4;
const LOCAL_RESET: u64 = 0x8;
const UPSTREAM_REMOTE_RESET: u64 = 0x10;
const UPSTREAM_CONNECTION_FAILURE: u64 = 0x20;
const UPSTREAM_CONNECTION_TERMINATION: u64 = 0x40;
const UPSTREAM_OVERFLOW: u64 = 0x80;
const NO_ROUTE_FOUND: u64 = 0x100;
const FAULT_INJECTED: u64 = 0x400;
const RATE_LIMITED: u64 = 0x800;
const UNAUTHORIZED_EXTERNAL_SERVICE: u64 = 0x1000;
const RATE_LIMIT_SERVICE_ERROR: u64 = 0x2000;
const DOWNSTREAM_CONNECTION_TERMINATION: u64 = 0x4000;
const UPSTREAM_RETRY_LIMIT_EXCEEDED: u64 = 0x8000;
const STREAM_IDLE_TIMEOUT: u64 = 0x10000;
const INVALID_ENVOY_REQUEST_HEADERS: u64 = 0x20000;
const DOWNSTREAM_PROTOCOL_ERROR: u64 = 0x40000;
const UPSTREAM_MAX_STREAM_DURATION_REACHED: u64 = 0x80000;
const NO_FILTER_CONFIG_FOUND: u64 = 0x200000;
const DURATION_TIMEOUT: u64 = 0x400000;
const UPSTREAM_PROTOCOL_ERROR: u64 = 0x800000;
const NO_CLUSTER_FOUND: u64 = 0x1000000;
const OVERLOAD_MANAGER: u64 = 0x2000000;
const DNS_RESOLUTION_FAILED: u64 = 0x4000000;
const DROP_OVERLOAD: u64 = 0x8000000;
const DOWNSTREAM_REMOTE_RESET: u64 = 0x10000000;

const TIMEOUT_FLAGS: u64 =
  UPSTREAM_REQUEST_TIMEOUT | STREAM_IDLE_TIMEOUT | UPSTREAM_MAX_STREAM_DURATION_REACHED | DURATION_TIMEOUT;
const DOWNSTREAM_RESET_FLAGS: u64 =
  DOWNSTREAM_CONNECTION_TERMINATION | DOWNSTREAM_PROTOCOL_ERROR | DOWNSTREAM_REMOTE_RESET;
const UPSTREAM_RESET_FLAGS: u64 =
  LOCAL_RESET |
  UPSTREAM_REMOTE_RESET |
  UPSTREAM_CONNECTION_FAILURE |
  UPSTREAM_CONNECTION_TERMINATION |
  UPSTREAM_OVERFLOW |
  UPSTREAM_RETRY_LIMIT_EXCEEDED |
  UPSTREAM_PROTOCOL_ERROR |
  DNS_RESOLUTION_FAILED;
const LOCAL_REPLY_FLAGS: u64 =
  FAILED_LOCAL_HEALTH_CHECK |
  NO_ROUTE_FOUND |
  FAULT_INJECTED |
  RATE_LIMITED |
  UNAUTHORIZED_EXTERNAL_SERVICE |
  RATE_LIMIT_SERVICE_ERROR |
  INVALID_ENVOY_REQUEST_HEADERS |
  NO_FILTER_CONFIG_FOUND |
  NO_CLUSTER_FOUND |
  OVERLOAD_MANAGER |
  DROP_OVERLOAD;

// Flags that say Envoy answered before it sent the request to any upstream: the filters ahead of
// the router refused it (rate limit, authorization, fault abort, ...), no route or cluster, no host
// to pick, the circuit breaker's overflow, no connection or no address. Istio's inbound routes
// retry nothing, so one attempt is the whole story there.
const NEVER_SENT_FLAGS: u64 =
  LOCAL_REPLY_FLAGS |
  NO_HEALTHY_UPSTREAM |
  UPSTREAM_OVERFLOW |
  UPSTREAM_CONNECTION_FAILURE |
  DNS_RESOLUTION_FAILED;

/**
 * Whether reachedUpstream needs to know if Envoy picked an upstream host (`upstream.address`): a
 * local reply only `response.code_details` named, which Envoy may make before the router (a direct
 * response) or after the upstream answered (its 500 for an oversized response).
 */
export function needsUpstreamAddress(flags: u64, kind: ErrorKind): bool {
  return kind == ErrorKind.LocalReply && (flags & NEVER_SENT_FLAGS) == 0;
}

/**
 * Whether the request reached the upstream (at the inbound sidecar: queue-proxy, then the user
 * container), from the flags and the error kind classifyOutcome gave; `hasUpstreamAddress` only
 * when needsUpstreamAddress asked. Timeouts, resets and any response that came through did reach it.
 */
export function reachedUpstream(flags: u64, kind: ErrorKind, hasUpstreamAddress: bool): bool {
  if (flags & NEVER_SENT_FLAGS || kind == ErrorKind.NoHealthyUpstream) return false;
  if (kind == ErrorKind.LocalReply) return hasUpstreamAddress;
  return true;
}

/**
 * Whether classifyOutcome needs `response.code_details`: a stream that ended without a response,
 * or with a 5xx, and no flag saying why. Envoy leaves the flags empty for some ends (an HTTP/2
 * client's reset before 1.30, Envoy's own 500 for an oversized response); the details name them on
 * every version. A warm 2xx never needs them.
 */
export function needsCodeDetails(code: i64, flags: u64): bool {
  return flags == 0 && (codeClassIndex(code) == 0 || code >= 500);
}

// Envoy's codec names the downstream side in these details (`http2.remote_reset`, ...): at the
// inbound sidecar the connection manager's codec is the one facing the client.
const DOWNSTREAM_DETAIL_PREFIXES: string[] = ["downstream_", "http1.", "http2.", "http3.", "codec_error"];

/**
 * The error kind `response.code_details` names (Envoy's StreamInfo::ResponseCodeDetails); None for
 * `via_upstream` (the workload answered: the code decides) and for no details. Any other reason is
 * one Envoy gave itself: a local reply.
 */
export function errorKindOfCodeDetails(details: string): ErrorKind {
  if (details.length == 0 || details == "via_upstream") return ErrorKind.None;
  if (details.startsWith("upstream_reset_")) return ErrorKind.UpstreamReset;
  if (details == "no_healthy_upstream") return ErrorKind.NoHealthyUpstream;
  if (details.includes("timeout") || details == "upstream_max_stream_duration_reached") {
    return ErrorKind.Timeout;
  }
  for (let i = 0; i < DOWNSTREAM_DETAIL_PREFIXES.length; i++) {
    if (details.startsWith(unchecked(DOWNSTREAM_DETAIL_PREFIXES[i]))) return ErrorKind.DownstreamReset;
  }
  return ErrorKind.LocalReply;
}

/**
 * Whether classifyOutcome can name the error kind at the response headers, without
 * `response.code_details` (for the access loggers Envoy up to 1.31 runs before on_log): not for a
 * 504 without flags, which only the details at on_log tell apart (the upstream's timeout when they
 * say `via_upstream`, else whatever reply of Envoy's they name).
 */
export function errorKindKnownAtResponseHeaders(code: i64, flags: u64): bool {
  return !(code == 504 && flags == 0);
}

/**
 * How a stream ended, from its response code (0: none), Envoy's response flags, and, for gRPC
 * requests, the gRPC status (-1: none); `codeDetails` when needsCodeDetails asked for them (null:
 * not read or absent). Flags come first: they say why there was no upstream response even when
 * Envoy then answered with a code of its own; then the details, for ends no flag names.
 */
export function classifyOutcome(
  code: i64,
  flags: u64,
  grpc: bool,
  grpcStatus: i64,
  codeDetails: string | null = null,
): ErrorKind {
  if (flags & TIMEOUT_FLAGS) return ErrorKind.Timeout;
  if (flags & NO_HEALTHY_UPSTREAM) return ErrorKind.NoHealthyUpstream;
  if (flags & DOWNSTREAM_RESET_FLAGS) return ErrorKind.DownstreamReset;
  if (flags & UPSTREAM_RESET_FLAGS) return ErrorKind.UpstreamReset;
  if (flags & LOCAL_REPLY_FLAGS) return ErrorKind.LocalReply;
  if (codeDetails != null) {
    const named = errorKindOfCodeDetails(codeDetails);
    if (named != ErrorKind.None) return named;
  }
  if (codeClassIndex(code) == 0) return ErrorKind.UpstreamReset; // no response and no reason given
  // 504 is Gateway Timeout: from the inbound sidecar's upstream it is queue-proxy's timeout handler
  // (the revision's timeoutSeconds), or a timeout the container reports as a gateway itself. Nothing
  // readable without the body tells those two apart, and both are timeouts.
  if (code == 504 && codeDetails == "via_upstream") return ErrorKind.Timeout;
  if (code >= 500) return ErrorKind.Http5xx;
  if (grpc && code >= 200 && code < 300 && grpcStatus > 0) return ErrorKind.Grpc;
  return ErrorKind.None;
}
