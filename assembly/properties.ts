// The Envoy properties the filter reads, and where each Envoy property layout keeps them. Pure:
// paths are encoded here and read through the Host. A path's segments are joined by NUL bytes; its
// text is in the cold text table (UTF-8, tools/generate/cold-text.ts).
//
// Envoy moved the node and listener properties under `xds.` in 1.33 (before: `node.*`,
// `listener_direction`). The filter does not know which Envoy it runs in: it tries the layouts in
// PropertyLayout order (Vm.readNodeFacts, Vm.readListenerDirection in filter.ts), so another
// layout is one more enum member and one more entry in each table below.

import { coldBytes, ColdText, coldText } from "./generated/cold-text";

/** Envoy's property layouts, in the order they are tried; the last one is used without probing. */
export enum PropertyLayout {
  /** Envoy from 1.33: node and listener properties under `xds.`. */
  Xds,
  /** Envoy before 1.33. */
  Legacy,
}

export const PROPERTY_LAYOUTS: i32 = 2;

/** Where each layout keeps the node (path prefix), by PropertyLayout. */
const NODE: StaticArray<ColdText> = [ColdText.XdsNode, ColdText.LegacyNode];
/**
 * Where each layout keeps the route's cluster name, by PropertyLayout (destination.ts says why it
 * is readable at request headers).
 */
const CLUSTER_NAME: StaticArray<ColdText> = [ColdText.XdsClusterName, ColdText.LegacyClusterName];
/** Where each layout keeps the listener direction, by PropertyLayout. */
const LISTENER_DIRECTION: StaticArray<ColdText> = [
  ColdText.XdsListenerDirection,
  ColdText.LegacyListenerDirection,
];

/**
 * The path of a node property (`property`: a path below the node, ColdText.Node*) in `layout`;
 * read once per VM, so joined as text.
 */
export function nodePropertyPath(layout: PropertyLayout, property: ColdText): ArrayBuffer {
  return String.UTF8.encode(coldText(NODE[layout]) + coldText(property));
}

export function clusterNamePath(layout: PropertyLayout): ArrayBuffer {
  return coldBytes(CLUSTER_NAME[layout]);
}

export function listenerDirectionPath(layout: PropertyLayout): ArrayBuffer {
  return coldBytes(LISTENER_DIRECTION[layout]);
}

// Properties every layout has at the same path, read per request: encoded once.
// The first URI SAN of the downstream's and of the upstream's certificate (Envoy's CEL connection
// and upstream attributes, the same path on every layout); NotFound without TLS or without one.
export const PATH_PEER_URI_SAN = coldBytes(ColdText.PeerUriSan);
export const PATH_UPSTREAM_URI_SAN = coldBytes(ColdText.UpstreamUriSan);
// The upstream host Envoy picked (CEL upstream attributes); NotFound when none was.
export const PATH_UPSTREAM_ADDRESS = coldBytes(ColdText.UpstreamAddress);
export const PATH_RESPONSE_CODE = coldBytes(ColdText.ResponseCode);
export const PATH_RESPONSE_CODE_DETAILS = coldBytes(ColdText.ResponseCodeDetails);
export const PATH_RESPONSE_FLAGS = coldBytes(ColdText.ResponseFlags);
export const PATH_GRPC_STATUS = coldBytes(ColdText.GrpcStatus);
export const PATH_DESTINATION_PORT = coldBytes(ColdText.DestinationPort);
export const PATH_REQUEST_DURATION = coldBytes(ColdText.RequestDuration);
/** The plugin's root id (Istio: the WasmPlugin's pluginName), read once per root. */
export const PATH_PLUGIN_ROOT_ID = coldBytes(ColdText.PluginRootId);
