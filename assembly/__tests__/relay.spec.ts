import {
  RELAY_MAX_STAMP_BYTES,
  RELAY_NOTE_MS,
  RELAY_NOTE_TAIL_BYTES,
  RELAY_SLOTS,
  finishRelayNote,
  notesRelay,
  relaySlot,
} from "../relay";

/** The note of `stamp` relayed at `atMs`, as bytes. */
function noteOf(stamp: string, atMs: i64): ArrayBuffer {
  const bytes = String.UTF8.encode(stamp);
  const note = new ArrayBuffer(RELAY_MAX_STAMP_BYTES + RELAY_NOTE_TAIL_BYTES);
  memory.copy(changetype<usize>(note), changetype<usize>(bytes), bytes.byteLength);
  const length = finishRelayNote(changetype<usize>(note), bytes.byteLength, atMs);
  return note.slice(0, length);
}

/** Whether `note` lets `stamp` out at `nowMs`. */
function lets(note: ArrayBuffer, stamp: string, nowMs: i64): bool {
  const bytes = String.UTF8.encode(stamp);
  return notesRelay(
    changetype<usize>(note),
    note.byteLength,
    changetype<usize>(bytes),
    bytes.byteLength,
    nowMs,
  );
}

/** relaySlot of a text's bytes. */
function slotOf(text: string): u32 {
  const bytes = String.UTF8.encode(text);
  return relaySlot(changetype<usize>(bytes), bytes.byteLength);
}

const STAMP = "1;cs=0;w=;c=east;r=us-east1;n=demo;s=hello;cf=hello;v=hello-00001;a=0;rd=1700000000000";

describe("a relayed pod stamp's note", () => {
  it("holds the stamp and when it came back, and lets that very stamp out for RELAY_NOTE_MS", () => {
    const note = noteOf(STAMP, 1_700_000_000_000);
    expect<string>(String.UTF8.decode(note)).toBe(STAMP + "\n1700000000000");
    expect<bool>(lets(note, STAMP, 1_700_000_000_000)).toBe(true);
    expect<bool>(lets(note, STAMP, 1_700_000_000_000 + RELAY_NOTE_MS)).toBe(true);
    expect<bool>(lets(note, STAMP, 1_700_000_000_000 + RELAY_NOTE_MS + 1)).toBe(false);
    // A clock stepped back: as long the other way, not for as long as the step.
    expect<bool>(lets(note, STAMP, 1_700_000_000_000 - RELAY_NOTE_MS)).toBe(true);
    expect<bool>(lets(note, STAMP, 1_700_000_000_000 - RELAY_NOTE_MS - 1)).toBe(false);
    // Another stamp, also one the note's starts with or that starts with the note's, or as long.
    expect<bool>(lets(note, STAMP.replace("hello-00001", "hello-00002"), 1_700_000_000_000)).toBe(false);
    expect<bool>(lets(note, STAMP + ";t=1", 1_700_000_000_000)).toBe(false);
    expect<bool>(lets(note, STAMP.substring(0, 40), 1_700_000_000_000)).toBe(false);
  });

  it("is no note without the separator and a time after the stamp", () => {
    const texts = ["", STAMP, STAMP + "\n", STAMP + "\nx", STAMP + ";1700000000000"];
    for (let i = 0; i < texts.length; i++) {
      const note = String.UTF8.encode(texts[i]);
      const stamp = String.UTF8.encode(STAMP);
      expect<bool>(
        notesRelay(changetype<usize>(note), note.byteLength, changetype<usize>(stamp), stamp.byteLength, 0),
      ).toBe(false);
    }
  });

  it("goes in one of RELAY_SLOTS slots, the same for the same stamp", () => {
    expect<u32>(slotOf(STAMP)).toBe(slotOf(STAMP.substring(0, 10) + STAMP.substring(10)));
    for (let i = 0; i < 100; i++) expect<bool>(slotOf(STAMP + i.toString()) < RELAY_SLOTS).toBe(true);
  });
});
