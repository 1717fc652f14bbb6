// The harness's public contract. Every layer (codecs, ABI imports, VM, stream driver, stats, HTTP
// proxy) and every test that drives the compiled filter agrees on these shapes.

/** WasmResult values, from proxy-wasm-cpp-host include/proxy-wasm/wasm_api_impl.h / the spec. */
export enum WasmResult {
  Ok = 0,
  NotFound = 1,
  BadArgument = 2,
  SerializationFailure = 3,
  ParseFailure = 4,
  BadExpression = 5,
  InvalidMemoryAccess = 6,
  Empty = 7,
  CasMismatch = 8,
  ResultMismatch = 9,
  InternalFailure = 10,
  BrokenConnection = 11,
  Unimplemented = 12,
}

export enum MetricType {
  Counter = 0,
  Gauge = 1,
  Histogram = 2,
}

export enum LogLevel {
  Trace = 0,
  Debug = 1,
  Info = 2,
  Warn = 3,
  Error = 4,
  Critical = 5,
}

/** Header names are lower-case; order and duplicates are kept, as in Envoy's header maps. */
export type HeaderList = Array<[name: string, value: string]>;

/**
 * Which names Envoy's Wasm context gives the configuration attributes (node, listener direction,
 * cluster and route names): "legacy" only the Wasm-specific top-level names (`node.*`,
 * `listener_direction`; Envoy up to 1.29), "legacy-and-xds" those and `xds.*` (1.30 to 1.32),
 * "xds" only `xds.*` (from 1.33). `propertyLayoutOf` maps an Envoy version to its layout.
 */
export type PropertyLayout = "legacy" | "legacy-and-xds" | "xds";

export type TrafficDirection = "inbound" | "outbound";

/** What Istio puts in the node metadata and locality of a proxy. */
export interface NodeIdentity {
  /** Envoy node id prefix Istio uses: "sidecar" for sidecars, "router" for gateways (node.id = "<type>~ip~pod.ns~ns.svc.cluster.local"). */
  proxyType?: "sidecar" | "router";
  podName?: string;
  cluster?: string; // CLUSTER_ID
  meshId?: string; // MESH_ID
  namespace?: string; // NAMESPACE
  workloadName?: string; // WORKLOAD_NAME
  istioVersion?: string; // ISTIO_VERSION
  labels?: Record<string, string>; // LABELS
  region?: string; // locality.region
  zone?: string; // locality.zone
}

/** A clock the host reads for proxy_get_current_time_nanoseconds and WASI clock_time_get. */
export interface Clock {
  /** Wall-clock time, ns since the epoch. */
  realtimeNs(): bigint;
  /** Monotonic time, ns from an arbitrary origin. */
  monotonicNs(): bigint;
}

export interface LogRecord {
  level: LogLevel;
  message: string;
  /** Which VM wrote it (0-based worker index; -1 for the canary VM; -2 for the base VM Envoy starts first). */
  vm: number;
}

/** Everything one plugin instance needs: what Envoy would take from the WasmPlugin, node and listener. */
export interface PluginOptions {
  /** The compiled module. */
  wasm: Uint8Array;
  /**
   * Plugin configuration as the module reads it in proxy_on_configure (JSON text, sent as UTF-8;
   * "" means size 0), or its bytes exactly as given (e.g. not UTF-8).
   */
  pluginConfig?: string | Uint8Array;
  /** VM configuration (proxy_on_vm_start). */
  vmConfig?: string;
  /** plugin_root_id (Istio: WasmPlugin.pluginName). Default "kwt". */
  rootId?: string;
  /**
   * The Envoy version modelled, "1.MINOR[.PATCH]" (1.28 or later). Default "1.33". It decides the
   * stream ends (Plugin.streamEnd, docs/harness.md "Stream ends"), the access-log order and the
   * default property layout.
   */
  envoy?: string;
  /** Default: the layout of `envoy` (propertyLayoutOf), "xds" for 1.33. */
  propertyLayout?: PropertyLayout;
  direction?: TrafficDirection; // default "inbound"
  node?: NodeIdentity;
  /** Envoy runs one VM per worker thread; stats are shared. Default 2, as Istio runs. */
  workers?: number;
  /** What happens to streams once the VM failed: true passes traffic (FAIL_OPEN), false answers 503. */
  failOpen?: boolean; // default true
  /** Istio extraStatTags: each becomes the tag-extraction rule `(<tag>=\.=(.*?);\.;)`. */
  extraStatTags?: string[];
  /** Default: the real clock. */
  clock?: Clock;
  /** Envoy cluster name -> base URL (http://127.0.0.1:port) that proxy_http_call may target. */
  upstreamClusters?: Record<string, string>;
  /** VM environment (vmConfig.env), exposed through WASI environ_get. */
  env?: Record<string, string>;
  /** Envoy's `wasm` logger level, what proxy_get_log_level (ABI 0.2.1) answers. Default Info. */
  logLevel?: LogLevel;
  /** plugin_name (Istio: "<namespace>.<WasmPlugin name>"). Default: the root id. */
  pluginName?: string;
  /** vm_id (plugin_vm_id; shared data and queues are scoped by it). Default "". */
  vmId?: string;
  /**
   * Envoy's stats flush interval: histograms show only what the last flush merged (Istio: 5000).
   * Flushes run every interval from the load, on the process's clock (Plugin.advance with a
   * ManualClock). Default: none, every histogram sample shows at once.
   */
  statsFlushIntervalMs?: number;
  /**
   * The connection manager's access log (Istio's envoyFileAccessLog): one line per stream in
   * Envoy's format subset (docs/harness.md, "Access logs"), written before the module's on_log up
   * to Envoy 1.31 and after it from 1.32.
   */
  accessLog?: { format: string; write: (line: string) => void };
  /** Benchmarks only: wraps every host function and module export once, when a VM links them. */
  callBoundary?: CallBoundary;
  /**
   * Benchmarks only: fills WASI random_get's buffer (default: the system's random bytes), so two
   * plugins driven alike draw alike. The same for every VM of the plugin's process.
   */
  randomBytes?: (into: Uint8Array) => void;
}

