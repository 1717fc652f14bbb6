import {
  HELD_FIELDS_CUT,
  PodStamp,
  arrivalFieldStart,
  arrivalFieldStartBytes,
  decodePodStamp,
  encodePodStamp,
  heldFieldsEnd,
  heldFieldsEndBytes,
  parseArrivalField,
  parseArrivalFieldBytes,
  arrivalStampPrefix,
} from "../podstamp";
import { PrefixedDecimalWriter } from "../decimal";
import { ENTRY_STAMP_MAX_BYTES, parseEntryMillis, writeEntryMillis } from "../entrystamp";
import { MAX_STAMP_LENGTH } from "../stamp";

const LABELS = "c=c1;r=eu;n=ns;s=svc;cf=cfg;v=svc-00001";

describe("pod report", () => {
  it("encodes a direct request's report: not held, through no activator, ready since rd", () => {
    const text = encodePodStamp(
      new PodStamp(false, -1, "c1", "eu", "ns", "svc", "cfg", "svc-00001", false, 1700000000000),
    );
    expect<string | null>(text).toBe("1;cs=0;w=;" + LABELS + ";a=0;rd=1700000000000");
  });

  it("round-trips a held report with its arrival last", () => {
    const text = encodePodStamp(
      new PodStamp(
        true,
        2350,
        "c1",
        "eu",
        "ns",
        "svc",
        "cfg",
        "svc-00001",
        true,
        1700000000100,
        1700000002350,
      ),
    )!;
    expect<string>(text).toBe("1;cs=1;w=2350;" + LABELS + ";a=1;rd=1700000000100;t=1700000002350");
    const report = decodePodStamp(text)!;
    expect<bool>(report.held).toBe(true);
    expect<i64>(report.waitMs).toBe(2350);
    expect<string>(report.cluster).toBe("c1");
    expect<string>(report.region).toBe("eu");
    expect<string>(report.namespace).toBe("ns");
    expect<string>(report.service).toBe("svc");
    expect<string>(report.configuration).toBe("cfg");
    expect<string>(report.revision).toBe("svc-00001");
    expect<bool>(report.viaActivator).toBe(true);
    expect<i64>(report.readyMs).toBe(1700000000100);
    expect<i64>(report.arrivalMs).toBe(1700000002350);
  });

  it("reads a stamp of an earlier version: no a, rd, t (nor cf)", () => {
    const report = decodePodStamp("1;cs=1;w=;c=;r=;n=;s=;v=")!;
    expect<bool>(report.held).toBe(true);
    expect<i64>(report.waitMs).toBe(-1);
    expect<string>(report.revision).toBe("");
    expect<string>(report.configuration).toBe("");
    expect<bool>(report.viaActivator).toBe(false);
    expect<i64>(report.readyMs).toBe(-1);
    expect<i64>(report.arrivalMs).toBe(-1);
  });

  it("refuses stamps that miss fields or carry bad values", () => {
    expect(decodePodStamp(null)).toBeNull();
    expect(decodePodStamp("")).toBeNull();
    expect(decodePodStamp("1;cs=0;w=;c=a;r=b;n=c;s=d")).toBeNull(); // no v
    expect(decodePodStamp("1;cs=2;w=;c=a;r=b;n=c;s=d;v=e")).toBeNull();
    expect(decodePodStamp("1;cs=1;w=x1;c=a;r=b;n=c;s=d;v=e")).toBeNull();
    expect(decodePodStamp("1;cs=1;w=1234567890123;c=a;r=b;n=c;s=d;v=e")).toBeNull();
    expect(decodePodStamp("1;cs=0;w=;c=a b;r=b;n=c;s=d;v=e")).toBeNull();
    expect(decodePodStamp("1;cs=0;w=;c=a;r=b;n=c;s=d;v=e;a=2")).toBeNull();
    expect(decodePodStamp("1;cs=0;w=;c=a;r=b;n=c;s=d;v=e;a=1;rd=soon")).toBeNull();
    expect(decodePodStamp("1;cs=0;w=;c=a;r=b;n=c;s=d;v=e;a=1;rd=1;t=1234567890123456")).toBeNull();
  });

  it("refuses to write a value that is not a label value", () => {
    expect<string | null>(encodePodStamp(new PodStamp(false, -1, "a;b", "", "", "", "", ""))).toBeNull();
  });
});

