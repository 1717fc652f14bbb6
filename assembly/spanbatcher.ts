// The span export queue and its batch/retry bookkeeping. Pure: the glue (spanexport.ts) sends
// what nextBatch() returns and reports the outcome with finish().
//
// Bounded in every direction: at most `maxQueue` spans wait (more are dropped and counted), one
// batch of at most `maxBatch` spans is in flight at a time, and a failed batch is retried at most
// `maxRetries` times (on later ticks) before it is dropped and counted.

import { Span } from "./otlp";

export class BatcherSettings {
  constructor(
    public maxQueue: i32,
    public maxBatch: i32,
    public maxRetries: i32,
  ) {}
}

/** What finish() settled: spans now exported, or dropped after the last retry. */
export class BatchOutcome {
  constructor(
    public exported: i32,
    public dropped: i32,
  ) {}
}

export class SpanBatcher {
  private queue: Span[] = [];
  /** The batch sent or waiting for a retry; null when none. */
  private batch: Span[] | null = null;
  private inFlight: bool = false;
  /** Sends of the current batch so far. */
  private attempts: i32 = 0;

  constructor(private settings: BatcherSettings) {}

  /** Spans waiting, not counting the current batch. */
  get queued(): i32 {
    return this.queue.length;
  }

  get busy(): bool {
    return this.inFlight;
  }

  /** Spans queued or in the current batch: what the collector is still owed. */
  get pending(): i32 {
    const batch = this.batch;
    return this.queue.length + (batch != null ? batch.length : 0);
  }

  /** Gives every pending span up (nothing will send them any more); returns how many. */
  abandon(): i32 {
    const count = this.pending;
    this.queue = [];
    this.batch = null;
    this.inFlight = false;
    return count;
  }

  /** Queues a span; false (the caller counts it as dropped) when the queue is full. */
  enqueue(span: Span): bool {
    if (this.queue.length >= this.settings.maxQueue) return false;
    this.queue.push(span);
    return true;
  }

  /**
   * The batch to send now: the failed one again if it has retries left, else the oldest queued
   * spans; null while a batch is in flight or when there is nothing to send.
   */
  nextBatch(): Span[] | null {
    if (this.inFlight) return null;
    let batch = this.batch;
    if (batch == null) {
      if (this.queue.length == 0) return null;
      const count = min(this.queue.length, this.settings.maxBatch);
      batch = this.queue.splice(0, count);
      this.batch = batch;
      this.attempts = 0;
    }
    this.attempts++;
    this.inFlight = true;
    return batch;
  }

  /** Reports how the in-flight batch ended. */
  finish(delivered: bool): BatchOutcome {
    const batch = this.batch;
    if (!this.inFlight || batch == null) return new BatchOutcome(0, 0);
    this.inFlight = false;
    if (delivered) {
      this.batch = null;
      return new BatchOutcome(batch.length, 0);
    }
    if (this.attempts > this.settings.maxRetries) {
      this.batch = null;
      return new BatchOutcome(0, batch.length);
    }
    return new BatchOutcome(0, 0);
  }
}
