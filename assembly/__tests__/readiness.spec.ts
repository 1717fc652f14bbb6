import {
  ERA_BYTES,
  ERA_OF_ANOTHER,
  ERA_OF_REVISION,
  ERA_SLOTS,
  MAX_REVISION_ERAS,
  NOT_AN_ERA_ENTRY,
  NO_TICKET,
  PUBLISH_INTERVAL_MS,
  ReadyEra,
  ReadyHistory,
  enteredBeforeReady,
  eraSlot,
  readEra,
  readEraEntry,
  writeEra,
  writeEraEntry,
} from "../readiness";

/** writeEra's bytes as text. */
function eraText(firstReadyMs: i64, lastAnswerMs: i64): string {
  const buffer = new ArrayBuffer(ERA_BYTES);
  const length = writeEra(firstReadyMs, lastAnswerMs, changetype<usize>(buffer));
  return String.UTF8.decodeUnsafe(changetype<usize>(buffer), length);
}

/** readEra of a text's UTF-8 bytes; null when refused. */
function eraOf(text: string): ReadyEra | null {
  const bytes = String.UTF8.encode(text);
  const era = new ReadyEra(-7, -7);
  if (readEra(changetype<usize>(bytes), bytes.byteLength, era)) return era;
  // A refused text leaves the era as it was.
  expect<i64>(era.firstReadyMs).toBe(-7);
  expect<i64>(era.lastAnswerMs).toBe(-7);
  return null;
}

/** writeEraEntry's bytes for the revision `key`, as text. */
function entryText(firstReadyMs: i64, lastAnswerMs: i64, key: string): string {
  const keyBytes = String.UTF8.encode(key);
  const buffer = new ArrayBuffer(ERA_BYTES + 1 + keyBytes.byteLength);
  const length = writeEraEntry(
    firstReadyMs,
    lastAnswerMs,
    changetype<usize>(keyBytes),
    keyBytes.byteLength,
    changetype<usize>(buffer),
  );
  return String.UTF8.decodeUnsafe(changetype<usize>(buffer), length);
}

/** readEraEntry of `text` for the revision `key`, into `era`. */
function entryOf(text: string, key: string, era: ReadyEra): i32 {
  const bytes = String.UTF8.encode(text);
  const keyBytes = String.UTF8.encode(key);
  return readEraEntry(
    changetype<usize>(bytes),
    bytes.byteLength,
    changetype<usize>(keyBytes),
    keyBytes.byteLength,
    era,
  );
}

/** eraSlot of a key's UTF-8. */
function slotOf(key: string): u32 {
  const bytes = String.UTF8.encode(key);
  return eraSlot(changetype<usize>(bytes), bytes.byteLength);
}

const GAP: i64 = 6_000;

/**
 * Answer `i`'s time `ms`, made apart from every other answer's (i < 4,096): with no two last answers
 * equal, the stalest is one revision, whichever way a tie would be broken.
 */
function uniqueMs(ms: i64, i: i32): i64 {
  return ms * 4_096 + <i64>i;
}

/** What a bounded history should keep: every revision's last answer, the stalest found by looking through all. */
class LastAnswersModel {
  keys: string[] = [];
  lastAnswers: i64[] = [];

  constructor(public limit: i32) {}

  answer(key: string, answerMs: i64): void {
    const kept = this.keys.indexOf(key);
    if (kept >= 0) {
      if (answerMs > this.lastAnswers[kept]) this.lastAnswers[kept] = answerMs;
      return;
    }
    if (this.keys.length == this.limit) {
      let stalest = 0;
      for (let k = 1; k < this.keys.length; k++) {
        if (this.lastAnswers[k] < this.lastAnswers[stalest]) stalest = k;
      }
      this.keys.splice(stalest, 1);
      this.lastAnswers.splice(stalest, 1);
    }
    this.keys.push(key);
    this.lastAnswers.push(answerMs);
  }

