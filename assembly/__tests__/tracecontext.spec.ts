import {
  readTraceParentHeaders,
  TraceParentFields,
  TraceParentProblem,
  TRACEPARENT_BYTES,
  TRACEPARENT_PARENT_ID_AT,
  TRACEPARENT_PROBLEM_REASONS,
  TRACEPARENT_TRACE_ID_AT,
  writeHexId,
  writeTraceParentFrame,
} from "../tracecontext";

const TRACE_ID = "12345678901234567890123456789012";
const PARENT_ID = "1234567890123456";

class Case {
  constructor(
    public input: string,
    public problem: TraceParentProblem,
    /** For valid inputs: the traceparent the filter would write from it (version 00). */
    public reformatted: string = "",
  ) {}
}

function valid(input: string, reformatted: string): Case {
  return new Case(input, TraceParentProblem.None, reformatted);
}

function invalid(input: string, problem: TraceParentProblem): Case {
  return new Case(input, problem);
}

// Every case of w3c/trace-context test/test.py for traceparent, plus the spec's own examples.
const CASES: Case[] = [
  valid("00-" + TRACE_ID + "-" + PARENT_ID + "-01", "00-" + TRACE_ID + "-" + PARENT_ID + "-01"),
  valid("00-" + TRACE_ID + "-" + PARENT_ID + "-00", "00-" + TRACE_ID + "-" + PARENT_ID + "-00"),
  valid(
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  ),
  // Level 2 random flag is kept; flags this version does not define are zeroed when written.
  valid("00-" + TRACE_ID + "-" + PARENT_ID + "-02", "00-" + TRACE_ID + "-" + PARENT_ID + "-02"),
  valid("00-" + TRACE_ID + "-" + PARENT_ID + "-ff", "00-" + TRACE_ID + "-" + PARENT_ID + "-03"),
  // OWS around the value
  valid(" 00-" + TRACE_ID + "-" + PARENT_ID + "-01", "00-" + TRACE_ID + "-" + PARENT_ID + "-01"),
  valid("\t00-" + TRACE_ID + "-" + PARENT_ID + "-01", "00-" + TRACE_ID + "-" + PARENT_ID + "-01"),
  valid("00-" + TRACE_ID + "-" + PARENT_ID + "-01 ", "00-" + TRACE_ID + "-" + PARENT_ID + "-01"),
  valid("00-" + TRACE_ID + "-" + PARENT_ID + "-01\t", "00-" + TRACE_ID + "-" + PARENT_ID + "-01"),
  valid("\t 00-" + TRACE_ID + "-" + PARENT_ID + "-01 \t", "00-" + TRACE_ID + "-" + PARENT_ID + "-01"),
  // Future versions: read by their version-00 fields, downgraded, unknown flags dropped.
  valid("cc-" + TRACE_ID + "-" + PARENT_ID + "-01", "00-" + TRACE_ID + "-" + PARENT_ID + "-01"),
  valid(
    "cc-" + TRACE_ID + "-" + PARENT_ID + "-01-what-the-future-will-be-like",
    "00-" + TRACE_ID + "-" + PARENT_ID + "-01",
  ),
  valid("01-" + TRACE_ID + "-" + PARENT_ID + "-09-x", "00-" + TRACE_ID + "-" + PARENT_ID + "-01"),
  valid("fe-" + TRACE_ID + "-" + PARENT_ID + "-03", "00-" + TRACE_ID + "-" + PARENT_ID + "-03"),
  invalid(
    "cc-" + TRACE_ID + "-" + PARENT_ID + "-01.what-the-future-will-be-like",
    TraceParentProblem.TrailingData,
  ),
  invalid("cc-" + TRACE_ID + "-" + PARENT_ID + "-0", TraceParentProblem.Flags), // shorter than 55
  invalid("cc-" + TRACE_ID + "-" + PARENT_ID, TraceParentProblem.ParentId),
  // version 00 with extra data
  invalid("00-" + TRACE_ID + "-" + PARENT_ID + "-01.", TraceParentProblem.TrailingData),
  invalid(
    "00-" + TRACE_ID + "-" + PARENT_ID + "-01-what-the-future-will-be-like",
    TraceParentProblem.TrailingData,
  ),
  invalid("00-" + TRACE_ID + "-" + PARENT_ID + "-001", TraceParentProblem.TrailingData),
  // version
  invalid("ff-" + TRACE_ID + "-" + PARENT_ID + "-01", TraceParentProblem.Version),
  invalid(".0-" + TRACE_ID + "-" + PARENT_ID + "-01", TraceParentProblem.Version),
  invalid("0.-" + TRACE_ID + "-" + PARENT_ID + "-01", TraceParentProblem.Version),
  invalid("000-" + TRACE_ID + "-" + PARENT_ID + "-01", TraceParentProblem.Version),
  invalid("0000-" + TRACE_ID + "-" + PARENT_ID + "-01", TraceParentProblem.Version),
  invalid("0-" + TRACE_ID + "-" + PARENT_ID + "-01", TraceParentProblem.Version),
  invalid("0A-" + TRACE_ID + "-" + PARENT_ID + "-01", TraceParentProblem.Version),
  invalid("", TraceParentProblem.Version),
  invalid("00", TraceParentProblem.Version),
  invalid("garbage", TraceParentProblem.Version),
  // trace-id
  invalid("00-00000000000000000000000000000000-" + PARENT_ID + "-01", TraceParentProblem.TraceId),
  invalid("00-.2345678901234567890123456789012-" + PARENT_ID + "-01", TraceParentProblem.TraceId),
  invalid("00-1234567890123456789012345678901.-" + PARENT_ID + "-01", TraceParentProblem.TraceId),
  invalid("00-123456789012345678901234567890123-" + PARENT_ID + "-01", TraceParentProblem.TraceId),
  invalid("00-1234567890123456789012345678901-" + PARENT_ID + "-01", TraceParentProblem.TraceId),
  invalid("00-4BF92F3577B34DA6A3CE929D0E0E4736-" + PARENT_ID + "-01", TraceParentProblem.TraceId),
  invalid("00-4bf92f3577b34da6a3ce929d0e0e473g-" + PARENT_ID + "-01", TraceParentProblem.TraceId),
  invalid("00_" + TRACE_ID + "-" + PARENT_ID + "-01", TraceParentProblem.Version),
  // parent-id
  invalid("00-" + TRACE_ID + "-0000000000000000-01", TraceParentProblem.ParentId),
  invalid("00-" + TRACE_ID + "-.234567890123456-01", TraceParentProblem.ParentId),
  invalid("00-" + TRACE_ID + "-123456789012345.-01", TraceParentProblem.ParentId),
  invalid("00-" + TRACE_ID + "-12345678901234567-01", TraceParentProblem.ParentId),
  invalid("00-" + TRACE_ID + "-123456789012345-01", TraceParentProblem.ParentId),
  invalid("00-" + TRACE_ID + "-00F067AA0BA902B7-01", TraceParentProblem.ParentId),
  // trace-flags
  invalid("00-" + TRACE_ID + "-" + PARENT_ID + "-.0", TraceParentProblem.Flags),
  invalid("00-" + TRACE_ID + "-" + PARENT_ID + "-0.", TraceParentProblem.Flags),
  invalid("00-" + TRACE_ID + "-" + PARENT_ID + "-1", TraceParentProblem.Flags),
  invalid("00-" + TRACE_ID + "-" + PARENT_ID + "-0F", TraceParentProblem.Flags),
  invalid("00-" + TRACE_ID + "-" + PARENT_ID + "-", TraceParentProblem.Flags),
  // whitespace inside is not OWS, and OWS is only spaces and tabs
  invalid("\n00-" + TRACE_ID + "-" + PARENT_ID + "-01", TraceParentProblem.Version),
  invalid("00-" + TRACE_ID + "-" + PARENT_ID + "-01\n", TraceParentProblem.TrailingData),
  invalid("00 -" + TRACE_ID + "-" + PARENT_ID + "-01", TraceParentProblem.Version),
  invalid("00-" + TRACE_ID + " -" + PARENT_ID + "-01", TraceParentProblem.TraceId),
];

