// The glue: root contexts (configuration, identity, position) and stream contexts (one request).
// Data flows one way: host callback -> read the few values needed -> pure decision -> host calls.
// The host is reached only from the glue: this file, index.ts (ABI entry points), host.ts
// (trap-free bindings), part 2's tracing.ts / spanexport.ts, and random.ts (WASI random_get);
// every other module is pure.
//
// Per request (docs/filter.md, "Where it runs"):
// - inbound sidecar (revision pod): onRequestHeaders reads the request's headers in one call and
//   decides probe / trust / source cluster / cold start; onResponseHeaders writes the pod stamp;
//   onLog reads how the stream ended and records the Knative metrics.
// - gateway and outbound sidecar (the edge of a measurement): onRequestHeaders strips forged
//   stamps (gateway, from outside the mesh) and puts the entry stamp on; onResponseHeaders reads
//   and strips the pod stamp; onLog records the client-visible duration.

import {
  ConfigResult,
  DEFAULT_MAX_SERIES,
  MAX_CONFIGURATION_BYTES,
  Settings,
  oversizedConfigurationError,
  parseSettings,
} from "./config";
import { formatEntryMillis, parseEntryMillis } from "./entry";
import { HeaderScan, HeaderWants, scanHeaderPairs } from "./headerscan";
import { HopCheck, HopVerdict, REJECT_MALFORMED, REJECT_UNTRUSTED, checkHop } from "./hop";
import {
  HostMetrics,
  LogLevel,
  REQUEST_HEADERS,
  RESPONSE_HEADERS,
  getHeader,
  getHeaderPairs,
  getPropertyBool,
  getPropertyI64,
  getPropertyString,
  log,
  nowMilliseconds,
  propertyPath,
  readPluginConfiguration,
  removeHeader,
  replaceHeader,
} from "./host";
import {
  CONFIGURATION_LABEL,
  Identity,
  NodeFacts,
  Position,
  REVISION_LABEL,
  SERVICE_LABEL,
  positionOf,
  proxyTypeOf,
  resolveIdentity,
} from "./identity";
import {
  ActivatorOutcome,
  CODE_CLASS_COUNT,
  ERROR_KIND_COUNT,
  ErrorKind,
  activatorOutcome,
  classifyOutcome,
  codeClassIndex,
  codeClassName,
  errorKindName,
  isActivatorRequest,
  isGrpcContentType,
  isProbe,
} from "./knative";
import { MAX_CACHED_LABEL_SETS, MetricFamily, MetricKind, SeriesRegistry } from "./metrics";
import { PodReport, decodePodReport, encodePodReport } from "./podreport";
// Part 2 (hop stamps, cross-cluster metrics, trace context, span export): assembly/tracing.ts.
import { ColdStartFacts, InboundHop, NOT_CROSS_CLUSTER, Tracing } from "./tracing";

// --- Metrics (docs/filter.md, "Metrics") ------------------------------------------------------

const REV: string[] = [
  "namespace_name",
  "service_name",
  "configuration_name",
  "revision_name",
  "destination_cluster",
  "destination_region",
];

function withRev(extra: string[]): string[] {
  return REV.concat(extra);
}

const INVOCATIONS = new MetricFamily(
  "knative_invocations_total",
  MetricKind.Counter,
  withRev(["source_cluster", "response_code_class"]),
);
const ERRORS = new MetricFamily(
  "knative_errors_total",
  MetricKind.Counter,
  withRev(["source_cluster", "response_code_class", "error_kind"]),
);
const COLD_STARTS = new MetricFamily("knative_cold_starts_total", MetricKind.Counter, REV);
const COLD_STARTS_UNTIMED = new MetricFamily("knative_cold_starts_untimed_total", MetricKind.Counter, REV);
const COLD_START_DURATION = new MetricFamily("knative_cold_start_duration_milliseconds", MetricKind.Histogram, REV);
const ACTIVATOR_PROXIED = new MetricFamily("knative_activator_proxied_total", MetricKind.Counter, REV);
const REQUEST_DURATION = new MetricFamily(
  "knative_request_duration_milliseconds",
  MetricKind.Histogram,
  withRev(["source_cluster", "response_code_class", "cold_start"]),
);
const CLOCK_SKEW = new MetricFamily("kwt_clock_skew_total", MetricKind.Counter, [
  "source_cluster",
  "destination_cluster",
]);
const STAMPS_REJECTED = new MetricFamily("kwt_stamps_rejected_total", MetricKind.Counter, ["reason"]);
const CONFIG_REJECTED = new MetricFamily("kwt_config_rejected_total", MetricKind.Counter, []);

