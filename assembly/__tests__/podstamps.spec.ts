import { NOT_ASCII_STAMP, PodStamps, revisionEraKey } from "../podstamps";
import { PodStamp, decodePodStamp, encodePodStamp } from "../podstamp";
import { NO_TICKET } from "../readiness";

const ID_SLOTS = 4;
/** forgetIdle's count that looks over every place of these tables. */
const ALL = 100;

/** A warm pod's stamp text (no arrival) for `revision`, ready since `readyMs`. */
function stampOf(revision: string, readyMs: i64, viaActivator: bool = false): string {
  return encodePodStamp(
    new PodStamp(false, -1, "c1", "eu", "ns", "svc", "cfg", revision, viaActivator, readyMs),
  )!;
}

/** Adds the stamp `text` as an answer at `nowMs` would. */
function addStamp(stamps: PodStamps, text: string, nowMs: i64): i32 {
  return stamps.add(text, decodePodStamp(text)!, nowMs);
}

/** indexOfBytes of `text` where a host would have written it (as ASCII bytes). */
function indexOfWritten(stamps: PodStamps, text: string): i32 {
  const bytes = String.UTF8.encode(text);
  return stamps.indexOfBytes(changetype<usize>(bytes), bytes.byteLength);
}

describe("pod stamps", () => {
  it("finds a kept stamp by its text and by its bytes, and nothing else", () => {
    const stamps = new PodStamps(ID_SLOTS);
    const a = addStamp(stamps, stampOf("svc-00001", 1000), 5000);
    const b = addStamp(stamps, stampOf("svc-00002", 2000, true), 5000);
    expect(a).toBe(0);
    expect(b).toBe(1);
    const text = stampOf("svc-00002", 2000, true);
    expect(stamps.indexOf(text, text.length)).toBe(b);
    expect(indexOfWritten(stamps, text)).toBe(b);
    expect(indexOfWritten(stamps, stampOf("svc-00003", 2000))).toBe(-1);
    expect(stamps.readyMs[b]).toBe(2000);
    expect(stamps.viaActivator[b]).toBe(true);
    expect(stamps.eraTickets[b]).toBe(NO_TICKET);
  });

  it("tells a stamp that is not ASCII from one it does not keep", () => {
    const stamps = new PodStamps(ID_SLOTS);
    addStamp(stamps, stampOf("svc-00001", 1000), 0);
    const text = stampOf("svc-00001", 1000).replace("svc-00001", "svc-é0001");
    expect(indexOfWritten(stamps, text)).toBe(NOT_ASCII_STAMP);
  });

  it("names a stamp's revision era as the pod named it", () => {
    const stamps = new PodStamps(ID_SLOTS);
    const index = addStamp(stamps, stampOf("svc-00007", 1000), 0);
    expect(stamps.eraKey(index)).toBe("c1/ns/svc-00007");
    expect(revisionEraKey(decodePodStamp(stampOf("svc-00007", 1000))!)).toBe("c1/ns/svc-00007");
  });

  it("forgets the stamps idle since a time whose streams all ended, and keeps the others where they are", () => {
    const stamps = new PodStamps(ID_SLOTS);
    for (let i = 0; i < 6; i++) {
      const index = addStamp(stamps, stampOf("svc-0000" + i.toString(), 100 + i, i % 2 == 0), 1_000);
      stamps.eraTickets[index] = 40 + i;
      stamps.ids[index * ID_SLOTS] = <u32>(index + 1);
      stamps.noteStreamEnd(index);
    }
    // Stamps 1, 4 and 5 answer again later; stamp 2's first stream is still open.
    for (let again = 1; again < 6; again += 3) {
      stamps.noteAnswer(again, 60_000);
      stamps.noteStreamEnd(again);
    }
    stamps.noteAnswer(5, 61_000);
    stamps.noteStreamEnd(5);
    stamps.noteAnswer(2, 1_000);

    expect(stamps.forgetIdle(50_000, ALL)).toBe(2);
    expect(stamps.size).toBe(4);
    for (let i = 0; i < 6; i++) {
      const text = stampOf("svc-0000" + i.toString(), 100 + i, i % 2 == 0);
      const kept = i != 0 && i != 3;
      expect(stamps.indexOf(text, text.length)).toBe(kept ? i : -1);
      expect(indexOfWritten(stamps, text)).toBe(kept ? i : -1);
      if (!kept) continue;
      expect(stamps.readyMs[i]).toBe(100 + i);
      expect(stamps.viaActivator[i]).toBe(i % 2 == 0);
      expect(stamps.eraTickets[i]).toBe(40 + i);
      expect(stamps.ids[i * ID_SLOTS]).toBe(<u32>(i + 1));
      expect(stamps.report(i).revision).toBe("svc-0000" + i.toString());
      expect(stamps.report(i).cluster).toBe("c1");
    }
    // A forgotten place is not forgotten twice; stamp 2 goes once its stream ends.
    expect(stamps.forgetIdle(50_000, ALL)).toBe(0);
    stamps.noteStreamEnd(2);
    expect(stamps.forgetIdle(50_000, ALL)).toBe(1);
    expect(stamps.size).toBe(3);
  });

  it("keeps a stamp's latest answer when a slower one, of a request that entered before, ends after it", () => {
    const stamps = new PodStamps(ID_SLOTS);
    const index = addStamp(stamps, stampOf("svc-00001", 100), 400_000);
    stamps.noteStreamEnd(index);
    // A request that entered at 10 s is answered only now, by the same pod.
    stamps.noteAnswer(index, 10_000);
    stamps.noteStreamEnd(index);
    expect(stamps.forgetIdle(100_000, ALL)).toBe(0);
    expect(stamps.forgetIdle(400_001, ALL)).toBe(1);
  });

  it("looks over as many places as it is asked at a time, from where it stopped, round the table", () => {
    const stamps = new PodStamps(ID_SLOTS);
    for (let i = 0; i < 6; i++)
      stamps.noteStreamEnd(addStamp(stamps, stampOf("svc-0000" + i.toString(), 100 + i), 1_000));
    stamps.noteAnswer(4, 9_000);
    stamps.noteStreamEnd(4);
    expect(stamps.forgetIdle(5_000, 4)).toBe(4);
    expect(stamps.size).toBe(2);
    // Places 4 and 5, then round to 0 and 1, forgotten already: only 5 is left to forget.
    expect(stamps.forgetIdle(5_000, 4)).toBe(1);
    const kept = stampOf("svc-00004", 104);
    expect(stamps.indexOf(kept, kept.length)).toBe(4);
    // Its look starts at place 2; a count over the table's size looks at each place once.
    expect(stamps.forgetIdle(10_000, 50)).toBe(1);
    expect(stamps.size).toBe(0);
  });

  it("gives a forgotten stamp's place to the next stamp, with none of the forgotten one's series ids", () => {
    const stamps = new PodStamps(ID_SLOTS);
    const gone = addStamp(stamps, stampOf("svc-00001", 100), 1_000);
    const live = addStamp(stamps, stampOf("svc-00002", 200), 1_000);
    for (let slot = 0; slot < ID_SLOTS; slot++) {
      stamps.ids[gone * ID_SLOTS + slot] = <u32>(slot + 1);
      stamps.ids[live * ID_SLOTS + slot] = <u32>(slot + 11);
    }
    stamps.eraTickets[gone] = 7;
    stamps.noteStreamEnd(gone);
    stamps.noteAnswer(live, 9_000);
    expect(stamps.forgetIdle(5_000, ALL)).toBe(1);

    const next = stampOf("svc-00003", 300, true);
    const index = addStamp(stamps, next, 10_000);
    expect(index).toBe(gone);
    expect(stamps.size).toBe(2);
    expect(indexOfWritten(stamps, next)).toBe(index);
    expect(stamps.readyMs[index]).toBe(300);
    expect(stamps.viaActivator[index]).toBe(true);
    expect(stamps.eraTickets[index]).toBe(NO_TICKET);
    expect(stamps.report(index).revision).toBe("svc-00003");
    expect(stamps.eraKey(index)).toBe("c1/ns/svc-00003");
    for (let slot = 0; slot < ID_SLOTS; slot++) {
      expect(stamps.ids[index * ID_SLOTS + slot]).toBe(0);
      expect(stamps.ids[live * ID_SLOTS + slot]).toBe(<u32>(slot + 11));
    }
    const forgotten = stampOf("svc-00001", 100);
    expect(stamps.indexOf(forgotten, forgotten.length)).toBe(-1);
    // The next new stamp, with no place free, comes after the others.
    expect(addStamp(stamps, stampOf("svc-00004", 400), 10_000)).toBe(2);
  });

  it("keeps a held answer's stamp by what follows its held fields, also in a forgotten stamp's place", () => {
    const stamps = new PodStamps(ID_SLOTS);
    stamps.noteStreamEnd(addStamp(stamps, stampOf("svc-00009", 100), 1_000));
    stamps.forgetIdle(2_000, ALL);
    const held = encodePodStamp(
      new PodStamp(true, 850, "c1", "eu", "ns", "svc", "cfg", "svc-00001", true, 1000),
    )!;
    const index = addStamp(stamps, held, 5_000);
    expect(index).toBe(0);
    // Another held answer of the same pod waited its own time: the same stamp after the cut.
    const later = encodePodStamp(
      new PodStamp(true, 12, "c1", "eu", "ns", "svc", "cfg", "svc-00001", true, 1000),
    )!;
    expect(stamps.indexOf(later, later.length)).toBe(index);
    expect(stamps.report(index).readyMs).toBe(1000);
    expect(stamps.report(index).viaActivator).toBe(true);
  });
});
