import { planTrace, IdSource, TracePlan, TraceAction, TraceRequest, ownMemberValue } from "../traceplan";
import { TraceParentProblem } from "../tracecontext";
import { OwnMember, TraceStateList } from "../tracestate";
import { AdaptiveSampler, SamplerSettings } from "../sampler";

const TRACE_ID = "12345678901234567890123456789012";
const PARENT_ID = "1234567890123456";
const VALID = "00-" + TRACE_ID + "-" + PARENT_ID + "-01";
const NEW_TRACE = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1";
const NEW_SPAN = "bbbbbbbbbbbbbbb1";
const OWN = new OwnMember("kwt", ownMemberValue("cluster-a", "eu-west1"));

/** The request reads these buffers in place: held here so they live as long as the spec. */
const held: ArrayBuffer[] = [];

function bytesOf(text: string): ArrayBuffer {
  const bytes = String.UTF8.encode(text);
  held.push(bytes);
  return bytes;
}

/** A request's tracestate list holding these header values. */
function listOf(tracestates: string[]): TraceStateList {
  const list = new TraceStateList(OWN);
  for (let i = 0; i < tracestates.length; i++) {
    const bytes = bytesOf(tracestates[i]);
    list.add(changetype<usize>(bytes), <u32>bytes.byteLength);
  }
  return list;
}

/** A request with these header values, as the filter reads the bytes the scan kept. */
function requestOf(
  traceparents: string[],
  tracestates: string[],
  participant: bool,
  forceSampled: bool,
  ownMemberOut: bool = false,
  resample: bool = false,
): TraceRequest {
  const request = new TraceRequest(listOf(tracestates));
  const first = traceparents.length > 0 ? bytesOf(traceparents[0]) : new ArrayBuffer(0);
  request.readTraceParents(traceparents.length, changetype<usize>(first), <u32>first.byteLength);
  request.participant = participant;
  request.forceSampled = forceSampled;
  request.ownMemberOut = ownMemberOut;
  request.resample = resample;
  return request;
}

function planOf(request: TraceRequest, sampler: AdaptiveSampler, ids: IdSource): TracePlan {
  const plan = new TracePlan();
  planTrace(request, sampler, ids, plan);
  return plan;
}

function text(at: usize, length: i32): string {
  return at == 0 ? "" : String.UTF8.decodeUnsafe(at, <usize>length);
}

/** The tracestate a plan writes, as text. */
function tracestateOf(plan: TracePlan): string {
  return text(plan.tracestateAt, plan.tracestateLength);
}

function traceparentOf(plan: TracePlan): string {
  return text(plan.traceparentAt, 55);
}

function traceIdOf(plan: TracePlan): string {
  return text(plan.traceIdAt, 32);
}

/** The filter's span id, "" when it made none. */
function spanIdOf(plan: TracePlan): string {
  return text(plan.spanIdAt, 16);
}

/** The parent of the filter's span, "" for a new trace. */
function parentSpanIdOf(plan: TracePlan): string {
  return text(plan.parentSpanIdAt, 16);
}

class FixedIds extends IdSource {
  uniformValue: f64 = 0.5;
  traceIds: i32 = 0;
  spanIds: i32 = 0;
  writeTraceId(at: usize): void {
    this.traceIds++;
    String.UTF8.encodeUnsafe(changetype<usize>(NEW_TRACE), NEW_TRACE.length, at);
  }
  writeSpanId(at: usize): void {
    this.spanIds++;
    String.UTF8.encodeUnsafe(changetype<usize>(NEW_SPAN), NEW_SPAN.length, at);
  }
  uniform(): f64 {
    return this.uniformValue;
  }
}

/** A sampler whose probability is `p` from the start (bounds pinned to p). */
function samplerAt(p: f64): AdaptiveSampler {
  return new AdaptiveSampler(new SamplerSettings(1000, p, p, 1000), 0);
}

function outbound(traceparents: string[], tracestates: string[]): TraceRequest {
  return requestOf(traceparents, tracestates, false, false);
}