const REV_ONLY_COLD_STARTS: i32 = 0;
const REV_ONLY_COLD_STARTS_UNTIMED: i32 = 1;
const REV_ONLY_COLD_START_DURATION: i32 = 2;
const REV_ONLY_ACTIVATOR_PROXIED: i32 = 3;
const REV_ONLY_COUNT: i32 = 4;

// --- Per-VM state ------------------------------------------------------------------------------

/** When this VM started (proxy_on_vm_start), ms since the epoch: the cold-start window's origin. */
let vmStartMs: i64 = -1;
/** Non-probe requests this VM's inbound side has seen: the cold-start ordinal. */
let inboundRequests: i64 = 0;
/** Node metadata, read once per VM (the first configuration). */
let nodeFacts: NodeFacts | null = null;
/** Every series this VM defined; each configuration sets the cap. */
const registry = new SeriesRegistry(DEFAULT_MAX_SERIES, new HostMetrics());

export function onVmStart(): void {
  if (vmStartMs < 0) vmStartMs = nowMilliseconds();
}

// Property paths, encoded once.
const PATH_XDS_NODE_ID = propertyPath(["xds", "node", "id"]);
const PATH_LISTENER_DIRECTION = propertyPath(["listener_direction"]);
const PATH_XDS_LISTENER_DIRECTION = propertyPath(["xds", "listener_direction"]);
const PATH_MTLS = propertyPath(["connection", "mtls"]);
const PATH_RESPONSE_CODE = propertyPath(["response", "code"]);
const PATH_RESPONSE_FLAGS = propertyPath(["response", "flags"]);
const PATH_GRPC_STATUS = propertyPath(["response", "grpc_status"]);
const PATH_REQUEST_DURATION = propertyPath(["request", "duration"]);

const STATUS_HEADER = String.UTF8.encode(":status");
const K_PROXY_REQUEST = "k-proxy-request";
const K_PROXY_REQUEST_NAME = String.UTF8.encode(K_PROXY_REQUEST);
const KWT_PREFIX = String.UTF8.encode("x-kwt-");

/** Reads the node's identity once, from whichever layout this Envoy has (xds.node from 1.33). */
function readNodeFacts(): NodeFacts {
  const facts = new NodeFacts();
  const xds = getPropertyString(PATH_XDS_NODE_ID) != null;
  const node: string[] = xds ? ["xds", "node"] : ["node"];
  facts.nodeId = getPropertyString(propertyPath(node.concat(["id"])));
  facts.cluster = getPropertyString(propertyPath(node.concat(["metadata", "CLUSTER_ID"])));
  facts.namespace = getPropertyString(propertyPath(node.concat(["metadata", "NAMESPACE"])));
  facts.region = getPropertyString(propertyPath(node.concat(["locality", "region"])));
  const labels = node.concat(["metadata", "LABELS"]);
  facts.revision = getPropertyString(propertyPath(labels.concat([REVISION_LABEL])));
  facts.service = getPropertyString(propertyPath(labels.concat([SERVICE_LABEL])));
  facts.configuration = getPropertyString(propertyPath(labels.concat([CONFIGURATION_LABEL])));
  return facts;
}

// --- Root context ------------------------------------------------------------------------------

/** Series ids for one source cluster at an inbound sidecar, by code class (and error kind). */
class InboundSeries {
  readonly invocations: StaticArray<u32> = new StaticArray<u32>(CODE_CLASS_COUNT);
  readonly errors: StaticArray<u32> = new StaticArray<u32>(CODE_CLASS_COUNT * ERROR_KIND_COUNT);
}

/** A warm pod stamp seen at the edge, decoded once, with its duration series by code class. */
class PodSeries {
  readonly durations: StaticArray<u32> = new StaticArray<u32>(CODE_CLASS_COUNT);
  constructor(public readonly report: PodReport) {}
}

export class Root {
  settings: Settings | null = null;
  /** Part 2 glue for this configuration. */
  tracing: Tracing | null = null;
  identity: Identity = new Identity("", "", "", "", "", "");
  /** Known after the first request: a root context cannot read the listener direction (1.33). */
  position: Position = Position.None;
  positionKnown: bool = false;

