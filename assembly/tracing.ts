// Glue for part 2: hop stamps, cross-cluster metrics, W3C trace context with adaptive sampling,
// and the filter's own spans. The root context owns one Tracing per configuration; streams call
// it from their header callbacks and on_log. Decisions are made by the pure modules (hop.ts,
// traceplan.ts, sampler.ts); this file reads and writes headers and records metrics.

import { Settings } from "./config";
import { Identity } from "./identity";
import { MAX_CACHED_LABEL_SETS, MetricFamily, MetricKind, SeriesRegistry } from "./metrics";
import { HeaderScan, HeaderWants } from "./headerscan";
import * as imports from "@solo-io/proxy-runtime/assembly/imports";
import { REQUEST_HEADERS, removeHeader, replaceHeader } from "./host";
import { encodeHopStamp, hopDuration, hopStampPrefix, HopCheck, HopVerdict } from "./hop";
import { AdaptiveSampler, SamplerSettings } from "./sampler";
import { ownMemberValue, planTrace, TraceAction, TracePlan, TraceRequest } from "./traceplan";
import { TraceStateMember } from "./tracestate";
import { TRACEPARENT_PROBLEM_REASONS } from "./tracecontext";
import { CODE_CLASS_COUNT, codeClassName } from "./knative";
import { WasiIds } from "./random";
import { Span, SpanAttribute, SpanKind } from "./otlp";
import { SpanExporter } from "./spanexport";

const TRACEPARENT = "traceparent";
const TRACESTATE = "tracestate";

const HOP_LABELS: string[] = ["source_cluster", "source_region", "destination_cluster", "destination_region"];
const CROSS_CLUSTER_REQUESTS = new MetricFamily(
  "mesh_cross_cluster_requests_total",
  MetricKind.Counter,
  HOP_LABELS.concat(["response_code_class"]),
);
const CROSS_CLUSTER_HOP_DURATION = new MetricFamily(
  "mesh_cross_cluster_hop_duration_milliseconds",
  MetricKind.Histogram,
  HOP_LABELS,
);
const TRACEPARENT_REPAIRED = new MetricFamily("kwt_traceparent_repaired_total", MetricKind.Counter, ["reason"]);
const TRACES_STARTED = new MetricFamily("kwt_traces_started_total", MetricKind.Counter, ["sampled"]);
const SAMPLING_PROBABILITY = new MetricFamily("kwt_sampling_probability", MetricKind.Gauge, []);

const NANOS_PER_MILLI: u64 = 1_000_000;

/** Cross-cluster series ids for one source cluster and region (the destination is this proxy). */
class CrossClusterSeries {
  /** mesh_cross_cluster_hop_duration_milliseconds at HOP_DURATION, then requests by code class. */
  readonly ids: StaticArray<u32> = new StaticArray<u32>(1 + CODE_CLASS_COUNT);
  constructor(public readonly sourceRegion: string) {}
}

const HOP_DURATION: i32 = 0;

/** What the inbound side learnt from a request's hop stamp, kept by the stream until on_log. */
export class InboundHop {
  constructor(
    /** A trusted stamp from another cluster. */
    public crossCluster: bool,
    public sourceCluster: string,
    public sourceRegion: string,
    public sentMs: i64,
    /** The send time was outside [now - 1 h, now]: the stream counts kwt_clock_skew_total. */
    public skewed: bool,
    /** Its series ids, cached by source; null when not cached. */
    public series: CrossClusterSeries | null,
  ) {}
}

/** What the inbound sidecar knows about the revision's cold start when the request arrives. */
export class ColdStartFacts {
  constructor(
    public coldStart: bool,
    /** The measured wait (now - x-kwt-entry, clamped at 0); -1 when untimed. */
    public waitMs: i64,
  ) {}
}

export const NOT_CROSS_CLUSTER = new InboundHop(false, "", "", 0, false, null);

export class Tracing {
  private readonly sampler: AdaptiveSampler;
  private readonly ids: WasiIds = new WasiIds();
  private readonly ownMember: TraceStateMember;
  private readonly hopPrefix: string;
  private readonly hopHeader: ArrayBuffer;
  private readonly traceparentHeader: ArrayBuffer = String.UTF8.encode(TRACEPARENT);
  private readonly tracestateHeader: ArrayBuffer = String.UTF8.encode(TRACESTATE);
  private readonly traceparentSlot: i32;
  private readonly tracestateSlot: i32;
  private readonly exporter: SpanExporter | null;
  private readonly repairedIds: StaticArray<u32>;
  private readonly startedSampledId: u32;
  private readonly startedUnsampledId: u32;
  private readonly probabilityId: u32;
  /** Cross-cluster series by source cluster: a hop costs no stat name once its source is known. */
  private readonly bySourceCluster: Map<string, CrossClusterSeries> = new Map();

