// The subset of Envoy's access-log formatter the project needs (source/common/formatter/
// substitution_formatter.cc and stream_info_formatter.cc; command operators as documented in
// docs/root/configuration/observability/access_log/usage.rst): %FILTER_STATE(key:PLAIN)%,
// %RESPONSE_CODE%, %RESPONSE_FLAGS%, %RESPONSE_CODE_DETAILS%, %DURATION%, %REQ(X)% and
// %UPSTREAM_CLUSTER%, each with an optional :N truncation; a value that is not there prints "-".
// Also when the connection manager's loggers run relative to the filters' on_log.

import { responseFlagsText } from "./response-flags.js";

/** What one stream shows its access loggers. */
export interface AccessLogEntry {
  /** Filter state by full key (proxy_set_property values are "wasm.<name>"). */
  filterState(key: string): Uint8Array | undefined;
  /** First value of a request header (lower-case name), as the request left the filters. */
  requestHeader(name: string): string | undefined;
  responseCode?: number;
  responseFlags: number;
  responseCodeDetails?: string;
  durationNs?: bigint;
  upstreamCluster?: string;
}

type Field = (entry: AccessLogEntry) => string | undefined;

const decoder = new TextDecoder();
const SUPPORTED =
  "%FILTER_STATE(KEY:PLAIN)%, %RESPONSE_CODE%, %RESPONSE_FLAGS%, %RESPONSE_CODE_DETAILS%, %DURATION%, %REQ(HEADER)%, %UPSTREAM_CLUSTER%";

function field(name: string, argument: string | undefined, at: number): Field {
  const noArgument = (value: Field): Field => {
    if (argument !== undefined) throw new FormatError(`%${name}% takes no argument`, at);
    return value;
  };
  switch (name) {
    case "RESPONSE_CODE":
      // Envoy prints 0 when no response was produced.
      return noArgument((entry) => String(entry.responseCode ?? 0));
    case "RESPONSE_FLAGS":
      return noArgument((entry) => responseFlagsText(entry.responseFlags));
    case "RESPONSE_CODE_DETAILS":
      return noArgument((entry) => entry.responseCodeDetails);
    case "DURATION":
      return noArgument((entry) =>
        entry.durationNs === undefined ? undefined : String(entry.durationNs / 1_000_000n),
      );
    case "UPSTREAM_CLUSTER":
      return noArgument((entry) => entry.upstreamCluster);
    case "REQ":
      return requestHeaderField(argument, at);
    case "FILTER_STATE":
      return filterStateField(argument, at);
    default:
      throw new FormatError(`%${name}% is not supported; kwt supports ${SUPPORTED}`, at);
  }
}

/** %REQ(X?Y)%: header X, else Y. */
function requestHeaderField(argument: string | undefined, at: number): Field {
  if (argument === undefined || argument === "") throw new FormatError("%REQ(...)% needs a header name", at);
  const names = argument.toLowerCase().split("?");
  if (names.length > 2 || names.some((name) => name === "")) {
    throw new FormatError(`%REQ(${argument})%: expected HEADER or HEADER?ALTERNATIVE`, at);
  }
  return (entry) => {
    for (const name of names) {
      const value = entry.requestHeader(name);
      if (value !== undefined) return value;
    }
    return undefined;
  };
}

/** %FILTER_STATE(KEY:PLAIN)%: the object's serializeAsString(), the raw bytes of a Wasm value. */
function filterStateField(argument: string | undefined, at: number): Field {
  const colon = argument?.lastIndexOf(":") ?? -1;
  const key = argument?.slice(0, colon);
  const mode = argument?.slice(colon + 1);
  if (argument === undefined || colon <= 0 || mode !== "PLAIN") {
    throw new FormatError(
      `%FILTER_STATE(${argument ?? ""})%: kwt supports only the PLAIN form, %FILTER_STATE(KEY:PLAIN)% (Envoy's default TYPED form prints a JSON wrapper)`,
      at,
    );
  }
  return (entry) => {
    const value = entry.filterState(key as string);
    return value === undefined ? undefined : decoder.decode(value);
  };
}

export class FormatError extends Error {
  constructor(message: string, at: number) {
    super(`access log format, at character ${at + 1}: ${message}`);
  }
}

const OPERATOR = /%([A-Z_]+)(?:\(([^)]*)\))?(?::(\d+))?%/y;

/** A parsed format: literal text and command operators. */
export class AccessLogFormat {
  private constructor(private readonly parts: Array<string | { field: Field; maxLength?: number }>) {}

  /** Throws FormatError naming the operator and its position when the format uses what kwt does not model. */
  static parse(format: string): AccessLogFormat {
    const parts: Array<string | { field: Field; maxLength?: number }> = [];
    let literal = "";
    let at = 0;
    while (at < format.length) {
      if (format[at] !== "%") {
        literal += format[at];
        at++;
        continue;
      }
      OPERATOR.lastIndex = at;
      const match = OPERATOR.exec(format);
      if (match === null) throw new FormatError("'%' starts no command operator such as %RESPONSE_CODE%", at);
      if (literal !== "") parts.push(literal);
      literal = "";
      const [whole, name, argument, maxLength] = match;
      const part: { field: Field; maxLength?: number } = { field: field(name as string, argument, at) };
      if (maxLength !== undefined) part.maxLength = Number(maxLength);
      parts.push(part);
      at += whole.length;
    }
    if (literal !== "") parts.push(literal);
    return new AccessLogFormat(parts);
  }

  format(entry: AccessLogEntry): string {
    let line = "";
    for (const part of this.parts) {
      if (typeof part === "string") {
        line += part;
        continue;
      }
      const value = part.field(entry);
      line +=
        value === undefined ? "-" : part.maxLength === undefined ? value : value.slice(0, part.maxLength);
    }
    return line;
  }
}

/**
 * Whether the connection manager's access loggers (Istio's) run before the filters' handlers, the
 * Wasm filter's proxy_on_log among them: up to Envoy 1.31 they do, so a value the module sets only
 * in on_log is not in their line; from 1.32 the filters' run first
 * (envoy.reloadable_features.filter_access_loggers_first, conn_manager_impl.h accessLogHandlers()).
 */
export function connectionManagerLogsFirst(envoyMinor: number): boolean {
  return envoyMinor <= 31;
}

/** An access log as the stream driver uses it: a parsed format, where lines go, and the order. */
export interface StreamAccessLog {
  format: AccessLogFormat;
  write: (line: string) => void;
  beforeFilters: boolean;
}