  // Headers: names encoded once per configuration, and the scan's slots.
  wants: HeaderWants = new HeaderWants();
  entryName: ArrayBuffer = new ArrayBuffer(0);
  hopName: ArrayBuffer = new ArrayBuffer(0);
  podName: ArrayBuffer = new ArrayBuffer(0);
  slotUserAgent: i32 = -1;
  slotNetworkProbe: i32 = -1;
  slotKubeletProbe: i32 = -1;
  slotProxyRequest: i32 = -1;
  slotContentType: i32 = -1;
  slotEntry: i32 = -1;
  slotHop: i32 = -1;
  slotPod: i32 = -1;

  // Inbound: the revision's own label values and series, and the stamp it reports when warm.
  revValues: string[] = [];
  warmPodStamp: string | null = null;
  bySource: Map<string, InboundSeries> = new Map();
  /** REV-only series ids, by REV_ONLY_* index. */
  revOnlyIds: StaticArray<u32> = new StaticArray<u32>(REV_ONLY_COUNT);

  // Edge: duration series by (warm) pod stamp text.
  byPodStamp: Map<string, PodSeries> = new Map();

  onConfigure(size: u32): bool {
    let result: ConfigResult;
    if (size > <u32>MAX_CONFIGURATION_BYTES) {
      result = new ConfigResult(null, oversizedConfigurationError(size));
    } else {
      result = parseSettings(readPluginConfiguration(size));
    }
    const settings = result.settings;
    if (settings == null) {
      log(LogLevel.Error, "kwt: invalid configuration: " + result.error);
      registry.increment(registry.fixed(CONFIG_REJECTED, []));
      return false;
    }
    if (nodeFacts == null) nodeFacts = readNodeFacts();
    this.apply(settings, nodeFacts!);
    return true;
  }

  private apply(settings: Settings, facts: NodeFacts): void {
    this.settings = settings;
    registry.maxSeries = settings.maxSeries;
    this.identity = resolveIdentity(facts, settings);
    this.positionKnown = false;
    const id = this.identity;
    this.revValues = [id.namespace, id.service, id.configuration, id.revision, id.cluster, id.region];
    this.bySource = new Map();
    this.byPodStamp = new Map();
    this.revOnlyIds = new StaticArray<u32>(REV_ONLY_COUNT);
    this.warmPodStamp = encodePodReport(
      new PodReport(false, -1, id.cluster, id.region, id.namespace, id.service, id.configuration, id.revision),
    );

    const wants = new HeaderWants();
    this.slotUserAgent = wants.add("user-agent");
    this.slotNetworkProbe = wants.add("k-network-probe");
    this.slotKubeletProbe = wants.add("k-kubelet-probe");
    this.slotProxyRequest = wants.add(K_PROXY_REQUEST);
    this.slotContentType = wants.add("content-type");
    this.slotEntry = wants.add(settings.entryHeader);
    this.slotHop = wants.add(settings.hopHeader);
    this.slotPod = wants.add(settings.podHeader);
    this.tracing = new Tracing(settings, this.identity, registry, wants, nowMilliseconds());
    this.wants = wants;
    this.entryName = String.UTF8.encode(settings.entryHeader);
    this.hopName = String.UTF8.encode(settings.hopHeader);
    this.podName = String.UTF8.encode(settings.podHeader);
  }

  /** Where this plugin runs, learned from the first request's listener direction. */
  resolvePosition(): Position {
    if (this.positionKnown) return this.position;
    const settings = this.settings;
    if (settings == null) return Position.None;
    let direction = getPropertyI64(PATH_XDS_LISTENER_DIRECTION, -1);
    if (direction < 0) direction = getPropertyI64(PATH_LISTENER_DIRECTION, 0);
    const facts = nodeFacts;
    this.position = positionOf(settings.role, proxyTypeOf(facts != null ? facts.nodeId : null), direction);
    this.positionKnown = true;
    return this.position;
  }

  createStream(): Stream | null {
    if (this.settings == null) return null;
    return new Stream(this);
  }

  onTick(): void {
    const tracing = this.tracing;
    if (tracing != null) tracing.onTick(nowMilliseconds());
  }

  /** proxy_on_http_call_response: the only calls this filter makes are span exports. */
  onHttpCallResponse(token: u32, headerCount: u32): void {
    const tracing = this.tracing;
    if (tracing != null) tracing.onHttpCallResponse(token, headerCount);
  }

  // --- Series ids, cached for known label sets ---

  inboundSeries(sourceCluster: string): InboundSeries | null {
    if (this.bySource.has(sourceCluster)) return this.bySource.get(sourceCluster);
    if (this.bySource.size >= MAX_CACHED_LABEL_SETS) return null;
    const series = new InboundSeries();
    this.bySource.set(sourceCluster, series);
    return series;
  }

