// The Envoy properties the filter reads, and where each Envoy property layout keeps them. Pure:
// paths are encoded here and read through the Host.
//
// Envoy moved the node and listener properties under `xds.` in 1.33 (before: `node.*`,
// `listener_direction`). The filter does not know which Envoy it runs in: it tries the layouts in
// PropertyLayout order (Vm.readNodeFacts, Vm.readListenerDirection in filter.ts), so another
// layout is one more enum member and one more entry in each table below.

/** A property path (its segments joined by NUL bytes), encoded once and reused. */
function propertyPath(path: string): ArrayBuffer {
  return String.UTF8.encode(path);
}

/** Envoy's property layouts, in the order they are tried; the last one is used without probing. */
export enum PropertyLayout {
  /** Envoy from 1.33: node and listener properties under `xds.`. */
  Xds,
  /** Envoy before 1.33. */
  Legacy,
}

export const PROPERTY_LAYOUTS: i32 = 2;

/** Where each layout keeps the node (NUL-joined path prefix), by PropertyLayout. */
const NODE: StaticArray<string> = ["xds\0node\0", "node\0"];
/**
 * Where each layout keeps the route's cluster name, by PropertyLayout (destination.ts says why it
 * is readable at request headers).
 */
const CLUSTER_NAME: StaticArray<string> = ["xds\0cluster_name", "cluster_name"];
/** Where each layout keeps the listener direction, by PropertyLayout. */
const LISTENER_DIRECTION: StaticArray<string> = ["xds\0listener_direction", "listener_direction"];

/** Node properties, as paths below the node. */
export const NODE_ID = "id";
export const NODE_CLUSTER_ID = "metadata\0CLUSTER_ID";
export const NODE_NAMESPACE = "metadata\0NAMESPACE";
export const NODE_REGION = "locality\0region";
/** The node's pod labels; the label name follows. */
export const NODE_LABELS = "metadata\0LABELS\0";

/** The path of a node property (`property`: one of NODE_*) in `layout`. */
export function nodePropertyPath(layout: PropertyLayout, property: string): ArrayBuffer {
  return String.UTF8.encode(NODE[layout] + property);
}

export function clusterNamePath(layout: PropertyLayout): ArrayBuffer {
  return String.UTF8.encode(CLUSTER_NAME[layout]);
}

export function listenerDirectionPath(layout: PropertyLayout): ArrayBuffer {
  return String.UTF8.encode(LISTENER_DIRECTION[layout]);
}

// Properties every layout has at the same path, read per request: encoded once.
// The first URI SAN of the downstream's and of the upstream's certificate (Envoy's CEL connection
// and upstream attributes, the same path on every layout); NotFound without TLS or without one.
export const PATH_PEER_URI_SAN = propertyPath("connection\0uri_san_peer_certificate");
export const PATH_UPSTREAM_URI_SAN = propertyPath("upstream\0uri_san_peer_certificate");
// The upstream host Envoy picked (CEL upstream attributes); NotFound when none was.
export const PATH_UPSTREAM_ADDRESS = propertyPath("upstream\0address");
export const PATH_RESPONSE_CODE = propertyPath("response\0code");
export const PATH_RESPONSE_CODE_DETAILS = propertyPath("response\0code_details");
export const PATH_RESPONSE_FLAGS = propertyPath("response\0flags");
export const PATH_GRPC_STATUS = propertyPath("response\0grpc_status");
export const PATH_DESTINATION_PORT = propertyPath("destination\0port");
export const PATH_REQUEST_DURATION = propertyPath("request\0duration");
/** The plugin's root id (Istio: the WasmPlugin's pluginName), read once per root. */
export const PATH_PLUGIN_ROOT_ID = propertyPath("plugin_root_id");
