// The Envoy properties the filter reads, and where each Envoy property layout keeps them. Pure:
// paths are encoded once here and read through the Host.
//
// Envoy moved the node and listener properties under `xds.` in 1.33 (earlier: `node.*`,
// `listener_direction`). The filter does not know which Envoy it runs in: it tries the layouts in
// LAYOUTS order (see readNode / readListenerDirection in filter.ts), so supporting another layout is
// one more entry here.

/** A property path: its segments joined by NUL bytes, encoded once and reused. */
export function propertyPath(segments: string[]): ArrayBuffer {
  return String.UTF8.encode(segments.join("\0"));
}

/** Where one Envoy property layout keeps the node's identity and the listener direction. */
export class PropertyLayout {
  readonly nodeId: ArrayBuffer;
  readonly nodeCluster: ArrayBuffer;
  readonly nodeNamespace: ArrayBuffer;
  readonly nodeRegion: ArrayBuffer;
  /** The node metadata's LABELS map; label names are appended by nodeLabel(). */
  private readonly labels: string[];
  readonly listenerDirection: ArrayBuffer;

  constructor(
    public readonly name: string,
    node: string[],
    listenerDirection: string[],
  ) {
    this.nodeId = propertyPath(node.concat(["id"]));
    this.nodeCluster = propertyPath(node.concat(["metadata", "CLUSTER_ID"]));
    this.nodeNamespace = propertyPath(node.concat(["metadata", "NAMESPACE"]));
    this.nodeRegion = propertyPath(node.concat(["locality", "region"]));
    this.labels = node.concat(["metadata", "LABELS"]);
    this.listenerDirection = propertyPath(listenerDirection);
  }

  /** The path of one of the node's pod labels. */
  nodeLabel(label: string): ArrayBuffer {
    return propertyPath(this.labels.concat([label]));
  }
}

/** Envoy from 1.33: node and listener properties under `xds.`. */
export const XDS_LAYOUT = new PropertyLayout("xds", ["xds", "node"], ["xds", "listener_direction"]);
/** Envoy before 1.33. */
export const LEGACY_LAYOUT = new PropertyLayout("legacy", ["node"], ["listener_direction"]);

/** The layouts in the order they are tried; the last one is used without probing. */
export const LAYOUTS: PropertyLayout[] = [XDS_LAYOUT, LEGACY_LAYOUT];

// Properties every layout has at the same path.
export const PATH_MTLS = propertyPath(["connection", "mtls"]);
export const PATH_RESPONSE_CODE = propertyPath(["response", "code"]);
export const PATH_RESPONSE_FLAGS = propertyPath(["response", "flags"]);
export const PATH_GRPC_STATUS = propertyPath(["response", "grpc_status"]);
export const PATH_REQUEST_DURATION = propertyPath(["request", "duration"]);
