// Glue for W3C trace context: keeps, starts or repairs traceparent/tracestate on requests leaving a
// workload or a gateway, with adaptive sampling of the traces it starts, and on the revision pod's
// inbound side takes part in the trace for a cross-cluster hop or a hold in the activator, recording its own
// spans for export. The root context owns one Tracing per configuration; streams call it from their
// request headers. Decisions are made by the pure modules (traceplan.ts, sampler.ts); this file
// reads and writes headers and records metrics.

import { Settings } from "./config";
import { Identity } from "./identity";
import { SeriesRegistry } from "./metrics";
import {
  SAMPLERS,
  SAMPLING_PROBABILITY,
  TRACEPARENT_REPAIRED,
  TRACES_STARTED,
} from "./generated/metric-families";
import { HeaderScan, HeaderWants } from "./headerscan";
import { HeaderMap, Host } from "./hostinterface";
import { AdaptiveSampler, SamplerSettings } from "./sampler";
import {
  keepsTraceContext,
  ownMemberValue,
  planTrace,
  TraceAction,
  TracePlan,
  TraceRequest,
} from "./traceplan";
import { OwnMember, TraceStateList } from "./tracestate";
import {
  TraceParentFields,
  SPAN_ID_HEX_LENGTH,
  TRACE_ID_HEX_LENGTH,
  TRACEPARENT_BYTES,
  TRACEPARENT_PROBLEM_REASONS,
} from "./tracecontext";
import { HostRandomIds } from "./random";
import { Span, SpanAttribute, SpanKind } from "./otlp";
import { SpanExporter } from "./spanexport";
import { InboundHop } from "./crosscluster";
import { coldBytes, ColdText, coldText } from "./generated/cold-text";

/** Where the span id of a hop span beside an activator-hold span is drawn (one per VM). */
const hopSpanIdBytes = memory.data(SPAN_ID_HEX_LENGTH);

const NANOS_PER_MILLI: u64 = 1_000_000;

/**
 * What the inbound sidecar knows when the request arrives: whether the activator held it (its
 * entry stamp is older than the pod's readiness: a cold start or a wait for capacity, which only
 * the edge tells apart) and for how long.
 */
export class ActivatorHold {
  constructor(
    public held: bool,
    /** The wait (now - x-kwt-entry); -1 when not held. */
    public waitMs: i64,
  ) {}
}

export class Tracing {
  private readonly sampler: AdaptiveSampler;
  private readonly ids: HostRandomIds;
  /** Every request's trace context, read where the scan kept it, and its plan (one each per root). */
  private readonly request: TraceRequest;
  private readonly planned: TracePlan = new TracePlan();
  private readonly traceparentHeader: ArrayBuffer = coldBytes(ColdText.TraceparentHeader);
  private readonly tracestateHeader: ArrayBuffer = coldBytes(ColdText.TracestateHeader);
  private readonly traceparentSlot: i32;
  private readonly tracestateSlot: i32;
  private readonly exporter: SpanExporter | null;
  private readonly repairedIds: StaticArray<u32>;
  private readonly startedSampledId: u32;
  private readonly startedUnsampledId: u32;
  /**
   * This root's share of kwt_sampling_probability{position} and kwt_samplers{position}: several
   * roots (listeners, configurations during an update) and every worker's VM write the same two
   * gauges, so each adds its own value and takes it back out (0: not reporting).
   */
  private probabilityId: u32 = 0;
  private samplersId: u32 = 0;
  private reportedPpm: i64 = 0;

  /**
   * Built in proxy_on_configure. Adds the headers it reads to `wants` (the stream's one pairs scan).
   */
  constructor(
    private readonly settings: Settings,
    private readonly identity: Identity,
    private readonly registry: SeriesRegistry,
    wants: HeaderWants,
    nowMs: i64,
    private readonly host: Host,
  ) {
    this.ids = new HostRandomIds(host);
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
    const own = new OwnMember(tracing.tracestateKey, ownMemberValue(identity.cluster, identity.region));
    this.request = new TraceRequest(new TraceStateList(own));
    // planTrace sees every value: repeated tracestate headers are one list, a repeated traceparent is repaired.
    this.traceparentSlot = wants.add(coldText(ColdText.TraceparentHeader), true);
    this.tracestateSlot = wants.add(coldText(ColdText.TracestateHeader), true);
    const repaired = new StaticArray<u32>(TRACEPARENT_PROBLEM_REASONS.length);
    for (let i = 1; i < TRACEPARENT_PROBLEM_REASONS.length; i++) {
      unchecked(
        (repaired[i] = registry.fixed(TRACEPARENT_REPAIRED, [unchecked(TRACEPARENT_PROBLEM_REASONS[i])])),
      );
    }
    this.repairedIds = repaired;
    this.startedSampledId = registry.fixed(TRACES_STARTED, ["true"]);
    this.startedUnsampledId = registry.fixed(TRACES_STARTED, ["false"]);
    host.setTickPeriod(settings.tickPeriodMs);
    this.exporter = settings.spanExport.enabled
      ? new SpanExporter(
          settings.spanExport,
          [
            SpanAttribute.string(coldText(ColdText.ServiceNameAttribute), settings.spanExport.serviceName),
            SpanAttribute.string("k8s.cluster.name", identity.cluster),
            SpanAttribute.string("cloud.region", identity.region),
          ],
          registry,
          host,
        )
      : null;
  }

