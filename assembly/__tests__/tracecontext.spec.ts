import {
  isValidVersion00,
  parseTraceParent,
  parseTraceParentHeaders,
  formatTraceParent,
  hexIdFromBytes,
  trimOptionalWhitespace,
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
  // whitespace inside is not OWS
  invalid("00 -" + TRACE_ID + "-" + PARENT_ID + "-01", TraceParentProblem.Version),
  invalid("00-" + TRACE_ID + " -" + PARENT_ID + "-01", TraceParentProblem.TraceId),
];

describe("parseTraceParent", () => {
  it("classifies every conformance case", () => {
    for (let i = 0; i < CASES.length; i++) {
      const c = unchecked(CASES[i]);
      const parsed = parseTraceParent(c.input);
      if (parsed.problem != c.problem) {
        throw new Error(
          "traceparent " +
            c.input +
            ": problem " +
            parsed.problem.toString() +
            ", expected " +
            c.problem.toString(),
        );
      }
      if (c.problem == TraceParentProblem.None) {
        const tp = parsed.traceParent!;
        const written = formatTraceParent(tp.traceId, tp.parentId, tp.flags);
        if (written != c.reformatted) throw new Error("traceparent " + c.input + " written as " + written);
      } else if (parsed.traceParent != null) {
        throw new Error("invalid traceparent returned a value: " + c.input);
      }
    }
  });

  it("tells a valid version 00 without parsing, as parseTraceParent does, on every case", () => {
    for (let i = 0; i < CASES.length; i++) {
      const c = unchecked(CASES[i]);
      const parsed = parseTraceParent(c.input).traceParent;
      const expected = parsed != null && parsed.version == 0;
      const bytes = String.UTF8.encode(c.input);
      if (isValidVersion00(changetype<usize>(bytes), <u32>bytes.byteLength) != expected) {
        throw new Error("isValidVersion00 disagrees on " + c.input);
      }
    }
  });

  it("exposes the fields and the sampled flag", () => {
    const tp = parseTraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").traceParent!;
    expect<u8>(tp.version).toBe(0);
    expect<string>(tp.traceId).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    expect<string>(tp.parentId).toBe("00f067aa0ba902b7");
    expect<u8>(tp.flags).toBe(1);
    expect<bool>(tp.sampled).toBe(true);
    const unsampled = parseTraceParent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02",
    ).traceParent!;
    expect<bool>(unsampled.sampled).toBe(false);
  });

  it("keeps every flag of version 00 and only known flags of later versions", () => {
    expect<u8>(parseTraceParent("00-" + TRACE_ID + "-" + PARENT_ID + "-ff").traceParent!.flags).toBe(0xff);
    expect<u8>(parseTraceParent("cc-" + TRACE_ID + "-" + PARENT_ID + "-ff").traceParent!.flags).toBe(0x03);
    expect<u8>(parseTraceParent("cc-" + TRACE_ID + "-" + PARENT_ID + "-ff").traceParent!.version).toBe(0xcc);
  });
});

describe("parseTraceParentHeaders", () => {
  it("treats no header as absent, not invalid", () => {
    const parsed = parseTraceParentHeaders([]);
    expect(parsed.traceParent).toBeNull();
    expect<TraceParentProblem>(parsed.problem).toBe(TraceParentProblem.None);
  });

  it("refuses two headers even when both are valid and equal", () => {
    const one = "00-" + TRACE_ID + "-" + PARENT_ID + "-01";
    const parsed = parseTraceParentHeaders([one, one]);
    expect(parsed.traceParent).toBeNull();
    expect<TraceParentProblem>(parsed.problem).toBe(TraceParentProblem.Duplicate);
    expect<TraceParentProblem>(
      parseTraceParentHeaders(["00-12345678901234567890123456789011-" + PARENT_ID + "-01", one]).problem,
    ).toBe(TraceParentProblem.Duplicate);
  });

  it("parses a single header", () => {
    const parsed = parseTraceParentHeaders(["00-" + TRACE_ID + "-" + PARENT_ID + "-01"]);
    expect<string>(parsed.traceParent!.traceId).toBe(TRACE_ID);
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

describe("ids", () => {
  it("hex-encodes bytes in lower case", () => {
    const bytes = new Uint8Array(8);
    bytes[0] = 0x00;
    bytes[1] = 0xf0;
    bytes[2] = 0x67;
    bytes[3] = 0xaa;
    bytes[4] = 0x0b;
    bytes[5] = 0xa9;
    bytes[6] = 0x02;
    bytes[7] = 0xb7;
    expect<string>(hexIdFromBytes(bytes.dataStart, 8)).toBe("00f067aa0ba902b7");
  });

  it("never produces an all-zero id", () => {
    const zeros = new Uint8Array(16);
    expect<string>(hexIdFromBytes(zeros.dataStart, 16)).toBe("00000000000000000000000000000001");
  });

  it("writes as bytes in place the traceparent formatTraceParent makes of the same ids and flags", () => {
    const traceBytes = new Uint8Array(16);
    const spanBytes = new Uint8Array(8);
    for (let i = 0; i < 16; i++) traceBytes[i] = <u8>(i * 17 + 3);
    for (let i = 0; i < 8; i++) spanBytes[i] = <u8>(0xf0 - i * 9);
    const flagCases: u8[] = [0, 1, 2, 3, 0xff];
    for (let f = 0; f < flagCases.length; f++) {
      const flags = flagCases[f];
      const out = new Uint8Array(TRACEPARENT_BYTES);
      writeHexId<u8>(out.dataStart + <usize>TRACEPARENT_TRACE_ID_AT, traceBytes.dataStart, 16);
      writeHexId<u8>(out.dataStart + <usize>TRACEPARENT_PARENT_ID_AT, spanBytes.dataStart, 8);
      writeTraceParentFrame(out.dataStart, flags);
      const expected = formatTraceParent(
        hexIdFromBytes(traceBytes.dataStart, 16),
        hexIdFromBytes(spanBytes.dataStart, 8),
        flags,
      );
      expect<string>(String.UTF8.decodeUnsafe(out.dataStart, TRACEPARENT_BYTES)).toBe(expected);
      expect<bool>(isValidVersion00(out.dataStart, <u32>TRACEPARENT_BYTES)).toBe(true);
    }
  });

  it("writes an all-zero id as bytes as hexIdFromBytes does, never all zero", () => {
    const zeros = new Uint8Array(8);
    const out = new Uint8Array(16);
    writeHexId<u8>(out.dataStart, zeros.dataStart, 8);
    expect<string>(String.UTF8.decodeUnsafe(out.dataStart, 16)).toBe("0000000000000001");
  });

  it("formats flags as two hex digits", () => {
    expect<string>(formatTraceParent(TRACE_ID, PARENT_ID, 0)).toBe(
      "00-" + TRACE_ID + "-" + PARENT_ID + "-00",
    );
    expect<string>(formatTraceParent(TRACE_ID, PARENT_ID, 3)).toBe(
      "00-" + TRACE_ID + "-" + PARENT_ID + "-03",
    );
  });

  it("trims only spaces and tabs", () => {
    expect<string>(trimOptionalWhitespace(" \ta b\t ")).toBe("a b");
    expect<string>(trimOptionalWhitespace("\n")).toBe("\n");
    expect<string>(trimOptionalWhitespace("")).toBe("");
  });
});