  /** Throws unless `history` keeps the model's revisions, each with its last answer. */
  check(history: ReadyHistory): void {
    expect<i32>(history.size).toBe(this.keys.length);
    for (let k = 0; k < this.keys.length; k++) {
      const at = history.placeOf(this.keys[k]);
      if (at < 0 || history.lastAnswerAt(at) != this.lastAnswers[k])
        throw new Error("lost or wrong " + this.keys[k]);
    }
  }
}

/** The key of the revision at `place`, as writeKeyUtf8At writes it in the room keyLengthAt asks. */
function keyOfPlace(history: ReadyHistory, place: i32): string {
  const buffer = new ArrayBuffer(history.keyLengthAt(place) * 3);
  const bytes = history.writeKeyUtf8At(place, changetype<usize>(buffer));
  return String.UTF8.decodeUnsafe(changetype<usize>(buffer), bytes);
}

/** A history holding one revision's era from `firstReadyMs` to `lastAnswerMs`, at place 0. */
function historyOf(firstReadyMs: i64, lastAnswerMs: i64): ReadyHistory {
  const history = new ReadyHistory();
  expect<i32>(history.join("r", firstReadyMs, lastAnswerMs, GAP)).toBe(0);
  return history;
}

describe("ReadyHistory.joinAt", () => {
  it("makes one era of views that overlap or start within the gap of the last answer", () => {
    const history = historyOf(1_000, 50_000);
    history.joinAt(0, 54_000, 60_000, GAP);
    expect<i64>(history.firstReadyAt(0)).toBe(1_000);
    expect<i64>(history.lastAnswerAt(0)).toBe(60_000);
    // In either order.
    const reversed = historyOf(54_000, 60_000);
    reversed.joinAt(0, 1_000, 50_000, GAP);
    expect<i64>(reversed.firstReadyAt(0)).toBe(1_000);
    expect<i64>(reversed.lastAnswerAt(0)).toBe(60_000);
  });

  it("keeps only the later era when it starts beyond the gap (the revision was at zero between)", () => {
    const history = historyOf(1_000, 50_000);
    history.joinAt(0, 56_001, 57_000, GAP);
    expect<i64>(history.firstReadyAt(0)).toBe(56_001);
    expect<i64>(history.lastAnswerAt(0)).toBe(57_000);
    // In either order: an older view beyond the gap changes nothing.
    history.joinAt(0, 1_000, 50_000, GAP);
    expect<i64>(history.firstReadyAt(0)).toBe(56_001);
    expect<i64>(history.lastAnswerAt(0)).toBe(57_000);
  });

  it("joins a view that starts exactly at the gap's end", () => {
    const history = historyOf(1_000, 50_000);
    history.joinAt(0, 56_000, 57_000, GAP);
    expect<i64>(history.firstReadyAt(0)).toBe(1_000);
    expect<i64>(history.lastAnswerAt(0)).toBe(57_000);
  });

  it("takes a new revision's view as it is", () => {
    const history = new ReadyHistory();
    expect<i32>(history.placeOf("r")).toBe(-1);
    const place = history.join("r", 3, 4, GAP);
    expect<i32>(history.placeOf("r")).toBe(place);
    expect<i64>(history.firstReadyAt(place)).toBe(3);
    expect<i64>(history.lastAnswerAt(place)).toBe(4);
  });
});

describe("enteredBeforeReady", () => {
  it("is a cold start only for a request that entered before the era began", () => {
    expect<bool>(enteredBeforeReady(9_999, 10_000)).toBe(true);
    expect<bool>(enteredBeforeReady(10_000, 10_000)).toBe(false);
    expect<bool>(enteredBeforeReady(15_000, 10_000)).toBe(false);
  });
});

