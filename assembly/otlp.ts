// OTLP/HTTP JSON encoding of the filter's own spans (opentelemetry-proto
// `ExportTraceServiceRequest`, JSON mapping: ids as lower-case hex, 64-bit integers as decimal
// strings, enums as numbers, field names in lowerCamelCase), written as bytes: the fixed pieces
// are cold text copied from the module's UTF-8 table. Pure: no host calls.

import { ByteWriter } from "./bytewriter";
import { ColdText, writeColdText } from "./generated/cold-text";
import { decimalText, unsignedDecimalText } from "./decimal";
import { hexDigitCode } from "./text";

/** Where a request's buffer starts (it doubles as needed): about two spans. */
const REQUEST_CAPACITY: i32 = 1024;

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

/** A JSON string literal: quotes, backslash and control characters escaped; non-ASCII kept as is. */
export function writeJsonString(out: ByteWriter, text: string): void {
  out.byte(0x22);
  let plainFrom = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
    out.utf8Range(text, plainFrom, i);
    out.byte(0x5c);
    if (c < 0x20) {
      out.byte(0x75); // \u00XX
      out.byte(0x30);
      out.byte(0x30);
      out.byte(hexDigitCode(c >> 4));
      out.byte(hexDigitCode(c & 0xf));
    } else {
      out.byte(c);
    }
    plainFrom = i + 1;
  }
  out.utf8Range(text, plainFrom, text.length);
  out.byte(0x22);
}

function writeAttribute(out: ByteWriter, attribute: SpanAttribute): void {
  writeColdText(out, ColdText.OtlpKey);
  writeJsonString(out, attribute.key);
  if (attribute.kind == AttributeKind.Bool) {
    writeColdText(out, attribute.flag ? ColdText.OtlpBoolTrue : ColdText.OtlpBoolFalse);
  } else if (attribute.kind == AttributeKind.Int) {
    writeColdText(out, ColdText.OtlpIntValue);
    out.utf8(decimalText(attribute.integer));
    writeColdText(out, ColdText.OtlpQuoteEnd);
  } else {
    writeColdText(out, ColdText.OtlpStringValue);
    writeJsonString(out, attribute.text);
    out.byte(0x7d); // }
    out.byte(0x7d);
  }
}

function writeAttributes(out: ByteWriter, attributes: SpanAttribute[]): void {
  writeColdText(out, ColdText.OtlpAttributesStart);
  for (let i = 0; i < attributes.length; i++) {
    if (i > 0) out.byte(0x2c); // ,
    writeAttribute(out, unchecked(attributes[i]));
  }
  out.byte(0x5d); // ]
}

function writeSpan(out: ByteWriter, span: Span): void {
  writeColdText(out, ColdText.OtlpTraceId);
  out.utf8(span.traceId);
  writeColdText(out, ColdText.OtlpSpanId);
  out.utf8(span.spanId);
  if (span.parentSpanId.length > 0) {
    writeColdText(out, ColdText.OtlpParentSpanId);
    out.utf8(span.parentSpanId);
  }
  writeColdText(out, ColdText.OtlpName);
  writeJsonString(out, span.name);
  writeColdText(out, ColdText.OtlpKind);
  out.utf8(decimalText(<i32>span.kind));
  writeColdText(out, ColdText.OtlpStartTime);
  out.utf8(unsignedDecimalText(span.startUnixNano));
  writeColdText(out, ColdText.OtlpEndTime);
  out.utf8(unsignedDecimalText(span.endUnixNano));
  writeColdText(out, ColdText.OtlpAttributesAfterTime);
  writeAttributes(out, span.attributes);
  out.byte(0x7d); // }
}

/**
 * One `ExportTraceServiceRequest` with a single resource and a single instrumentation scope
 * holding `spans`, as the UTF-8 bytes of its JSON.
 */
export function encodeExportRequest(
  resource: SpanAttribute[],
  scopeName: string,
  scopeVersion: string,
  spans: Span[],
): ArrayBuffer {
  const out = new ByteWriter(REQUEST_CAPACITY);
  writeColdText(out, ColdText.OtlpRequestStart);
  writeAttributes(out, resource);
  writeColdText(out, ColdText.OtlpScopeStart);
  writeJsonString(out, scopeName);
  writeColdText(out, ColdText.OtlpVersion);
  writeJsonString(out, scopeVersion);
  writeColdText(out, ColdText.OtlpSpansStart);
  for (let i = 0; i < spans.length; i++) {
    if (i > 0) out.byte(0x2c); // ,
    writeSpan(out, unchecked(spans[i]));
  }
  writeColdText(out, ColdText.OtlpRequestEnd);
  return out.finish();
}