/** The values read in place: held here so they live as long as the spec. */
const held: ArrayBuffer[] = [];

/** Reads `values` as a request's traceparent headers, as the filter reads the bytes the scan kept. */
function read(values: string[]): TraceParentFields {
  const fields = new TraceParentFields();
  let at: usize = 0;
  let length: u32 = 0;
  if (values.length > 0) {
    const bytes = String.UTF8.encode(values[0]);
    held.push(bytes);
    at = changetype<usize>(bytes);
    length = <u32>bytes.byteLength;
  }
  readTraceParentHeaders(values.length, at, length, fields);
  return fields;
}

function text(at: usize, length: i32): string {
  return String.UTF8.decodeUnsafe(at, <usize>length);
}

/** The version-00 traceparent the filter writes with the ids and flags read. */
function rewritten(fields: TraceParentFields): string {
  const out = new Uint8Array(TRACEPARENT_BYTES);
  memory.copy(out.dataStart + <usize>TRACEPARENT_TRACE_ID_AT, fields.traceIdAt, 32);
  memory.copy(out.dataStart + <usize>TRACEPARENT_PARENT_ID_AT, fields.parentIdAt, 16);
  writeTraceParentFrame(out.dataStart, fields.flags);
  return text(out.dataStart, TRACEPARENT_BYTES);
}