describe("planTrace: outbound, not a participant", () => {
  it("keeps a valid version-00 traceparent and does not touch tracestate", () => {
    const ids = new FixedIds();
    const plan = planOf(outbound([VALID], ["foo=1,,bar=2", "baz=3"]), samplerAt(1), ids);
    expect<TraceAction>(plan.action).toBe(TraceAction.Keep);
    expect<string>(tracestateOf(plan)).toBe("");
    expect<string>(traceIdOf(plan)).toBe(TRACE_ID);
    expect<string>(parentSpanIdOf(plan)).toBe(PARENT_ID);
    expect<string>(spanIdOf(plan)).toBe("");
    expect<bool>(plan.sampled).toBe(true);
    expect<i32>(ids.traceIds + ids.spanIds).toBe(0);
  });

  it("keeps it even when tracestate is invalid", () => {
    expect<TraceAction>(planOf(outbound([VALID], ["FOO=1"]), samplerAt(1), new FixedIds()).action).toBe(
      TraceAction.Keep,
    );
  });

  it("starts a trace when there is none, sampled by the sampler", () => {
    const plan = planOf(outbound([], ["foo=1"]), samplerAt(1), new FixedIds());
    expect<TraceAction>(plan.action).toBe(TraceAction.Start);
    expect<string>(traceparentOf(plan)).toBe("00-" + NEW_TRACE + "-" + NEW_SPAN + "-03");
    expect<string>(tracestateOf(plan)).toBe("kwt=cluster-a;eu-west1"); // the orphan tracestate is dropped
    expect<string>(parentSpanIdOf(plan)).toBe("");
    expect<bool>(plan.sampled).toBe(true);
    expect<bool>(plan.samplerDecided).toBe(true);
  });

  it("starts an unsampled trace when the sampler says no", () => {
    const plan = planOf(outbound([], []), samplerAt(0.25), new FixedIds()); // uniform 0.5
    expect<string>(traceparentOf(plan)).toBe("00-" + NEW_TRACE + "-" + NEW_SPAN + "-02");
    expect<bool>(plan.sampled).toBe(false);
  });

  it("restarts an invalid traceparent, drops tracestate and reports the reason", () => {
    const plan = planOf(
      outbound(["00-" + TRACE_ID + "-" + PARENT_ID + "-01-extra"], ["foo=1"]),
      samplerAt(1),
      new FixedIds(),
    );
    expect<TraceAction>(plan.action).toBe(TraceAction.Restart);
    expect<TraceParentProblem>(plan.problem).toBe(TraceParentProblem.TrailingData);
    expect<string>(traceparentOf(plan)).toBe("00-" + NEW_TRACE + "-" + NEW_SPAN + "-03");
    expect<string>(tracestateOf(plan)).toBe("kwt=cluster-a;eu-west1");
  });

  it("restarts on duplicated traceparent headers", () => {
    const plan = planOf(outbound([VALID, VALID], []), samplerAt(1), new FixedIds());
    expect<TraceAction>(plan.action).toBe(TraceAction.Restart);
    expect<TraceParentProblem>(plan.problem).toBe(TraceParentProblem.Duplicate);
  });

  it("downgrades a later version, keeps ids and known flags, and re-emits tracestate", () => {
    const plan = planOf(
      outbound(["cc-" + TRACE_ID + "-" + PARENT_ID + "-ff-future"], ["rojo=1,kwt=old", "congo=2"]),
      samplerAt(1),
      new FixedIds(),
    );
    expect<TraceAction>(plan.action).toBe(TraceAction.Continue);
    expect<string>(traceparentOf(plan)).toBe("00-" + TRACE_ID + "-" + PARENT_ID + "-03");
    expect<string>(tracestateOf(plan)).toBe("kwt=cluster-a;eu-west1,rojo=1,congo=2");
    expect<string>(spanIdOf(plan)).toBe("");
  });

  it("replaces an invalid tracestate by its own member when it changes traceparent", () => {
    const plan = planOf(
      outbound(["01-" + TRACE_ID + "-" + PARENT_ID + "-00"], ["foo=1,BAD=2"]),
      samplerAt(1),
      new FixedIds(),
    );
    expect<string>(tracestateOf(plan)).toBe("kwt=cluster-a;eu-west1");
  });
});

describe("planTrace: participant", () => {
  it("puts its own span id in parent-id and its member leftmost", () => {
    const ids = new FixedIds();
    const plan = planOf(requestOf([VALID], ["rojo=1"], true, false), samplerAt(0), ids);
    expect<TraceAction>(plan.action).toBe(TraceAction.Continue);
    expect<string>(traceparentOf(plan)).toBe("00-" + TRACE_ID + "-" + NEW_SPAN + "-01");
    expect<string>(tracestateOf(plan)).toBe("kwt=cluster-a;eu-west1,rojo=1");
    expect<string>(spanIdOf(plan)).toBe(NEW_SPAN);
    expect<string>(parentSpanIdOf(plan)).toBe(PARENT_ID);
    expect<bool>(plan.sampled).toBe(true);
    expect<bool>(plan.samplerDecided).toBe(false);
  });

  it("keeps an unsampled flag unless forced", () => {
    const unsampled = "00-" + TRACE_ID + "-" + PARENT_ID + "-00";
    const kept = planOf(requestOf([unsampled], [], true, false), samplerAt(1), new FixedIds());
    expect<string>(traceparentOf(kept)).toBe("00-" + TRACE_ID + "-" + NEW_SPAN + "-00");
    expect<bool>(kept.sampled).toBe(false);
    const forced = planOf(requestOf([unsampled], [], true, true), samplerAt(0), new FixedIds());
    expect<string>(traceparentOf(forced)).toBe("00-" + TRACE_ID + "-" + NEW_SPAN + "-01");
    expect<bool>(forced.sampled).toBe(true);
  });

  it("forces a new trace sampled without asking the sampler", () => {
    const sampler = samplerAt(0);
    const plan = planOf(requestOf([], [], true, true), sampler, new FixedIds());
    expect<TraceAction>(plan.action).toBe(TraceAction.Start);
    expect<bool>(plan.sampled).toBe(true);
    expect<bool>(plan.samplerDecided).toBe(false);
    expect<string>(traceparentOf(plan)).toBe("00-" + NEW_TRACE + "-" + NEW_SPAN + "-03");
  });

  it("ignores force outside a participant", () => {
    const plan = planOf(requestOf([], [], false, true), samplerAt(0), new FixedIds());
    expect<bool>(plan.sampled).toBe(false);
    expect<bool>(plan.samplerDecided).toBe(true);
  });
});

