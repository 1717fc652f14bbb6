// The glue: the VM's state, root contexts (configuration, identity, position) and stream contexts
// (one request). Data flows one way: host callback -> read the few values needed -> pure decision
// -> host calls. Every host call goes through the Host the VM is given (hostinterface.ts): Envoy's
// (host.ts) from index.ts, an in-memory fake in as-pect tests. The other glue modules are
// crosscluster.ts (hop stamps, cross-cluster metrics), accesslog.ts (access-log fields), tracing.ts
// (trace context, sampling, spans) and spanexport.ts; every other module is pure.
//
// Per request (docs/filter.md, "Where it runs"):
// - inbound sidecar (revision pod): onRequestHeaders reads the request's headers in one call and
//   decides probe / trust / source cluster / held by the activator; onResponseHeaders reads the
//   status (of an activator readiness probe too: the pod's ready time) and writes the pod stamp;
//   onLog reads how the stream ended and records invocations and errors. The access-log fields
//   are set in the first of these that knows them (accesslog.ts).
// - gateway and outbound sidecar (the edge of a measurement): onRequestHeaders strips forged
//   stamps (gateway, from outside the mesh) and puts the entry stamp on; onResponseHeaders reads
//   and strips the pod stamp and tells a cold start from a wait for capacity (readiness.ts); onLog
//   records the client-visible duration and the cold-start and activator metrics.

import {
  ConfigResult,
  DEFAULT_MAX_SERIES,
  DEFAULT_MAX_SOURCE_LABEL_VALUES,
  MAX_CONFIGURATION_BYTES,
  Settings,
  defaultSettings,
  oversizedConfigurationError,
  parseConfigurationBytes,
} from "./config";
import { logColdStart, logErrorKind, logHop } from "./accesslog";
import { ENTRY_STAMP_MAX_BYTES, parseEntryMillis, writeEntryMillis } from "./entrystamp";
import { HeaderScan, HeaderWants } from "./headerscan";
import {
  HopCheck,
  HopStamp,
  HopStampReader,
  HopVerdict,
  REJECT_MALFORMED,
  REJECT_UNTRUSTED,
  checkHop,
} from "./hop";
import { HeaderMap, Host, LogLevel } from "./hostinterface";
import {
  Identity,
  NodeFacts,
  Position,
  positionName,
  positionOf,
  proxyTypeOf,
  resolveIdentity,
} from "./identity";
import {
  CODE_CLASS_COUNT,
  ERROR_KIND_COUNT,
  ErrorKind,
  classifyOutcome,
  codeClassIndex,
  codeClassName,
  errorKindKnownAtResponseHeaders,
  errorKindName,
  isActivatorRequest,
  isGrpcContentType,
  isProbe,
  isReadinessProbe,
  needsCodeDetails,
  needsUpstreamAddress,
  reachedUpstream,
} from "./knative";
import { MetricFamily, SeriesRegistry } from "./metrics";
import {
  ACTIVATOR_PROXIED,
  ACTIVATOR_UNVERIFIED,
  CLOCK_SKEW,
  COLD_START_DURATION,
  COLD_STARTS,
  CONFIG_REJECTED,
  CONFIG_VALID,
  ERRORS,
  INVOCATIONS,
  REQUEST_DURATION,
  STAMPS_REJECTED,
} from "./generated/metric-families";
import { coldBytes, ColdText, coldText } from "./generated/cold-text";
import {
  PodStamp,
  arrivalFieldStart,
  arrivalFieldStartBytes,
  decodePodStamp,
  encodePodStamp,
  parseArrivalField,
  parseArrivalFieldBytes,
  arrivalStampPrefix,
} from "./podstamp";
import {
  PATH_DESTINATION_PORT,
  PATH_GRPC_STATUS,
  PATH_PEER_URI_SAN,
  PATH_PLUGIN_ROOT_ID,
  PATH_REQUEST_DURATION,
  PATH_RESPONSE_CODE,
  PATH_RESPONSE_CODE_DETAILS,
  PATH_RESPONSE_FLAGS,
  PATH_UPSTREAM_ADDRESS,
  PATH_UPSTREAM_URI_SAN,
  PROPERTY_LAYOUTS,
  PropertyLayout,
  clusterNamePath,
  listenerDirectionPath,
  nodePropertyPath,
} from "./properties";
import { CrossCluster, InboundHop, NOT_CROSS_CLUSTER, newInboundHop } from "./crosscluster";
import { ActivatorHold, Tracing } from "./tracing";
import { OTHER_LABEL_VALUE, SourceLabelBound } from "./sourcelabels";
import {
  ACTIVATOR_NAMESPACE,
  ActivatorProof,
  MeshIdentity,
  activatorProofOf,
  facesMesh,
  meshIdentityOf,
} from "./trust";
import { noteGarbage } from "./garbage";
import { KeyedObjects } from "./keytable";
import { LastAnswer } from "./memo";
import { clusterInMesh, destinationInMesh } from "./destination";
import { pairsWithout } from "./headerstrip";
import {
  RELAY_MAX_STAMP_BYTES,
  RELAY_NOTE_TAIL_BYTES,
  finishRelayNote,
  notesRelay,
  relaySlot,
} from "./relay";
import {
  ERA_BYTES,
  ERA_OF_ANOTHER,
  ERA_OF_REVISION,
  ReadyEra,
  ReadyHistory,
  enteredBeforeReady,
  eraInUse,
  eraSlot,
  readEraEntry,
  writeEraEntry,
} from "./readiness";
import { PrefixedDecimalWriter, decimalText, parseMillis, writeDecimal } from "./decimal";
import { NOT_ASCII_STAMP, PodStamps, revisionEraKey } from "./podstamps";

// --- Metrics (docs/filter.md, "Metrics"; declared in deploy/filter-metrics.json) ---------------

// The edge's series labelled with the pod stamp's REV only, after its duration series by code class
// in a stamp's PodStamps.ids.
const REV_ONLY_COLD_STARTS: i32 = 0;
const REV_ONLY_COLD_START_DURATION: i32 = 1;
const REV_ONLY_ACTIVATOR_PROXIED: i32 = 2;
const REV_ONLY_COUNT: i32 = 3;

// Shared data (one store per Envoy process, seen by every worker's VM, kept over a VM reload).
/** Inbound: since when this pod is ready, decimal ms. */
const POD_READY_KEY = "kwt.pod_ready_ms";
/**
 * Edge: a revision's ready era (readiness.ts), in the slot (followed by its number) its
 * cluster/namespace/revision falls in.
 */
const READY_ERA_NAME_PREFIX = String.UTF8.encode("kwt.ready_era/");
/** A relaying workload's sidecar: a pod stamp its outbound side saw relayed (relay.ts), in a slot. */
const RELAY_NOTE_NAME_PREFIX = String.UTF8.encode("kwt.relayed/");
/** Tries of a conditional shared-data write before leaving it to the next one. */
const SHARED_WRITE_TRIES: i32 = 3;

/** Writes the shared-data name of a slot, `prefix` then `slot` in decimal, at `to`; returns its length. */
function writeSlotName(prefix: ArrayBuffer, slot: u32, to: usize): i32 {
  const prefixLength = prefix.byteLength;
  memory.copy(to, changetype<usize>(prefix), prefixLength);
  return prefixLength + <i32>writeDecimal(slot, to + <usize>prefixLength);
}

// --- Per-VM state ------------------------------------------------------------------------------

/** What one VM keeps across its root contexts, and the host it runs on. */
export class Vm {
  /**
   * Inbound: since when this pod is ready (ms; -1: not known yet): the first activator readiness
   * probe it answered 200, else the arrival of the first request it served. The same for every VM
   * of the pod's Envoy through shared data.
   */
  podReadyMs: i64 = -1;
  /** Edge: when each revision it saw answer had a ready pod (readiness.ts). */
  readonly readyHistory: ReadyHistory = new ReadyHistory();
  /** Node metadata, read once per VM (the first configuration). */
  nodeFacts: NodeFacts | null = null;
  /** The property layout the node facts were found in: stream properties are read in it too. */
  layout: PropertyLayout = <PropertyLayout>(PROPERTY_LAYOUTS - 1);
  /** The route cluster's property path in that layout, read on every edge request: encoded once. */
  private clusterPath: ArrayBuffer = clusterNamePath(<PropertyLayout>(PROPERTY_LAYOUTS - 1));
  /**
   * The VM's own health series (kwt_config_rejected_total, defined at VM start before any root
   * exists); every other series belongs to a root's registry.
   */
  readonly registry: SeriesRegistry;

  constructor(public readonly host: Host) {
    this.registry = new SeriesRegistry(DEFAULT_MAX_SERIES, host);
  }

  onVmStart(): void {
    // Defined before any configuration, so Prometheus sees the counter born at 0.
    this.registry.fixed(CONFIG_REJECTED, []);
  }

  /**
   * The pod's ready time: this VM's, else the one a VM of this Envoy published, else `candidateMs`,
   * published so the earliest wins (a conditional write; a lost race, or a first write another VM
   * may have overwritten, re-reads).
   */
  learnPodReady(candidateMs: i64): i64 {
    if (this.podReadyMs >= 0) return this.podReadyMs;
    const host = this.host;
    let readyMs = candidateMs;
    for (let i = 0; i < SHARED_WRITE_TRIES; i++) {
      const shared = host.getSharedData(POD_READY_KEY);
      const published = shared != null ? parseMillis(shared.text) : -1;
      if (published >= 0 && published <= candidateMs) {
        readyMs = published;
        break;
      }
      // The first write (no value yet, cas 0) is unconditional in the host: read again what won.
      const written = host.setSharedData(
        POD_READY_KEY,
        decimalText(candidateMs),
        shared != null ? shared.cas : 0,
      );
      if (written && shared != null) break;
    }
    this.podReadyMs = readyMs;
    return readyMs;
  }

