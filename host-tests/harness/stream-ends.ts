// How Envoy ends a stream, per Envoy version: the response code, response.code_details and
// response.flags it records, and whether the Wasm filter was in the chain at all. The same table is
// written out, with the upstream source of each row, in docs/harness.md ("Stream ends"); a test
// keeps the two equal. Versions are Envoy minor versions (28 = 1.28); a row holds from its `since`
// until the next row of the same kind.

import { ResponseFlag } from "./response-flags.js";
import type { StreamEnd } from "./types.js";

export type StreamEndKind =
  | "upstream_response"
  | "upstream_connection_failure"
  | "upstream_reset_before_response"
  | "upstream_reset_after_response"
  | "upstream_timeout"
  | "request_payload_too_large"
  | "response_payload_too_large"
  | "request_headers_too_large"
  | "too_many_request_headers"
  | "http1_client_disconnect"
  | "http2_client_reset";

export interface StreamEndRow {
  kind: StreamEndKind;
  /** First Envoy minor version (1.<since>) the row holds for. */
  since: number;
  /** response.code; undefined when no response was produced (the upstream's own code for upstream_response). */
  responseCode?: number;
  responseCodeDetails: string;
  responseFlags: number;
  /** False when the codec refused the request before the HTTP filter chain existed: no context, no on_log. */
  filterSeesStream: boolean;
}

/** The oldest Envoy the project supports (Istio 1.20). */
export const OLDEST_ENVOY_MINOR = 28;

export const STREAM_END_ROWS: readonly StreamEndRow[] = [
  {
    kind: "upstream_response",
    since: 28,
    responseCodeDetails: "via_upstream",
    responseFlags: 0,
    filterSeesStream: true,
  },
  {
    kind: "upstream_connection_failure",
    since: 28,
    responseCode: 503,
    responseCodeDetails: "upstream_reset_before_response_started{connection_failure}",
    responseFlags: ResponseFlag.UpstreamConnectionFailure,
    filterSeesStream: true,
  },
  {
    kind: "upstream_reset_before_response",
    since: 28,
    responseCode: 503,
    responseCodeDetails: "upstream_reset_before_response_started{connection_termination}",
    responseFlags: ResponseFlag.UpstreamConnectionTermination,
    filterSeesStream: true,
  },
  {
    kind: "upstream_reset_after_response",
    since: 28,
    responseCodeDetails: "upstream_reset_after_response_started{connection_termination}",
    responseFlags: ResponseFlag.UpstreamConnectionTermination,
    filterSeesStream: true,
  },
  {
    kind: "upstream_timeout",
    since: 28,
    responseCode: 504,
    responseCodeDetails: "upstream_response_timeout",
    responseFlags: ResponseFlag.UpstreamRequestTimeout,
    filterSeesStream: true,
  },
  {
    kind: "request_payload_too_large",
    since: 28,
    responseCode: 413,
    responseCodeDetails: "request_payload_too_large",
    responseFlags: 0,
    filterSeesStream: true,
  },
  {
    kind: "response_payload_too_large",
    since: 28,
    responseCode: 500,
    responseCodeDetails: "response_payload_too_large",
    responseFlags: 0,
    filterSeesStream: true,
  },
  {
    kind: "request_headers_too_large",
    since: 28,
    responseCode: 431,
    responseCodeDetails: "http1.headers_too_large",
    responseFlags: ResponseFlag.DownstreamProtocolError,
    filterSeesStream: false,
  },
  {
    kind: "too_many_request_headers",
    since: 28,
    responseCode: 431,
    responseCodeDetails: "http1.too_many_headers",
    responseFlags: ResponseFlag.DownstreamProtocolError,
    filterSeesStream: false,
  },
  {
    kind: "http1_client_disconnect",
    since: 28,
    responseCodeDetails: "downstream_remote_disconnect",
    responseFlags: ResponseFlag.DownstreamConnectionTermination,
    filterSeesStream: true,
  },
  {
    kind: "http2_client_reset",
    since: 28,
    responseCodeDetails: "http2.remote_reset",
    responseFlags: 0,
    filterSeesStream: true,
  },
  {
    kind: "http2_client_reset",
    since: 30,
    responseCodeDetails: "http2.remote_reset",
    responseFlags: ResponseFlag.DownstreamRemoteReset,
    filterSeesStream: true,
  },
];

/** The Envoy version the harness models when none is given (PluginOptions.envoy, kwt run --envoy). */
export const DEFAULT_ENVOY_VERSION = "1.33";

/** "1.30" or "1.30.2" -> 30; undefined when `version` is not 1.MINOR[.PATCH]. */
export function parseEnvoyMinor(version: string): number | undefined {
  const match = /^1\.(\d{1,3})(?:\.\d+)?$/.exec(version);
  return match === null ? undefined : Number(match[1]);
}

/** "1.30" or "1.30.2" -> 30; a malformed version or one older than 1.28 is refused with the expected form. */
export function envoyMinorVersion(version: string): number {
  const minor = parseEnvoyMinor(version);
  if (minor === undefined || minor < OLDEST_ENVOY_MINOR) {
    throw new RangeError(
      `Envoy version '${version}': expected 1.MINOR with MINOR >= ${OLDEST_ENVOY_MINOR} (e.g. 1.28, 1.30, 1.33)`,
    );
  }
  return minor;
}

/** The row that holds for `kind` on Envoy 1.<minor>. */
export function streamEndRow(kind: StreamEndKind, minor: number): StreamEndRow {
  let found: StreamEndRow | undefined;
  for (const row of STREAM_END_ROWS) {
    if (row.kind === kind && row.since <= minor && (found === undefined || row.since > found.since))
      found = row;
  }
  if (found === undefined) throw new RangeError(`no stream end '${kind}' for Envoy 1.${minor}`);
  return found;
}

/** What Stream.end() takes for `kind` on Envoy 1.<minor>. */
export function envoyStreamEnd(kind: StreamEndKind, minor: number): StreamEnd {
  const row = streamEndRow(kind, minor);
  const end: StreamEnd = { responseCodeDetails: row.responseCodeDetails, responseFlags: row.responseFlags };
  if (row.responseCode !== undefined) end.responseCode = row.responseCode;
  return end;
}

/** Envoy's HTTP connection manager defaults: max_request_headers_kb 60, max_headers_count 100. */
export interface RequestHeaderLimits {
  maxBytes: number;
  maxCount: number;
}

export const DEFAULT_REQUEST_HEADER_LIMITS: Readonly<RequestHeaderLimits> = Object.freeze({
  maxBytes: 60 * 1024,
  maxCount: 100,
});

/**
 * The HTTP/1 codec's checks while it parses the header block (before any filter): more header
 * lines than `maxCount`, or names plus values beyond `maxBytes`. `wireHeaders` are the lines as
 * received (the Host line included, no pseudo-headers).
 */
export function requestHeaderLimitExceeded(
  wireHeaders: ReadonlyArray<readonly [string, string]>,
  limits: RequestHeaderLimits = DEFAULT_REQUEST_HEADER_LIMITS,
): "request_headers_too_large" | "too_many_request_headers" | undefined {
  let bytes = 0;
  for (let index = 0; index < wireHeaders.length; index++) {
    const [name, value] = wireHeaders[index] as readonly [string, string];
    bytes += name.length + value.length;
    if (bytes > limits.maxBytes) return "request_headers_too_large";
    if (index + 1 > limits.maxCount) return "too_many_request_headers";
  }
  return undefined;
}