describe("the shared-data form", () => {
  it("round-trips an era", () => {
    expect<string>(eraText(1700000000000, 1700000009999)).toBe("1700000000000:1700000009999");
    const era = eraOf(eraText(1700000000000, 1700000009999))!;
    expect<i64>(era.firstReadyMs).toBe(1700000000000);
    expect<i64>(era.lastAnswerMs).toBe(1700000009999);
    expect<string>(eraText(0, 7)).toBe("0:7");
  });

  it("has room for the longest numbers", () => {
    expect<i32>(eraText(i64.MIN_VALUE, i64.MIN_VALUE).length).toBeLessThanOrEqual(ERA_BYTES);
    expect<string>(eraText(i64.MIN_VALUE, i64.MAX_VALUE)).toBe("-9223372036854775808:9223372036854775807");
  });

  it("refuses anything else", () => {
    expect(eraOf("")).toBeNull();
    expect(eraOf("12")).toBeNull();
    expect(eraOf("a:1")).toBeNull();
    expect(eraOf(":1")).toBeNull();
    expect(eraOf("1:")).toBeNull();
    expect(eraOf("1:2:3")).toBeNull();
    expect(eraOf("-1:2")).toBeNull();
  });
});

describe("ReadyHistory", () => {
  it("folds answers into a revision's era: a scale-up's new pod joins, a pod after zero starts anew", () => {
    const history = new ReadyHistory();
    const place = history.noteAnswer("r", 1_000, 5_000, GAP);
    history.noteAnswer("r", 1_000, 158_000, GAP);
    // A pod added by a scale-up turns ready while the first one answers.
    expect<i32>(history.noteAnswer("r", 160_000, 159_000, GAP)).toBe(place);
    expect<i64>(history.firstReadyAt(place)).toBe(1_000);
    expect<i64>(history.lastAnswerAt(place)).toBe(160_000);
    history.noteAnswerAt(place, 1_000, 161_000, GAP);
    expect<i64>(history.lastAnswerAt(place)).toBe(161_000);
    // The revision went to zero; a new pod turns ready ten minutes later.
    history.noteAnswerAt(place, 761_000, 760_000, GAP);
    expect<i64>(history.firstReadyAt(place)).toBe(761_000);
    expect<i64>(history.lastAnswerAt(place)).toBe(761_000);
  });

  it("keeps revisions apart and joins what another worker published", () => {
    const history = new ReadyHistory();
    const a = history.noteAnswer("a", 100_000, 101_000, GAP);
    expect<i32>(history.placeOf("b")).toBe(-1);
    const b = history.join("b", 1_000, 99_000, GAP);
    expect<i32>(b).not.toBe(a);
    expect<i32>(history.noteAnswer("b", 100_000, 100_000, GAP)).toBe(b);
    expect<i64>(history.firstReadyAt(b)).toBe(1_000);
    expect<i64>(history.firstReadyAt(a)).toBe(100_000);
  });

  it("publishes the first answer at once, then at most once a second", () => {
    const history = new ReadyHistory();
    const place = history.noteAnswer("r", 1_000, 2_000, GAP);
    expect<bool>(history.publishDue(place, 2_000)).toBe(true);
    history.setPublishedAt(place, 2_000);
    expect<bool>(history.publishDue(place, 2_000 + PUBLISH_INTERVAL_MS - 1)).toBe(false);
    expect<bool>(history.publishDue(place, 2_000 + PUBLISH_INTERVAL_MS)).toBe(true);
  });

  it("is bounded: past the limit it forgets the revision answered longest ago", () => {
    const history = new ReadyHistory(3);
    history.noteAnswer("a", 0, 30, GAP);
    const b = history.noteAnswer("b", 0, 10, GAP);
    history.setPublishedAt(b, 10);
    history.noteAnswer("c", 0, 20, GAP);
    // The new revision takes the forgotten one's place, never published.
    expect<i32>(history.noteAnswer("d", 0, 40, GAP)).toBe(b);
    expect<bool>(history.publishDue(b, 11)).toBe(true);
    expect<i32>(history.size).toBe(3);
    expect<i32>(history.placeOf("b")).toBe(-1);
    expect<i32>(history.placeOf("a")).not.toBe(-1);
    expect<i32>(history.placeOf("d")).toBe(b);
    expect<i32>(new ReadyHistory().limit).toBe(MAX_REVISION_ERAS);
  });

  it("writes each place's key as UTF-8, also where a key of another length took a forgotten place", () => {
    const history = new ReadyHistory(2);
    const a = history.noteAnswer("east/demo/hello-00001", 0, 10, GAP);
    const b = history.noteAnswer("west/démo/hé", 0, 20, GAP);
    expect<i32>(history.keyLengthAt(b)).toBe(12);
    expect<string>(keyOfPlace(history, a)).toBe("east/demo/hello-00001");
    expect<string>(keyOfPlace(history, b)).toBe("west/démo/hé");
    // "a" is the stalest: a shorter key takes its place.
    expect<i32>(history.noteAnswer("e/d/r", 0, 30, GAP)).toBe(a);
    expect<i32>(history.keyLengthAt(a)).toBe(5);
    expect<string>(keyOfPlace(history, a)).toBe("e/d/r");
    expect<string>(keyOfPlace(history, b)).toBe("west/démo/hé");
  });

  it("orders a place again when a joined era ends before its last answer, and forgets by that", () => {
    const history = new ReadyHistory(2);
    history.noteAnswer("a", 0, 10, GAP);
    const b = history.noteAnswer("b", 0, 20, GAP);
    // A published era no VM writes (its last answer before its first ready time), beyond the gap:
    // a new era, whose last answer, 5, is now b's, before a's.
    history.join("b", 10_000, 5, GAP);
    expect<i64>(history.lastAnswerAt(b)).toBe(5);
    history.noteAnswer("c", 0, 30, GAP);
    expect<i32>(history.placeOf("b")).toBe(-1);
    expect<i32>(history.placeOf("a")).not.toBe(-1);
  });

  it("names a place by a ticket until its revision is forgotten", () => {
    const history = new ReadyHistory(2);
    expect<i32>(history.placeOfTicket(NO_TICKET)).toBe(-1);
    const a = history.noteAnswer("a", 0, 10, GAP);
    const b = history.noteAnswer("b", 0, 20, GAP);
    const ticketA = history.ticketOf(a);
    const ticketB = history.ticketOf(b);
    expect<i32>(history.placeOfTicket(ticketA)).toBe(a);
    expect<i32>(history.placeOfTicket(ticketB)).toBe(b);
    // Answers and joins keep the ticket.
    history.noteAnswerAt(a, 0, 30, GAP);
    history.join("a", 0, 31, GAP);
    expect<i32>(history.placeOfTicket(ticketA)).toBe(a);
    // "b" is now the stalest: "c" takes its place, and b's ticket names nothing.
    const c = history.noteAnswer("c", 0, 40, GAP);
    expect<i32>(c).toBe(b);
    expect<i32>(history.placeOfTicket(ticketB)).toBe(-1);
    expect<i32>(history.placeOfTicket(history.ticketOf(c))).toBe(c);
    expect<i32>(history.placeOfTicket(ticketA)).toBe(a);
    // "b" back takes a's place (now the stalest): neither old ticket names it.
    const bAgain = history.noteAnswer("b", 0, 50, GAP);
    expect<i32>(bAgain).toBe(a);
    expect<i32>(history.placeOfTicket(ticketA)).toBe(-1);
    expect<i32>(history.placeOfTicket(ticketB)).toBe(-1);
  });

  it("forgets the revision answered longest ago when most answers come in order and some late", () => {
    const history = new ReadyHistory(16);
    const model = new LastAnswersModel(16);
    // The common case: the clock moves on with every answer, a few answers (one in seven) are of a
    // request that entered long before, and some revisions come back after they were forgotten.
    for (let i = 0; i < 2_000; i++) {
      // 19 revisions (the squares mod 37) for 16 places: most answers are of a revision kept.
      const key = "r" + ((i * i) % 37).toString();
      const lateBy: i64 = i % 7 == 3 ? <i64>((i * 53) % 400) : 0;
      const answerMs = uniqueMs(10_000 + <i64>i * 10 - lateBy, i);
      model.answer(key, answerMs);
      const place = history.placeOf(key);
      if (place >= 0) history.noteAnswerAt(place, 0, answerMs, GAP);
      else history.noteAnswer(key, 0, answerMs, GAP);
      model.check(history);
    }
  });

  it("forgets the revision answered longest ago however the answers came, also after later answers", () => {
    const history = new ReadyHistory(8);
    const model = new LastAnswersModel(8);
    for (let i = 0; i < 200; i++) {
      // 12 revisions (the squares mod 23) for 8 places, answering out of order.
      const key = "r" + ((i * i) % 23).toString();
      const answerMs = uniqueMs(1_000 + <i64>((i * 37) % 101) + <i64>i * 10, i);
      model.answer(key, answerMs);
      // Every other answer of a kept revision by its place, as a warm answer comes.
      const place = history.placeOf(key);
      if (place >= 0 && i % 2 == 0) history.noteAnswerAt(place, 0, answerMs, GAP);
      else history.noteAnswer(key, 0, answerMs, GAP);
      model.check(history);
    }
  });
});

