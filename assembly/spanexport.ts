// Glue: sends the filter's own spans as OTLP/HTTP JSON with an HTTP call to an Envoy cluster
// (e.g. an OpenTelemetry Collector). Spans are queued by the stream path (never waiting for
// anything), batched on the root context's tick, and the answer arrives in
// proxy_on_http_call_response; spanbatcher.ts keeps the queue, batch and retry bounds.

import { SpanExportSettings } from "./config";
import { BatcherSettings, BatchOutcome, SpanBatcher } from "./spanbatcher";
import { encodeExportRequest, Span, SpanAttribute } from "./otlp";
import { SeriesRegistry } from "./metrics";
import { SPANS_DROPPED, SPANS_EXPORTED } from "./generated/metric-families";
import { HeaderWants, scanHeaderPairs, serializeHeaderPairs } from "./headerscan";
import { HeaderMap, Host } from "./hostinterface";
import { ColdText, coldText } from "./generated/cold-text";
import { noteGarbage } from "./garbage";

/** The instrumentation scope of the filter's spans. */
export const SCOPE_NAME = "kwt-filter";
export const SCOPE_VERSION = "1";

/**
 * What a span made on the request path leaves to the collector once it is exported or dropped:
 * its ids decoded to text, the span and its attributes (about 1,150 bytes for a hop span, measured
 * on the release runtime with collection off). Counted (garbage.ts) because a caller may sample
 * every request: with a long `tickPeriodMs` the spans would otherwise wait for the stream-end
 * backstop and double linear memory first.
 */
const SPAN_GARBAGE_BYTES: i64 = 1152;
/**
 * A batch's encoding, per byte of the body: the buffers the writer outgrew (together at most twice
 * its last one) and the body itself once sent. Counted so that a tick with no stream since the
 * last one still collects a retried batch's encoding (index.ts collects at a tick only then).
 */
const ENCODING_GARBAGE_PER_BODY_BYTE: i64 = 3;

export class SpanExporter {
  private readonly batcher: SpanBatcher;
  private readonly cluster: ArrayBuffer;
  private readonly headers: ArrayBuffer;
  private readonly noTrailers: ArrayBuffer = serializeHeaderPairs([], []);
  private readonly statusWants: HeaderWants = new HeaderWants();
  private readonly statusSlot: i32;
  /** Token of the request in flight; 0 when none. */
  private pendingToken: u32 = 0;
  /** The root is going away (proxy_on_done): no more ticks, so send batch after batch now. */
  private draining: bool = false;
  private readonly exportedId: u32;
  private readonly droppedQueueFullId: u32;
  private readonly droppedFailedId: u32;

  constructor(
    private readonly settings: SpanExportSettings,
    /** Resource attributes of every batch (service.name, k8s.cluster.name, cloud.region). */
    private readonly resource: SpanAttribute[],
    private readonly registry: SeriesRegistry,
    private readonly host: Host,
  ) {
    this.batcher = new SpanBatcher(
      new BatcherSettings(settings.maxQueue, settings.maxBatch, settings.maxRetries),
    );
    this.cluster = String.UTF8.encode(settings.cluster);
    this.headers = serializeHeaderPairs(
      [
        coldText(ColdText.MethodHeader),
        coldText(ColdText.PathHeader),
        coldText(ColdText.AuthorityHeader),
        coldText(ColdText.ContentTypeHeader),
      ],
      [coldText(ColdText.Post), settings.path, settings.authority, coldText(ColdText.ApplicationJson)],
    );
    this.statusSlot = this.statusWants.add(coldText(ColdText.StatusHeader));
    this.exportedId = registry.fixed(SPANS_EXPORTED, []);
    this.droppedQueueFullId = registry.fixed(SPANS_DROPPED, [coldText(ColdText.QueueFull)]);
    this.droppedFailedId = registry.fixed(SPANS_DROPPED, [coldText(ColdText.ExportFailed)]);
  }

  /** Queues a span for the next batch; a full queue drops it (counted). Never blocks. */
  add(span: Span): void {
    noteGarbage(SPAN_GARBAGE_BYTES);
    if (!this.batcher.enqueue(span)) this.registry.increment(this.droppedQueueFullId);
  }

  /** On each tick: send the next batch (or retry the failed one) unless one is in flight. */
  flush(): void {
    const batch = this.batcher.nextBatch();
    if (batch == null) return;
    const body = encodeExportRequest(this.resource, SCOPE_NAME, SCOPE_VERSION, batch);
    noteGarbage(ENCODING_GARBAGE_PER_BODY_BYTE * body.byteLength);
    const token = this.host.httpCall(
      this.cluster,
      this.headers,
      body,
      this.noTrailers,
      this.settings.timeoutMs,
    );
    if (token < 0) {
      // Unknown cluster or refused call: a failed attempt, retried on a later tick.
      this.settle(this.batcher.finish(false));
      return;
    }
    this.pendingToken = <u32>token;
  }

  /** No export request in flight. */
  get idle(): bool {
    return this.pendingToken == 0;
  }

  /**
   * proxy_on_done: sends the pending spans batch after batch without waiting for ticks or retrying
   * (a failure drops the rest, counted). True when nothing is in flight, so the root may go now;
   * else the root waits for onResponse to make the exporter idle.
   */
  drain(): bool {
    this.draining = true;
    if (this.pendingToken == 0) this.sendNextWhileDraining();
    return this.pendingToken == 0;
  }

  private sendNextWhileDraining(): void {
    this.flush();
    if (this.pendingToken == 0) this.dropPending();
  }

  private dropPending(): void {
    const dropped = this.batcher.abandon();
    if (dropped > 0) this.registry.increment(this.droppedFailedId, dropped);
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
      const pairs = this.host.getHeaderPairs(HeaderMap.HttpCallResponse);
      if (pairs != null) {
        const scan = scanHeaderPairs(changetype<usize>(pairs), pairs.byteLength, this.statusWants, null);
        const status = scan.value(this.statusSlot);
        delivered = status != null && status.length == 3 && status.charCodeAt(0) == 0x32; // 2xx
      }
    }
    const outcome = this.batcher.finish(delivered);
    this.settle(outcome);
    if (this.draining) {
      if (delivered) this.sendNextWhileDraining();
      else this.dropPending();
      return true;
    }
    // Drain a backlog without waiting for the next tick; a failure waits for it.
    if (delivered && this.batcher.queued >= this.settings.maxBatch) this.flush();
    return true;
  }

  private settle(outcome: BatchOutcome): void {
    if (outcome.exported > 0) this.registry.increment(this.exportedId, outcome.exported);
    if (outcome.dropped > 0) this.registry.increment(this.droppedFailedId, outcome.dropped);
  }
}