  /**
   * Built in proxy_on_configure. Adds the headers it reads to `wants` (the stream's one pairs scan).
   */
  constructor(
    private readonly settings: Settings,
    private readonly identity: Identity,
    private readonly registry: SeriesRegistry,
    wants: HeaderWants,
    nowMs: i64,
  ) {
    const tracing = settings.tracing;
    this.sampler = new AdaptiveSampler(
      new SamplerSettings(
        tracing.targetSampledPerSecond,
        tracing.minProbability,
        tracing.maxProbability,
        settings.tickPeriodMs,
      ),
      nowMs,
    );
    this.ownMember = new TraceStateMember(tracing.tracestateKey, ownMemberValue(identity.cluster, identity.region));
    this.hopPrefix = hopStampPrefix(identity.cluster, identity.region);
    this.hopHeader = String.UTF8.encode(settings.hopHeader);
    // planTrace sees every value: repeated tracestate headers are one list, a repeated traceparent is repaired.
    this.traceparentSlot = wants.add(TRACEPARENT, true);
    this.tracestateSlot = wants.add(TRACESTATE, true);
    const repaired = new StaticArray<u32>(TRACEPARENT_PROBLEM_REASONS.length);
    for (let i = 1; i < TRACEPARENT_PROBLEM_REASONS.length; i++) {
      unchecked((repaired[i] = registry.fixed(TRACEPARENT_REPAIRED, [unchecked(TRACEPARENT_PROBLEM_REASONS[i])])));
    }
    this.repairedIds = repaired;
    this.startedSampledId = registry.fixed(TRACES_STARTED, ["true"]);
    this.startedUnsampledId = registry.fixed(TRACES_STARTED, ["false"]);
    this.probabilityId = registry.fixed(SAMPLING_PROBABILITY, []);
    registry.record(this.probabilityId, <u64>this.sampler.probabilityPpm);
    imports.proxy_set_tick_period_milliseconds(settings.tickPeriodMs);
    this.exporter = settings.spanExport.enabled
      ? new SpanExporter(
          settings.spanExport,
          [
            SpanAttribute.string("service.name", settings.spanExport.serviceName),
            SpanAttribute.string("k8s.cluster.name", identity.cluster),
            SpanAttribute.string("cloud.region", identity.region),
          ],
          registry,
        )
      : null;
  }

  /** proxy_on_tick: new sampling probability, next span batch. */
  onTick(nowMs: i64): void {
    this.sampler.tick(nowMs);
    this.registry.record(this.probabilityId, <u64>this.sampler.probabilityPpm);
    const exporter = this.exporter;
    if (exporter != null) exporter.flush();
  }

  /** proxy_on_http_call_response on the root context: true when it was a span export. */
  onHttpCallResponse(token: u32, headerCount: u32): bool {
    const exporter = this.exporter;
    return exporter != null && exporter.onResponse(token, headerCount);
  }

  /**
   * Request headers leaving a workload or a gateway: stamp the hop, and repair or start the trace
   * context.
   */
  onOutboundRequestHeaders(scan: HeaderScan, nowMs: i64): void {
    if (this.hopPrefix.length > 0) replaceHeader(REQUEST_HEADERS, this.hopHeader, encodeHopStamp(this.hopPrefix, nowMs));
    if (!this.settings.tracing.enabled) return;
    this.apply(this.plan(scan, false, false), scan);
  }

  /**
   * Request headers arriving at a revision pod (inbound sidecar), after the stream judged the hop
   * stamp (`check`; null when there was none or it was not trusted): record the hop duration of a
   * cross-cluster request and, with span export on, take part in the trace for a cross-cluster hop
   * or a cold start. The stream keeps the result for onInboundLog and counts `skewed` as clock skew.
   */
  onInboundRequestHeaders(
    check: HopCheck | null,
    scan: HeaderScan,
    coldStart: ColdStartFacts,
    nowMs: i64,
  ): InboundHop {
    let hop = NOT_CROSS_CLUSTER;
    if (check != null && check.verdict == HopVerdict.CrossCluster) {
      const stamp = check.stamp!;
      const duration = hopDuration(nowMs, stamp.sentMs);
      const series = this.crossClusterSeries(stamp.cluster, stamp.region);
      hop = new InboundHop(true, stamp.cluster, stamp.region, stamp.sentMs, duration.skewed, series);
      this.registry.record(this.crossClusterId(hop, CROSS_CLUSTER_HOP_DURATION, null, HOP_DURATION), <u64>duration.milliseconds);
    }
    if (this.exporter != null && (hop.crossCluster || coldStart.coldStart)) {
      this.participate(scan, hop, coldStart, nowMs);
    }
    return hop;
  }

  /** on_log of an inbound stream: count a cross-cluster request with its response class (index). */
  onInboundLog(hop: InboundHop, codeClass: i32): void {
    if (!hop.crossCluster) return;
    this.registry.increment(this.crossClusterId(hop, CROSS_CLUSTER_REQUESTS, codeClassName(codeClass), 1 + codeClass));
  }

