// proxy_get_property / proxy_set_property as Envoy implements them (Context::getProperty over CEL
// values): the path is its segments joined by NUL; the first segment picks a top-level value, the
// rest walk maps (by key), messages (by field name) and lists (by index). Values are serialized as
// Envoy's serializeValue does: strings and bytes raw, int64/uint64/double as 8 bytes little-endian,
// bool as 1 byte, timestamps and durations as int64 nanoseconds, maps and lists as pairs (values
// nested the same way), messages in protobuf wire format.
//
// Three layouts (PropertyLayout): the Wasm context first offered `node`, `listener_direction`,
// `cluster_name`... itself; Envoy 1.30 added the same under `xds` (xds.node,
// xds.listener_direction...) beside them; Envoy 1.33 removed the Wasm-specific names.

import { type HeaderMap } from "./headers.js";
import { encodePairs, type BytePairs } from "./pairs.js";
import { encodeLocality, encodeNode, type NodeMessage, type StructValue } from "./protobuf.js";
import { parseEnvoyMinor } from "./stream-ends.js";
import { WasmResult, type NodeIdentity, type PropertyLayout, type TrafficDirection } from "./types.js";

export type PropertyValue =
  | { type: "string"; value: string }
  | { type: "bytes"; value: Uint8Array }
  | { type: "int64"; value: bigint }
  | { type: "uint64"; value: bigint }
  | { type: "double"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "timestamp"; ns: bigint }
  | { type: "duration"; ns: bigint }
  | { type: "map"; entries: Array<[string, PropertyValue]> }
  | { type: "list"; items: PropertyValue[] }
  /** A protobuf message: fields by name; serialized whole in wire format. */
  | { type: "message"; fields: Record<string, PropertyValue>; encode: () => Uint8Array }
  /** Envoy's request/response/connection wrappers: keyed lookups only; cannot be serialized whole. */
  | { type: "lookup"; get: (key: string) => PropertyValue | undefined };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export const str = (value: string): PropertyValue => ({ type: "string", value });
export const int64 = (value: number | bigint): PropertyValue => ({ type: "int64", value: BigInt(value) });
export const uint64 = (value: number | bigint): PropertyValue => ({ type: "uint64", value: BigInt(value) });
export const bool = (value: boolean): PropertyValue => ({ type: "bool", value });

// Creating a DataView costs far more than copying eight bytes: values are written here, then copied.
const scratchView = new DataView(new ArrayBuffer(8));
const scratchBytes = new Uint8Array(scratchView.buffer);

function eightBytes(write: (view: DataView) => void): Uint8Array {
  write(scratchView);
  return scratchBytes.slice();
}

/** serializeValue: undefined means SerializationFailure. */
export function serializeProperty(value: PropertyValue): Uint8Array | undefined {
  switch (value.type) {
    case "string":
      return encoder.encode(value.value);
    case "bytes":
      return value.value;
    case "int64":
      return eightBytes((v) => v.setBigInt64(0, BigInt.asIntN(64, value.value), true));
    case "uint64":
      return eightBytes((v) => v.setBigUint64(0, BigInt.asUintN(64, value.value), true));
    case "double":
      return eightBytes((v) => v.setFloat64(0, value.value, true));
    case "bool":
      return Uint8Array.of(value.value ? 1 : 0);
    case "timestamp":
    case "duration":
      return eightBytes((v) => v.setBigInt64(0, BigInt.asIntN(64, value.ns), true));
    case "map": {
      const pairs: Array<[string, Uint8Array]> = [];
      for (const [key, item] of value.entries) {
        const bytes = serializeProperty(item);
        if (bytes === undefined) return undefined;
        pairs.push([key, bytes]);
      }
      return encodePairs(pairs);
    }
    case "list": {
      // Envoy writes list elements as pair keys with empty values.
      const pairs: BytePairs = [];
      for (const item of value.items) {
        const bytes = serializeProperty(item);
        if (bytes === undefined) return undefined;
        pairs.push([bytes, new Uint8Array(0)]);
      }
      return encodePairs(pairs);
    }
    case "message":
      return value.encode();
    case "lookup":
      return undefined;
  }
}

function child(value: PropertyValue, segment: string): PropertyValue | undefined {
  switch (value.type) {
    case "map":
      return value.entries.find(([key]) => key === segment)?.[1];
    case "message":
      return Object.hasOwn(value.fields, segment) ? value.fields[segment] : undefined;
    case "lookup":
      return value.get(segment);
    case "list": {
      if (!/^-?\d+$/.test(segment)) return undefined;
      const index = Number(segment);
      return index >= 0 && index < value.items.length ? value.items[index] : undefined;
    }
    default:
      return undefined;
  }
}

