// What the filter does to a request's trace context: keep it, continue it, or start a new trace.
// Pure: ids and random numbers come from an IdSource the glue backs with WASI random_get.
//
// - Outbound (caller side), not a participant: a valid version-00 traceparent and its tracestate
//   pass untouched (W3C: a proxy that does not change traceparent must not change tracestate).
//   A valid later version is downgraded to 00 (same ids, unknown flags zeroed), which changes
//   traceparent, so tracestate is re-emitted with the filter's member leftmost.
// - Participant (the filter records its own span on this hop): the trace-id is kept, the
//   filter's span id becomes parent-id, and its member goes leftmost in tracestate. A forced
//   sample sets the sampled flag (allowed because parent-id changes with it).
// - No traceparent, or an invalid one (counted by reason): a new trace with random ids, the
//   sampler's decision (or a forced one) in the flags, tracestate holding only the filter's member.
// - To a destination outside the mesh (`ownMemberOut`): the same, but the filter's member is left
//   out (and taken out when the request carries it), as a tracer would propagate traceparent.
// - Resampled at the mesh edge (`resample`, an outside client's context at the gateway): the same
//   trace-id, a new parent-id (changing the flags needs one) and the sampler's decision.

import {
  formatTraceParent,
  parseTraceParentHeaders,
  TraceParentParse,
  TraceParentProblem,
  FLAG_RANDOM,
  FLAG_SAMPLED,
  KNOWN_FLAGS,
} from "./tracecontext";
import { TraceStateList } from "./tracestate";
import { AdaptiveSampler } from "./sampler";

/** Random ids and numbers for new traces and spans. */
export abstract class IdSource {
  /** 32 lower-case hex characters, not all zero. */
  abstract traceId(): string;
  /** 16 lower-case hex characters, not all zero. */
  abstract spanId(): string;
  /** Uniform in [0, 1). */
  abstract uniform(): f64;
}

export enum TraceAction {
  /** Leave traceparent and tracestate as they are. */
  Keep,
  /** Same trace: write the new traceparent and tracestate. */
  Continue,
  /** No traceparent: a new trace. */
  Start,
  /** An invalid traceparent replaced by a new trace (`problem` says why). */
  Restart,
}

export class TracePlan {
  constructor(
    public action: TraceAction,
    public problem: TraceParentProblem,
    /** The traceparent to write; "" for Keep. */
    public traceparent: string,
    /**
     * Where the tracestate to write is: the filter's own member or what the request's list wrote
     * (valid until it writes again), `tracestateLength` bytes; 0 bytes for Keep or for none to send.
     */
    public tracestateAt: usize,
    public tracestateLength: i32,
    public traceId: string,
    /** The filter's span id (the new parent-id); "" when the filter did not make one. */
    public spanId: string,
    /** The parent of the filter's span: the incoming parent-id, "" for a new trace. */
    public parentSpanId: string,
    public sampled: bool,
    /** The sampled flag came from the adaptive sampler (a new, not forced, trace). */
    public samplerDecided: bool,
  ) {}
}

export class TraceRequest {
  constructor(
    /** Every traceparent header value, in order. */
    public traceparents: string[],
    /**
     * The request's tracestate list, holding every tracestate header value in order, or cleared
     * and left empty when keepsTraceContext says it is never read; it also knows the filter's own
     * member, and the tracestate written is left in it.
     */
    public tracestate: TraceStateList,
    /** The filter records a span for this hop. */
    public participant: bool,
    /** Sample regardless of the sampler (only honoured for a participant, which owns the span). */
    public forceSampled: bool,
    /** The destination is outside the mesh: no filter member in tracestate. */
    public ownMemberOut: bool = false,
    /** Re-decide the incoming sampled flag with the sampler (under a new parent-id). */
    public resample: bool = false,
    /** `traceparents` already parsed (see keepsTraceContext), or null to parse them here. */
    public parsed: TraceParentParse | null = null,
  ) {}
}

/**
 * Whether the plan keeps the request's trace context untouched: then its tracestate is never
 * read, and a caller need not decode it.
 */
export function keepsTraceContext(
  parsed: TraceParentParse,
  participant: bool,
  resample: bool,
  ownMemberOut: bool,
): bool {
  const incoming = parsed.traceParent;
  // Toward an outside host the tracestate is read: our member, if present, must come out.
  return incoming != null && !participant && !resample && !ownMemberOut && incoming.version == 0;
}

/** Decides the trace context of one request. */
export function planTrace(request: TraceRequest, sampler: AdaptiveSampler, ids: IdSource): TracePlan {
  const given = request.parsed;
  const parsed = given != null ? given : parseTraceParentHeaders(request.traceparents);
  const incoming = parsed.traceParent;
  const forced = request.participant && request.forceSampled;
  const list = request.tracestate;
  const own = list.own;
  if (incoming == null) {
    const traceId = ids.traceId();
    const spanId = ids.spanId();
    const sampled = forced || sampler.decide(ids.uniform());
    const flags: u8 = FLAG_RANDOM | (sampled ? FLAG_SAMPLED : 0);
    return new TracePlan(
      parsed.problem == TraceParentProblem.None ? TraceAction.Start : TraceAction.Restart,
      parsed.problem,
      formatTraceParent(traceId, spanId, flags),
      own.at,
      request.ownMemberOut ? 0 : own.length,
      traceId,
      spanId,
      "",
      sampled,
      !forced,
    );
  }
  const resample = request.resample && !request.participant;
  // A tracestate that does not parse is discarded (W3C allows it): the list is then empty.
  let kept = keepsTraceContext(parsed, request.participant, resample, request.ownMemberOut);
  if (!kept) {
    // Toward an outside host a context passes as it came only when its tracestate parsed and holds
    // no member of ours; one that does not parse may hide ours, so it is dropped.
    kept =
      list.valid && keepsTraceContext(parsed, request.participant, resample, false) && !list.hasOwnMember();
  }
  if (kept) {
    return new TracePlan(
      TraceAction.Keep,
      TraceParentProblem.None,
      "",
      0,
      0,
      incoming.traceId,
      "",
      incoming.parentId,
      incoming.sampled,
      false,
    );
  }
  const spanId = request.participant ? ids.spanId() : "";
  const parentId = request.participant ? spanId : resample ? ids.spanId() : incoming.parentId;
  let flags: u8 = (incoming.flags & KNOWN_FLAGS) | (forced ? FLAG_SAMPLED : 0);
  if (resample) flags = (flags & ~FLAG_SAMPLED) | (sampler.decide(ids.uniform()) ? FLAG_SAMPLED : 0);
  const tracestateLength = request.ownMemberOut ? list.writeWithoutOwn() : list.writeOwnLeftmost();
  return new TracePlan(
    TraceAction.Continue,
    TraceParentProblem.None,
    formatTraceParent(incoming.traceId, parentId, flags),
    list.outAt,
    tracestateLength,
    incoming.traceId,
    spanId,
    incoming.parentId,
    (flags & FLAG_SAMPLED) != 0,
    false,
  );
}

/** The filter's own tracestate member value: `<cluster>;<region>` (both label values). */
export function ownMemberValue(cluster: string, region: string): string {
  return cluster + ";" + region;
}
