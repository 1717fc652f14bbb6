import {
  RELAY_NOTE_BYTES,
  RELAY_NOTE_MS,
  RELAY_SLOTS,
  notesRelay,
  relaySlot,
  relayedStampHash,
  writeRelayNote,
} from "../relay";

/** The note of `stamp` relayed at `atMs`, as bytes. */
function noteOf(stamp: string, atMs: i64): ArrayBuffer {
  const bytes = String.UTF8.encode(stamp);
  const note = new ArrayBuffer(RELAY_NOTE_BYTES);
  const length = writeRelayNote(
    relayedStampHash(changetype<usize>(bytes), bytes.byteLength),
    bytes.byteLength,
    atMs,
    changetype<usize>(note),
  );
  return note.slice(0, length);
}

/** Whether `note` lets `stamp` out at `nowMs`. */
function lets(note: ArrayBuffer, stamp: string, nowMs: i64): bool {
  const bytes = String.UTF8.encode(stamp);
  return notesRelay(
    changetype<usize>(note),
    note.byteLength,
    relayedStampHash(changetype<usize>(bytes), bytes.byteLength),
    bytes.byteLength,
    nowMs,
  );
}

const STAMP = "1;cs=0;w=;c=east;r=us-east1;n=demo;s=hello;cf=hello;v=hello-00001;a=0;rd=1700000000000";

describe("a relayed pod stamp's note", () => {
  it("lets its own stamp out for RELAY_NOTE_MS after it was written, and no other", () => {
    const note = noteOf(STAMP, 1_700_000_000_000);
    expect<string>(String.UTF8.decode(note)).toBe(
      relayedStampHash(changetype<usize>(String.UTF8.encode(STAMP)), STAMP.length).toString() +
        ":" +
        STAMP.length.toString() +
        ":1700000000000",
    );
    expect<bool>(lets(note, STAMP, 1_700_000_000_000)).toBe(true);
    expect<bool>(lets(note, STAMP, 1_700_000_000_000 + RELAY_NOTE_MS)).toBe(true);
    expect<bool>(lets(note, STAMP, 1_700_000_000_000 + RELAY_NOTE_MS + 1)).toBe(false);
    // Written after now: not a note of this relay.
    expect<bool>(lets(note, STAMP, 1_700_000_000_000 - 1)).toBe(false);
    expect<bool>(lets(note, STAMP.replace("hello-00001", "hello-00002"), 1_700_000_000_000)).toBe(false);
    expect<bool>(lets(note, STAMP + ";t=1", 1_700_000_000_000)).toBe(false);
  });

  it("is no note when it is not three numbers", () => {
    const texts = ["", "12", "12:34", "x:34:5", "12:34:", "12::5"];
    for (let i = 0; i < texts.length; i++) {
      const note = String.UTF8.encode(texts[i]);
      expect<bool>(notesRelay(changetype<usize>(note), note.byteLength, 12, 34, 10)).toBe(false);
    }
    const valid = String.UTF8.encode("12:34:5");
    expect<bool>(notesRelay(changetype<usize>(valid), valid.byteLength, 12, 34, 10)).toBe(true);
  });

  it("goes in one of RELAY_SLOTS slots", () => {
    expect<u32>(relaySlot(0xffffffff)).toBe(RELAY_SLOTS - 1);
    expect<u32>(relaySlot(RELAY_SLOTS + 5)).toBe(5);
  });
});