describe("the per-request arrival field", () => {
  it("is appended last, and everything before it is the stamp without it", () => {
    const base = "1;cs=0;w=;" + LABELS + ";a=1;rd=5";
    const writer = new PrefixedDecimalWriter(arrivalStampPrefix(base));
    const text = String.UTF8.decodeUnsafe(writer.at, writer.write(1700000000042));
    expect<string>(text).toBe(base + ";t=1700000000042");
    const start = arrivalFieldStart(text);
    expect<string>(text.substring(0, start)).toBe(base);
    expect<i64>(parseArrivalField(text, start)).toBe(1700000000042);
  });

  it("is absent (-1) or malformed (-2)", () => {
    const base = "1;cs=0;w=;" + LABELS + ";a=0;rd=5";
    expect<i32>(arrivalFieldStart(base)).toBe(base.length);
    expect<i64>(parseArrivalField(base, arrivalFieldStart(base))).toBe(-1);
    const garbled = base + ";t=12;x=1";
    expect<i64>(parseArrivalField(garbled, arrivalFieldStart(garbled))).toBe(-2);
  });

  it("is the last one, found also at the very start or end, and never in a shorter text", () => {
    expect<i32>(arrivalFieldStart("1;t=5;t=7")).toBe(5);
    expect<i32>(arrivalFieldStart(";t=")).toBe(0);
    expect<i32>(arrivalFieldStart("1;t")).toBe(3);
    expect<i32>(arrivalFieldStart(";")).toBe(1);
    expect<i32>(arrivalFieldStart("")).toBe(0);
    expect<i32>(arrivalFieldStart("1;T=5;x=;t")).toBe(10);
  });

  it("is found and read in a stamp's bytes as in its text", () => {
    const texts = [
      "1;cs=0;w=;" + LABELS + ";a=1;rd=5;t=1700000000042",
      "1;cs=0;w=;" + LABELS + ";a=0;rd=5",
      "1;cs=0;w=;" + LABELS + ";a=1;rd=5;t=12;x=1",
      "1;cs=0;w=;" + LABELS + ";a=1;rd=5;t=",
      "1;t=5;t=7",
      ";t=",
      "",
    ];
    for (let i = 0; i < texts.length; i++) {
      const text = texts[i];
      const bytes = String.UTF8.encode(text);
      const at = changetype<usize>(bytes);
      const start = arrivalFieldStartBytes(at, bytes.byteLength);
      expect<i32>(start).toBe(arrivalFieldStart(text));
      expect<i64>(parseArrivalFieldBytes(at, bytes.byteLength, start)).toBe(parseArrivalField(text, start));
    }
  });
});

/** heldFieldsEnd of the whole text, checked to agree with heldFieldsEndBytes on its bytes. */
function cutOf(text: string): i32 {
  const bytes = String.UTF8.encode(text);
  const cut = heldFieldsEnd(text, text.length);
  expect<i32>(heldFieldsEndBytes(changetype<usize>(bytes), bytes.byteLength)).toBe(cut);
  return cut;
}

describe("the held fields an edge keeps a stamp without", () => {
  it("ends after `w`, whatever the flag and the wait's digits", () => {
    expect<i32>(cutOf("1;cs=1;w=850;" + LABELS)).toBe(13);
    expect<i32>(cutOf("1;cs=0;w=;" + LABELS)).toBe(10);
    expect<i32>(cutOf("1;cs=1;w=123456789012;" + LABELS)).toBe(22);
    expect<string>(("1;cs=1;w=7;" + LABELS).substring(cutOf("1;cs=1;w=7;" + LABELS))).toBe(LABELS);
  });

  it("is 0 for any other start: the stamp is then kept whole", () => {
    expect<i32>(cutOf("1;cs=2;w=5;" + LABELS)).toBe(0);
    expect<i32>(cutOf("1;cs=1;w=1234567890123;" + LABELS)).toBe(0);
    expect<i32>(cutOf("1;cs=1;w=8a;" + LABELS)).toBe(0);
    expect<i32>(cutOf("1;cs=1;w=850")).toBe(0);
    expect<i32>(cutOf("1;cs=1;w=850;")).toBe(0);
    expect<i32>(cutOf("2;cs=1;w=850;" + LABELS)).toBe(0);
    expect<i32>(cutOf("12;cs=1;w=850;" + LABELS)).toBe(0);
    expect<i32>(cutOf("1;w=850;cs=1;" + LABELS)).toBe(0);
    expect<i32>(cutOf("1;cs=1")).toBe(0);
    expect<i32>(cutOf("")).toBe(0);
  });

  it("is 0 past the longest stamp, so a long wait cannot pass as a shorter kept one", () => {
    const head = "1;cs=1;w=850;";
    const tail = "v=" + "x".repeat(MAX_STAMP_LENGTH - head.length - 2);
    expect<i32>(cutOf(head + tail)).toBe(head.length);
    expect<i32>(cutOf(head + tail + "x")).toBe(0);
  });

  it("decodes as the pod's stamp with the cut's own held fields in their place", () => {
    const stamp = decodePodStamp(HELD_FIELDS_CUT + LABELS + ";a=1;rd=5")!;
    expect<bool>(stamp.held).toBe(false);
    expect<i64>(stamp.waitMs).toBe(-1);
    expect<string>(stamp.revision).toBe("svc-00001");
    expect<bool>(stamp.viaActivator).toBe(true);
    expect<i64>(stamp.readyMs).toBe(5);
  });
});

/** parseEntryMillis of a value as the header scan keeps it (null: no stamp). */
function entryMillisOf(text: string | null): i64 {
  if (text == null) return parseEntryMillis(0, 0);
  const bytes = String.UTF8.encode(text);
  return parseEntryMillis(changetype<usize>(bytes), <u32>bytes.byteLength);
}

describe("entry stamp", () => {
  it("parses decimal milliseconds", () => {
    expect<i64>(entryMillisOf("1700000000123")).toBe(1700000000123);
    expect<i64>(entryMillisOf("0")).toBe(0);
    const written = new ArrayBuffer(ENTRY_STAMP_MAX_BYTES);
    const length = writeEntryMillis(1700000000123, changetype<usize>(written));
    expect<string>(String.UTF8.decodeUnsafe(changetype<usize>(written), length)).toBe("1700000000123");
  });

  it("refuses anything else", () => {
    expect<i64>(entryMillisOf(null)).toBe(-1);
    expect<i64>(entryMillisOf("")).toBe(-1);
    expect<i64>(entryMillisOf("-5")).toBe(-1);
    expect<i64>(entryMillisOf("12a")).toBe(-1);
    expect<i64>(entryMillisOf(" 12")).toBe(-1);
    expect<i64>(entryMillisOf("1234567890123456")).toBe(-1);
  });
});