  /** The shared-data name of a relay note being read or written. */
  private readonly relayName: ArrayBuffer = new ArrayBuffer(RELAY_NOTE_NAME_PREFIX.byteLength + 10);
  /** A relayed stamp copied out of where the host wrote it, and (when written) the rest of its note. */
  private readonly relayNote: ArrayBuffer = new ArrayBuffer(RELAY_MAX_STAMP_BYTES + RELAY_NOTE_TAIL_BYTES);

  /**
   * Copies a pod stamp read in place (the `length` bytes at `at`, valid until the next host call)
   * for noteRelayedStamp or relayedRecently; false when it is too long to be relayed.
   */
  holdRelayedStamp(at: usize, length: i32): bool {
    if (length > RELAY_MAX_STAMP_BYTES) return false;
    memory.copy(changetype<usize>(this.relayNote), at, <usize>length);
    return true;
  }

  /** Writes into relayName the name of the slot of the held stamp of `length` bytes. */
  private nameRelaySlot(length: i32): i32 {
    const slot = relaySlot(changetype<usize>(this.relayNote), length);
    return writeSlotName(RELAY_NOTE_NAME_PREFIX, slot, changetype<usize>(this.relayName));
  }

  /**
   * Notes that the held stamp (holdRelayedStamp, `length` bytes) came back from a trusted upstream
   * at `nowMs` on a stream of this workload's (relay.ts). An unconditional write: the latest relay
   * of a slot is the one its inbound side will look for.
   */
  noteRelayedStamp(length: i32, nowMs: i64): void {
    const nameLength = this.nameRelaySlot(length);
    const note = changetype<usize>(this.relayNote);
    const noteLength = finishRelayNote(note, length, nowMs);
    this.host.setSharedDataBytes(changetype<usize>(this.relayName), nameLength, note, noteLength, 0);
  }

  /** Whether noteRelayedStamp noted the held stamp (`length` bytes) within RELAY_NOTE_MS of `nowMs`. */
  relayedRecently(length: i32, nowMs: i64): bool {
    const host = this.host;
    if (!host.readSharedDataInPlace(changetype<usize>(this.relayName), this.nameRelaySlot(length)))
      return false;
    return notesRelay(host.inPlaceAt, host.inPlaceLength, changetype<usize>(this.relayNote), length, nowMs);
  }

  /** The shared-data name of the era being read or written: the prefix and its slot, in decimal. */
  private readonly eraName: ArrayBuffer = new ArrayBuffer(READY_ERA_NAME_PREFIX.byteLength + 10);
  /** The key of the revision whose era is being read or written, as UTF-8 (grown to the longest). */
  private eraKey: ArrayBuffer = new ArrayBuffer(64);
  /** The entry being written (grown with eraKey). */
  private eraText: ArrayBuffer = new ArrayBuffer(ERA_BYTES + 1 + 64);
  /** The era sharedEra and publishEra read, reused. */
  private readonly eraRead: ReadyEra = new ReadyEra();

  /** Room in eraKey for a key of `keyLength` characters (UTF-8 needs at most 3 bytes for each). */
  private eraKeyRoom(keyLength: i32): usize {
    const room = keyLength * 3;
    if (this.eraKey.byteLength < room) {
      this.eraKey = new ArrayBuffer(room);
      this.eraText = new ArrayBuffer(ERA_BYTES + 1 + room);
    }
    return changetype<usize>(this.eraKey);
  }

  /** Writes into eraName the name of the slot of the key of `keyBytes` in eraKey; returns its length. */
  private nameEraSlot(keyBytes: i32): i32 {
    const slot = eraSlot(changetype<usize>(this.eraKey), keyBytes);
    return writeSlotName(READY_ERA_NAME_PREFIX, slot, changetype<usize>(this.eraName));
  }

  /**
   * A revision's ready era as the VMs of this Envoy published it (valid until the next read); null
   * when none did, or when its slot holds another revision's.
   */
  sharedEra(key: string): ReadyEra | null {
    const keyAt = this.eraKeyRoom(key.length);
    return this.readSharedEra(<i32>String.UTF8.encodeUnsafe(changetype<usize>(key), key.length, keyAt));
  }

  /** sharedEra of the revision at `place` in the ready history, named with no string made. */
  sharedEraAt(place: i32): ReadyEra | null {
    return this.readSharedEra(this.writeEraKeyAt(place));
  }

  /** Writes the key of the revision at `place` into eraKey; returns its byte count. */
  private writeEraKeyAt(place: i32): i32 {
    const history = this.readyHistory;
    return history.writeKeyUtf8At(place, this.eraKeyRoom(history.keyLengthAt(place)));
  }

  /** The era published for the key of `keyBytes` in eraKey, or null. */
  private readSharedEra(keyBytes: i32): ReadyEra | null {
    const host = this.host;
    if (!host.readSharedDataInPlace(changetype<usize>(this.eraName), this.nameEraSlot(keyBytes))) return null;
    const era = this.eraRead;
    const entry = readEraEntry(
      host.inPlaceAt,
      host.inPlaceLength,
      changetype<usize>(this.eraKey),
      keyBytes,
      era,
    );
    return entry == ERA_OF_REVISION ? era : null;
  }

  /**
   * Joins this VM's era of the revision at `place` in its history with the published one and
   * publishes the result, with no string made: a warm answer publishes too, at every answer where
   * each revision is answered once a second or less often. A slot that holds the era of another
   * revision answered within `gapMs` is left to it (that era may still decide a held answer); this
   * revision's era is then this VM's own until the other goes idle.
   */
  publishEra(place: i32, gapMs: i64, nowMs: i64): void {
    const host = this.host;
    const history = this.readyHistory;
    const keyBytes = this.writeEraKeyAt(place);
    const keyAt = changetype<usize>(this.eraKey);
    const nameLength = this.nameEraSlot(keyBytes);
    const nameAt = changetype<usize>(this.eraName);
    const textAt = changetype<usize>(this.eraText);
    const era = this.eraRead;
    for (let i = 0; i < SHARED_WRITE_TRIES; i++) {
      let cas: u32 = 0;
      if (host.readSharedDataInPlace(nameAt, nameLength)) {
        // A value that is no era is replaced, but by a conditional write like any other.
        cas = host.sharedCas;
        const entry = readEraEntry(host.inPlaceAt, host.inPlaceLength, keyAt, keyBytes, era);
        if (entry == ERA_OF_REVISION) {
          history.joinAt(place, era.firstReadyMs, era.lastAnswerMs, gapMs);
        } else if (entry == ERA_OF_ANOTHER && eraInUse(era.lastAnswerMs, nowMs, gapMs)) {
          break;
        }
      }
      const textLength = writeEraEntry(
        history.firstReadyAt(place),
        history.lastAnswerAt(place),
        keyAt,
        keyBytes,
        textAt,
      );
      if (host.setSharedDataBytes(nameAt, nameLength, textAt, textLength, cas)) break;
    }
    history.setPublishedAt(place, nowMs);
  }

  /** Reads the node's identity once, from the first property layout that has a node id. */
  readNodeFacts(): NodeFacts {
    const host = this.host;
    let layout = <PropertyLayout>(PROPERTY_LAYOUTS - 1);
    for (let i = 0; i < PROPERTY_LAYOUTS - 1; i++) {
      if (host.getPropertyString(nodePropertyPath(<PropertyLayout>i, ColdText.NodeId)) != null) {
        layout = <PropertyLayout>i;
        break;
      }
    }
    this.layout = layout;
    this.clusterPath = clusterNamePath(layout);
    const facts = new NodeFacts();
    facts.nodeId = host.getPropertyString(nodePropertyPath(layout, ColdText.NodeId));
    facts.cluster = host.getPropertyString(nodePropertyPath(layout, ColdText.NodeClusterId));
    facts.namespace = host.getPropertyString(nodePropertyPath(layout, ColdText.NodeNamespace));
    facts.region = host.getPropertyString(nodePropertyPath(layout, ColdText.NodeRegion));
    facts.revision = host.getPropertyString(nodePropertyPath(layout, ColdText.NodeRevisionLabel));
    facts.service = host.getPropertyString(nodePropertyPath(layout, ColdText.NodeServiceLabel));
    facts.configuration = host.getPropertyString(nodePropertyPath(layout, ColdText.NodeConfigurationLabel));
    return facts;
  }

  /**
   * The route's cluster at request headers, in the node's layout; null without a route. `previous`
   * comes back itself when the name is the same (Host.getPropertyStringReusing).
   */
  readClusterName(previous: string | null): string | null {
    return this.host.getPropertyStringReusing(this.clusterPath, previous);
  }

  /** The listener direction, from the first layout that has it (a stream can read it, a root not). */
  readListenerDirection(): i64 {
    const last = PROPERTY_LAYOUTS - 1;
    for (let i = 0; i < last; i++) {
      const direction = this.host.getPropertyI64(listenerDirectionPath(<PropertyLayout>i), -1);
      if (direction >= 0) return direction;
    }
    return this.host.getPropertyI64(listenerDirectionPath(<PropertyLayout>last), 0);
  }
}

