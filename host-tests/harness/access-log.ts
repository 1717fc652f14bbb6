// The subset of Envoy's access-log formatter the project needs (source/common/formatter/
// substitution_formatter.cc and stream_info_formatter.cc; command operators as documented in
// docs/root/configuration/observability/access_log/usage.rst): %FILTER_STATE(key:PLAIN)%,
// %RESPONSE_CODE%, %RESPONSE_FLAGS%, %RESPONSE_CODE_DETAILS%, %DURATION%, %REQUEST_TX_DURATION%, %START_TIME%,
// %REQ(X)% and %UPSTREAM_CLUSTER%, each with an optional :N truncation; a value that is not there
// prints "-".
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
  /** When the stream started (its first request byte), nanoseconds since the epoch. */
  startTimeNs?: bigint;
  /** From the start to the request's last byte sent upstream. */
  requestTxDurationNs?: bigint;
  upstreamCluster?: string;
}

type Field = (entry: AccessLogEntry) => string | undefined;

const decoder = new TextDecoder();
const SUPPORTED =
  "%FILTER_STATE(KEY:PLAIN)%, %RESPONSE_CODE%, %RESPONSE_FLAGS%, %RESPONSE_CODE_DETAILS%, %DURATION%, %REQUEST_TX_DURATION%, %START_TIME%, %REQ(HEADER)%, %UPSTREAM_CLUSTER%";

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
      return noArgument((entry) => wholeMilliseconds(entry.durationNs));
    case "REQUEST_TX_DURATION":
      return noArgument((entry) => wholeMilliseconds(entry.requestTxDurationNs));
    case "UPSTREAM_CLUSTER":
      return noArgument((entry) => entry.upstreamCluster);
    case "START_TIME":
      return startTimeField(argument, at);
    case "REQ":
      return requestHeaderField(argument, at);
    case "FILTER_STATE":
      return filterStateField(argument, at);
    default:
      throw new FormatError(`%${name}% is not supported; kwt supports ${SUPPORTED}`, at);
  }
}

function wholeMilliseconds(ns: bigint | undefined): string | undefined {
  return ns === undefined ? undefined : String(ns / 1_000_000n);
}

/** The strftime specifiers %START_TIME(...)% takes, as Envoy's formatter reads them (UTC). */
const TIME_SPECIFIER = /%(?:([1-9]?)f|E3S|[sYmdHMS%])/y;
const TIME_SPECIFIERS = "%s, %f, %1f..%9f, %Y, %m, %d, %H, %M, %S, %E3S, %%";

/**
 * %START_TIME%: Envoy's default `%Y-%m-%dT%H:%M:%E3SZ`; %START_TIME(FORMAT)% the strftime subset
 * above, where %s is whole seconds since the epoch and %Nf the first N digits of the fraction (%f:
 * nine), so `%s%3f` is milliseconds since the epoch.
 */
function startTimeField(argument: string | undefined, at: number): Field {
  const format = argument ?? "%Y-%m-%dT%H:%M:%E3SZ";
  const pieces: Array<string | ((ns: bigint) => string)> = [];
  for (let i = 0; i < format.length;) {
    if (format[i] !== "%") {
      pieces.push(format[i]!);
      i++;
      continue;
    }
    TIME_SPECIFIER.lastIndex = i;
    const match = TIME_SPECIFIER.exec(format);
    if (match === null) {
      throw new FormatError(
        `%START_TIME(${format})%: at '${format.slice(i, i + 3)}', expected one of ${TIME_SPECIFIERS}`,
        at,
      );
    }
    pieces.push(timePiece(match[0], match[1]));
    i += match[0].length;
  }
  return (entry) => {
    const ns = entry.startTimeNs;
    if (ns === undefined) return undefined;
    return pieces.map((piece) => (typeof piece === "string" ? piece : piece(ns))).join("");
  };
}

function timePiece(specifier: string, fractionDigits: string | undefined): string | ((ns: bigint) => string) {
  const utc = (ns: bigint): Date => new Date(Number(ns / 1_000_000n));
  const two = (value: number): string => String(value).padStart(2, "0");
  const fraction = (ns: bigint): string => String(ns % 1_000_000_000n).padStart(9, "0");
  if (fractionDigits !== undefined) {
    const digits = fractionDigits === "" ? 9 : Number(fractionDigits);
    return (ns) => fraction(ns).slice(0, digits);
  }
  switch (specifier) {
    case "%s":
      return (ns) => String(ns / 1_000_000_000n);
    case "%Y":
      return (ns) => String(utc(ns).getUTCFullYear());
    case "%m":
      return (ns) => two(utc(ns).getUTCMonth() + 1);
    case "%d":
      return (ns) => two(utc(ns).getUTCDate());
    case "%H":
      return (ns) => two(utc(ns).getUTCHours());
    case "%M":
      return (ns) => two(utc(ns).getUTCMinutes());
    case "%S":
      return (ns) => two(utc(ns).getUTCSeconds());
    case "%E3S":
      return (ns) => `${two(utc(ns).getUTCSeconds())}.${fraction(ns).slice(0, 3)}`;
    default:
      return "%";
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
