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

/** The lists read these buffers in place: held here so they live as long as the spec. */
const held: ArrayBuffer[] = [];

/** A request's tracestate list holding these header values. */
function listOf(tracestates: string[]): TraceStateList {
  const list = new TraceStateList(OWN);
  for (let i = 0; i < tracestates.length; i++) {
    const bytes = String.UTF8.encode(tracestates[i]);
    held.push(bytes);
    list.add(changetype<usize>(bytes), <u32>bytes.byteLength);
  }
  return list;
}

/** The tracestate a plan writes, as text. */
function tracestateOf(plan: TracePlan): string {
  return String.UTF8.decodeUnsafe(plan.tracestateAt, <usize>plan.tracestateLength);
}

class FixedIds extends IdSource {
  uniformValue: f64 = 0.5;
  traceIds: i32 = 0;
  spanIds: i32 = 0;
  traceId(): string {
    this.traceIds++;
    return NEW_TRACE;
  }
  spanId(): string {
    this.spanIds++;
    return NEW_SPAN;
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
  return new TraceRequest(traceparents, listOf(tracestates), false, false);
}

describe("planTrace: outbound, not a participant", () => {
  it("keeps a valid version-00 traceparent and does not touch tracestate", () => {
    const ids = new FixedIds();
    const plan = planTrace(outbound([VALID], ["foo=1,,bar=2", "baz=3"]), samplerAt(1), ids);
    expect<TraceAction>(plan.action).toBe(TraceAction.Keep);
    expect<string>(plan.traceparent).toBe("");
    expect<string>(tracestateOf(plan)).toBe("");
    expect<string>(plan.traceId).toBe(TRACE_ID);
    expect<bool>(plan.sampled).toBe(true);
    expect<i32>(ids.traceIds + ids.spanIds).toBe(0);
  });

  it("keeps it even when tracestate is invalid", () => {
    expect<TraceAction>(planTrace(outbound([VALID], ["FOO=1"]), samplerAt(1), new FixedIds()).action).toBe(
      TraceAction.Keep,
    );
  });

  it("starts a trace when there is none, sampled by the sampler", () => {
    const plan = planTrace(outbound([], ["foo=1"]), samplerAt(1), new FixedIds());
    expect<TraceAction>(plan.action).toBe(TraceAction.Start);
    expect<string>(plan.traceparent).toBe("00-" + NEW_TRACE + "-" + NEW_SPAN + "-03");
    expect<string>(tracestateOf(plan)).toBe("kwt=cluster-a;eu-west1"); // the orphan tracestate is dropped
    expect<string>(plan.parentSpanId).toBe("");
    expect<bool>(plan.sampled).toBe(true);
    expect<bool>(plan.samplerDecided).toBe(true);
  });

  it("starts an unsampled trace when the sampler says no", () => {
    const plan = planTrace(outbound([], []), samplerAt(0.25), new FixedIds()); // uniform 0.5
    expect<string>(plan.traceparent).toBe("00-" + NEW_TRACE + "-" + NEW_SPAN + "-02");
    expect<bool>(plan.sampled).toBe(false);
  });

  it("restarts an invalid traceparent, drops tracestate and reports the reason", () => {
    const plan = planTrace(
      outbound(["00-" + TRACE_ID + "-" + PARENT_ID + "-01-extra"], ["foo=1"]),
      samplerAt(1),
      new FixedIds(),
    );
    expect<TraceAction>(plan.action).toBe(TraceAction.Restart);
    expect<TraceParentProblem>(plan.problem).toBe(TraceParentProblem.TrailingData);
    expect<string>(plan.traceparent).toBe("00-" + NEW_TRACE + "-" + NEW_SPAN + "-03");
    expect<string>(tracestateOf(plan)).toBe("kwt=cluster-a;eu-west1");
  });

  it("restarts on duplicated traceparent headers", () => {
    const plan = planTrace(outbound([VALID, VALID], []), samplerAt(1), new FixedIds());
    expect<TraceAction>(plan.action).toBe(TraceAction.Restart);
    expect<TraceParentProblem>(plan.problem).toBe(TraceParentProblem.Duplicate);
  });

  it("downgrades a later version, keeps ids and known flags, and re-emits tracestate", () => {
    const plan = planTrace(
      outbound(["cc-" + TRACE_ID + "-" + PARENT_ID + "-ff-future"], ["rojo=1,kwt=old", "congo=2"]),
      samplerAt(1),
      new FixedIds(),
    );
    expect<TraceAction>(plan.action).toBe(TraceAction.Continue);
    expect<string>(plan.traceparent).toBe("00-" + TRACE_ID + "-" + PARENT_ID + "-03");
    expect<string>(tracestateOf(plan)).toBe("kwt=cluster-a;eu-west1,rojo=1,congo=2");
    expect<string>(plan.spanId).toBe("");
  });

  it("replaces an invalid tracestate by its own member when it changes traceparent", () => {
    const plan = planTrace(
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
    const plan = planTrace(new TraceRequest([VALID], listOf(["rojo=1"]), true, false), samplerAt(0), ids);
    expect<TraceAction>(plan.action).toBe(TraceAction.Continue);
    expect<string>(plan.traceparent).toBe("00-" + TRACE_ID + "-" + NEW_SPAN + "-01");
    expect<string>(tracestateOf(plan)).toBe("kwt=cluster-a;eu-west1,rojo=1");
    expect<string>(plan.spanId).toBe(NEW_SPAN);
    expect<string>(plan.parentSpanId).toBe(PARENT_ID);
    expect<bool>(plan.sampled).toBe(true);
    expect<bool>(plan.samplerDecided).toBe(false);
  });

  it("keeps an unsampled flag unless forced", () => {
    const unsampled = "00-" + TRACE_ID + "-" + PARENT_ID + "-00";
    const kept = planTrace(
      new TraceRequest([unsampled], listOf([]), true, false),
      samplerAt(1),
      new FixedIds(),
    );
    expect<string>(kept.traceparent).toBe("00-" + TRACE_ID + "-" + NEW_SPAN + "-00");
    expect<bool>(kept.sampled).toBe(false);
    const forced = planTrace(
      new TraceRequest([unsampled], listOf([]), true, true),
      samplerAt(0),
      new FixedIds(),
    );
    expect<string>(forced.traceparent).toBe("00-" + TRACE_ID + "-" + NEW_SPAN + "-01");
    expect<bool>(forced.sampled).toBe(true);
  });

  it("forces a new trace sampled without asking the sampler", () => {
    const sampler = samplerAt(0);
    const plan = planTrace(new TraceRequest([], listOf([]), true, true), sampler, new FixedIds());
    expect<TraceAction>(plan.action).toBe(TraceAction.Start);
    expect<bool>(plan.sampled).toBe(true);
    expect<bool>(plan.samplerDecided).toBe(false);
    expect<string>(plan.traceparent).toBe("00-" + NEW_TRACE + "-" + NEW_SPAN + "-03");
  });

  it("ignores force outside a participant", () => {
    const plan = planTrace(new TraceRequest([], listOf([]), false, true), samplerAt(0), new FixedIds());
    expect<bool>(plan.sampled).toBe(false);
    expect<bool>(plan.samplerDecided).toBe(true);
  });
});

function outside(traceparents: string[], tracestates: string[]): TraceRequest {
  return new TraceRequest(traceparents, listOf(tracestates), false, false, true);
}

function resampled(traceparents: string[]): TraceRequest {
  return new TraceRequest(traceparents, listOf(["foo=1"]), false, false, false, true);
}

describe("planTrace: to a destination outside the mesh", () => {
  it("keeps a valid traceparent and a tracestate without the filter's member", () => {
    const plan = planTrace(outside([VALID], ["foo=1"]), samplerAt(1), new FixedIds());
    expect<TraceAction>(plan.action).toBe(TraceAction.Keep);
  });

  it("takes the filter's member out of a tracestate that carries it, traceparent unchanged", () => {
    const plan = planTrace(outside([VALID], ["kwt=x;y,foo=1"]), samplerAt(1), new FixedIds());
    expect<TraceAction>(plan.action).toBe(TraceAction.Continue);
    expect<string>(plan.traceparent).toBe(VALID);
    expect<string>(tracestateOf(plan)).toBe("foo=1");
  });

  it("drops a tracestate that does not parse, which may hide the filter's member", () => {
    const plan = planTrace(outside([VALID], ["kwt=x;y,bad member"]), samplerAt(1), new FixedIds());
    expect<TraceAction>(plan.action).toBe(TraceAction.Continue);
    expect<string>(plan.traceparent).toBe(VALID);
    expect<string>(tracestateOf(plan)).toBe("");
  });

  it("starts a trace with an empty tracestate (not sent)", () => {
    const plan = planTrace(outside([], []), samplerAt(1), new FixedIds());
    expect<TraceAction>(plan.action).toBe(TraceAction.Start);
    expect<string>(tracestateOf(plan)).toBe("");
  });
});

describe("planTrace: resampled at the mesh edge", () => {
  it("keeps the trace id, takes a new parent id and the sampler's decision", () => {
    const dropped = planTrace(resampled([VALID]), samplerAt(0), new FixedIds());
    expect<TraceAction>(dropped.action).toBe(TraceAction.Continue);
    expect<string>(dropped.traceparent).toBe("00-" + TRACE_ID + "-" + NEW_SPAN + "-00");
    expect<bool>(dropped.sampled).toBe(false);
    expect<bool>(dropped.samplerDecided).toBe(false);
    const kept = planTrace(
      resampled(["00-" + TRACE_ID + "-" + PARENT_ID + "-00"]),
      samplerAt(1),
      new FixedIds(),
    );
    expect<string>(kept.traceparent).toBe("00-" + TRACE_ID + "-" + NEW_SPAN + "-01");
  });
});