const STATUS_HEADER = coldBytes(ColdText.StatusHeader);
/** Where the entry stamp is written (the host reads it during the call). */
const entryStampBytes = memory.data(ENTRY_STAMP_MAX_BYTES);
const K_PROXY_REQUEST_NAME = coldBytes(ColdText.ProxyRequestHeader);
const KWT_PREFIX = coldBytes(ColdText.KwtHeaderPrefix);

// --- Root context ------------------------------------------------------------------------------

/** Series ids for one source cluster at an inbound sidecar, by code class (and error kind). */
class InboundSeries {
  readonly invocations: StaticArray<u32> = new StaticArray<u32>(CODE_CLASS_COUNT);
  readonly errors: StaticArray<u32> = new StaticArray<u32>(CODE_CLASS_COUNT * ERROR_KIND_COUNT);
}

/**
 * Ended streams' objects a root keeps for its next streams: as many as are open at once in steady
 * traffic on a worker, so most streams allocate none; more ended at once are left to the collector
 * (each kept one is marked by every collection).
 */
const SPARE_STREAMS: i32 = 128;

/**
 * Series ids kept per pod stamp: its duration series by code class, its REV-only series, then its
 * cold starts' duration series by code class (a held answer's stamp is kept like any other).
 */
const POD_ID_SLOTS: i32 = CODE_CLASS_COUNT + REV_ONLY_COUNT + CODE_CLASS_COUNT;
const COLD_DURATION_SLOTS_AT: i32 = CODE_CLASS_COUNT + REV_ONLY_COUNT;

/**
 * A pod stamp with no answer for this long, and no stream it answered still open, is forgotten:
 * Knative removes a pod a minute or so after its last request (scale-down waits out the stable
 * window), and a pod that answers again after a pause has its stamp decoded once more.
 */
const POD_STAMP_IDLE_MS: i64 = 5 * 60 * 1000;

/**
 * The fewest pod stamps' places looked over for idle ones at a tick: the whole table at the default
 * cap every two ticks, a few microseconds a tick (a pass over 100,000 stamps at one tick took 170 to
 * 290 µs).
 */
const POD_STAMPS_LOOKED_OVER_PER_TICK: i32 = 1024;
/** More are looked over where a pass would take longer than this (a large cap, long ticks). */
const POD_STAMPS_PASS_MS: i64 = 60 * 1000;

export class Root {
  settings: Settings | null = null;
  /**
   * The series this root defined, capped by its own maxSeries: roots sharing a VM (inbound and
   * outbound listeners, old and new configuration during an update) never spend each other's cap.
   */
  readonly registry: SeriesRegistry;
  /** This root's kwt_config_valid series (0: not defined yet). */
  private configValidId: u32 = 0;
  /** Hop stamps and cross-cluster metrics for this configuration. */
  crossCluster: CrossCluster | null = null;
  /** Trace context and span export for this configuration. */
  tracing: Tracing | null = null;
  identity: Identity = new Identity("", "", "", "", "", "");
  /** Known after the first request: a root context cannot read the listener direction (1.33). */
  position: Position = Position.None;
  positionKnown: bool = false;
  /** proxy_on_done returned false: proxy_done is owed once the span export is over. */
  private finishing: bool = false;

  /**
   * Source clusters and regions from hop stamps, bounded per root context (sourcelabels.ts), as
   * its series cap is: another listener's maxSourceLabelValues never folds this one's.
   */
  readonly sourceClusters: SourceLabelBound = new SourceLabelBound(DEFAULT_MAX_SOURCE_LABEL_VALUES);
  readonly sourceRegions: SourceLabelBound = new SourceLabelBound(DEFAULT_MAX_SOURCE_LABEL_VALUES);
  /** The clusters and regions pod stamps name at the edge, bounded the same way. */
  readonly podClusters: SourceLabelBound = new SourceLabelBound(DEFAULT_MAX_SOURCE_LABEL_VALUES);
  readonly podRegions: SourceLabelBound = new SourceLabelBound(DEFAULT_MAX_SOURCE_LABEL_VALUES);

  // Headers: names encoded once per configuration, and the scan's slots.
  wants: HeaderWants = new HeaderWants();
  /** Reused by every request's scan (read within on_request_headers only). */
  requestScan: HeaderScan = new HeaderScan(0);
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
  slotAuthority: i32 = -1;

  // Inbound: the revision's own label values and series, and the pod stamps it reports for
  // requests not held (built once the pod's ready time is known; the activator's gets `t`).
  revValues: string[] = [];
  private stampsReadyMs: i64 = -1;
  /** The direct stamp's UTF-8: written on every direct response, encoded once. */
  private directStampBytes: ArrayBuffer | null = null;
  /**
   * The activator stamp before its arrival's digits, encoded once: a pod behind the activator
   * (which stays in the path after the pod is ready) answers every request with it.
   */
  private activatorStamp: PrefixedDecimalWriter | null = null;
  bySource: KeyedObjects<InboundSeries> = new KeyedObjects<InboundSeries>();
  /** The source cluster last looked up in `bySource` and its series: most requests repeat it. */
  private lastSource: string | null = null;
  private lastSourceSeries: InboundSeries | null = null;
  /** The pod's knative_activator_unverified_total series (slot 0; 0: not defined yet). */
  unverifiedId: StaticArray<u32> = new StaticArray<u32>(1);

  // Edge: the warm pod stamps and their series.
  podStamps: PodStamps = new PodStamps(POD_ID_SLOTS);

  /** Objects of ended streams, reset, for the next ones (at most SPARE_STREAMS). */
  private readonly spareStreams: Stream[] = [];

  // The last peer certificate, upstream certificate and route cluster judged, with the verdicts
  // (of this configuration's trust and mesh domains): they repeat from request to request.
  // Their texts are read with Host.getPropertyStringReusing, so a repeated one is not decoded.
  downstreamIdentity: LastAnswer<MeshIdentity | null> = new LastAnswer<MeshIdentity | null>(null);
  upstreamIdentity: LastAnswer<MeshIdentity | null> = new LastAnswer<MeshIdentity | null>(null);
  clusterVerdict: LastAnswer<bool> = new LastAnswer<bool>(false);
  /** Inbound: hop stamps, read by their time when the rest repeats (hop.ts). */
  readonly hopStamps: HopStampReader = new HopStampReader();
  /**
   * Inbound: the hop verdict of the request being read, reused by the next one (a stream reads it
   * within its request headers only).
   */
  readonly hopCheck: HopCheck = new HopCheck(HopVerdict.Absent, null, "");

  constructor(public readonly vm: Vm) {
    this.registry = new SeriesRegistry(DEFAULT_MAX_SERIES, vm.host);
  }

  /**
   * Always accepts: a refused configuration must not fail requests (Envoy answers 500 to every
   * request of a plugin whose on_configure returned false). The root keeps its own last valid
   * settings, or runs on the defaults; the error is logged once and kwt_config_valid says so.
   */
  onConfigure(size: u32): bool {
    const vm = this.vm;
    let result: ConfigResult;
    if (size > <u32>MAX_CONFIGURATION_BYTES) {
      result = new ConfigResult(null, oversizedConfigurationError(size));
    } else {
      result = parseConfigurationBytes(vm.host.readPluginConfiguration(size));
    }
    if (vm.nodeFacts == null) vm.nodeFacts = vm.readNodeFacts();
    let settings = result.settings;
    if (settings == null) {
      vm.host.log(
        LogLevel.Error,
        coldText(ColdText.InvalidConfiguration) + result.error + this.fallbackNote(),
      );
      vm.registry.increment(vm.registry.fixed(CONFIG_REJECTED, []));
      if (this.settings == null) settings = defaultSettings();
    }
    this.reportConfigValid(result.settings != null);
    if (settings != null) this.apply(settings, vm.nodeFacts!);
    return true;
  }

  private fallbackNote(): string {
    return coldText(this.settings != null ? ColdText.KeepingLastValid : ColdText.RunningWithDefaults);
  }

  /** kwt_config_valid for this root, labelled with its root id (read once). */
  private reportConfigValid(valid: bool): void {
    const registry = this.registry;
    if (this.configValidId == 0) {
      const rootId = this.vm.host.getPropertyString(PATH_PLUGIN_ROOT_ID);
      this.configValidId = registry.fixed(CONFIG_VALID, [rootId != null ? rootId : ""]);
    }
    registry.record(this.configValidId, valid ? 1 : 0);
  }

