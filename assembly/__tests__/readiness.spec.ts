import {
  MAX_REVISION_ERAS,
  PUBLISH_INTERVAL_MS,
  ReadyEra,
  ReadyHistory,
  decodeEra,
  encodeEra,
  enteredBeforeReady,
  joinEras,
} from "../readiness";

const GAP: i64 = 6_000;

describe("joinEras", () => {
  it("makes one era of views that overlap or start within the gap of the last answer", () => {
    const joined = joinEras(new ReadyEra(1_000, 50_000), new ReadyEra(54_000, 60_000), GAP)!;
    expect<i64>(joined.firstReadyMs).toBe(1_000);
    expect<i64>(joined.lastAnswerMs).toBe(60_000);
    // In either order.
    const reversed = joinEras(new ReadyEra(54_000, 60_000), new ReadyEra(1_000, 50_000), GAP)!;
    expect<i64>(reversed.firstReadyMs).toBe(1_000);
    expect<i64>(reversed.lastAnswerMs).toBe(60_000);
  });

  it("keeps only the later era when it starts beyond the gap (the revision was at zero between)", () => {
    const joined = joinEras(new ReadyEra(1_000, 50_000), new ReadyEra(56_001, 57_000), GAP)!;
    expect<i64>(joined.firstReadyMs).toBe(56_001);
    expect<i64>(joined.lastAnswerMs).toBe(57_000);
  });

  it("takes the one view there is", () => {
    expect(joinEras(null, null, GAP)).toBeNull();
    expect<i64>(joinEras(null, new ReadyEra(3, 4), GAP)!.firstReadyMs).toBe(3);
    expect<i64>(joinEras(new ReadyEra(3, 4), null, GAP)!.lastAnswerMs).toBe(4);
  });
});

describe("enteredBeforeReady", () => {
  it("is a cold start only for a request that entered before the era began", () => {
    const era = new ReadyEra(10_000, 20_000);
    expect<bool>(enteredBeforeReady(9_999, era)).toBe(true);
    expect<bool>(enteredBeforeReady(10_000, era)).toBe(false);
    expect<bool>(enteredBeforeReady(15_000, era)).toBe(false);
  });
});

describe("the shared-data form", () => {
  it("round-trips an era", () => {
    const era = decodeEra(encodeEra(new ReadyEra(1700000000000, 1700000009999)))!;
    expect<string>(encodeEra(era)).toBe("1700000000000:1700000009999");
    expect<i64>(era.firstReadyMs).toBe(1700000000000);
    expect<i64>(era.lastAnswerMs).toBe(1700000009999);
  });

  it("refuses anything else", () => {
    expect(decodeEra("")).toBeNull();
    expect(decodeEra("12")).toBeNull();
    expect(decodeEra("a:1")).toBeNull();
    expect(decodeEra("1:")).toBeNull();
    expect(decodeEra("1:2:3")).toBeNull();
  });
});

describe("ReadyHistory", () => {
  it("folds answers into a revision's era: a scale-up's new pod joins, a pod after zero starts anew", () => {
    const history = new ReadyHistory();
    history.noteAnswer("r", 1_000, 5_000, GAP);
    history.noteAnswer("r", 1_000, 158_000, GAP);
    // A pod added by a scale-up turns ready while the first one answers.
    let era = history.noteAnswer("r", 160_000, 159_000, GAP).era;
    expect<i64>(era.firstReadyMs).toBe(1_000);
    history.noteAnswer("r", 1_000, 161_000, GAP);
    // The revision went to zero; a new pod turns ready ten minutes later.
    era = history.noteAnswer("r", 761_000, 760_000, GAP).era;
    expect<i64>(era.firstReadyMs).toBe(761_000);
    expect<i64>(era.lastAnswerMs).toBe(761_000);
  });

  it("keeps revisions apart and joins what another worker published", () => {
    const history = new ReadyHistory();
    history.noteAnswer("a", 100_000, 101_000, GAP);
    expect(history.eraOf("b")).toBeNull();
    history.join("b", new ReadyEra(1_000, 99_000), GAP);
    const era = history.noteAnswer("b", 100_000, 100_000, GAP).era;
    expect<i64>(era.firstReadyMs).toBe(1_000);
    expect<i64>(history.eraOf("a")!.firstReadyMs).toBe(100_000);
  });

  it("publishes the first answer at once, then at most once a second", () => {
    const entry = new ReadyHistory().noteAnswer("r", 1_000, 2_000, GAP);
    expect<bool>(entry.publishDue(2_000)).toBe(true);
    entry.publishedMs = 2_000;
    expect<bool>(entry.publishDue(2_000 + PUBLISH_INTERVAL_MS - 1)).toBe(false);
    expect<bool>(entry.publishDue(2_000 + PUBLISH_INTERVAL_MS)).toBe(true);
  });

  it("is bounded: past the limit it forgets the revision answered longest ago", () => {
    const history = new ReadyHistory(3);
    history.noteAnswer("a", 0, 30, GAP);
    history.noteAnswer("b", 0, 10, GAP);
    history.noteAnswer("c", 0, 20, GAP);
    history.noteAnswer("d", 0, 40, GAP);
    expect<i32>(history.size).toBe(3);
    expect(history.eraOf("b")).toBeNull();
    expect(history.eraOf("a")).not.toBeNull();
    expect(history.eraOf("d")).not.toBeNull();
    expect<i32>(new ReadyHistory().limit).toBe(MAX_REVISION_ERAS);
  });

  it("forgets the revision answered longest ago however the answers came, also after later answers", () => {
    const limit = 8;
    const history = new ReadyHistory(limit);
    // A model: the last answer of every revision kept, looked through in full.
    const keys: string[] = [];
    const lastAnswers: i64[] = [];
    for (let i = 0; i < 200; i++) {
      // Revisions 0..23 answer out of order; an answer may also come for a revision kept.
      const revision = (i * 7) % 24;
      const key = "r" + revision.toString();
      const answerMs: i64 = 1_000 + <i64>((i * 37) % 101) + <i64>i * 10;
      const kept = keys.indexOf(key);
      if (kept >= 0) {
        if (answerMs > lastAnswers[kept]) lastAnswers[kept] = answerMs;
      } else {
        if (keys.length == limit) {
          let stalest = 0;
          for (let k = 1; k < keys.length; k++) if (lastAnswers[k] < lastAnswers[stalest]) stalest = k;
          keys.splice(stalest, 1);
          lastAnswers.splice(stalest, 1);
        }
        keys.push(key);
        lastAnswers.push(answerMs);
      }
      history.noteAnswer(key, 0, answerMs, GAP);
      expect<i32>(history.size).toBe(keys.length);
      for (let k = 0; k < keys.length; k++) {
        const era = history.eraOf(keys[k]);
        if (era == null || era.lastAnswerMs != lastAnswers[k]) throw new Error("lost or wrong " + keys[k]);
      }
    }
  });
});