function fromStruct(value: StructValue): PropertyValue | undefined {
  if (value === null) return undefined;
  if (typeof value === "string") return str(value);
  if (typeof value === "number") return { type: "double", value };
  if (typeof value === "boolean") return bool(value);
  if (Array.isArray(value)) {
    return { type: "list", items: value.flatMap((v) => fromStruct(v) ?? []) };
  }
  return {
    type: "map",
    entries: Object.entries(value).flatMap(([k, v]): Array<[string, PropertyValue]> => {
      const converted = fromStruct(v);
      return converted ? [[k, converted]] : [];
    }),
  };
}

/** The node Istio's pilot-agent gives Envoy (id, cluster, metadata, locality). */
export function istioNode(identity: NodeIdentity = {}): NodeMessage {
  const podName = identity.podName ?? "kwt-pod-0";
  const namespace = identity.namespace ?? "default";
  const metadata: { [key: string]: StructValue } = { NAME: podName, NAMESPACE: namespace };
  if (identity.cluster !== undefined) metadata.CLUSTER_ID = identity.cluster;
  if (identity.meshId !== undefined) metadata.MESH_ID = identity.meshId;
  if (identity.workloadName !== undefined) metadata.WORKLOAD_NAME = identity.workloadName;
  if (identity.istioVersion !== undefined) metadata.ISTIO_VERSION = identity.istioVersion;
  if (identity.labels !== undefined) metadata.LABELS = { ...identity.labels };
  return {
    id: `${identity.proxyType ?? "sidecar"}~10.0.0.1~${podName}.${namespace}~${namespace}.svc.cluster.local`,
    cluster: `${identity.workloadName ?? podName}.${namespace}`,
    metadata,
    locality: { region: identity.region ?? "", zone: identity.zone ?? "", subZone: "" },
  };
}

function nodeValue(node: NodeMessage): PropertyValue {
  // Unset proto3 string fields read as "" (CreateValueFromSingleField), Struct fields as maps.
  const locality: PropertyValue = {
    type: "message",
    fields: {
      region: str(node.locality.region),
      zone: str(node.locality.zone),
      sub_zone: str(node.locality.subZone),
    },
    encode: () => encodeLocality(node.locality),
  };
  return {
    type: "message",
    fields: {
      id: str(node.id),
      cluster: str(node.cluster),
      metadata: fromStruct(node.metadata) ?? { type: "map", entries: [] },
      locality,
      user_agent_name: str("envoy"),
    },
    encode: () => encodeNode(node),
  };
}

/** Envoy's core.v3.TrafficDirection: INBOUND 1, OUTBOUND 2. */
export function directionCode(direction: TrafficDirection): number {
  return direction === "inbound" ? 1 : 2;
}

export const PROPERTY_LAYOUTS: readonly PropertyLayout[] = ["legacy", "legacy-and-xds", "xds"];

/**
 * The layout of an Envoy version ("1.28", "1.31.2"). Sources (envoyproxy/envoy):
 * - `xds.*` in Wasm: #31620 wired the `xds` attributes into source/extensions/common/wasm/context.cc,
 *   and #32077 (opened 2024-01-26, after 1.29.0 of 2024-01-16 per changelogs/1.29.0.yaml) made
 *   `xds.node` readable on a root context, where a filter reads its node metadata. So 1.29 counts
 *   as legacy: its changelog only deprecates the Wasm-specific names. 1.30 has both.
 * - #36619 (2024-10-15, after 1.32.0) removed the Wasm-specific names: 1.33 has `xds.*` only.
 */
export function propertyLayoutOf(envoyVersion: string): PropertyLayout {
  const minor = parseEnvoyMinor(envoyVersion);
  if (minor === undefined) {
    throw new RangeError(
      `Envoy version '${envoyVersion}' is not 1.MINOR or 1.MINOR.PATCH (e.g. 1.28, 1.30.4)`,
    );
  }
  return minor >= 33 ? "xds" : minor >= 30 ? "legacy-and-xds" : "legacy";
}

/** What one stream exposes; absent on root contexts (no StreamInfo there). */
export interface StreamFacts {
  /** The request header map the stream can see now (held during its callback, or in on_log). */
  requestHeaders(): HeaderMap | undefined;
  responseHeaders(): HeaderMap | undefined;
  responseTrailers(): HeaderMap | undefined;
  startTimeNs: bigint;
  /** Set once the request completed (proxy_on_log). */
  durationNs?: bigint;
  protocol: string;
  bytesReceived: number;
  bytesSent: number;
  responseCode?: number;
  responseCodeDetails?: string;
  responseFlags: number;
  grpcStatus?: number;
  mtls: boolean;
  /** First URI SAN of the downstream / upstream peer certificate, when there is one. */
  peerUriSan?: string;
  upstreamUriSan?: string;
  requestedServerName: string;
  connectionId: number;
  sourceAddress: string;
  destinationAddress: string;
  upstreamAddress?: string;
  upstreamCluster?: string;
  routeName: string;
  /** proxy_set_property values (filter state "wasm.<path>"), raw bytes. */
  filterState: Map<string, Uint8Array>;
  /** Test overrides by dotted path. */
  overrides: Map<string, PropertyValue>;
}