  private apply(settings: Settings, facts: NodeFacts): void {
    const vm = this.vm;
    this.settings = settings;
    if (this.tracing != null) this.tracing!.stopReporting();
    this.registry.maxSeries = settings.maxSeries;
    vm.readyHistory.admitAtLeast(settings.maxSeries);
    this.sourceClusters.limit = settings.maxSourceLabelValues;
    this.sourceRegions.limit = settings.maxSourceLabelValues;
    this.podClusters.limit = settings.maxSourceLabelValues;
    this.podRegions.limit = settings.maxSourceLabelValues;
    this.identity = resolveIdentity(facts, settings);
    this.positionKnown = false;
    const id = this.identity;
    this.revValues = [id.namespace, id.service, id.configuration, id.revision, id.cluster, id.region];
    this.bySource = new KeyedObjects<InboundSeries>();
    this.lastSource = null;
    this.lastSourceSeries = null;
    this.unverifiedId = new StaticArray<u32>(1);
    this.podStamps = new PodStamps(POD_ID_SLOTS);
    this.stampsReadyMs = -1;
    this.downstreamIdentity = new LastAnswer<MeshIdentity | null>(null);
    this.upstreamIdentity = new LastAnswer<MeshIdentity | null>(null);
    this.clusterVerdict = new LastAnswer<bool>(false);

    const wants = new HeaderWants();
    this.slotUserAgent = wants.add(coldText(ColdText.UserAgentHeader));
    this.slotNetworkProbe = wants.add(coldText(ColdText.NetworkProbeHeader));
    this.slotKubeletProbe = wants.add(coldText(ColdText.KubeletProbeHeader));
    this.slotProxyRequest = wants.add(coldText(ColdText.ProxyRequestHeader));
    this.slotContentType = wants.add(coldText(ColdText.ContentTypeHeader));
    this.slotEntry = wants.add(settings.entryHeader);
    this.slotHop = wants.add(settings.hopHeader);
    this.slotPod = wants.add(settings.podHeader);
    this.slotAuthority = wants.add(coldText(ColdText.AuthorityHeader));
    this.crossCluster = new CrossCluster(settings.hopHeader, this.identity, this.registry, vm.host);
    this.tracing = new Tracing(
      settings,
      this.identity,
      this.registry,
      wants,
      vm.host.nowMilliseconds(),
      vm.host,
    );
    this.wants = wants;
    this.requestScan = new HeaderScan(wants.size);
    this.entryName = String.UTF8.encode(settings.entryHeader);
    this.hopName = String.UTF8.encode(settings.hopHeader);
    this.podName = String.UTF8.encode(settings.podHeader);
  }

  /** Where this plugin runs, learned from the first request's listener direction. */
  resolvePosition(): Position {
    if (this.positionKnown) return this.position;
    const settings = this.settings;
    if (settings == null) return Position.None;
    const direction = this.vm.readListenerDirection();
    const facts = this.vm.nodeFacts;
    this.position = positionOf(settings.role, proxyTypeOf(facts != null ? facts.nodeId : null), direction);
    this.positionKnown = true;
    if (this.position != Position.None) this.tracing!.reportAt(positionName(this.position));
    return this.position;
  }

  /** The mesh identity in the downstream peer's URI SAN (trust.ts), judged once per distinct SAN. */
  downstreamMeshIdentity(uriSan: string | null): MeshIdentity | null {
    return this.meshIdentityIn(this.downstreamIdentity, uriSan);
  }

  /** The same for the upstream's URI SAN (the pod stamp's sender). */
  upstreamMeshIdentity(uriSan: string | null): MeshIdentity | null {
    return this.meshIdentityIn(this.upstreamIdentity, uriSan);
  }

  private meshIdentityIn(memo: LastAnswer<MeshIdentity | null>, uriSan: string | null): MeshIdentity | null {
    if (memo.holds(uriSan)) return memo.answer;
    return memo.remember(uriSan, meshIdentityOf(uriSan, this.settings!.trustDomains));
  }

  /** Whether a route's cluster (non-empty) is in the mesh (destination.ts), judged once per name. */
  clusterInMesh(clusterName: string): bool {
    const memo = this.clusterVerdict;
    if (memo.holds(clusterName)) return memo.answer;
    return memo.remember(clusterName, clusterInMesh(clusterName, this.settings!.meshDomains));
  }

  /**
   * What this sidecar does with a pod stamp on a response that it did not write (WorkloadStamp).
   * The edge trusts a stamp from any mesh identity, so only a pod's own may leave its sidecar, or
   * one relayed from a trusted upstream: a workload that echoes what a client asks for (a mesh
   * service that sets any response header a query names) would otherwise let an outside client
   * make up cold starts and revisions at the gateway.
   */
  workloadStampRule(): WorkloadStamp {
    const identity = this.identity;
    if (identity.isRevision) return WorkloadStamp.Removed;
    return identity.namespace == ACTIVATOR_NAMESPACE ? WorkloadStamp.Kept : WorkloadStamp.KeptIfRelayed;
  }

  /** Inbound: a pod that is not a Knative revision (e.g. the activator) records nothing, by default. */
  skipsWorkload(): bool {
    return this.settings!.skipNonKnative && !this.identity.isRevision;
  }

  /**
   * Folds a trusted hop stamp's cluster and region beyond the bound, so invented values cannot
   * fill the series cap; a dimension with a known list is bounded by it instead (hop.ts).
   */
  boundSourceLabels(stamp: HopStamp): void {
    const settings = this.settings!;
    if (settings.knownClusters.length == 0) stamp.cluster = this.sourceClusters.admit(stamp.cluster);
    if (settings.knownRegions.length == 0) stamp.region = this.sourceRegions.admit(stamp.region);
  }

  /**
   * Bounds a pod stamp's cluster and region like a hop stamp's: to the known lists when set (other
   * values folded), else to the first maxSourceLabelValues of this root. Its revision labels are
   * bounded by the upstream's mesh identity and the root's maxSeries.
   */
  boundPodStampLabels(report: PodStamp): void {
    const settings = this.settings!;
    const clusters = settings.knownClusters;
    const regions = settings.knownRegions;
    if (clusters.length > 0) {
      if (!clusters.includes(report.cluster)) report.cluster = OTHER_LABEL_VALUE;
    } else {
      report.cluster = this.podClusters.admit(report.cluster);
    }
    if (regions.length > 0) {
      if (!regions.includes(report.region)) report.region = OTHER_LABEL_VALUE;
    } else {
      report.region = this.podRegions.admit(report.region);
    }
  }

  createStream(): Stream | null {
    if (this.settings == null) return null;
    const spare = this.spareStreams;
    return spare.length > 0 ? spare.pop() : new Stream(this);
  }

  /** A stream of this root was deleted: its object serves a later one. */
  releaseStream(stream: Stream): void {
    stream.released();
    const spare = this.spareStreams;
    if (spare.length >= SPARE_STREAMS) return;
    stream.reset();
    spare.push(stream);
  }

  onTick(): void {
    const tracing = this.tracing;
    if (tracing == null) return;
    const nowMs = this.vm.host.nowMilliseconds();
    tracing.onTick(nowMs);
    // Pods scaled down or replaced: their room takes the pods answering now, which are then found
    // without decoding their stamps. (Under `tracing`, which every configured root has, because
    // Tracing is what asks for the ticks.)
    const stamps = this.podStamps;
    const forAPassInTime = <i32>(
      ((<i64>stamps.places * this.settings!.tickPeriodMs + POD_STAMPS_PASS_MS - 1) / POD_STAMPS_PASS_MS)
    );
    stamps.forgetIdle(nowMs - POD_STAMP_IDLE_MS, max(POD_STAMPS_LOOKED_OVER_PER_TICK, forAPassInTime));
  }

  /** proxy_on_http_call_response: the only calls this filter makes are span exports. */
  onHttpCallResponse(token: u32, headerCount: u32): void {
    const tracing = this.tracing;
    if (tracing == null) return;
    tracing.onHttpCallResponse(token, headerCount);
    if (this.finishing && tracing.drained) {
      this.finishing = false;
      this.vm.host.done();
    }
  }

  /**
   * proxy_on_done: true when the root may be deleted now; false while its last spans are being
   * exported (then proxy_done once they are delivered or dropped, as the ABI allows).
   */
  onDone(): bool {
    const tracing = this.tracing;
    if (tracing == null || tracing.onDone()) return true;
    this.finishing = true;
    return false;
  }

  // --- Series ids, cached for known label sets ---

  inboundSeries(sourceCluster: string): InboundSeries | null {
    const last = this.lastSource;
    if (last != null && last == sourceCluster) return this.lastSourceSeries;
    let series = this.bySource.get(sourceCluster);
    if (series == null && this.registry.cacheHasRoom(this.bySource.size)) {
      series = new InboundSeries();
      this.bySource.add(sourceCluster, series);
    }
    // A source the cache has no room for is not remembered: room may come back.
    if (series != null) {
      this.lastSource = sourceCluster;
      this.lastSourceSeries = series;
    }
    return series;
  }

  /** The id of `family` with REV + `extra` label values, through `cache[index]` when given. */
  revSeries(family: MetricFamily, extra: string[], cache: StaticArray<u32> | null, index: i32): u32 {
    const cached = cachedId(cache, index);
    if (cached != 0) return cached;
    const registry = this.registry;
    return registry.remember(cache, index, registry.id(family, this.revValues.concat(extra)));
  }

  /**
   * The pod stamp of a request the activator held (its entry stamp is older than the pod's
   * readiness), arriving at `arrivalMs` after waiting `waitMs`: a string, as cold starts are rare.
   */
  heldPodStamp(waitMs: i64, arrivalMs: i64): string | null {
    return this.ownStamp(true, waitMs, true, this.vm.podReadyMs, arrivalMs);
  }

  /**
   * The writer of the pod stamp of a request through the activator and not held (its arrival
   * written per request); null when none can be made.
   */
  activatorPodStamp(): PrefixedDecimalWriter | null {
    this.refreshStamps(this.vm.podReadyMs);
    return this.activatorStamp;
  }

  /** The pod stamp of a request not through the activator, as UTF-8 (null: none can be made). */
  directPodStamp(): ArrayBuffer | null {
    this.refreshStamps(this.vm.podReadyMs);
    return this.directStampBytes;
  }

