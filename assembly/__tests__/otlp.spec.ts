import { ByteWriter } from "../bytewriter";
import { encodeExportRequest, writeJsonString, Span, SpanAttribute, SpanKind } from "../otlp";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";

function coldStartSpan(): Span {
  return new Span(
    TRACE_ID,
    "00f067aa0ba902b7",
    "b7ad6b7169203331",
    "cold start",
    SpanKind.Internal,
    1700000000000000000,
    1700000001250000000,
    [SpanAttribute.bool("faas.coldstart", true), SpanAttribute.string("faas.name", "hello")],
  );
}

/** The request's bytes as text (they are UTF-8). */
function exportRequest(resource: SpanAttribute[], spans: Span[]): string {
  return String.UTF8.decode(encodeExportRequest(resource, "kwt", "1", spans));
}

/** What writeJsonString writes, from a writer small enough to grow on the way. */
function quoteJsonString(text: string): string {
  const out = new ByteWriter(2);
  writeJsonString(out, text);
  return String.UTF8.decode(out.finish());
}

describe("encodeExportRequest", () => {
  it("writes resourceSpans / scopeSpans / spans with hex ids and nano strings", () => {
    const json = exportRequest(
      [
        SpanAttribute.string("service.name", "kwt-filter"),
        SpanAttribute.string("k8s.cluster.name", "cluster-a"),
      ],
      [coldStartSpan()],
    );
    expect<string>(json).toBe(
      '{"resourceSpans":[{"resource":{"attributes":[' +
        '{"key":"service.name","value":{"stringValue":"kwt-filter"}},' +
        '{"key":"k8s.cluster.name","value":{"stringValue":"cluster-a"}}]},' +
        '"scopeSpans":[{"scope":{"name":"kwt","version":"1"},"spans":[' +
        '{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7",' +
        '"parentSpanId":"b7ad6b7169203331","name":"cold start","kind":1,' +
        '"startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001250000000",' +
        '"attributes":[{"key":"faas.coldstart","value":{"boolValue":true}},' +
        '{"key":"faas.name","value":{"stringValue":"hello"}}]}]}]}]}',
    );
  });

  it("omits parentSpanId for a root span and writes int and false attributes", () => {
    const span = new Span(TRACE_ID, "00f067aa0ba902b7", "", "hop", SpanKind.Server, 1, 2, [
      SpanAttribute.int("kwt.hop.duration_ms", -3),
      SpanAttribute.bool("faas.coldstart", false),
    ]);
    expect<string>(exportRequest([], [span, span])).toBe(
      '{"resourceSpans":[{"resource":{"attributes":[]},"scopeSpans":[{"scope":{"name":"kwt","version":"1"},"spans":[' +
        '{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":"hop","kind":2,' +
        '"startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[' +
        '{"key":"kwt.hop.duration_ms","value":{"intValue":"-3"}},{"key":"faas.coldstart","value":{"boolValue":false}}]},' +
        '{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":"hop","kind":2,' +
        '"startTimeUnixNano":"1","endTimeUnixNano":"2","attributes":[' +
        '{"key":"kwt.hop.duration_ms","value":{"intValue":"-3"}},{"key":"faas.coldstart","value":{"boolValue":false}}]}' +
        "]}]}]}",
    );
  });

  it("writes an empty span list", () => {
    expect<string>(exportRequest([], [])).toBe(
      '{"resourceSpans":[{"resource":{"attributes":[]},"scopeSpans":[{"scope":{"name":"kwt","version":"1"},"spans":[]}]}]}',
    );
  });
});

describe("writeJsonString", () => {
  it("escapes quotes, backslashes and control characters", () => {
    expect<string>(quoteJsonString("plain")).toBe('"plain"');
    expect<string>(quoteJsonString('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect<string>(quoteJsonString("line\nnext\u0001")).toBe('"line\\u000anext\\u0001"');
    expect<string>(quoteJsonString("caf\u00e9")).toBe('"caf\u00e9"');
    expect<string>(quoteJsonString("")).toBe('""');
  });

  it("writes non-ASCII text as UTF-8 bytes", () => {
    const out = new ByteWriter(1);
    writeJsonString(out, "\u00e9\ud83d\ude00");
    const bytes = Uint8Array.wrap(out.finish());
    expect<i32>(bytes.length).toBe(8);
    expect<u8>(bytes[1]).toBe(0xc3);
    expect<u8>(bytes[2]).toBe(0xa9);
    expect<u8>(bytes[3]).toBe(0xf0);
    expect<u8>(bytes[7]).toBe(0x22);
  });
});