  /** The id of `family` with REV + `extra` label values, through `cache[index]` when given. */
  revSeries(family: MetricFamily, extra: string[], cache: StaticArray<u32> | null, index: i32): u32 {
    if (cache != null) {
      const cached = cache[index];
      if (cached != 0) return cached;
    }
    return registry.remember(cache, index, registry.id(family, this.revValues.concat(extra)));
  }

  /** A series labelled with REV only (`index`: REV_ONLY_*). */
  revOnly(family: MetricFamily, index: i32): u32 {
    return this.revSeries(family, [], this.revOnlyIds, index);
  }

  rejectStamp(reason: string): void {
    registry.increment(registry.fixed(STAMPS_REJECTED, [reason]));
  }

  clockSkew(sourceCluster: string): void {
    registry.increment(registry.id(CLOCK_SKEW, [sourceCluster, this.identity.cluster]));
  }

  /** A warm pod stamp seen before, by its exact text: decoded then, not again. */
  knownPodStamp(stampText: string): PodSeries | null {
    return this.byPodStamp.has(stampText) ? this.byPodStamp.get(stampText) : null;
  }

  /** Caches a newly decoded warm pod stamp; null for a cold one (its wait differs each time). */
  cachePodStamp(stampText: string, report: PodReport): PodSeries | null {
    if (report.coldStart) return null;
    if (this.byPodStamp.size >= MAX_CACHED_LABEL_SETS) return null;
    const series = new PodSeries(report);
    this.byPodStamp.set(stampText, series);
    return series;
  }

  requestDurationId(report: PodReport, codeClass: i32, cache: PodSeries | null): u32 {
    if (cache != null) {
      const cached = cache.durations[codeClass];
      if (cached != 0) return cached;
    }
    const id = registry.id(REQUEST_DURATION, [
      report.namespace,
      report.service,
      report.configuration,
      report.revision,
      report.cluster,
      report.region,
      this.identity.cluster,
      codeClassName(codeClass),
      report.coldStart ? "true" : "false",
    ]);
    return registry.remember(cache != null ? cache.durations : null, codeClass, id);
  }
}

// --- Stream context ----------------------------------------------------------------------------

enum Handling {
  /** Nothing to record (probe, skipped workload, unknown position). */
  Ignore,
  Inbound,
  Edge,
}

export class Stream {
  handling: Handling = Handling.Ignore;

  // Inbound.
  sourceCluster: string = "";
  grpc: bool = false;
  outcome: ActivatorOutcome = ActivatorOutcome.Direct;
  /** The cold start's wait in ms; -1 untimed. */
  waitMs: i64 = -1;
  hop: HopCheck | null = null;
  /** Part 2: the cross-cluster hop seen on this request (tracing.ts). */
  inboundHop: InboundHop = NOT_CROSS_CLUSTER;

  // Edge.
  /** This proxy put the entry stamp on, so it owns the client-visible measurement. */
  owner: bool = false;
  podReport: PodReport | null = null;
  podSeries: PodSeries | null = null;
  responseClass: i32 = 0;

  /** The wall clock in ms, read at most once per request (-1: not read yet). */
  private nowMs: i64 = -1;

  constructor(public readonly root: Root) {}

  private now(): i64 {
    if (this.nowMs < 0) this.nowMs = nowMilliseconds();
    return this.nowMs;
  }

  onRequestHeaders(): i32 {
    const position = this.root.resolvePosition();
    if (position == Position.None) return 0;
    const pairs = getHeaderPairs(REQUEST_HEADERS);
    const scan =
      pairs != null
        ? scanHeaderPairs(changetype<usize>(pairs), <u32>pairs.byteLength, this.root.wants, KWT_PREFIX)
        : new HeaderScan(this.root.wants.size);
    if (position == Position.Inbound) this.inboundRequest(scan);
    else this.edgeRequest(scan, position);
    this.tracingRequest(scan, position);
    return 0;
  }

  onResponseHeaders(): i32 {
    if (this.handling == Handling.Inbound) this.inboundResponse();
    else if (this.handling == Handling.Edge && this.owner) this.edgeResponse();
    return 0;
  }

  onLog(): void {
    if (this.handling == Handling.Inbound) this.inboundLog();
    else if (this.handling == Handling.Edge && this.podReport != null) this.edgeLog();
  }

