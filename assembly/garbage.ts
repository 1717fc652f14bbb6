// What the filter leaves to the garbage collector, in bytes, roughly: the allocations that grow
// with the traffic (text decoded from headers, answers from the host too large for its scratch
// area, strings built in place, series found by name, pod stamps decoded or encoded, spans made
// for export and their batches encoded). index.ts collects once it passes a threshold, so open
// streams with large headers cannot grow memory before any stream ends. Pure: no host calls.

let garbageBytes: i64 = 0;

/** Counts `bytes` more garbage (or soon garbage) since the last collection. */
export function noteGarbage(bytes: i64): void {
  garbageBytes += bytes;
}

export function garbageSinceCollection(): i64 {
  return garbageBytes;
}

export function resetGarbage(): void {
  garbageBytes = 0;
}