  private refreshStamps(readyMs: i64): void {
    if (this.stampsReadyMs == readyMs) return;
    this.stampsReadyMs = readyMs;
    const direct = this.ownStamp(false, -1, false, readyMs, -1);
    this.directStampBytes = direct != null ? String.UTF8.encode(direct) : null;
    const activator = this.ownStamp(false, -1, true, readyMs, -1);
    this.activatorStamp = activator != null ? new PrefixedDecimalWriter(arrivalStampPrefix(activator)) : null;
  }

  private ownStamp(held: bool, waitMs: i64, viaActivator: bool, readyMs: i64, arrivalMs: i64): string | null {
    const id = this.identity;
    return encodePodStamp(
      new PodStamp(
        held,
        waitMs,
        id.cluster,
        id.region,
        id.namespace,
        id.service,
        id.configuration,
        id.revision,
        viaActivator,
        readyMs,
        arrivalMs,
      ),
    );
  }

  rejectStamp(reason: string): void {
    const registry = this.registry;
    registry.increment(registry.fixed(STAMPS_REJECTED, [reason]));
  }

  clockSkew(sourceCluster: string): void {
    const registry = this.registry;
    registry.increment(registry.id(CLOCK_SKEW, [sourceCluster, this.identity.cluster]));
  }

  /**
   * Caches a newly decoded pod stamp, of the answer of a stream that entered at `nowMs` (open
   * until Stream.released); -1 when there is no room. A held one is kept by what follows its held
   * fields, as every other answer of its pod through the activator.
   */
  cachePodStamp(stampText: string, report: PodStamp, nowMs: i64): i32 {
    const stamps = this.podStamps;
    if (!this.registry.cacheHasRoom(stamps.size)) return -1;
    return stamps.add(stampText, report, nowMs);
  }

  /** The request-duration series of `report`, kept in `cache[index]` when given. */
  requestDurationId(
    report: PodStamp,
    codeClass: i32,
    coldStart: bool,
    cache: StaticArray<u32> | null,
    index: i32,
  ): u32 {
    const registry = this.registry;
    const id = registry.id(
      REQUEST_DURATION,
      stampRevValues(report).concat([
        this.identity.cluster,
        codeClassName(codeClass),
        coldStart ? "true" : "false",
      ]),
    );
    return registry.remember(cache, index, id);
  }

  /** An edge series labelled with the pod stamp's REV only, kept in `cache[index]` when given. */
  stampRevOnlyId(family: MetricFamily, report: PodStamp, cache: StaticArray<u32> | null, index: i32): u32 {
    const registry = this.registry;
    return registry.remember(cache, index, registry.id(family, stampRevValues(report)));
  }
}

/** The series id `cache[index]` holds; 0 without a cache or before one is stored. */
function cachedId(cache: StaticArray<u32> | null, index: i32): u32 {
  return cache != null ? cache[index] : 0;
}

/** The REV label values a pod stamp names (the order of Root.revValues). */
function stampRevValues(report: PodStamp): string[] {
  return [
    report.namespace,
    report.service,
    report.configuration,
    report.revision,
    report.cluster,
    report.region,
  ];
}

// --- Stream context ----------------------------------------------------------------------------

/** What a sidecar does with a pod stamp it did not write (Root.workloadStampRule). */
enum WorkloadStamp {
  /** Not an inbound stream: not this rule's business. */
  None,
  /** A revision pod's: its own stamp is the only one; the workload's is removed. */
  Removed,
  /**
   * Another workload's (an auth proxy, an API gateway): kept only if this Envoy's outbound side saw
   * it come back from a trusted upstream moments before (relay.ts).
   */
  KeptIfRelayed,
  /** In knative-serving: the activator relays the stamp of the pod it proxied to. */
  Kept,
}

enum Handling {
  /** Nothing to record (probe, skipped workload, unknown position). */
  Ignore,
  Inbound,
  /** Inbound: an activator readiness probe while the pod's ready time is not known. */
  ReadinessProbe,
  Edge,
}

/**
 * One stream's state, from its request headers to its log. Its fields get their first values in
 * reset(), not where they are declared: an object serves its root's streams one after another.
 */
export class Stream {
  handling: Handling;

  // Inbound.
  sourceCluster!: string;
  grpc: bool;
  /** K-Proxy-Request: activator. */
  viaActivator: bool;
  /** The activator held it: its entry stamp is older than the pod's ready time. */
  held: bool;
  /** A held request's wait (arrival - entry) in ms; -1 when not held. */
  waitMs: i64;
  /** The hop verdict (the root's reused check): read within the request headers only. */
  hop: HopCheck | null;
  /** The cross-cluster hop seen on this request (crosscluster.ts). */
  inboundHop!: InboundHop;
  /** What inboundHop is for a cross-cluster request: this stream's own, written per request. */
  private readonly ownInboundHop: InboundHop = newInboundHop();
  /** What the inbound side passes to tracing about the activator's hold, written per request. */
  private readonly activatorHold: ActivatorHold = new ActivatorHold(false, -1);
  /** The response's :status read at response headers; -1 before (on_log then reads response.code). */
  responseCode: i64;
  /** kwt_error_kind is set on this stream (accesslog.ts): never twice. */
  errorKindLogged: bool;

  // Edge.
  /** This proxy put the entry stamp on, so it owns the client-visible measurement. */
  owner: bool;
  /** The entry stamp this proxy put on (its own clock), when it is the owner. */
  entryMs: i64;
  /** The destination is outside the mesh: none of the filter's headers go there. */
  outsideDestination: bool;
  /** Gateway, `tracing.edgeSampling: resample`: an outside client's sampled flag is re-decided. */
  resampleTrace: bool;
  /** The response headers came (edgeResponse). */
  private responseSeen: bool;
  /** Inbound: what happens to a pod stamp on the response that this sidecar does not write. */
  private workloadStamp: WorkloadStamp;
  /**
   * Edge, not the owner: a gateway, or a workload that is no revision: its upstream's pod stamp goes
   * back, to relay, only from a mesh identity in the mesh (relayResponse).
   */
  private relaying: bool;
  /** Edge, not the owner, of a workload that relays (WorkloadStamp.KeptIfRelayed): notes its upstream's stamp. */
  private notesRelays: bool;
  /** The answer carried a pod stamp this edge accepted. */
  podAnswered: bool;
  /** Where the root keeps it (podIndex -1: not kept, past the cap). */
  podStamps: PodStamps | null;
  podIndex: i32;
  /** Decoded: at its first sight, else only when a label value is needed. */
  podStamp: PodStamp | null;
  podViaActivator: bool;
  responseClass: i32;
  /** The edge's verdict: held while the revision had no ready pod. */
  coldStart: bool;
  /** The cold start's wait (the pod's arrival time - the entry stamp); -1 when not known. */
  coldStartWaitMs: i64;

  /** The wall clock in ms, read at most once per request (-1: not read yet). */
  private nowMs: i64;
  /** kwt_stamps_rejected_total{reason="untrusted"} was counted for this request. */
  private untrustedCounted: bool;
  /** The downstream certificate's URI SAN, read at most once per request. */
  private peerUriSan: string | null;
  private peerUriSanRead: bool;

  private readonly host: Host;

  constructor(public readonly root: Root) {
    this.host = root.vm.host;
    this.reset();
  }

  /**
   * Back to the state of a stream before its first callback: a stream's object is reused for a
   * later stream of its root (Root.releaseStream), so a warm request allocates none.
   */
  reset(): void {
    this.handling = Handling.Ignore;
    this.sourceCluster = "";
    this.grpc = false;
    this.viaActivator = false;
    this.held = false;
    this.waitMs = -1;
    this.hop = null;
    this.inboundHop = NOT_CROSS_CLUSTER;
    this.responseCode = -1;
    this.errorKindLogged = false;
    this.owner = false;
    this.entryMs = -1;
    this.outsideDestination = false;
    this.resampleTrace = false;
    this.responseSeen = false;
    this.workloadStamp = WorkloadStamp.None;
    this.relaying = false;
    this.notesRelays = false;
    this.podAnswered = false;
    this.podStamps = null;
    this.podIndex = -1;
    this.podStamp = null;
    this.podViaActivator = false;
    this.responseClass = 0;
    this.coldStart = false;
    this.coldStartWaitMs = -1;
    this.nowMs = -1;
    this.untrustedCounted = false;
    this.peerUriSan = null;
    this.peerUriSanRead = false;
  }

  private now(): i64 {
    if (this.nowMs < 0) this.nowMs = this.host.nowMilliseconds();
    return this.nowMs;
  }

  private peerIdentity(): string | null {
    if (!this.peerUriSanRead) {
      this.peerUriSan = this.host.getPropertyStringReusing(
        PATH_PEER_URI_SAN,
        this.root.downstreamIdentity.text,
      );
      this.peerUriSanRead = true;
    }
    return this.peerUriSan;
  }

  /**
   * Whether the downstream may have set the filter's headers: a peer with a mesh identity, and at
   * a gateway only on a mesh-facing listener port (an outside client's certificate can carry any
   * URI SAN its CA signed). An outbound sidecar's downstream is its own workload.
   */
  private trustsDownstream(position: Position): bool {
    if (position == Position.Outbound) return true;
    const settings = this.root.settings!;
    if (position == Position.Gateway) {
      const port = this.host.getPropertyI64(PATH_DESTINATION_PORT, -1);
      if (!facesMesh(port, settings.meshGatewayPorts)) return false;
    }
    return this.root.downstreamMeshIdentity(this.peerIdentity()) != null;
  }