  /** The filter's own stamps present on the request (configured names and any `x-kwt-*`). */
  private stampsPresent(scan: HeaderScan): bool {
    const root = this.root;
    return scan.has(root.slotEntry) || scan.has(root.slotHop) || scan.has(root.slotPod) || scan.prefixed.length > 0;
  }

  private removeStamps(scan: HeaderScan, alsoProxyRequest: bool): void {
    const root = this.root;
    if (scan.has(root.slotEntry)) removeHeader(REQUEST_HEADERS, root.entryName);
    if (scan.has(root.slotHop)) removeHeader(REQUEST_HEADERS, root.hopName);
    if (scan.has(root.slotPod)) removeHeader(REQUEST_HEADERS, root.podName);
    for (let i = 0; i < scan.prefixed.length; i++) {
      removeHeader(REQUEST_HEADERS, String.UTF8.encode(unchecked(scan.prefixed[i])));
    }
    if (alsoProxyRequest && scan.has(root.slotProxyRequest)) {
      removeHeader(REQUEST_HEADERS, K_PROXY_REQUEST_NAME);
    }
  }

  /** Part 2 (tracing.ts): hop stamp and trace context on the edge, cross-cluster hop inbound. */
  private tracingRequest(scan: HeaderScan, position: Position): void {
    const tracing = this.root.tracing;
    if (tracing == null) return;
    if (position != Position.Inbound) {
      tracing.onOutboundRequestHeaders(scan, this.now());
      return;
    }
    if (this.handling != Handling.Inbound) return;
    // Only a cross-cluster hop or a cold start gives tracing something to do on the inbound side.
    const hop = this.hop;
    const crossCluster = hop != null && hop.verdict == HopVerdict.CrossCluster;
    if (!crossCluster && this.outcome != ActivatorOutcome.ColdStart) return;
    const coldStart = new ColdStartFacts(this.outcome == ActivatorOutcome.ColdStart, this.waitMs);
    this.inboundHop = tracing.onInboundRequestHeaders(hop, scan, coldStart, this.now());
    if (this.inboundHop.skewed) this.root.clockSkew(this.inboundHop.sourceCluster);
  }

  // --- Inbound sidecar ---

  private inboundRequest(scan: HeaderScan): void {
    const root = this.root;
    const settings = root.settings!;
    if (isProbe(scan.value(root.slotUserAgent), scan.has(root.slotNetworkProbe), scan.has(root.slotKubeletProbe))) {
      return;
    }
    if (settings.skipNonKnative && !root.identity.isRevision) return;
    this.handling = Handling.Inbound;

    let entryMs: i64 = -1;
    if (this.stampsPresent(scan)) {
      if (getPropertyBool(PATH_MTLS, false)) {
        const hop = checkHop(scan.value(root.slotHop), true, root.identity.cluster, settings.knownClusters, settings.knownRegions);
        this.hop = hop;
        if (hop.verdict == HopVerdict.Rejected) root.rejectStamp(hop.reason);
        const stamp = hop.stamp;
        if (stamp != null && hop.verdict != HopVerdict.Rejected) this.sourceCluster = stamp.cluster;
        if (scan.has(root.slotEntry)) {
          entryMs = parseEntryMillis(scan.value(root.slotEntry));
          if (entryMs < 0) root.rejectStamp(REJECT_MALFORMED);
        }
      } else {
        // Not over mTLS: nothing proves these came from this filter upstream.
        this.removeStamps(scan, false);
        root.rejectStamp(REJECT_UNTRUSTED);
      }
    }

    this.grpc = isGrpcContentType(scan.value(root.slotContentType));
    inboundRequests++;
    if (!isActivatorRequest(scan.value(root.slotProxyRequest))) return;
    const nowMs = this.now();
    this.outcome = activatorOutcome(
      true,
      nowMs - vmStartMs,
      inboundRequests,
      settings.coldStartWindowSeconds,
      settings.coldStartMaxRequests,
    );
    if (this.outcome != ActivatorOutcome.ColdStart || entryMs < 0) return;
    let wait = nowMs - entryMs;
    if (wait < 0) {
      root.clockSkew(this.sourceCluster);
      wait = 0;
    }
    this.waitMs = wait;
  }