describe("an era's shared-data entry", () => {
  it("names its revision after the era, so a reader of the slot knows whose era it holds", () => {
    const key = "east/demo/hello-00001";
    const text = entryText(1_700_000_000_000, 1_700_000_060_000, key);
    expect<string>(text).toBe("1700000000000:1700000060000 east/demo/hello-00001");
    const era = new ReadyEra();
    expect<i32>(entryOf(text, key, era)).toBe(ERA_OF_REVISION);
    expect<i64>(era.firstReadyMs).toBe(1_700_000_000_000);
    expect<i64>(era.lastAnswerMs).toBe(1_700_000_060_000);
    // Another revision's, also one whose key starts or ends like this one's: read, and told apart.
    const others = [
      "east/demo/hello-00002",
      "east/demo/hello-0000",
      "east/demo/hello-000011",
      "x/demo/hello-00001",
    ];
    for (let i = 0; i < others.length; i++) {
      const other = new ReadyEra();
      expect<i32>(entryOf(text, others[i], other)).toBe(ERA_OF_ANOTHER);
      expect<i64>(other.lastAnswerMs).toBe(1_700_000_060_000);
    }
    // A key with spaces and colons of its own (cluster names may have colons).
    const odd = "a:b c/demo/hello";
    expect<i32>(entryOf(entryText(5, 9, odd), odd, era)).toBe(ERA_OF_REVISION);
    expect<i64>(era.lastAnswerMs).toBe(9);
  });

  it("is no entry without a revision, or without an era before it", () => {
    const era = new ReadyEra(-7, -7);
    const texts = [
      "1700000000000:1700000060000",
      "",
      " east/demo/hello-00001",
      "17x:5 east/demo/hello-00001",
      "5 east",
    ];
    for (let i = 0; i < texts.length; i++) {
      expect<i32>(entryOf(texts[i], "east/demo/hello-00001", era)).toBe(NOT_AN_ERA_ENTRY);
    }
    expect<i64>(era.firstReadyMs).toBe(-7);
  });

  it("falls in one of ERA_SLOTS slots, the same for the same key, spread over them for others", () => {
    expect<u32>(slotOf("east/demo/hello-00001")).toBe(slotOf("east/" + "demo/hello-00001"));
    const seen = new Set<u32>();
    for (let i = 0; i < 2000; i++) {
      const slot = slotOf("east/demo/hello-" + i.toString());
      expect<u32>(slot).toBeLessThan(ERA_SLOTS);
      seen.add(slot);
    }
    // 2,000 keys in 65,536 slots: about 30 share one by chance; far more would mean a poor hash.
    expect<i32>(seen.size).toBeGreaterThan(1900);
  });
});