  /** Whether the upstream that answered may have set the pod stamp: it has a mesh identity. */
  private trustsUpstream(): bool {
    const root = this.root;
    const uriSan = this.host.getPropertyStringReusing(PATH_UPSTREAM_URI_SAN, root.upstreamIdentity.text);
    return root.upstreamMeshIdentity(uriSan) != null;
  }

  /**
   * `K-Proxy-Request: activator` counts only from the activator's identity. From a peer without a
   * certificate identity (an activator without a sidecar, in plaintext) it cannot be verified,
   * which knative_activator_unverified_total says; from any other identity it is forged.
   */
  private trustsActivator(): bool {
    const root = this.root;
    const peer = this.peerIdentity();
    const proof = activatorProofOf(peer != null, root.downstreamMeshIdentity(peer));
    if (proof == ActivatorProof.Activator) return true;
    if (proof == ActivatorProof.Unverifiable) {
      root.registry.increment(root.revSeries(ACTIVATOR_UNVERIFIED, [], root.unverifiedId, 0));
    } else {
      this.rejectUntrusted();
    }
    return false;
  }

  /** Counts this request's untrusted headers once, however many of them it carried. */
  private rejectUntrusted(): void {
    if (this.untrustedCounted) return;
    this.untrustedCounted = true;
    this.root.rejectStamp(REJECT_UNTRUSTED);
  }

  onRequestHeaders(): i32 {
    const position = this.root.resolvePosition();
    if (position == Position.None) return 0;
    if (position == Position.Inbound) {
      this.workloadStamp = this.root.workloadStampRule();
      if (this.root.skipsWorkload()) return 0;
    }
    const root = this.root;
    const scan = this.host.scanHeaders(HeaderMap.Request, root.wants, KWT_PREFIX, root.requestScan);
    if (!scan.wellFormed && position != Position.Outbound)
      this.stripUnreadableMap(position == Position.Gateway);
    if (position == Position.Inbound) this.inboundRequest(scan);
    else this.edgeRequest(scan, position);
    this.tracingRequest(scan, position);
    // The verdict is the root's reused check: the next stream's request headers overwrite it.
    this.hop = null;
    if (this.handling == Handling.Inbound) this.logInboundRequest();
    return 0;
  }

  onResponseHeaders(): i32 {
    const handling = this.handling;
    if (handling == Handling.Inbound) {
      this.inboundResponse();
    } else if (handling == Handling.Edge) {
      if (this.owner) this.edgeResponse();
      else if (this.relaying) this.relayResponse();
    } else {
      if (handling == Handling.ReadinessProbe) this.readinessProbeResponse();
      // A probe's answer, another port's, a skipped workload's: no stamp of this pod's own.
      const rule = this.workloadStamp;
      if (rule == WorkloadStamp.Removed || rule == WorkloadStamp.KeptIfRelayed) this.settleWorkloadStamp();
    }
    return 0;
  }

  /**
   * Inbound: removes a pod stamp on the response that this pod did not write and that may not
   * stay; returns whether one stays: the activator's relay, or a relay this Envoy's outbound side
   * noted (relay.ts). A made-up one is counted `untrusted`. A revision pod's goes without a look.
   */
  private settleWorkloadStamp(): bool {
    const rule = this.workloadStamp;
    const host = this.host;
    const root = this.root;
    if (rule == WorkloadStamp.Removed) {
      host.removeHeader(HeaderMap.Response, root.podName);
      return false;
    }
    if (!host.readHeaderInPlace(HeaderMap.Response, root.podName)) return false;
    if (rule == WorkloadStamp.Kept) return true;
    const vm = root.vm;
    const length = host.inPlaceLength;
    // Copied before the next host call; the clock read now, not at the request (its note was
    // written when its upstream answered).
    if (vm.holdRelayedStamp(host.inPlaceAt, length) && vm.relayedRecently(length, host.nowMilliseconds())) {
      return true;
    }
    root.rejectStamp(REJECT_UNTRUSTED);
    host.removeHeader(HeaderMap.Response, root.podName);
    return false;
  }

  /**
   * Edge, not owning the measurement (a proxy further up does; or, at a gateway, nothing to measure
   * outside the mesh): its upstream's pod stamp goes back, to be relayed. One from outside the mesh
   * or from an upstream without a mesh identity is removed (and counted `untrusted`); a trusted one
   * at a workload that relays is noted for this Envoy's inbound side, which lets out only noted ones
   * (the activator's lets out any: it relays for revisions).
   */
  private relayResponse(): void {
    const host = this.host;
    const root = this.root;
    if (!host.readHeaderInPlace(HeaderMap.Response, root.podName)) return;
    const vm = root.vm;
    const length = host.inPlaceLength;
    // Copied before the next host call, for the note.
    const held = this.notesRelays && vm.holdRelayedStamp(host.inPlaceAt, length);
    if (this.outsideDestination || !this.trustsUpstream()) {
      root.rejectStamp(REJECT_UNTRUSTED);
      host.removeHeader(HeaderMap.Response, root.podName);
      return;
    }
    // The time its upstream answered (the request's clock may be a slow answer's age older).
    if (held) vm.noteRelayedStamp(length, host.nowMilliseconds());
  }

  onLog(): void {
    if (this.handling == Handling.Inbound) this.inboundLog();
    else if (this.handling == Handling.Edge && this.podAnswered) this.edgeLog();
  }

  /** The filter's own stamps present on the request (configured names and any `x-kwt-*`). */
  private stampsPresent(scan: HeaderScan): bool {
    const root = this.root;
    return (
      scan.has(root.slotEntry) || scan.has(root.slotHop) || scan.has(root.slotPod) || scan.prefixed.length > 0
    );
  }

  /**
   * Removes the filter's headers the scan found (and K-Proxy-Request): one remove call for a single
   * header; for more, the map written back once without them, since each remove call scans the
   * whole map (n forged headers would cost n such scans).
   */
  private removeStamps(scan: HeaderScan, alsoProxyRequest: bool): void {
    const root = this.root;
    const names = new Array<ArrayBuffer>();
    if (scan.has(root.slotEntry)) names.push(root.entryName);
    if (scan.has(root.slotHop)) names.push(root.hopName);
    if (scan.has(root.slotPod)) names.push(root.podName);
    if (alsoProxyRequest && scan.has(root.slotProxyRequest)) names.push(K_PROXY_REQUEST_NAME);
    // The scan kept only the wanted values: a forged map is read again (rare), then written once.
    const pairs =
      names.length + scan.prefixed.length > 1 ? this.host.getHeaderPairs(HeaderMap.Request) : null;
    const kept =
      pairs != null ? pairsWithout(changetype<usize>(pairs), <u32>pairs.byteLength, names, KWT_PREFIX) : null;
    if (kept != null) {
      this.host.setHeaderPairs(HeaderMap.Request, kept);
      return;
    }
    for (let i = 0; i < names.length; i++) this.host.removeHeader(HeaderMap.Request, unchecked(names[i]));
    for (let i = 0; i < scan.prefixed.length; i++) {
      this.host.removeHeader(HeaderMap.Request, String.UTF8.encode(unchecked(scan.prefixed[i])));
    }
  }

  /**
   * A request header map the scan could not read (more pairs than a serialized map may hold) may
   * carry anything: it is untrusted, and the filter's own names are removed by name (what other
   * `x-kwt-*` it holds cannot be known, and nothing reads them).
   */
  private stripUnreadableMap(alsoProxyRequest: bool): void {
    this.removeStampNames(alsoProxyRequest);
    this.rejectUntrusted();
  }

  /** Removes the configured stamp names (and K-Proxy-Request) by name, present or not. */
  private removeStampNames(alsoProxyRequest: bool): void {
    const root = this.root;
    this.host.removeHeader(HeaderMap.Request, root.entryName);
    this.host.removeHeader(HeaderMap.Request, root.hopName);
    this.host.removeHeader(HeaderMap.Request, root.podName);
    if (alsoProxyRequest) this.host.removeHeader(HeaderMap.Request, K_PROXY_REQUEST_NAME);
  }

  /** Hop stamp and trace context on the edge; cross-cluster hop and trace participation inbound. */
  private tracingRequest(scan: HeaderScan, position: Position): void {
    const crossCluster = this.root.crossCluster;
    const tracing = this.root.tracing;
    if (crossCluster == null || tracing == null) return;
    if (position != Position.Inbound) {
      if (!this.outsideDestination) crossCluster.stampOutbound(this.now());
      tracing.onOutboundRequestHeaders(scan, this.outsideDestination, this.resampleTrace);
      return;
    }
    if (this.handling != Handling.Inbound) return;
    // Only a cross-cluster hop or a hold in the activator gives tracing something to do inbound.
    const hop = this.hop;
    const fromOtherCluster = hop != null && hop.verdict == HopVerdict.CrossCluster;
    if (!fromOtherCluster && !this.held) return;
    const hold = this.activatorHold;
    hold.held = this.held;
    hold.waitMs = this.waitMs;
    const nowMs = this.now();
    this.inboundHop = crossCluster.onInboundRequest(hop, nowMs, this.ownInboundHop);
    tracing.onInboundRequestHeaders(scan, this.inboundHop, hold, nowMs);
    if (this.inboundHop.skewed) this.root.clockSkew(this.inboundHop.sourceCluster);
  }

  // --- Inbound sidecar ---

