// Glue: sends the filter's own spans as OTLP/HTTP JSON with proxy_http_call to an Envoy cluster
// (e.g. an OpenTelemetry Collector). Spans are queued by the stream path (never waiting for
// anything), batched on the root context's tick, and the answer arrives in
// proxy_on_http_call_response; spanbatcher.ts keeps the queue, batch and retry bounds.

import * as imports from "@solo-io/proxy-runtime/assembly/imports";
import { SpanExportSettings } from "./config";
import { BatcherSettings, BatchOutcome, SpanBatcher } from "./spanbatcher";
import { encodeExportRequest, Span, SpanAttribute } from "./otlp";
import { MetricFamily, MetricKind, SeriesRegistry } from "./metrics";
import { HeaderWants, scanHeaderPairs, serializeHeaderPairs } from "./headerscan";
import { getHeaderPairs } from "./host";

const HTTP_CALL_RESPONSE_HEADERS: i32 = 6;
/** The instrumentation scope of the filter's spans. */
export const SCOPE_NAME = "kwt-filter";
export const SCOPE_VERSION = "1";

const SPANS_EXPORTED = new MetricFamily("kwt_spans_exported_total", MetricKind.Counter, []);
const SPANS_DROPPED = new MetricFamily("kwt_spans_dropped_total", MetricKind.Counter, ["reason"]);

export class SpanExporter {
  private readonly batcher: SpanBatcher;
  private readonly cluster: ArrayBuffer;
  private readonly headers: ArrayBuffer;
  private readonly noTrailers: ArrayBuffer = serializeHeaderPairs([], []);
  private readonly statusWants: HeaderWants = new HeaderWants();
  private readonly statusSlot: i32;
  private readonly token: usize = memory.data(4);
  /** Token of the request in flight; 0 when none. */
  private pendingToken: u32 = 0;
  private readonly exportedId: u32;
  private readonly droppedQueueFullId: u32;
  private readonly droppedFailedId: u32;

  constructor(
    private readonly settings: SpanExportSettings,
    /** Resource attributes of every batch (service.name, k8s.cluster.name, cloud.region). */
    private readonly resource: SpanAttribute[],
    private readonly registry: SeriesRegistry,
  ) {
    this.batcher = new SpanBatcher(new BatcherSettings(settings.maxQueue, settings.maxBatch, settings.maxRetries));
    this.cluster = String.UTF8.encode(settings.cluster);
    this.headers = serializeHeaderPairs(
      [":method", ":path", ":authority", "content-type"],
      ["POST", settings.path, settings.authority, "application/json"],
    );
    this.statusSlot = this.statusWants.add(":status");
    this.exportedId = registry.fixed(SPANS_EXPORTED, []);
    this.droppedQueueFullId = registry.fixed(SPANS_DROPPED, ["queue_full"]);
    this.droppedFailedId = registry.fixed(SPANS_DROPPED, ["export_failed"]);
  }

  /** Queues a span for the next batch; a full queue drops it (counted). Never blocks. */
  add(span: Span): void {
    if (!this.batcher.enqueue(span)) this.registry.increment(this.droppedQueueFullId);
  }

  /** On each tick: send the next batch (or retry the failed one) unless one is in flight. */
  flush(): void {
    const batch = this.batcher.nextBatch();
    if (batch == null) return;
    const body = String.UTF8.encode(encodeExportRequest(this.resource, SCOPE_NAME, SCOPE_VERSION, batch));
    store<u32>(this.token, 0);
    const result = imports.proxy_http_call(
      changetype<usize>(this.cluster),
      this.cluster.byteLength,
      changetype<usize>(this.headers),
      this.headers.byteLength,
      changetype<usize>(body),
      body.byteLength,
      changetype<usize>(this.noTrailers),
      this.noTrailers.byteLength,
      this.settings.timeoutMs,
      this.token,
    );
    if (result != 0) {
      // Unknown cluster or refused call: a failed attempt, retried on a later tick.
      this.settle(this.batcher.finish(false));
      return;
    }
    this.pendingToken = load<u32>(this.token);
  }

  /**
   * proxy_on_http_call_response: true when `token` was an export request (then handled). A 2xx
   * answer delivers the batch; anything else (including a reset or timeout: no headers) fails it.
   */
  onResponse(token: u32, headerCount: u32): bool {
    if (this.pendingToken == 0 || token != this.pendingToken) return false;
    this.pendingToken = 0;
    let delivered = false;
    if (headerCount > 0) {
      const pairs = getHeaderPairs(HTTP_CALL_RESPONSE_HEADERS);
      if (pairs != null) {
        const scan = scanHeaderPairs(changetype<usize>(pairs), pairs.byteLength, this.statusWants, null);
        const status = scan.value(this.statusSlot);
        delivered = status != null && status.length == 3 && status.charCodeAt(0) == 0x32; // 2xx
      }
    }
    const outcome = this.batcher.finish(delivered);
    this.settle(outcome);
    // Drain a backlog without waiting for the next tick; a failure waits for it.
    if (delivered && this.batcher.queued >= this.settings.maxBatch) this.flush();
    return true;
  }

  private settle(outcome: BatchOutcome): void {
    if (outcome.exported > 0) this.registry.increment(this.exportedId, outcome.exported);
    if (outcome.dropped > 0) this.registry.increment(this.droppedFailedId, outcome.dropped);
  }
}