/** A host function or module export as the VM links it: numbers for i32, bigints for i64. */
export type LinkedFunction = (...args: Array<number | bigint>) => number | bigint | void;

/**
 * Sees each crossing between the host and the module (for timing and recording). Applied when the
 * import object and export table are built, so a plugin without one pays nothing per call.
 */
export interface CallBoundary {
  /**
   * `vm` numbers VMs as LogRecord.vm does; `key` is "env.proxy_log" etc.; `read` copies module
   * memory (undefined outside it).
   */
  hostFunction(
    vm: number,
    key: string,
    fn: LinkedFunction,
    read: (ptr: number, len: number) => Uint8Array | undefined,
  ): LinkedFunction;
  moduleExport(vm: number, name: string, fn: LinkedFunction): LinkedFunction;
}

/** Per-stream facts Envoy knows from the connection, readable as properties. */
export interface StreamOptions {
  /** request.time and the access log's %START_TIME%, ns since the epoch; default: the clock now. */
  startTimeNs?: bigint;
  /**
   * connection.mtls: the downstream presented a client certificate over TLS. Default: true when
   * `peerIdentity` is set, else false. Alone it is a certificate with no URI SAN (an outside client
   * of a gateway with MUTUAL TLS).
   */
  mtls?: boolean;
  /** The URI SAN of the downstream's client certificate (connection.uri_san_peer_certificate), e.g. spiffe://cluster.local/ns/NS/sa/SA. */
  peerIdentity?: string;
  /** The URI SAN of the upstream's certificate (upstream.uri_san_peer_certificate); needs `upstreamAddress`. */
  upstreamIdentity?: string;
  sourceAddress?: string; // source.address, "ip:port"
  /** destination.address, "ip:port"; default 10.0.0.1:8012 (queue-proxy's serving port, as a revision pod's inbound sidecar sees it). */
  destinationAddress?: string;
  /** destination.port: replaces the port of `destinationAddress` (the port the request was addressed to). */
  destinationPort?: number;
  /** upstream.address once a host was picked; absent for local replies. */
  upstreamAddress?: string;
  /** xds.cluster_name / cluster_name. */
  upstreamCluster?: string;
  /** request.protocol. Default "HTTP/1.1". */
  protocol?: string;
  /** connection.requested_server_name (SNI). Default "". */
  requestedServerName?: string;
  /**
   * The codec refused the request before the HTTP filter chain existed (header limits): the
   * module never sees the stream; only the connection manager's access log records it.
   */
  beforeFilterChain?: boolean;
  /** Extra properties by dotted path, for tests (value encoded as Envoy would by JS type). */
  properties?: Record<string, string | number | bigint | boolean>;
}

/** What Envoy does after a header callback. */
export interface HeadersOutcome {
  /** 0 Continue; 1 StopIteration (treated as StopAllIterationAndWatermark); ... */
  status: number;
  /** The header map after the callback (what goes upstream / downstream). */
  headers: HeaderList;
  /** Set if the module called proxy_send_local_response during the callback. */
  localReply?: LocalReply;
}

export interface LocalReply {
  status: number;
  details: string;
  body: Uint8Array;
  headers: HeaderList;
  grpcStatus: number; // -1 when none
  /** response.flags the replying filter sets (the missing-config filter: NoFilterConfigFound). */
  responseFlags?: number;
}

/** How the stream ended, as Envoy's access log / properties in proxy_on_log would see it. */
export interface StreamEnd {
  /** response.code; absent when no response was ever produced (reset before headers). */
  responseCode?: number;
  /** response.flags bitmask (Envoy StreamInfo::ResponseFlag; e.g. UpstreamConnectionFailure). */
  responseFlags?: number;
  /** response.code_details. */
  responseCodeDetails?: string;
  /** response.grpc_status if any. */
  grpcStatus?: number;
  /** request.duration in ns; default: measured from the stream's start on the plugin clock. */
  durationNs?: bigint;
  /** From the stream's start to the request's last byte sent upstream (none: never sent). */
  requestTxDurationNs?: bigint;
}