describe("readTraceParentHeaders", () => {
  it("classifies every conformance case", () => {
    for (let i = 0; i < CASES.length; i++) {
      const c = unchecked(CASES[i]);
      const fields = read([c.input]);
      if (fields.problem != c.problem) {
        throw new Error(
          "traceparent " +
            c.input +
            ": problem " +
            fields.problem.toString() +
            ", expected " +
            c.problem.toString(),
        );
      }
      if (fields.present != (c.problem == TraceParentProblem.None)) {
        throw new Error("traceparent " + c.input + ": present is " + fields.present.toString());
      }
      if (fields.present) {
        const written = rewritten(fields);
        if (written != c.reformatted) throw new Error("traceparent " + c.input + " written as " + written);
      }
    }
  });

  it("takes an id byte as hex exactly when it is 0-9 or a-f, every byte value at every place", () => {
    // The ids are checked eight bytes at a time: each place of a word, each byte value.
    const bytes = String.UTF8.encode("00-" + TRACE_ID + "-" + PARENT_ID + "-01");
    const at = changetype<usize>(bytes);
    const fields = new TraceParentFields();
    for (let place = 3; place < 52; place++) {
      if (place == 35) continue; // the "-" between the ids
      const original = load<u8>(at + <usize>place);
      for (let value = 0; value < 256; value++) {
        store<u8>(at + <usize>place, <u8>value);
        readTraceParentHeaders(1, at, <u32>bytes.byteLength, fields);
        const hex = (value >= 0x30 && value <= 0x39) || (value >= 0x61 && value <= 0x66);
        const expected = hex
          ? TraceParentProblem.None
          : place < 35
            ? TraceParentProblem.TraceId
            : TraceParentProblem.ParentId;
        if (fields.problem != expected) {
          throw new Error(
            "byte " + value.toString() + " at " + place.toString() + ": problem " + fields.problem.toString(),
          );
        }
      }
      store<u8>(at + <usize>place, original);
    }
  });

  it("exposes the fields and the sampled flag", () => {
    const tp = read(["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"]);
    expect<u8>(tp.version).toBe(0);
    expect<string>(text(tp.traceIdAt, 32)).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect<string>(text(tp.parentIdAt, 16)).toBe("00f067aa0ba902b7");
    expect<u8>(tp.flags).toBe(1);
    expect<bool>(tp.sampled).toBe(true);
    expect<bool>(read(["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02"]).sampled).toBe(false);
    expect<string>(text(read([" \t00-" + TRACE_ID + "-" + PARENT_ID + "-01"]).traceIdAt, 32)).toBe(TRACE_ID);
  });

  it("keeps every flag of version 00 and only known flags of later versions", () => {
    expect<u8>(read(["00-" + TRACE_ID + "-" + PARENT_ID + "-ff"]).flags).toBe(0xff);
    expect<u8>(read(["cc-" + TRACE_ID + "-" + PARENT_ID + "-ff"]).flags).toBe(0x03);
    expect<u8>(read(["cc-" + TRACE_ID + "-" + PARENT_ID + "-ff"]).version).toBe(0xcc);
  });

  it("treats no header as absent, not invalid", () => {
    const fields = read([]);
    expect<bool>(fields.present).toBe(false);
    expect<TraceParentProblem>(fields.problem).toBe(TraceParentProblem.None);
  });

  it("refuses two headers even when both are valid and equal", () => {
    const one = "00-" + TRACE_ID + "-" + PARENT_ID + "-01";
    const fields = read([one, one]);
    expect<bool>(fields.present).toBe(false);
    expect<TraceParentProblem>(fields.problem).toBe(TraceParentProblem.Duplicate);
    expect<TraceParentProblem>(
      read(["00-12345678901234567890123456789011-" + PARENT_ID + "-01", one]).problem,
    ).toBe(TraceParentProblem.Duplicate);
  });

  it("forgets the last request's traceparent", () => {
    const fields = read(["00-" + TRACE_ID + "-" + PARENT_ID + "-01"]);
    readTraceParentHeaders(0, 0, 0, fields);
    expect<bool>(fields.present).toBe(false);
    expect<TraceParentProblem>(fields.problem).toBe(TraceParentProblem.None);
  });
});

