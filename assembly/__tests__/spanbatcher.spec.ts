import { SpanBatcher, BatcherSettings } from "../spanbatcher";
import { Span, SpanKind } from "../otlp";

function span(n: i32): Span {
  return new Span(
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "00000000000000" + (n < 16 ? "0" : "") + n.toString(16),
    "",
    "s",
    SpanKind.Internal,
    1,
    2,
    [],
  );
}

function fill(batcher: SpanBatcher, count: i32): i32 {
  let accepted = 0;
  for (let i = 1; i <= count; i++) {
    if (batcher.enqueue(span(i))) accepted++;
  }
  return accepted;
}

describe("SpanBatcher", () => {
  it("bounds the queue and reports drops", () => {
    const batcher = new SpanBatcher(new BatcherSettings(3, 2, 1));
    expect<i32>(fill(batcher, 5)).toBe(3);
    expect<i32>(batcher.queued).toBe(3);
  });

  it("sends the oldest spans in batches of at most maxBatch, one at a time", () => {
    const batcher = new SpanBatcher(new BatcherSettings(10, 2, 1));
    fill(batcher, 3);
    const first = batcher.nextBatch()!;
    expect<i32>(first.length).toBe(2);
    expect<string>(first[0].spanId).toBe("0000000000000001");
    expect<string>(first[1].spanId).toBe("0000000000000002");
    expect<bool>(batcher.busy).toBe(true);
    expect(batcher.nextBatch()).toBeNull(); // one in flight
    const outcome = batcher.finish(true);
    expect<i32>(outcome.exported).toBe(2);
    expect<i32>(outcome.dropped).toBe(0);
    const second = batcher.nextBatch()!;
    expect<i32>(second.length).toBe(1);
    expect<string>(second[0].spanId).toBe("0000000000000003");
    expect<i32>(batcher.finish(true).exported).toBe(1);
    expect(batcher.nextBatch()).toBeNull(); // nothing left
  });

  it("retries a failed batch maxRetries times, then drops it", () => {
    const batcher = new SpanBatcher(new BatcherSettings(10, 5, 2));
    fill(batcher, 2);
    for (let attempt = 1; attempt <= 3; attempt++) {
      const batch = batcher.nextBatch()!;
      expect<i32>(batch.length).toBe(2);
      const outcome = batcher.finish(false);
      expect<i32>(outcome.exported).toBe(0);
      expect<i32>(outcome.dropped).toBe(attempt == 3 ? 2 : 0);
    }
    expect(batcher.nextBatch()).toBeNull();
  });

  it("keeps queueing while a batch is retried and sends the retry first", () => {
    const batcher = new SpanBatcher(new BatcherSettings(10, 1, 3));
    fill(batcher, 1);
    batcher.nextBatch();
    batcher.finish(false);
    batcher.enqueue(span(9));
    const retry = batcher.nextBatch()!;
    expect<string>(retry[0].spanId).toBe("0000000000000001");
    batcher.finish(true);
    expect<string>(batcher.nextBatch()![0].spanId).toBe("0000000000000009");
  });

  it("drops at once with no retries", () => {
    const batcher = new SpanBatcher(new BatcherSettings(10, 5, 0));
    fill(batcher, 4);
    batcher.nextBatch();
    expect<i32>(batcher.finish(false).dropped).toBe(4);
  });

  it("ignores a result when nothing is in flight", () => {
    const batcher = new SpanBatcher(new BatcherSettings(10, 5, 0));
    const outcome = batcher.finish(true);
    expect<i32>(outcome.exported).toBe(0);
    expect<i32>(outcome.dropped).toBe(0);
  });

  it("counts what is pending, in the queue and in flight, and gives it all up on abandon", () => {
    const batcher = new SpanBatcher(new BatcherSettings(10, 2, 3));
    fill(batcher, 5);
    expect<i32>(batcher.pending).toBe(5);
    expect<i32>(batcher.nextBatch()!.length).toBe(2);
    expect<i32>(batcher.pending).toBe(5);
    batcher.finish(true);
    expect<i32>(batcher.pending).toBe(3);
    batcher.nextBatch();
    expect<i32>(batcher.abandon()).toBe(3);
    expect<i32>(batcher.pending).toBe(0);
    expect<bool>(batcher.busy).toBe(false);
    expect<Span[] | null>(batcher.nextBatch()).toBeNull();
  });
});
