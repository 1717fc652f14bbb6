/**
 * Remote-write queue settings sized from what a team knows about a cluster, with what each setting
 * costs. Pure arithmetic; docs/operations.md explains the inputs and the figures.
 */

export interface QueueInputs {
  /** Pods with a sidecar or a gateway in the cluster. */
  podsPerCluster: number;
  /** Series one pod's merged endpoint keeps after the keep list (the demo measures it). */
  seriesPerPod: number;
  scrapeIntervalSeconds: number;
}

/**
 * Stated assumptions, not inputs: one remote-write request's round trip to the central store, the
 * bytes one sample costs on the wire (snappy-compressed protobuf with its label set: `kwt demo
 * --observe --once` measured 32 B with the Prometheus agent and 36 B with vmagent on the filter's
 * series; larger batches compress better), and what one queued sample holds in the agent's memory.
 */
export const REQUEST_SECONDS = 0.25;
export const WIRE_BYTES_PER_SAMPLE = 36;
export const QUEUED_BYTES_PER_SAMPLE = 200;
/** How long the agent must ride out the central store being away without losing data (vmagent's disk buffer). */
export const OUTAGE_SECONDS = 3600;
/** On-disk bytes per sample in vmagent's buffer (compressed blocks). */
export const BUFFERED_BYTES_PER_SAMPLE = 4;

/** Larger batches mean fewer requests; Prometheus' default is 2000 since 2.43, 500 before. */
export const MAX_SAMPLES_PER_SEND = 2000;
/** Prometheus' default wait for a partial batch. */
const MAX_BATCH_SEND_DEADLINE_SECONDS = 5;
/** Prometheus recommends a shard's capacity a few times its batch size. */
const CAPACITY_BATCHES = 3;
/** Shards beyond the steady need, to catch up after a restart or a slow central store. */
const CATCH_UP_FACTOR = 4;

export interface QueueSizing {
  samplesPerSecond: number;
  /** What one shard sends per second: a batch per request round trip. */
  samplesPerSecondPerShard: number;
  minShards: number;
  maxShards: number;
  capacity: number;
  maxSamplesPerSend: number;
  requestsPerSecond: number;
  networkBytesPerSecond: number;
  /** Worst case: every shard's queue full. */
  queueMemoryBytes: number;
  /** A partial batch waits at most this long: never more than one scrape interval, at most 5 s. */
  batchSendDeadlineSeconds: number;
  /** vmagent's -remoteWrite.maxDiskUsagePerURL for OUTAGE_SECONDS of samples (at least its 500 MB chunk). */
  diskBufferBytes: number;
}

const MIN_DISK_BUFFER_BYTES = 500 * 1024 * 1024;

export function sizeQueue(inputs: QueueInputs): QueueSizing {
  for (const [name, value] of Object.entries(inputs)) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new RangeError(`queue sizing: ${name} must be a positive number, got ${value}`);
    }
  }
  const samplesPerSecond = (inputs.podsPerCluster * inputs.seriesPerPod) / inputs.scrapeIntervalSeconds;
  const samplesPerSecondPerShard = MAX_SAMPLES_PER_SEND / REQUEST_SECONDS;
  const minShards = Math.max(1, Math.ceil(samplesPerSecond / samplesPerSecondPerShard));
  const maxShards = minShards * CATCH_UP_FACTOR;
  const capacity = MAX_SAMPLES_PER_SEND * CAPACITY_BATCHES;
  return {
    samplesPerSecond,
    samplesPerSecondPerShard,
    minShards,
    maxShards,
    capacity,
    maxSamplesPerSend: MAX_SAMPLES_PER_SEND,
    batchSendDeadlineSeconds: Math.min(MAX_BATCH_SEND_DEADLINE_SECONDS, inputs.scrapeIntervalSeconds),
    requestsPerSecond: samplesPerSecond / MAX_SAMPLES_PER_SEND,
    networkBytesPerSecond: samplesPerSecond * WIRE_BYTES_PER_SAMPLE,
    queueMemoryBytes: maxShards * capacity * QUEUED_BYTES_PER_SAMPLE,
    diskBufferBytes: Math.max(
      MIN_DISK_BUFFER_BYTES,
      Math.ceil(samplesPerSecond * OUTAGE_SECONDS * BUFFERED_BYTES_PER_SAMPLE),
    ),
  };
}

function mebibytes(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** The sizing as comment lines for the rendered agent configurations. */
export function describeSizing(inputs: QueueInputs, sizing: QueueSizing): string[] {
  return [
    `Queue sized for ${inputs.podsPerCluster} pods x ${inputs.seriesPerPod} series / ${inputs.scrapeIntervalSeconds} s = ${sizing.samplesPerSecond.toFixed(0)} samples/s.`,
    `One shard sends ${MAX_SAMPLES_PER_SEND} samples per ${REQUEST_SECONDS} s request (${sizing.samplesPerSecondPerShard} samples/s): ${sizing.minShards} shard(s) steady, up to ${sizing.maxShards} to catch up.`,
    `Costs: ${sizing.requestsPerSecond.toFixed(2)} requests/s, about ${(sizing.networkBytesPerSecond / 1024).toFixed(1)} KiB/s to the central store (${WIRE_BYTES_PER_SAMPLE} B/sample),`,
    `up to ${mebibytes(sizing.queueMemoryBytes)} of queue memory (${sizing.maxShards} shards x ${sizing.capacity} samples x ${QUEUED_BYTES_PER_SAMPLE} B),`,
    `vmagent: ${mebibytes(sizing.diskBufferBytes)} of disk buffer for a ${OUTAGE_SECONDS / 60}-minute outage of the central store.`,
  ];
}
