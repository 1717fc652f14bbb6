// A loopback stand-in for an OpenTelemetry Collector's OTLP/HTTP receiver: records every export
// request, answers with a status the test picks, and checks the OTLP JSON shape strictly.

import http from "node:http";
import type { AddressInfo } from "node:net";

export interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; boolValue?: boolean; intValue?: string };
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpAttribute[];
}

export interface ExportRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  spans: OtlpSpan[];
  resource: OtlpAttribute[];
  scope: { name: string; version: string };
}

function fail(message: string): never {
  throw new Error(`OTLP JSON: ${message}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function onlyKeys(value: Record<string, unknown>, allowed: string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(`${where}: unexpected field ${key}`);
  }
}

function checkAttributes(value: unknown, where: string): OtlpAttribute[] {
  if (!Array.isArray(value)) fail(`${where}.attributes is not an array`);
  return value.map((attribute: unknown, i) => {
    if (!isRecord(attribute) || typeof attribute.key !== "string") fail(`${where}.attributes[${i}].key`);
    onlyKeys(attribute, ["key", "value"], `${where}.attributes[${i}]`);
    const inner = attribute.value;
    if (!isRecord(inner) || Object.keys(inner).length !== 1)
      fail(`${where}.attributes[${i}].value must have one field`);
    if ("stringValue" in inner && typeof inner.stringValue !== "string")
      fail(`${attribute.key}: stringValue`);
    else if ("boolValue" in inner && typeof inner.boolValue !== "boolean")
      fail(`${attribute.key}: boolValue`);
    else if ("intValue" in inner && !/^-?\d+$/.test(String(inner.intValue)))
      fail(`${attribute.key}: intValue`);
    else if (!("stringValue" in inner || "boolValue" in inner || "intValue" in inner)) {
      fail(`${attribute.key}: unknown value kind`);
    }
    return attribute as unknown as OtlpAttribute;
  });
}

/** ExportTraceServiceRequest in the OTLP/HTTP JSON mapping: hex ids, decimal-string nanos, enum numbers. */
export function parseExportRequest(body: string): Omit<ExportRequest, "method" | "path" | "contentType"> {
  const root: unknown = JSON.parse(body);
  if (!isRecord(root)) fail("not an object");
  onlyKeys(root, ["resourceSpans"], "request");
  const resourceSpans = root.resourceSpans;
  if (!Array.isArray(resourceSpans) || resourceSpans.length !== 1) fail("expected one resourceSpans entry");
  const entry: unknown = resourceSpans[0];
  if (!isRecord(entry) || !isRecord(entry.resource)) fail("resourceSpans[0].resource");
  onlyKeys(entry, ["resource", "scopeSpans"], "resourceSpans[0]");
  const resource = checkAttributes(entry.resource.attributes, "resource");
  const scopeSpans = entry.scopeSpans;
  if (!Array.isArray(scopeSpans) || scopeSpans.length !== 1) fail("expected one scopeSpans entry");
  const scopeEntry: unknown = scopeSpans[0];
  if (!isRecord(scopeEntry) || !isRecord(scopeEntry.scope) || !Array.isArray(scopeEntry.spans))
    fail("scopeSpans[0]");
  onlyKeys(scopeEntry, ["scope", "spans"], "scopeSpans[0]");
  const scope = scopeEntry.scope;
  if (typeof scope.name !== "string" || typeof scope.version !== "string") fail("scope name/version");
  const spans = scopeEntry.spans.map((span: unknown, i): OtlpSpan => {
    const where = `spans[${i}]`;
    if (!isRecord(span)) fail(where);
    onlyKeys(
      span,
      [
        "traceId",
        "spanId",
        "parentSpanId",
        "name",
        "kind",
        "startTimeUnixNano",
        "endTimeUnixNano",
        "attributes",
      ],
      where,
    );
    if (
      typeof span.traceId !== "string" ||
      !/^[0-9a-f]{32}$/.test(span.traceId) ||
      /^0+$/.test(span.traceId)
    ) {
      fail(`${where}.traceId`);
    }
    if (typeof span.spanId !== "string" || !/^[0-9a-f]{16}$/.test(span.spanId) || /^0+$/.test(span.spanId)) {
      fail(`${where}.spanId`);
    }
    if (
      "parentSpanId" in span &&
      (typeof span.parentSpanId !== "string" || !/^[0-9a-f]{16}$/.test(span.parentSpanId))
    ) {
      fail(`${where}.parentSpanId`);
    }
    if (typeof span.name !== "string" || span.name.length === 0) fail(`${where}.name`);
    if (typeof span.kind !== "number" || !Number.isInteger(span.kind) || span.kind < 0 || span.kind > 5) {
      fail(`${where}.kind`);
    }
    for (const field of ["startTimeUnixNano", "endTimeUnixNano"] as const) {
      if (typeof span[field] !== "string" || !/^\d+$/.test(span[field])) fail(`${where}.${field}`);
    }
    if (BigInt(span.endTimeUnixNano as string) < BigInt(span.startTimeUnixNano as string))
      fail(`${where} ends before it starts`);
    checkAttributes(span.attributes, where);
    return span as unknown as OtlpSpan;
  });
  return { spans, resource, scope: { name: scope.name, version: scope.version } };
}

export class CollectorStandIn {
  readonly requests: ExportRequest[] = [];
  /** Status answered to the next requests. */
  status = 200;

  private constructor(private readonly server: http.Server) {}

  static async start(): Promise<CollectorStandIn> {
    const server = http.createServer();
    const collector = new CollectorStandIn(server);
    server.on("request", (request: http.IncomingMessage, response: http.ServerResponse) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const parsed = parseExportRequest(Buffer.concat(chunks).toString("utf8"));
        collector.requests.push({
          ...parsed,
          method: request.method ?? "",
          path: request.url ?? "",
          contentType: request.headers["content-type"],
        });
        response.writeHead(collector.status, { "content-type": "application/json" });
        response.end("{}");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return collector;
  }

  get url(): string {
    const address = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${address.port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export function attribute(attributes: OtlpAttribute[], key: string): OtlpAttribute["value"] | undefined {
  return attributes.find((candidate) => candidate.key === key)?.value;
}