  /** Access-log fields known once the request headers are read: a cross-cluster hop. */
  private logInboundRequest(): void {
    const hop = this.inboundHop;
    if (hop.crossCluster) {
      logHop(this.host, hop.sourceCluster, hop.sourceRegion, hop.skewed ? -1 : hop.hopMs);
    }
  }

  /**
   * Reads the response code, and for a 4xx/5xx the response flags: Envoy sets a local reply's flags
   * before encoding it, so its error kind is known here and reaches the access loggers that run
   * before on_log (Envoy up to 1.31). A 2xx-3xx costs no extra call.
   */
  private logResponseErrorKind(): void {
    const code = this.host.getHeaderInteger(HeaderMap.Response, STATUS_HEADER);
    this.responseCode = code;
    if (code < 400) return;
    const flags = <u64>this.host.getPropertyI64(PATH_RESPONSE_FLAGS, 0);
    if (!errorKindKnownAtResponseHeaders(code, flags)) return;
    this.errorKindLogged = logErrorKind(this.host, classifyOutcome(code, flags, this.grpc, -1));
  }

  private inboundRequest(scan: HeaderScan): void {
    const root = this.root;
    const settings = root.settings!;
    if (
      isProbe(
        scan.valueAt(root.slotUserAgent),
        scan.valueLength(root.slotUserAgent),
        scan.has(root.slotNetworkProbe),
        scan.has(root.slotKubeletProbe),
      )
    ) {
      if (
        root.vm.podReadyMs < 0 &&
        isReadinessProbe(scan.valueAt(root.slotNetworkProbe), scan.valueLength(root.slotNetworkProbe))
      ) {
        this.handling = Handling.ReadinessProbe;
      }
      return;
    }
    if (!settings.servesPort(this.host.getPropertyI64(PATH_DESTINATION_PORT, -1))) return;
    this.handling = Handling.Inbound;

    let entryMs: i64 = -1;
    if (this.stampsPresent(scan)) {
      if (this.trustsDownstream(Position.Inbound)) {
        const hop = checkHop(
          scan.valueAt(root.slotHop),
          scan.valueLength(root.slotHop),
          true,
          root.identity.cluster,
          settings.knownClusters,
          settings.knownRegions,
          root.hopStamps,
          root.hopCheck,
        );
        this.hop = hop;
        if (hop.verdict == HopVerdict.Rejected) root.rejectStamp(hop.reason);
        if (hop.verdict == HopVerdict.CrossCluster) root.boundSourceLabels(hop.stamp!);
        const stamp = hop.stamp;
        if (stamp != null && hop.verdict != HopVerdict.Rejected) this.sourceCluster = stamp.cluster;
        if (scan.has(root.slotEntry)) {
          entryMs = parseEntryMillis(scan.valueAt(root.slotEntry), scan.valueLength(root.slotEntry));
          if (entryMs < 0) root.rejectStamp(REJECT_MALFORMED);
        }
      } else {
        // No mesh identity: nothing proves these came from this filter upstream.
        this.removeStamps(scan, false);
        this.rejectUntrusted();
      }
    }

    this.grpc = isGrpcContentType(scan.valueAt(root.slotContentType), scan.valueLength(root.slotContentType));
    const vm = root.vm;
    // Nothing routes user traffic to a pod before it is ready: a first request with no passed
    // probe before it makes the pod ready now.
    if (vm.podReadyMs < 0) vm.learnPodReady(this.now());
    const slotProxyRequest = root.slotProxyRequest;
    const fromActivator = isActivatorRequest(
      scan.valueAt(slotProxyRequest),
      scan.valueLength(slotProxyRequest),
    );
    if (!fromActivator || !this.trustsActivator()) return;
    this.viaActivator = true;
    // The arrival goes back on the pod stamp: the edge times a cold start with it.
    const arrivalMs = this.now();
    if (entryMs < 0 || entryMs >= vm.podReadyMs) return;
    // Entered before this pod was ready: the activator held it (for a pod to start, or for
    // capacity; the edge tells which). Its wait ends now, at the pod.
    this.held = true;
    this.waitMs = arrivalMs - entryMs;
  }

  /** An activator readiness probe answered 200: the pod is ready from now. */
  private readinessProbeResponse(): void {
    if (this.host.getHeaderInteger(HeaderMap.Response, STATUS_HEADER) == 200) {
      this.root.vm.learnPodReady(this.now());
    }
  }

  private inboundResponse(): void {
    this.logResponseErrorKind();
    const root = this.root;
    // This pod's own stamp replaces anything the workload sent (a revision pod's, where it has none
    // to write, is removed: Root.workloadStampRule); a relay that may stay, the activator's or one
    // this Envoy's outbound side noted, stays: the gateway needs it for the revision and cold start.
    const rule = this.workloadStamp;
    if (rule != WorkloadStamp.Removed && this.settleWorkloadStamp()) return;
    if (!this.writeInboundPodStamp() && rule == WorkloadStamp.Removed) {
      this.host.removeHeader(HeaderMap.Response, root.podName);
    }
  }

  /** Puts this pod's stamp on the response; false when it has none to put. */
  private writeInboundPodStamp(): bool {
    const root = this.root;
    if (!this.viaActivator) {
      const direct = root.directPodStamp();
      if (direct == null) return false;
      this.host.replaceHeaderBytes(
        HeaderMap.Response,
        root.podName,
        changetype<usize>(direct),
        direct.byteLength,
      );
      return true;
    }
    // The clock was read at the request headers of a request through the activator: its arrival.
    const arrivalMs = this.now();
    if (this.held) {
      const stamp = root.heldPodStamp(this.waitMs, arrivalMs);
      if (stamp == null) return false;
      this.host.replaceHeader(HeaderMap.Response, root.podName, stamp);
      return true;
    }
    const writer = root.activatorPodStamp();
    if (writer == null) return false;
    this.host.replaceHeaderBytes(HeaderMap.Response, root.podName, writer.at, writer.write(arrivalMs));
    return true;
  }

  private inboundLog(): void {
    const root = this.root;
    const code = this.responseCode > 0 ? this.responseCode : this.host.getPropertyI64(PATH_RESPONSE_CODE, 0);
    const flags = <u64>this.host.getPropertyI64(PATH_RESPONSE_FLAGS, 0);
    const codeClass = codeClassIndex(code);
    const grpcStatus = this.grpc && codeClass == 2 ? this.host.getPropertyI64(PATH_GRPC_STATUS, -1) : -1;
    const details = needsCodeDetails(code, flags)
      ? this.host.getPropertyString(PATH_RESPONSE_CODE_DETAILS)
      : null;
    const kind = classifyOutcome(code, flags, this.grpc, grpcStatus, details);
    // What only the stream's end tells (a reset, no response, a gRPC status in trailers): the
    // access loggers see it from Envoy 1.32, which runs them after on_log.
    if (!this.errorKindLogged) this.errorKindLogged = logErrorKind(this.host, kind);

    const series = root.inboundSeries(this.sourceCluster);
    const className = codeClassName(codeClass);
    const crossCluster = root.crossCluster;
    if (crossCluster != null) crossCluster.onInboundLog(this.inboundHop, codeClass);
    const registry = root.registry;
    // Only a request that reached queue-proxy is an invocation; Envoy's refusals count as errors.
    const hasUpstreamAddress =
      needsUpstreamAddress(flags, kind) && this.host.getPropertyString(PATH_UPSTREAM_ADDRESS) != null;
    // A cached id first: the label values are only gathered for a series not known yet.
    if (reachedUpstream(flags, kind, hasUpstreamAddress)) {
      const cache = series != null ? series.invocations : null;
      let id = cachedId(cache, codeClass);
      if (id == 0) id = root.revSeries(INVOCATIONS, [this.sourceCluster, className], cache, codeClass);
      registry.increment(id);
    }
    if (kind != ErrorKind.None) {
      const cache = series != null ? series.errors : null;
      const index = codeClass * ERROR_KIND_COUNT + <i32>kind;
      let id = cachedId(cache, index);
      if (id == 0) {
        id = root.revSeries(ERRORS, [this.sourceCluster, className, errorKindName(kind)], cache, index);
      }
      registry.increment(id);
    }
  }

  // --- Gateway and outbound sidecar ---

  /**
   * Whether the request goes into the mesh, from the route's cluster (readable at request headers)
   * or, without one, from `:authority` at a sidecar (destination.ts).
   */
  private destinationInMesh(scan: HeaderScan, position: Position): bool {
    const root = this.root;
    const clusterName = root.vm.readClusterName(root.clusterVerdict.text);
    if (clusterName != null && clusterName.length > 0) return root.clusterInMesh(clusterName);
    return destinationInMesh(
      clusterName,
      scan.value(root.slotAuthority),
      root.settings!.meshDomains,
      position == Position.Gateway,
    );
  }

