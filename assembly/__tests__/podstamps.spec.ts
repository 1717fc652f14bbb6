import { NOT_ASCII_STAMP, PodStamps, revisionEraKey } from "../podstamps";
import { PodStamp, decodePodStamp, encodePodStamp } from "../podstamp";
import { NO_TICKET } from "../readiness";

const ID_SLOTS = 4;

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

  it("counts the stamps answered since a time, by their last answer", () => {
    const stamps = new PodStamps(ID_SLOTS);
    const old = addStamp(stamps, stampOf("svc-00001", 1000), 1_000);
    addStamp(stamps, stampOf("svc-00002", 1000), 2_000);
    addStamp(stamps, stampOf("svc-00003", 1000), 3_000);
    expect(stamps.answeredCount(2_000)).toBe(2);
    expect(stamps.answeredCount(3_001)).toBe(0);
    stamps.noteAnswer(old, 9_000);
    expect(stamps.answeredCount(2_500)).toBe(2);
  });

  it("makes a table of the answered stamps with all that was kept of them, and leaves its own", () => {
    const stamps = new PodStamps(ID_SLOTS);
    for (let i = 0; i < 6; i++) {
      const index = addStamp(stamps, stampOf("svc-0000" + i.toString(), 100 + i, i % 2 == 0), 1_000);
      stamps.eraTickets[index] = 40 + i;
      for (let slot = 0; slot < ID_SLOTS; slot++) {
        stamps.ids[index * ID_SLOTS + slot] = <u32>(index * 10 + slot + 1);
      }
    }
    // Stamps 1, 4 and 5 answer again later; the others are idle.
    stamps.noteAnswer(1, 60_000);
    stamps.noteAnswer(4, 60_000);
    stamps.noteAnswer(5, 61_000);

    const kept = stamps.answeredSince(50_000);
    expect(kept.size).toBe(3);
    const was = [1, 4, 5];
    for (let k = 0; k < was.length; k++) {
      const old = was[k];
      const text = stampOf("svc-0000" + old.toString(), 100 + old, old % 2 == 0);
      const index = kept.indexOf(text, text.length);
      expect(index).toBe(k);
      expect(indexOfWritten(kept, text)).toBe(k);
      expect(kept.readyMs[index]).toBe(100 + old);
      expect(kept.viaActivator[index]).toBe(old % 2 == 0);
      expect(kept.eraTickets[index]).toBe(40 + old);
      for (let slot = 0; slot < ID_SLOTS; slot++) {
        expect(kept.ids[index * ID_SLOTS + slot]).toBe(<u32>(old * 10 + slot + 1));
      }
      expect(kept.report(index).revision).toBe("svc-0000" + old.toString());
      expect(kept.report(index).cluster).toBe("c1");
    }
    // The idle ones are gone from the new table, and answeredSince again keeps their last answers.
    const idle = stampOf("svc-00000", 100, true);
    expect(kept.indexOf(idle, idle.length)).toBe(-1);
    expect(kept.answeredCount(60_500)).toBe(1);
    // The old table is as it was: a stream that holds an index in it still reads it there.
    expect(stamps.size).toBe(6);
    expect(stamps.indexOf(idle, idle.length)).toBe(0);
    expect(stamps.ids[5 * ID_SLOTS]).toBe(51);
    // The new table takes more stamps after those it kept.
    const added = addStamp(kept, stampOf("svc-00009", 900), 62_000);
    expect(added).toBe(3);
    expect(kept.readyMs[added]).toBe(900);
    expect(kept.ids[added * ID_SLOTS]).toBe(0);
  });

  it("keeps a held answer's stamp by what follows its held fields, also in a table it makes", () => {
    const stamps = new PodStamps(ID_SLOTS);
    const held = encodePodStamp(
      new PodStamp(true, 850, "c1", "eu", "ns", "svc", "cfg", "svc-00001", true, 1000),
    )!;
    const index = addStamp(stamps, held, 5_000);
    const kept = stamps.answeredSince(5_000);
    // Another held answer of the same pod waited its own time: the same stamp after the cut.
    const later = encodePodStamp(
      new PodStamp(true, 12, "c1", "eu", "ns", "svc", "cfg", "svc-00001", true, 1000),
    )!;
    expect(stamps.indexOf(later, later.length)).toBe(index);
    expect(kept.indexOf(later, later.length)).toBe(0);
    expect(kept.report(0).readyMs).toBe(1000);
    expect(kept.report(0).viaActivator).toBe(true);
  });
});
