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
  readTraceParentHeaders,
  TraceParentFields,
  TraceParentProblem,
  writeTraceParentFrame,
  FLAG_RANDOM,
  FLAG_SAMPLED,
  KNOWN_FLAGS,
  SPAN_ID_HEX_LENGTH,
  TRACE_ID_HEX_LENGTH,
  TRACEPARENT_BYTES,
  TRACEPARENT_PARENT_ID_AT,
  TRACEPARENT_TRACE_ID_AT,
} from "./tracecontext";
import { TraceStateList } from "./tracestate";
import { AdaptiveSampler } from "./sampler";

/** Random ids and numbers for new traces and spans. */
export abstract class IdSource {
  /** Writes a trace id at `at`: TRACE_ID_HEX_LENGTH lower-case hex bytes, not all zero. */
  abstract writeTraceId(at: usize): void;
  /** Writes a span id at `at`: SPAN_ID_HEX_LENGTH lower-case hex bytes, not all zero. */
  abstract writeSpanId(at: usize): void;
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

/**
 * What planTrace decided for one request, as bytes: the ids point into the traceparent it wrote or,
 * for Keep and the parent, into the request's own (valid until the next scan). Reused.
 */
export class TracePlan {
  action: TraceAction = TraceAction.Keep;
  problem: TraceParentProblem = TraceParentProblem.None;
  /** The traceparent to write (TRACEPARENT_BYTES at `traceparentAt`), for every action but Keep. */
  private readonly traceparent: ArrayBuffer = new ArrayBuffer(TRACEPARENT_BYTES);
  /**
   * Where the tracestate to write is: the filter's own member or what the request's list wrote
   * (valid until it writes again), `tracestateLength` bytes; 0 bytes for Keep or for none to send.
   */
  tracestateAt: usize = 0;
  tracestateLength: i32 = 0;
  /** The trace id (TRACE_ID_HEX_LENGTH hex bytes). */
  traceIdAt: usize = 0;
  /** The filter's span id (SPAN_ID_HEX_LENGTH hex bytes, the new parent-id); 0 when it made none. */
  spanIdAt: usize = 0;
  /** The parent of the filter's span: the incoming parent-id; 0 for a new trace. */
  parentSpanIdAt: usize = 0;
  sampled: bool = false;
  /** The sampled flag came from the adaptive sampler (a new, not forced, trace). */
  samplerDecided: bool = false;

  get traceparentAt(): usize {
    return changetype<usize>(this.traceparent);
  }
}

/** One request's trace context and what the filter does on its hop. Reused: set before each plan. */
export class TraceRequest {
  /** The request's traceparent (readTraceParents). */
  readonly incoming: TraceParentFields = new TraceParentFields();
  /** The filter records a span for this hop. */
  participant: bool = false;
  /** Sample regardless of the sampler (only honoured for a participant, which owns the span). */
  forceSampled: bool = false;
  /** The destination is outside the mesh: no filter member in tracestate. */
  ownMemberOut: bool = false;
  /** Re-decide the incoming sampled flag with the sampler (under a new parent-id). */
  resample: bool = false;

  constructor(
    /**
     * The request's tracestate list, holding every tracestate header value in order, or cleared
     * and left empty when readsTraceState says it is never read; it also knows the filter's own
     * member, and the tracestate written is left in it.
     */
    readonly tracestate: TraceStateList,
  ) {}

  /** Reads the `count` traceparent header values, the first being the `length` bytes at `at`. */
  readTraceParents(count: i32, at: usize, length: u32): void {
    readTraceParentHeaders(count, at, length, this.incoming);
  }