  private edgeRequest(scan: HeaderScan, position: Position): void {
    const root = this.root;
    this.handling = Handling.Edge;
    if (!this.destinationInMesh(scan, position)) {
      // Internal names (entry time, cluster, region) never leave the mesh; nothing comes back to
      // measure either.
      this.outsideDestination = true;
      // A gateway's answer from outside (an egress gateway's) carries no pod's stamp.
      this.relaying = position == Position.Gateway;
      // An unreadable map hides which stamps it carries; a gateway has removed them already.
      if (!scan.wellFormed) {
        if (position == Position.Outbound) this.removeStampNames(false);
      } else if (this.stampsPresent(scan)) {
        this.removeStamps(scan, false);
      }
      return;
    }
    const settings = root.settings!;
    let trusted = position == Position.Outbound;
    const resample = position == Position.Gateway && settings.tracing.resampleAtEdge;
    if (!trusted && (resample || this.stampsPresent(scan) || scan.has(root.slotProxyRequest))) {
      trusted = this.trustsDownstream(position);
      if (!trusted) this.removeStamps(scan, true);
    }
    this.resampleTrace = resample && !trusted;
    // A valid entry stamp means a proxy further up started the measurement (e.g. the gateway in
    // front of the activator): keep it and leave the pod stamp on the response for that proxy.
    const slotEntry = root.slotEntry;
    if (trusted && parseEntryMillis(scan.valueAt(slotEntry), scan.valueLength(slotEntry)) >= 0) {
      const rule = root.workloadStampRule();
      this.relaying = position == Position.Gateway || rule != WorkloadStamp.Removed;
      this.notesRelays = position == Position.Outbound && rule == WorkloadStamp.KeptIfRelayed;
      return;
    }
    this.owner = true;
    this.entryMs = this.now();
    const length = writeEntryMillis(this.entryMs, entryStampBytes);
    this.host.replaceHeaderBytes(HeaderMap.Request, root.entryName, entryStampBytes, length);
  }

  private edgeResponse(): void {
    const root = this.root;
    const host = this.host;
    // Envoy gives a stream one set of response headers (1xx ones never reach Wasm). Were a second
    // to come, it would answer the same request: its stamp is only removed, not judged again (nor
    // its stream noted open twice).
    if (this.responseSeen) {
      if (!root.settings!.keepPodHeader) host.removeHeader(HeaderMap.Response, root.podName);
      return;
    }
    this.responseSeen = true;
    if (!host.readHeaderInPlace(HeaderMap.Response, root.podName)) return;
    // Everything before the per-request arrival is the same on every answer of a pod: the cache
    // key, looked up in the bytes where the host wrote them (before the next host call), so a kept
    // ASCII stamp is never decoded; any other is, there (and looked up by its text).
    const stamps = root.podStamps;
    const at = host.inPlaceAt;
    const length = host.inPlaceLength;
    let arrivalAt = arrivalFieldStartBytes(at, length);
    let index = stamps.indexOfBytes(at, arrivalAt);
    let text = "";
    let arrivalMs: i64;
    if (index >= 0) {
      arrivalMs = parseArrivalFieldBytes(at, length, arrivalAt);
    } else {
      text = String.UTF8.decodeUnsafe(at, <usize>length);
      noteGarbage(<i64>length * 2);
      arrivalAt = arrivalFieldStart(text);
      arrivalMs = parseArrivalField(text, arrivalAt);
      index = index == NOT_ASCII_STAMP ? stamps.indexOf(text, arrivalAt) : -1;
    }
    if (!root.settings!.keepPodHeader) host.removeHeader(HeaderMap.Response, root.podName);
    if (!this.trustsUpstream()) {
      root.rejectStamp(REJECT_UNTRUSTED);
      return;
    }
    // Built for a new stamp only; a kept one's comes from the history if an answer needs it.
    let eraKey: string | null = null;
    let readyMs: i64;
    if (index < 0) {
      // Cut out only for a stamp not seen before (or not kept).
      const key = arrivalAt < text.length ? text.substring(0, arrivalAt) : text;
      const report = decodePodStamp(key);
      if (report == null || arrivalMs < -1) {
        root.rejectStamp(REJECT_MALFORMED);
        return;
      }
      eraKey = revisionEraKey(report);
      root.boundPodStampLabels(report);
      index = root.cachePodStamp(key, report, this.entryMs);
      this.podStamp = report;
      this.podViaActivator = report.viaActivator;
      readyMs = report.readyMs;
    } else {
      if (arrivalMs < -1) {
        root.rejectStamp(REJECT_MALFORMED);
        return;
      }
      stamps.noteAnswer(index, this.entryMs);
      this.podViaActivator = unchecked(stamps.viaActivator[index]);
      readyMs = unchecked(stamps.readyMs[index]);
    }
    this.podAnswered = true;
    this.podStamps = stamps;
    this.podIndex = index;
    if (readyMs >= 0) this.classifyAnswer(readyMs, arrivalMs, eraKey);
    this.responseClass = codeClassIndex(this.host.getHeaderInteger(HeaderMap.Response, STATUS_HEADER));
  }

  /** The stream was deleted: the stamp of its answer, if kept, has one open stream fewer. */
  released(): void {
    if (this.podIndex >= 0) this.podStamps!.noteStreamEnd(this.podIndex);
  }

  /** The answer's pod stamp, decoded (again, for a kept one) when a label value is needed. */
  private podReport(): PodStamp {
    let report = this.podStamp;
    if (report == null) {
      report = this.podStamps!.report(this.podIndex);
      this.podStamp = report;
    }
    return report;
  }

  /** Where the answer's stamp keeps its series ids (null when it is not kept). */
  private podIds(): StaticArray<u32> | null {
    return this.podIndex >= 0 ? this.podStamps!.ids : null;
  }

  /** The index in podIds() of the stamp's id in `slot` (< POD_ID_SLOTS). */
  private podIdIndex(slot: i32): i32 {
    return this.podIndex * POD_ID_SLOTS + slot;
  }

  /** An edge series labelled with the stamp's REV only (`which`: REV_ONLY_*). */
  private revOnlyId(family: MetricFamily, which: i32): u32 {
    const ids = this.podIds();
    const index = this.podIdIndex(CODE_CLASS_COUNT + which);
    const cached = cachedId(ids, index);
    if (cached != 0) return cached;
    return this.root.stampRevOnlyId(family, this.podReport(), ids, index);
  }

  /**
   * Edge: notes that the answering pod is ready since `report.readyMs`, and for an answer through
   * the activator whose entry is older than that (held), decides from the revision's ready era
   * whether a pod was ready when it entered (a wait for capacity) or none was (a cold start). Only
   * a held answer reads the era other workers published to classify itself; any answer, once a
   * second per revision, publishes the era (reading and merging the shared copy first, named from
   * the history's key with no string made). `newKey` is the era key of a stamp decoded for this
   * answer; a kept stamp's era is found by its ticket (a held answer's read named from the
   * history's key bytes), and its key built only when the history forgot the era.
   */
  private classifyAnswer(readyMs: i64, arrivalMs: i64, newKey: string | null): void {
    const root = this.root;
    const vm = root.vm;
    const gapMs = <i64>root.settings!.scaleToZeroMinSeconds * 1000;
    const entryMs = this.entryMs;
    const history = vm.readyHistory;
    const stamps = this.podStamps!;
    const index = this.podIndex;
    let key = newKey;
    const held = this.podViaActivator && entryMs < readyMs;
    let place = index >= 0 ? history.placeOfTicket(unchecked(stamps.eraTickets[index])) : -1;
    if (held) {
      if (place >= 0) {
        const published = vm.sharedEraAt(place);
        if (published != null) history.joinAt(place, published.firstReadyMs, published.lastAnswerMs, gapMs);
      } else {
        if (key == null) key = stamps.eraKey(index);
        const published = vm.sharedEra(key);
        if (published != null) {
          place = history.join(key, published.firstReadyMs, published.lastAnswerMs, gapMs);
        }
      }
    }
    // A pod that answered a request it was ready for was ready when that request entered.
    if (place >= 0) {
      history.noteAnswerAt(place, readyMs, entryMs, gapMs);
    } else {
      if (key == null) key = stamps.eraKey(index);
      place = history.noteAnswer(key, readyMs, entryMs, gapMs);
    }
    if (index >= 0) unchecked((stamps.eraTickets[index] = history.ticketOf(place)));
    if (held && enteredBeforeReady(entryMs, history.firstReadyAt(place))) {
      this.coldStart = true;
      let wait: i64 = -1;
      if (arrivalMs >= 0) {
        wait = arrivalMs - entryMs;
        if (wait < 0) {
          root.clockSkew(this.podReport().cluster);
          wait = 0;
        }
      }
      this.coldStartWaitMs = wait;
      logColdStart(this.host, wait);
    }
    if (history.publishDue(place, entryMs)) vm.publishEra(place, gapMs, entryMs);
  }

  private edgeLog(): void {
    const root = this.root;
    const registry = root.registry;
    if (this.coldStart) {
      registry.increment(this.revOnlyId(COLD_STARTS, REV_ONLY_COLD_STARTS));
      if (this.coldStartWaitMs >= 0) {
        registry.record(
          this.revOnlyId(COLD_START_DURATION, REV_ONLY_COLD_START_DURATION),
          <u64>this.coldStartWaitMs,
        );
      }
    } else if (this.podViaActivator) {
      registry.increment(this.revOnlyId(ACTIVATOR_PROXIED, REV_ONLY_ACTIVATOR_PROXIED));
    }
    const durationNs = this.host.getPropertyI64(PATH_REQUEST_DURATION, -1);
    if (durationNs < 0) return;
    const ids = this.podIds();
    const index = this.podIdIndex(
      this.coldStart ? COLD_DURATION_SLOTS_AT + this.responseClass : this.responseClass,
    );
    let id = cachedId(ids, index);
    if (id == 0) {
      id = root.requestDurationId(this.podReport(), this.responseClass, this.coldStart, ids, index);
    }
    registry.record(id, <u64>(durationNs / 1_000_000));
  }
}