function outside(traceparents: string[], tracestates: string[]): TraceRequest {
  return requestOf(traceparents, tracestates, false, false, true);
}

function resampled(traceparents: string[]): TraceRequest {
  return requestOf(traceparents, ["foo=1"], false, false, false, true);
}

describe("planTrace: to a destination outside the mesh", () => {
  it("keeps a valid traceparent and a tracestate without the filter's member", () => {
    const plan = planOf(outside([VALID], ["foo=1"]), samplerAt(1), new FixedIds());
    expect<TraceAction>(plan.action).toBe(TraceAction.Keep);
  });

  it("takes the filter's member out of a tracestate that carries it, traceparent unchanged", () => {
    const plan = planOf(outside([VALID], ["kwt=x;y,foo=1"]), samplerAt(1), new FixedIds());
    expect<TraceAction>(plan.action).toBe(TraceAction.Continue);
    expect<string>(traceparentOf(plan)).toBe(VALID);
    expect<string>(tracestateOf(plan)).toBe("foo=1");
  });

  it("drops a tracestate that does not parse, which may hide the filter's member", () => {
    const plan = planOf(outside([VALID], ["kwt=x;y,bad member"]), samplerAt(1), new FixedIds());
    expect<TraceAction>(plan.action).toBe(TraceAction.Continue);
    expect<string>(traceparentOf(plan)).toBe(VALID);
    expect<string>(tracestateOf(plan)).toBe("");
  });

  it("starts a trace with an empty tracestate (not sent)", () => {
    const plan = planOf(outside([], []), samplerAt(1), new FixedIds());
    expect<TraceAction>(plan.action).toBe(TraceAction.Start);
    expect<string>(tracestateOf(plan)).toBe("");
  });
});

describe("planTrace: resampled at the mesh edge", () => {
  it("keeps the trace id, takes a new parent id and the sampler's decision", () => {
    const dropped = planOf(resampled([VALID]), samplerAt(0), new FixedIds());
    expect<TraceAction>(dropped.action).toBe(TraceAction.Continue);
    expect<string>(traceparentOf(dropped)).toBe("00-" + TRACE_ID + "-" + NEW_SPAN + "-00");
    expect<bool>(dropped.sampled).toBe(false);
    expect<bool>(dropped.samplerDecided).toBe(false);
    const kept = planOf(
      resampled(["00-" + TRACE_ID + "-" + PARENT_ID + "-00"]),
      samplerAt(1),
      new FixedIds(),
    );
    expect<string>(traceparentOf(kept)).toBe("00-" + TRACE_ID + "-" + NEW_SPAN + "-01");
  });
});

describe("TraceRequest.readsTraceState", () => {
  it("reads tracestate only when the plan rewrites it or must look for the filter's member", () => {
    const downgraded = "cc-" + TRACE_ID + "-" + PARENT_ID + "-01";
    expect<bool>(outbound([VALID], ["foo=1"]).readsTraceState).toBe(false);
    expect<bool>(outbound([], ["foo=1"]).readsTraceState).toBe(false);
    expect<bool>(outbound(["00-bad"], ["foo=1"]).readsTraceState).toBe(false);
    expect<bool>(outbound([downgraded], ["foo=1"]).readsTraceState).toBe(true);
    expect<bool>(outside([VALID], ["foo=1"]).readsTraceState).toBe(true);
    expect<bool>(resampled([VALID]).readsTraceState).toBe(true);
    expect<bool>(requestOf([VALID], [], true, false).readsTraceState).toBe(true);
  });
});

describe("a reused plan", () => {
  it("holds only what the last request decided", () => {
    const plan = new TracePlan();
    planTrace(requestOf([VALID], ["rojo=1"], true, false), samplerAt(0), new FixedIds(), plan);
    expect<string>(spanIdOf(plan)).toBe(NEW_SPAN);
    planTrace(outbound([VALID], ["rojo=1"]), samplerAt(0), new FixedIds(), plan);
    expect<TraceAction>(plan.action).toBe(TraceAction.Keep);
    expect<string>(spanIdOf(plan)).toBe("");
    expect<string>(tracestateOf(plan)).toBe("");
    planTrace(outbound([], []), samplerAt(0), new FixedIds(), plan);
    expect<string>(traceIdOf(plan)).toBe(NEW_TRACE);
    expect<string>(spanIdOf(plan)).toBe(NEW_SPAN);
    expect<string>(parentSpanIdOf(plan)).toBe("");
    expect<TraceParentProblem>(plan.problem).toBe(TraceParentProblem.None);
  });
});