export interface PropertyScope {
  layout: PropertyLayout;
  node: NodeMessage;
  direction: TrafficDirection;
  pluginName: string;
  rootId: string;
  vmId: string;
  stream?: StreamFacts;
}

function port(address: string): PropertyValue | undefined {
  const match = /:(\d+)$/.exec(address);
  return match ? int64(Number(match[1])) : undefined;
}

function headerValue(map: HeaderMap | undefined, name: string): PropertyValue | undefined {
  const value = map?.get(name);
  return value === undefined ? undefined : str(value);
}

function headersLookup(map: HeaderMap | undefined): PropertyValue {
  return {
    type: "lookup",
    get: (name) => {
      const value = map?.getJoined(name);
      return value === undefined ? undefined : str(value);
    },
  };
}

function requestValue(s: StreamFacts): PropertyValue {
  return {
    type: "lookup",
    get: (key) => {
      const headers = s.requestHeaders();
      const path = headers?.get(":path");
      switch (key) {
        case "headers":
          return headersLookup(headers);
        case "time":
          return { type: "timestamp", ns: s.startTimeNs };
        case "duration":
          return s.durationNs === undefined ? undefined : { type: "duration", ns: s.durationNs };
        case "protocol":
          return str(s.protocol);
        case "path":
          return headerValue(headers, ":path");
        case "url_path":
          return path === undefined ? undefined : str(path.split("?")[0] ?? "");
        case "query": {
          if (path === undefined) return undefined;
          const at = path.indexOf("?");
          return str(at < 0 ? "" : (path.slice(at + 1).split("#")[0] ?? ""));
        }
        case "host":
          return headerValue(headers, ":authority");
        case "scheme":
          return headerValue(headers, ":scheme");
        case "method":
          return headerValue(headers, ":method");
        case "referer":
          return headerValue(headers, "referer");
        case "useragent":
          return headerValue(headers, "user-agent");
        case "id":
          return headerValue(headers, "x-request-id");
        case "size": {
          const length = headers?.get("content-length");
          if (length !== undefined) return /^\d+$/.test(length) ? int64(BigInt(length)) : undefined;
          return int64(s.bytesReceived);
        }
        case "total_size":
          return int64(s.bytesReceived + (headers?.byteSize() ?? 0));
        default:
          return undefined;
      }
    },
  };
}

function responseValue(s: StreamFacts): PropertyValue {
  return {
    type: "lookup",
    get: (key) => {
      switch (key) {
        case "code":
          return s.responseCode === undefined ? undefined : int64(s.responseCode);
        case "code_details":
          return s.responseCodeDetails === undefined ? undefined : str(s.responseCodeDetails);
        case "flags":
          return int64(s.responseFlags);
        case "grpc_status":
          return s.grpcStatus === undefined ? undefined : int64(s.grpcStatus);
        case "headers":
          return headersLookup(s.responseHeaders());
        case "trailers":
          return headersLookup(s.responseTrailers());
        case "size":
          return int64(s.bytesSent);
        case "total_size":
          return int64(
            s.bytesSent + (s.responseHeaders()?.byteSize() ?? 0) + (s.responseTrailers()?.byteSize() ?? 0),
          );
        default:
          return undefined;
      }
    },
  };
}

function peerValue(address: string): PropertyValue {
  return {
    type: "lookup",
    get: (key) => (key === "address" ? str(address) : key === "port" ? port(address) : undefined),
  };
}

// Envoy's CEL connection/upstream wrappers (source/extensions/filters/common/expr/context.cc,
// extractSslInfo): the first URI SAN of the peer certificate as a string; NotFound without TLS or
// without a URI SAN.
const URI_SAN_PEER_CERTIFICATE = "uri_san_peer_certificate";

function optionalString(value: string | undefined): PropertyValue | undefined {
  return value === undefined ? undefined : str(value);
}