  /**
   * Once the root knows where it runs (a root context cannot read the listener direction): from
   * now on its sampler counts in the gauges of `position`.
   */
  reportAt(position: string): void {
    if (this.probabilityId != 0) return;
    const registry = this.registry;
    this.probabilityId = registry.fixed(SAMPLING_PROBABILITY, [position]);
    this.samplersId = registry.fixed(SAMPLERS, [position]);
    registry.increment(this.samplersId, 1);
    this.reportProbability();
  }

  /** The root is reconfigured or done: its share leaves the gauges. */
  stopReporting(): void {
    if (this.probabilityId == 0) return;
    this.registry.increment(this.probabilityId, -this.reportedPpm);
    this.registry.increment(this.samplersId, -1);
    this.probabilityId = 0;
    this.reportedPpm = 0;
  }

  private reportProbability(): void {
    const ppm = this.sampler.probabilityPpm;
    if (this.probabilityId == 0 || ppm == this.reportedPpm) return;
    this.registry.increment(this.probabilityId, ppm - this.reportedPpm);
    this.reportedPpm = ppm;
  }

  /**
   * proxy_on_done: leaves the gauges and sends the pending spans; true when the root may be deleted
   * now, false while an export is in flight (then `drained` tells when it is over).
   */
  onDone(): bool {
    this.stopReporting();
    const exporter = this.exporter;
    return exporter == null || exporter.drain();
  }

  get drained(): bool {
    const exporter = this.exporter;
    return exporter == null || exporter.idle;
  }

  /** proxy_on_tick: new sampling probability, next span batch. */
  onTick(nowMs: i64): void {
    this.sampler.tick(nowMs);
    this.reportProbability();
    const exporter = this.exporter;
    if (exporter != null) exporter.flush();
  }

  /** proxy_on_http_call_response on the root context: true when it was a span export. */
  onHttpCallResponse(token: u32, headerCount: u32): bool {
    const exporter = this.exporter;
    return exporter != null && exporter.onResponse(token, headerCount);
  }

  /** Request headers leaving a workload or a gateway: repair or start the trace context. */
  onOutboundRequestHeaders(scan: HeaderScan, outside: bool, resample: bool): void {
    const tracing = this.settings.tracing;
    if (!tracing.enabled) return;
    if (outside && !tracing.propagateOutside) {
      if (mayCarry(scan, this.traceparentSlot))
        this.host.removeHeader(HeaderMap.Request, this.traceparentHeader);
      if (mayCarry(scan, this.tracestateSlot))
        this.host.removeHeader(HeaderMap.Request, this.tracestateHeader);
      return;
    }
    // The common case, one valid version-00 traceparent into the mesh, is kept as it came
    // (planTrace's Keep): known from its bytes, without building a plan.
    if (!outside && !resample) {
      const incoming = this.readTraceParents(scan);
      if (keepsTraceContext(incoming, false, false, false)) return;
    }
    this.apply(this.plan(scan, false, false, outside, resample), scan);
  }

  private readTraceParents(scan: HeaderScan): TraceParentFields {
    const slot = this.traceparentSlot;
    const request = this.request;
    request.readTraceParents(unchecked(scan.counts[slot]), scan.valueAt(slot), scan.valueLength(slot));
    return request.incoming;
  }

  /**
   * Request headers arriving at a revision pod (inbound sidecar): with span export on, take part in
   * the trace for a cross-cluster hop (`hop`, from CrossCluster) or a hold in the activator.
   */
  onInboundRequestHeaders(scan: HeaderScan, hop: InboundHop, hold: ActivatorHold, nowMs: i64): void {
    if (this.exporter != null && (hop.crossCluster || hold.held)) {
      this.participate(scan, hop, hold, nowMs);
    }
  }

  /** The trace plan for a request, from every traceparent and tracestate value the scan kept. */
  private plan(
    scan: HeaderScan,
    participant: bool,
    forceSampled: bool,
    ownMemberOut: bool = false,
    resample: bool = false,
  ): TracePlan {
    const request = this.request;
    this.readTraceParents(scan);
    request.participant = participant;
    request.forceSampled = forceSampled;
    request.ownMemberOut = ownMemberOut;
    request.resample = resample;
    // A tracestate that passes untouched or is dropped is never read (it may be 512 characters);
    // one that is read is parsed as bytes where the scan kept it.
    const tracestate = request.tracestate;
    tracestate.clear();
    if (request.readsTraceState) {
      const slot = this.tracestateSlot;
      for (let i = 0; i < scan.keptCount; i++) {
        if (scan.keptSlot(i) == slot && !tracestate.add(scan.keptAt(i), scan.keptLength(i))) break;
      }
    }
    const plan = this.planned;
    planTrace(request, this.sampler, this.ids, plan);
    return plan;
  }