  private inboundResponse(): void {
    const root = this.root;
    // A revision pod's own stamp is authoritative (it replaces anything the workload sent). A
    // workload that is not a revision (e.g. the activator) may be relaying the stamp of the pod it
    // proxied to: keep that one, or the gateway would lose the revision and the cold start.
    if (!root.identity.isRevision && getHeader(RESPONSE_HEADERS, root.podName) != null) return;
    let stamp = root.warmPodStamp;
    if (this.outcome == ActivatorOutcome.ColdStart) {
      const id = root.identity;
      stamp = encodePodReport(
        new PodReport(true, this.waitMs, id.cluster, id.region, id.namespace, id.service, id.configuration, id.revision),
      );
    }
    if (stamp != null) replaceHeader(RESPONSE_HEADERS, root.podName, stamp);
  }

  private inboundLog(): void {
    const root = this.root;
    const code = getPropertyI64(PATH_RESPONSE_CODE, 0);
    const flags = <u64>getPropertyI64(PATH_RESPONSE_FLAGS, 0);
    const codeClass = codeClassIndex(code);
    const grpcStatus = this.grpc && codeClass == 2 ? getPropertyI64(PATH_GRPC_STATUS, -1) : -1;
    const kind = classifyOutcome(code, flags, this.grpc, grpcStatus);

    const series = root.inboundSeries(this.sourceCluster);
    const className = codeClassName(codeClass);
    const tracing = root.tracing;
    if (tracing != null) tracing.onInboundLog(this.inboundHop, codeClass);
    registry.increment(
      root.revSeries(INVOCATIONS, [this.sourceCluster, className], series != null ? series.invocations : null, codeClass),
    );
    if (kind != ErrorKind.None) {
      registry.increment(
        root.revSeries(
          ERRORS,
          [this.sourceCluster, className, errorKindName(kind)],
          series != null ? series.errors : null,
          codeClass * ERROR_KIND_COUNT + <i32>kind,
        ),
      );
    }
    if (this.outcome == ActivatorOutcome.ColdStart) {
      registry.increment(root.revOnly(COLD_STARTS, REV_ONLY_COLD_STARTS));
      if (this.waitMs >= 0) {
        registry.record(root.revOnly(COLD_START_DURATION, REV_ONLY_COLD_START_DURATION), <u64>this.waitMs);
      } else {
        registry.increment(root.revOnly(COLD_STARTS_UNTIMED, REV_ONLY_COLD_STARTS_UNTIMED));
      }
    } else if (this.outcome == ActivatorOutcome.Proxied) {
      registry.increment(root.revOnly(ACTIVATOR_PROXIED, REV_ONLY_ACTIVATOR_PROXIED));
    }
  }

  // --- Gateway and outbound sidecar ---

  private edgeRequest(scan: HeaderScan, position: Position): void {
    const root = this.root;
    this.handling = Handling.Edge;
    // An outbound sidecar's requests come from its own workload; a gateway's from outside the mesh
    // unless the downstream connection is mTLS (a mesh client, e.g. via knative-local-gateway).
    let trusted = position == Position.Outbound;
    if (!trusted && (this.stampsPresent(scan) || scan.has(root.slotProxyRequest))) {
      trusted = getPropertyBool(PATH_MTLS, false);
      if (!trusted) this.removeStamps(scan, true);
    }
    // A valid entry stamp means a proxy further up started the measurement (e.g. the gateway in
    // front of the activator): keep it and leave the pod stamp on the response for that proxy.
    if (trusted && parseEntryMillis(scan.value(root.slotEntry)) >= 0) return;
    this.owner = true;
    replaceHeader(REQUEST_HEADERS, root.entryName, formatEntryMillis(this.now()));
  }

  private edgeResponse(): void {
    const root = this.root;
    const text = getHeader(RESPONSE_HEADERS, root.podName);
    if (text == null) return;
    if (!root.settings!.keepPodHeader) removeHeader(RESPONSE_HEADERS, root.podName);
    let series = root.knownPodStamp(text);
    const report = series != null ? series.report : decodePodReport(text);
    if (report == null) {
      root.rejectStamp(REJECT_MALFORMED);
      return;
    }
    if (series == null) series = root.cachePodStamp(text, report);
    this.podReport = report;
    this.podSeries = series;
    const status = getHeader(RESPONSE_HEADERS, STATUS_HEADER);
    this.responseClass = status != null ? codeClassIndex(<i64>I32.parseInt(status)) : 0;
  }

  private edgeLog(): void {
    const durationNs = getPropertyI64(PATH_REQUEST_DURATION, -1);
    if (durationNs < 0) return;
    const root = this.root;
    const id = root.requestDurationId(this.podReport!, this.responseClass, this.podSeries);
    registry.record(id, <u64>(durationNs / 1_000_000));
  }
}
