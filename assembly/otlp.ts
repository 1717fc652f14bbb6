// OTLP/HTTP JSON encoding of the filter's own spans (opentelemetry-proto
// `ExportTraceServiceRequest`, JSON mapping: ids as lower-case hex, 64-bit integers as decimal
// strings, enums as numbers, field names in lowerCamelCase). Pure: no host calls.

export enum AttributeKind {
  String = 0,
  Bool = 1,
  Int = 2,
}

export class SpanAttribute {
  constructor(
    public key: string,
    public kind: AttributeKind,
    public text: string = "",
    public flag: bool = false,
    public integer: i64 = 0,
  ) {}

  static string(key: string, value: string): SpanAttribute {
    return new SpanAttribute(key, AttributeKind.String, value);
  }

  static bool(key: string, value: bool): SpanAttribute {
    return new SpanAttribute(key, AttributeKind.Bool, "", value);
  }

  static int(key: string, value: i64): SpanAttribute {
    return new SpanAttribute(key, AttributeKind.Int, "", false, value);
  }
}

/** opentelemetry.proto.trace.v1.Span.SpanKind */
export enum SpanKind {
  Unspecified = 0,
  Internal = 1,
  Server = 2,
  Client = 3,
}

export class Span {
  constructor(
    /** 32 lower-case hex characters. */
    public traceId: string,
    /** 16 lower-case hex characters. */
    public spanId: string,
    /** 16 lower-case hex characters, or "" for a root span. */
    public parentSpanId: string,
    public name: string,
    public kind: SpanKind,
    public startUnixNano: u64,
    public endUnixNano: u64,
    public attributes: SpanAttribute[],
  ) {}
}

function hexCharCode(value: i32): i32 {
  return value < 10 ? 0x30 + value : 0x61 + value - 10;
}

/** A JSON string literal: quotes, backslash and control characters escaped; non-ASCII kept as is. */
export function quoteJsonString(text: string): string {
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c == 0x22 || c == 0x5c) {
      plain = false;
      break;
    }
  }
  if (plain) return '"' + text + '"';
  const codes = new Array<i32>();
  codes.push(0x22);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c == 0x22 || c == 0x5c) {
      codes.push(0x5c);
      codes.push(c);
    } else if (c < 0x20) {
      codes.push(0x5c);
      codes.push(0x75); // \u00XX
      codes.push(0x30);
      codes.push(0x30);
      codes.push(hexCharCode(c >> 4));
      codes.push(hexCharCode(c & 0xf));
    } else {
      codes.push(c);
    }
  }
  codes.push(0x22);
  return String.fromCharCodes(codes);
}

function encodeAttribute(attribute: SpanAttribute, out: string[]): void {
  out.push('{"key":');
  out.push(quoteJsonString(attribute.key));
  if (attribute.kind == AttributeKind.Bool) {
    out.push(attribute.flag ? ',"value":{"boolValue":true}}' : ',"value":{"boolValue":false}}');
  } else if (attribute.kind == AttributeKind.Int) {
    out.push(',"value":{"intValue":"' + attribute.integer.toString() + '"}}');
  } else {
    out.push(',"value":{"stringValue":');
    out.push(quoteJsonString(attribute.text));
    out.push("}}");
  }
}

function encodeAttributes(attributes: SpanAttribute[], out: string[]): void {
  out.push('"attributes":[');
  for (let i = 0; i < attributes.length; i++) {
    if (i > 0) out.push(",");
    encodeAttribute(unchecked(attributes[i]), out);
  }
  out.push("]");
}

function encodeSpan(span: Span, out: string[]): void {
  out.push('{"traceId":"' + span.traceId + '","spanId":"' + span.spanId + '"');
  if (span.parentSpanId.length > 0) out.push(',"parentSpanId":"' + span.parentSpanId + '"');
  out.push(',"name":');
  out.push(quoteJsonString(span.name));
  out.push(',"kind":' + (<i32>span.kind).toString());
  out.push(',"startTimeUnixNano":"' + span.startUnixNano.toString() + '"');
  out.push(',"endTimeUnixNano":"' + span.endUnixNano.toString() + '",');
  encodeAttributes(span.attributes, out);
  out.push("}");
}

/**
 * One `ExportTraceServiceRequest` with a single resource and a single instrumentation scope
 * holding `spans`.
 */
export function encodeExportRequest(
  resource: SpanAttribute[],
  scopeName: string,
  scopeVersion: string,
  spans: Span[],
): string {
  const out = new Array<string>();
  out.push('{"resourceSpans":[{"resource":{');
  encodeAttributes(resource, out);
  out.push('},"scopeSpans":[{"scope":{"name":');
  out.push(quoteJsonString(scopeName));
  out.push(',"version":');
  out.push(quoteJsonString(scopeVersion));
  out.push('},"spans":[');
  for (let i = 0; i < spans.length; i++) {
    if (i > 0) out.push(",");
    encodeSpan(unchecked(spans[i]), out);
  }
  out.push("]}]}]}");
  return out.join("");
}