  /**
   * Whether the plan needs the request's tracestate: not when the context passes untouched, and
   * not without a valid traceparent (a new trace drops it).
   */
  get readsTraceState(): bool {
    const incoming = this.incoming;
    const resample = this.resample && !this.participant;
    return incoming.present && !keepsTraceContext(incoming, this.participant, resample, this.ownMemberOut);
  }
}

/**
 * Whether the plan keeps the request's trace context untouched: then its tracestate is never
 * read, and a caller need not parse it.
 */
export function keepsTraceContext(
  incoming: TraceParentFields,
  participant: bool,
  resample: bool,
  ownMemberOut: bool,
): bool {
  // Toward an outside host the tracestate is read: our member, if present, must come out.
  return incoming.present && !participant && !resample && !ownMemberOut && incoming.version == 0;
}

/** Decides the trace context of one request into `plan`. */
export function planTrace(
  request: TraceRequest,
  sampler: AdaptiveSampler,
  ids: IdSource,
  plan: TracePlan,
): void {
  const incoming = request.incoming;
  const forced = request.participant && request.forceSampled;
  const list = request.tracestate;
  const own = list.own;
  const out = plan.traceparentAt;
  const traceIdAt = out + <usize>TRACEPARENT_TRACE_ID_AT;
  const parentIdAt = out + <usize>TRACEPARENT_PARENT_ID_AT;
  plan.problem = TraceParentProblem.None;
  plan.samplerDecided = false;
  if (!incoming.present) {
    ids.writeTraceId(traceIdAt);
    ids.writeSpanId(parentIdAt);
    const sampled = forced || sampler.decide(ids.uniform());
    writeTraceParentFrame(out, FLAG_RANDOM | (sampled ? FLAG_SAMPLED : 0));
    plan.action = incoming.problem == TraceParentProblem.None ? TraceAction.Start : TraceAction.Restart;
    plan.problem = incoming.problem;
    plan.tracestateAt = own.at;
    plan.tracestateLength = request.ownMemberOut ? 0 : own.length;
    plan.traceIdAt = traceIdAt;
    plan.spanIdAt = parentIdAt;
    plan.parentSpanIdAt = 0;
    plan.sampled = sampled;
    plan.samplerDecided = !forced;
    return;
  }
  const resample = request.resample && !request.participant;
  // A tracestate that does not parse is discarded (W3C allows it): the list is then empty.
  let kept = keepsTraceContext(incoming, request.participant, resample, request.ownMemberOut);
  if (!kept) {
    // Toward an outside host a context passes as it came only when its tracestate parsed and holds
    // no member of ours; one that does not parse may hide ours, so it is dropped.
    kept =
      list.valid && keepsTraceContext(incoming, request.participant, resample, false) && !list.hasOwnMember();
  }
  plan.parentSpanIdAt = incoming.parentIdAt;
  if (kept) {
    plan.action = TraceAction.Keep;
    plan.tracestateLength = 0;
    plan.traceIdAt = incoming.traceIdAt;
    plan.spanIdAt = 0;
    plan.sampled = incoming.sampled;
    return;
  }
  memory.copy(traceIdAt, incoming.traceIdAt, <usize>TRACE_ID_HEX_LENGTH);
  if (request.participant || resample) ids.writeSpanId(parentIdAt);
  else memory.copy(parentIdAt, incoming.parentIdAt, <usize>SPAN_ID_HEX_LENGTH);
  let flags: u8 = (incoming.flags & KNOWN_FLAGS) | (forced ? FLAG_SAMPLED : 0);
  if (resample) flags = (flags & ~FLAG_SAMPLED) | (sampler.decide(ids.uniform()) ? FLAG_SAMPLED : 0);
  writeTraceParentFrame(out, flags);
  plan.action = TraceAction.Continue;
  plan.tracestateAt = list.outAt;
  plan.tracestateLength = request.ownMemberOut ? list.writeWithoutOwn() : list.writeOwnLeftmost();
  plan.traceIdAt = traceIdAt;
  plan.spanIdAt = request.participant ? parentIdAt : 0;
  plan.sampled = (flags & FLAG_SAMPLED) != 0;
}

/** The filter's own tracestate member value: `<cluster>;<region>` (both label values). */
export function ownMemberValue(cluster: string, region: string): string {
  return cluster + ";" + region;
}
