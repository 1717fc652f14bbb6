import { encodeExportRequest, quoteJsonString, Span, SpanAttribute, SpanKind } from "../otlp";

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

describe("encodeExportRequest", () => {
  it("writes resourceSpans / scopeSpans / spans with hex ids and nano strings", () => {
    const json = encodeExportRequest(
      [
        SpanAttribute.string("service.name", "kwt-filter"),
        SpanAttribute.string("k8s.cluster.name", "cluster-a"),
      ],
      "kwt",
      "1",
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
    expect<string>(encodeExportRequest([], "kwt", "1", [span, span])).toBe(
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
    expect<string>(encodeExportRequest([], "kwt", "1", [])).toBe(
      '{"resourceSpans":[{"resource":{"attributes":[]},"scopeSpans":[{"scope":{"name":"kwt","version":"1"},"spans":[]}]}]}',
    );
  });
});

describe("quoteJsonString", () => {
  it("escapes quotes, backslashes and control characters", () => {
    expect<string>(quoteJsonString("plain")).toBe('"plain"');
    expect<string>(quoteJsonString('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect<string>(quoteJsonString("line\nnext\u0001")).toBe('"line\\u000anext\\u0001"');
    expect<string>(quoteJsonString("caf\u00e9")).toBe('"caf\u00e9"');
    expect<string>(quoteJsonString("")).toBe('""');
  });
});