function streamTopLevel(name: string, s: StreamFacts): PropertyValue | undefined {
  switch (name) {
    case "request":
      return requestValue(s);
    case "response":
      return responseValue(s);
    case "connection":
      return {
        type: "lookup",
        get: (key) =>
          key === "mtls"
            ? bool(s.mtls)
            : key === "requested_server_name"
              ? str(s.requestedServerName)
              : key === "id"
                ? uint64(s.connectionId)
                : key === URI_SAN_PEER_CERTIFICATE
                  ? optionalString(s.peerUriSan)
                  : undefined,
      };
    case "upstream":
      return {
        type: "lookup",
        get: (key) => {
          if (s.upstreamAddress === undefined) return undefined;
          return key === "address"
            ? str(s.upstreamAddress)
            : key === "port"
              ? port(s.upstreamAddress)
              : key === URI_SAN_PEER_CERTIFICATE
                ? optionalString(s.upstreamUriSan)
                : undefined;
        },
      };
    case "source":
      return peerValue(s.sourceAddress);
    case "destination":
      return peerValue(s.destinationAddress);
    case "metadata":
      return {
        type: "message",
        fields: { filter_metadata: { type: "map", entries: [] } },
        encode: () => new Uint8Array(0),
      };
    default:
      return undefined;
  }
}

function xdsValue(scope: PropertyScope): PropertyValue {
  const s = scope.stream;
  return {
    type: "lookup",
    get: (key) => {
      if (key === "node") return nodeValue(scope.node);
      // Every other xds attribute reads the StreamInfo, which root contexts do not have.
      if (s === undefined) return undefined;
      switch (key) {
        case "listener_direction":
          return int64(directionCode(scope.direction));
        case "cluster_name":
          return s.upstreamCluster === undefined ? undefined : str(s.upstreamCluster);
        case "route_name":
          return str(s.routeName);
        case "filter_chain_name":
          return str("");
        default:
          return undefined;
      }
    },
  };
}

function topLevel(name: string, scope: PropertyScope): PropertyValue | undefined {
  const s = scope.stream;
  if (s !== undefined) {
    const value = streamTopLevel(name, s);
    if (value !== undefined) return value;
  }
  switch (name) {
    case "plugin_name":
      return str(scope.pluginName);
    case "plugin_root_id":
      return str(scope.rootId);
    case "plugin_vm_id":
      return str(scope.vmId);
    case "connection_id":
      return s === undefined ? undefined : uint64(s.connectionId);
  }
  if (name === "xds") return scope.layout === "legacy" ? undefined : xdsValue(scope);
  if (scope.layout !== "xds") {
    switch (name) {
      case "node":
        return nodeValue(scope.node);
      case "listener_direction":
        return int64(directionCode(scope.direction));
      case "cluster_name":
        return s?.upstreamCluster === undefined ? undefined : str(s.upstreamCluster);
      case "route_name":
        return s === undefined ? undefined : str(s.routeName);
    }
  }
  const state = s?.filterState.get(`wasm.${name}`);
  return state === undefined ? undefined : { type: "bytes", value: state };
}

export interface PropertyResult {
  result: WasmResult;
  bytes?: Uint8Array;
}

/** Context::getProperty. `path` holds the raw NUL-separated segments. */
export function getProperty(path: Uint8Array, scope: PropertyScope): PropertyResult {
  // An empty path leaves CEL's default (null) value, which does not serialize.
  if (path.length === 0) return { result: WasmResult.SerializationFailure };
  const segments = decoder.decode(path).split("\0");
  // A trailing NUL does not add an empty segment (the loop stops at the path's end).
  if (segments.length > 1 && segments[segments.length - 1] === "") segments.pop();
  const overrides = scope.stream?.overrides;
  // Overrides are rare: the dotted path is only built when there are some.
  let value = overrides?.size ? overrides.get(segments.join(".")) : undefined;
  if (value === undefined) {
    const [first, ...rest] = segments;
    if (first === undefined) return { result: WasmResult.NotFound };
    value = topLevel(first, scope);
    for (const segment of rest) {
      if (value === undefined) break;
      value = child(value, segment);
    }
  }
  if (value === undefined) return { result: WasmResult.NotFound };
  const bytes = serializeProperty(value);
  return bytes === undefined ? { result: WasmResult.SerializationFailure } : { result: WasmResult.Ok, bytes };
}

/** Context::setProperty: stored as filter state "wasm.<path>"; needs a stream (NotFound on root). */
export function setProperty(path: Uint8Array, value: Uint8Array, scope: PropertyScope): WasmResult {
  if (scope.stream === undefined) return WasmResult.NotFound;
  scope.stream.filterState.set(`wasm.${decoder.decode(path)}`, value.slice());
  return WasmResult.Ok;
}

/** Test overrides: JS values encoded as Envoy would encode the same CEL type. */
export function propertyFromJs(value: string | number | bigint | boolean): PropertyValue {
  if (typeof value === "string") return str(value);
  if (typeof value === "boolean") return bool(value);
  if (typeof value === "bigint") return int64(value);
  return Number.isInteger(value) ? int64(value) : { type: "double", value };
}