  /** Writes the plan's headers and counts what it did. */
  private apply(plan: TracePlan, scan: HeaderScan): void {
    if (plan.action == TraceAction.Keep) return;
    // An unreadable map may hold any number of either header: each is removed before it is written.
    const unreadable = !scan.wellFormed;
    if (unreadable || unchecked(scan.counts[this.traceparentSlot]) > 1)
      this.host.removeHeader(HeaderMap.Request, this.traceparentHeader);
    this.host.replaceHeaderBytes(
      HeaderMap.Request,
      this.traceparentHeader,
      plan.traceparentAt,
      TRACEPARENT_BYTES,
    );
    this.writeTraceState(scan, plan.tracestateAt, plan.tracestateLength);
    if (plan.action == TraceAction.Restart) {
      this.registry.increment(unchecked(this.repairedIds[<i32>plan.problem]));
    }
    if (plan.samplerDecided) this.countStarted(plan.sampled);
  }

  /**
   * Writes the `length` bytes at `at` as the request's only tracestate, or removes every one for
   * an empty value.
   */
  private writeTraceState(scan: HeaderScan, at: usize, length: i32): void {
    const unreadable = !scan.wellFormed;
    const tracestates = unchecked(scan.counts[this.tracestateSlot]);
    if (length == 0) {
      // W3C: an empty tracestate is not sent.
      if (unreadable || tracestates > 0) this.host.removeHeader(HeaderMap.Request, this.tracestateHeader);
    } else {
      if (unreadable || tracestates > 1) this.host.removeHeader(HeaderMap.Request, this.tracestateHeader);
      this.host.replaceHeaderBytes(HeaderMap.Request, this.tracestateHeader, at, <u32>length);
    }
  }

  /** Counts a trace the sampler decided (kwt_traces_started_total). */
  private countStarted(sampled: bool): void {
    this.registry.increment(sampled ? this.startedSampledId : this.startedUnsampledId);
  }

  /**
   * The filter owns spans on this hop: a hop span for a cross-cluster request (from the stamped
   * send time to arrival) and an activator-hold span (from mesh entry to arrival: the measured wait;
   * a cold start or a wait for capacity, which the pod cannot tell apart).
   * The innermost becomes parent-id of the request to the workload.
   */
  private participate(scan: HeaderScan, hop: InboundHop, hold: ActivatorHold, nowMs: i64): void {
    const plan = this.plan(scan, true, hold.held && this.settings.tracing.forceSampleColdStarts);
    this.apply(plan, scan);
    if (!plan.sampled) return;
    const exporter = this.exporter!;
    const nowNs = <u64>nowMs * NANOS_PER_MILLI;
    // Spans are text: this hop's ids are decoded only for a sampled participant.
    const traceId = asciiText(plan.traceIdAt, TRACE_ID_HEX_LENGTH);
    const spanId = asciiText(plan.spanIdAt, SPAN_ID_HEX_LENGTH);
    let parent = plan.parentSpanIdAt != 0 ? asciiText(plan.parentSpanIdAt, SPAN_ID_HEX_LENGTH) : "";
    if (hop.crossCluster) {
      let hopSpanId = spanId;
      if (hold.held) {
        this.ids.writeSpanId(hopSpanIdBytes);
        hopSpanId = asciiText(hopSpanIdBytes, SPAN_ID_HEX_LENGTH);
      }
      const start = hop.sentMs <= nowMs ? <u64>hop.sentMs * NANOS_PER_MILLI : nowNs;
      exporter.add(
        new Span(traceId, hopSpanId, parent, "cross-cluster hop", SpanKind.Server, start, nowNs, [
          SpanAttribute.string("kwt.source.cluster", hop.sourceCluster),
          SpanAttribute.string("kwt.source.region", hop.sourceRegion),
          SpanAttribute.string("k8s.cluster.name", this.identity.cluster),
          SpanAttribute.string("cloud.region", this.identity.region),
        ]),
      );
      parent = hopSpanId;
    }
    if (hold.held) {
      const start = hold.waitMs > 0 ? <u64>(nowMs - hold.waitMs) * NANOS_PER_MILLI : nowNs;
      const identity = this.identity;
      exporter.add(
        new Span(traceId, spanId, parent, "activator hold", SpanKind.Internal, start, nowNs, [
          SpanAttribute.bool("kwt.activator.held", true),
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

function asciiText(at: usize, length: i32): string {
  return String.UTF8.decodeUnsafe(at, <usize>length);
}

/** Whether a request may carry the header in `slot`: the scan found it, or could not read the map. */
function mayCarry(scan: HeaderScan, slot: i32): bool {
  return !scan.wellFormed || scan.has(slot);
}