describe("reasons", () => {
  it("has one label value per problem", () => {
    expect<string>(TRACEPARENT_PROBLEM_REASONS[TraceParentProblem.Duplicate]).toBe("duplicate");
    expect<string>(TRACEPARENT_PROBLEM_REASONS[TraceParentProblem.Version]).toBe("version");
    expect<string>(TRACEPARENT_PROBLEM_REASONS[TraceParentProblem.TraceId]).toBe("trace_id");
    expect<string>(TRACEPARENT_PROBLEM_REASONS[TraceParentProblem.ParentId]).toBe("parent_id");
    expect<string>(TRACEPARENT_PROBLEM_REASONS[TraceParentProblem.Flags]).toBe("flags");
    expect<string>(TRACEPARENT_PROBLEM_REASONS[TraceParentProblem.TrailingData]).toBe("trailing_data");
    expect<i32>(TRACEPARENT_PROBLEM_REASONS.length).toBe(7);
  });
});

describe("writing", () => {
  it("hex-encodes id bytes in lower case", () => {
    const bytes = new Uint8Array(8);
    bytes[0] = 0x00;
    bytes[1] = 0xf0;
    bytes[2] = 0x67;
    bytes[3] = 0xaa;
    bytes[4] = 0x0b;
    bytes[5] = 0xa9;
    bytes[6] = 0x02;
    bytes[7] = 0xb7;
    const out = new Uint8Array(16);
    writeHexId(out.dataStart, bytes.dataStart, 8);
    expect<string>(text(out.dataStart, 16)).toBe("00f067aa0ba902b7");
  });

  it("writes every byte value at every place of an id as two lower-case hex digits", () => {
    // Four bytes are written a step, then one at a time: lengths 8, 16 and one of 7 have both.
    const lengths: i32[] = [8, 16, 7];
    for (let l = 0; l < lengths.length; l++) {
      const length = lengths[l];
      const bytes = new Uint8Array(length);
      const out = new Uint8Array(length * 2);
      for (let place = 0; place < length; place++) {
        for (let value = 0; value < 256; value++) {
          for (let i = 0; i < length; i++) bytes[i] = <u8>(i * 37 + 11);
          bytes[place] = <u8>value;
          writeHexId(out.dataStart, bytes.dataStart, length);
          let expected = "";
          for (let i = 0; i < length; i++) {
            const hex = (<i32>bytes[i]).toString(16);
            expected += hex.length == 1 ? "0" + hex : hex;
          }
          expect<string>(text(out.dataStart, length * 2)).toBe(expected);
        }
      }
    }
  });

  it("never writes an all-zero id", () => {
    const zeros = new Uint8Array(16);
    const out = new Uint8Array(32);
    writeHexId(out.dataStart, zeros.dataStart, 16);
    expect<string>(text(out.dataStart, 32)).toBe("00000000000000000000000000000001");
    writeHexId(out.dataStart, zeros.dataStart, 7);
    expect<string>(text(out.dataStart, 14)).toBe("00000000000001");
  });

  it("writes a version-00 traceparent around the ids, flags as two hex digits, unknown ones zeroed", () => {
    const flagCases: u8[] = [0, 1, 2, 3, 0xff];
    const written = ["00", "01", "02", "03", "03"];
    for (let f = 0; f < flagCases.length; f++) {
      const out = new Uint8Array(TRACEPARENT_BYTES);
      const ids = String.UTF8.encode(TRACE_ID + PARENT_ID);
      memory.copy(out.dataStart + <usize>TRACEPARENT_TRACE_ID_AT, changetype<usize>(ids), 32);
      memory.copy(out.dataStart + <usize>TRACEPARENT_PARENT_ID_AT, changetype<usize>(ids) + 32, 16);
      writeTraceParentFrame(out.dataStart, flagCases[f]);
      const traceparent = text(out.dataStart, TRACEPARENT_BYTES);
      expect<string>(traceparent).toBe("00-" + TRACE_ID + "-" + PARENT_ID + "-" + written[f]);
      expect<bool>(read([traceparent]).present).toBe(true);
    }
  });
});