  /**
   * The cache entry of a source cluster; null beyond the cache bound, or when the cluster was first
   * seen in another region (then each such hop builds its stat name).
   */
  private crossClusterSeries(cluster: string, region: string): CrossClusterSeries | null {
    if (this.bySourceCluster.has(cluster)) {
      const series = this.bySourceCluster.get(cluster);
      return series.sourceRegion == region ? series : null;
    }
    if (this.bySourceCluster.size >= MAX_CACHED_LABEL_SETS) return null;
    const series = new CrossClusterSeries(region);
    this.bySourceCluster.set(cluster, series);
    return series;
  }

  /** A cross-cluster series of `hop` (`codeClass`: the response class label, null for none). */
  private crossClusterId(hop: InboundHop, family: MetricFamily, codeClass: string | null, index: i32): u32 {
    const cache = hop.series != null ? hop.series!.ids : null;
    if (cache != null) {
      const cached = unchecked(cache[index]);
      if (cached != 0) return cached;
    }
    const values = [hop.sourceCluster, hop.sourceRegion, this.identity.cluster, this.identity.region];
    if (codeClass != null) values.push(codeClass);
    return this.registry.remember(cache, index, this.registry.id(family, values));
  }

  /** The trace plan for a request, from every traceparent and tracestate value the scan kept. */
  private plan(scan: HeaderScan, participant: bool, forceSampled: bool): TracePlan {
    const request = new TraceRequest(
      scan.every(this.traceparentSlot),
      scan.every(this.tracestateSlot),
      participant,
      forceSampled,
    );
    return planTrace(request, this.ownMember, this.sampler, this.ids);
  }

  /** Writes the plan's headers and counts what it did. */
  private apply(plan: TracePlan, scan: HeaderScan): void {
    if (plan.action == TraceAction.Keep) return;
    if (unchecked(scan.counts[this.traceparentSlot]) > 1) removeHeader(REQUEST_HEADERS, this.traceparentHeader);
    replaceHeader(REQUEST_HEADERS, this.traceparentHeader, plan.traceparent);
    if (unchecked(scan.counts[this.tracestateSlot]) > 1) removeHeader(REQUEST_HEADERS, this.tracestateHeader);
    replaceHeader(REQUEST_HEADERS, this.tracestateHeader, plan.tracestate);
    if (plan.action == TraceAction.Restart) {
      this.registry.increment(unchecked(this.repairedIds[<i32>plan.problem]));
    }
    if (plan.samplerDecided) {
      this.registry.increment(plan.sampled ? this.startedSampledId : this.startedUnsampledId);
    }
  }

  /**
   * The filter owns spans on this hop: a hop span for a cross-cluster request (from the stamped
   * send time to arrival) and a cold-start span (from mesh entry to arrival: the measured wait).
   * The innermost becomes parent-id of the request to the workload.
   */
  private participate(
    scan: HeaderScan,
    hop: InboundHop,
    coldStart: ColdStartFacts,
    nowMs: i64,
  ): void {
    const plan = this.plan(scan, true, coldStart.coldStart && this.settings.tracing.forceSampleColdStarts);
    this.apply(plan, scan);
    if (!plan.sampled) return;
    const exporter = this.exporter!;
    const nowNs = <u64>nowMs * NANOS_PER_MILLI;
    let parent = plan.parentSpanId;
    if (hop.crossCluster) {
      const hopSpanId = coldStart.coldStart ? this.ids.spanId() : plan.spanId;
      const start = hop.sentMs <= nowMs ? <u64>hop.sentMs * NANOS_PER_MILLI : nowNs;
      exporter.add(
        new Span(plan.traceId, hopSpanId, parent, "cross-cluster hop", SpanKind.Server, start, nowNs, [
          SpanAttribute.string("kwt.source.cluster", hop.sourceCluster),
          SpanAttribute.string("kwt.source.region", hop.sourceRegion),
          SpanAttribute.string("k8s.cluster.name", this.identity.cluster),
          SpanAttribute.string("cloud.region", this.identity.region),
        ]),
      );
      parent = hopSpanId;
    }
    if (coldStart.coldStart) {
      const start = coldStart.waitMs > 0 ? <u64>(nowMs - coldStart.waitMs) * NANOS_PER_MILLI : nowNs;
      const identity = this.identity;
      exporter.add(
        new Span(plan.traceId, plan.spanId, parent, "cold start", SpanKind.Internal, start, nowNs, [
          SpanAttribute.bool("faas.coldstart", true),
          SpanAttribute.string("k8s.cluster.name", identity.cluster),
          SpanAttribute.string("cloud.region", identity.region),
          SpanAttribute.string("k8s.namespace.name", identity.namespace),
          SpanAttribute.string("faas.name", identity.service),
          SpanAttribute.string("faas.version", identity.revision),
        ]),
      );
    }
  }
}
