// The hop stamp (`x-kwt-hop: 1;c=<cluster>;r=<region>;t=<unix-ms>`): written on every outbound
// request, checked on the receiving side to find cross-cluster hops. Pure: no host calls.

import { parseDecimal, parseDecimalBytes, parseDecimalFrom } from "./decimal";
import { KeyedObjects } from "./keytable";
import { MAX_STAMP_LENGTH, decodeStamp, encodeStamp, StampField } from "./stamp";

const KEY_CLUSTER = "c";
const KEY_REGION = "r";
const KEY_TIME = "t";
/** Milliseconds since the epoch fit in 13 digits until the year 2286; more is not a time. */
const MAX_TIME_DIGITS: i32 = 13;
/**
 * Longest hop the histogram records. Send times further in the past come from a skewed clock
 * (or a stamp replayed long after): they are clamped here and counted as skew, like the future.
 */
export const MAX_HOP_DURATION_MS: i64 = 3_600_000;

/** `kwt_stamps_rejected_total` reasons for hop stamps. */
export const REJECT_MALFORMED = "malformed";
export const REJECT_UNTRUSTED = "untrusted";
export const REJECT_UNKNOWN_CLUSTER = "unknown_cluster";
export const REJECT_UNKNOWN_REGION = "unknown_region";

export class HopStamp {
  constructor(
    public cluster: string,
    public region: string,
    public sentMs: i64,
  ) {}
}

/**
 * Everything of this proxy's stamp but the time (`1;c=<cluster>;r=<region>;t=`), computed once
 * per configuration; "" if cluster or region is not a non-empty label value.
 */
export function hopStampPrefix(cluster: string, region: string): string {
  if (cluster.length == 0 || region.length == 0) return "";
  const text = encodeStamp([new StampField(KEY_CLUSTER, cluster), new StampField(KEY_REGION, region)]);
  return text != null ? text + ";" + KEY_TIME + "=" : "";
}

/** Reads a hop stamp; null when malformed or when c, r or t is missing, empty or invalid. */
export function decodeHopStamp(text: string): HopStamp | null {
  const stamp = decodeStamp(text);
  if (stamp == null) return null;
  const cluster = stamp.get(KEY_CLUSTER);
  const region = stamp.get(KEY_REGION);
  const time = stamp.get(KEY_TIME);
  if (cluster == null || region == null || time == null) return null;
  if (cluster.length == 0 || region.length == 0) return null;
  const sentMs = parseDecimal(time, MAX_TIME_DIGITS);
  if (sentMs < 0) return null;
  return new HopStamp(cluster, region, sentMs);
}

/** Where the digits of a stamp's last field start when that field is `t`; -1 otherwise. */
function lastTimeFieldStart(text: string): i32 {
  const separator = text.lastIndexOf(";");
  if (separator < 0 || text.length < separator + 3) return -1;
  if (text.charCodeAt(separator + 1) != 0x74 || text.charCodeAt(separator + 2) != 0x3d) return -1;
  return separator + 3;
}

/**
 * lastTimeFieldStart of the `length` bytes at `at`: only the last MAX_TIME_DIGITS + 3 bytes are
 * looked at (a longer last field is no time).
 */
function lastTimeFieldStartAt(at: usize, length: u32): i32 {
  const earliest = length > <u32>(MAX_TIME_DIGITS + 3) ? length - <u32>(MAX_TIME_DIGITS + 3) : 0;
  for (let i = length; i > earliest;) {
    i--;
    if (load<u8>(at + i) != 0x3b) continue;
    return i + 3 <= length && load<u8>(at + i + 1) == 0x74 && load<u8>(at + i + 2) == 0x3d ? <i32>i + 3 : -1;
  }
  return -1;
}

/**
 * Distinct stamp starts (text before `;t=`) a reader keeps: one per cluster and region whose
 * proxies call this one (every proxy of a cluster writes the same start). Past it the reader
 * forgets them all and starts again, so a caller sending ever new starts costs decoding, never
 * memory.
 */
const KEPT_STAMP_STARTS: i32 = 64;

/**
 * Decodes hop stamps like decodeHopStamp, remembering valid ones' text before their time: one
 * peer's stamps differ only in `t`, which this filter writes last, so a stamp whose text up to
 * `;t=` is a kept one's has the same fields and is read by its time alone (the grammar's other
 * checks passed on that text, and digits are a valid value). A proxy hears from the proxies of
 * several clusters in turn: up to KEPT_STAMP_STARTS starts are kept.
 */
export class HopStampReader {
  /** Cluster and region of each kept start (their sentMs unused), by the start. */
  private starts: KeyedObjects<HopStamp> = new KeyedObjects<HopStamp>();
  /** What readAt answers for a stamp read by its time: one object, refilled by every such read. */
  private readonly repeated: HopStamp = new HopStamp("", "", 0);

  /**
   * read() of the `length` bytes at `at`: a stamp whose bytes up to `;t=` are a kept start's is
   * read by its time without making a string or a stamp (the answer is valid until the next readAt,
   * which refills it); any other is decoded and read.
   */
  readAt(at: usize, length: u32): HopStamp | null {
    if (length <= <u32>MAX_STAMP_LENGTH) {
      const timeAt = lastTimeFieldStartAt(at, length);
      if (timeAt > 0) {
        const known = this.starts.getBytes(at, timeAt - 3);
        // Digits only: what read() finds by its time; anything else is left to it.
        const sentMs = parseDecimalBytes(at + <usize>timeAt, length - <u32>timeAt, MAX_TIME_DIGITS);
        if (known != null && sentMs >= 0) {
          const stamp = this.repeated;
          stamp.cluster = known.cluster;
          stamp.region = known.region;
          stamp.sentMs = sentMs;
          return stamp;
        }
      }
    }
    return this.read(String.UTF8.decodeUnsafe(at, length));
  }

  read(text: string): HopStamp | null {
    const timeAt = lastTimeFieldStart(text);
    if (timeAt > 0 && text.length <= MAX_STAMP_LENGTH) {
      const known = this.starts.get(text, timeAt - 3);
      if (known != null) {
        const sentMs = parseDecimalFrom(text, timeAt, MAX_TIME_DIGITS);
        return sentMs >= 0 ? new HopStamp(known.cluster, known.region, sentMs) : null;
      }
    }
    const stamp = decodeHopStamp(text);
    // A copy: the caller may fold the returned stamp's labels.
    if (stamp != null && timeAt > 0)
      this.keep(text, timeAt - 3, new HopStamp(stamp.cluster, stamp.region, 0));
    return stamp;
  }

  private keep(text: string, startLength: i32, fields: HopStamp): void {
    if (this.starts.size >= KEPT_STAMP_STARTS) this.starts = new KeyedObjects<HopStamp>();
    this.starts.add(text, fields, startLength);
  }
}

export enum HopVerdict {
  /** No stamp on the request. */
  Absent,
  /** A valid stamp from this proxy's own cluster: not a cross-cluster hop. */
  SameCluster,
  /** A valid, trusted stamp from another cluster. */
  CrossCluster,
  /** Refused: `reason` says why. */
  Rejected,
}

export class HopCheck {
  constructor(
    public verdict: HopVerdict,
    public stamp: HopStamp | null,
    public reason: string,
  ) {}

  /** Makes this the verdict (a reused check: checkHop's `into`), and returns it. */
  set(verdict: HopVerdict, stamp: HopStamp | null, reason: string): HopCheck {
    this.verdict = verdict;
    this.stamp = stamp;
    this.reason = reason;
    return this;
  }
}

function contains(list: string[], value: string): bool {
  for (let i = 0; i < list.length; i++) {
    if (unchecked(list[i]) == value) return true;
  }
  return false;
}

/**
 * Judges the hop stamp a receiving (inbound) proxy found: the `length` bytes at `at`, where the
 * header scan kept them (`at` 0: none). Only a stamp from a peer with a mesh identity (`fromMesh`,
 * trust.ts) is trusted; with a non-empty known list, clusters and regions outside it are refused,
 * so a caller cannot invent label values (without a list, the series cap bounds them). `reader`
 * keeps the fields of stamps it read (HopStampReader); without one every stamp is decoded in full.
 * The verdict is written into `into` when given (a request's check, reused by the next one), so
 * judging a request allocates nothing.
 */
export function checkHop(
  at: usize,
  length: u32,
  fromMesh: bool,
  localCluster: string,
  knownClusters: string[],
  knownRegions: string[],
  reader: HopStampReader | null = null,
  into: HopCheck | null = null,
): HopCheck {
  const check = into != null ? into : new HopCheck(HopVerdict.Absent, null, "");
  if (at == 0) return check.set(HopVerdict.Absent, null, "");
  if (!fromMesh) return check.set(HopVerdict.Rejected, null, REJECT_UNTRUSTED);
  const stamp =
    reader != null ? reader.readAt(at, length) : decodeHopStamp(String.UTF8.decodeUnsafe(at, length));
  if (stamp == null) return check.set(HopVerdict.Rejected, null, REJECT_MALFORMED);
  if (stamp.cluster == localCluster) return check.set(HopVerdict.SameCluster, stamp, "");
  if (knownClusters.length > 0 && !contains(knownClusters, stamp.cluster)) {
    return check.set(HopVerdict.Rejected, stamp, REJECT_UNKNOWN_CLUSTER);
  }
  if (knownRegions.length > 0 && !contains(knownRegions, stamp.region)) {
    return check.set(HopVerdict.Rejected, stamp, REJECT_UNKNOWN_REGION);
  }
  return check.set(HopVerdict.CrossCluster, stamp, "");
}

export class HopDuration {
  constructor(
    /** What the histogram records: 0..MAX_HOP_DURATION_MS. */
    public milliseconds: i64,
    /** The raw difference was outside that range (clock skew): count it. */
    public skewed: bool,
  ) {}
}

/**
 * now - sent, clamped to [0, MAX_HOP_DURATION_MS]; a clamp means the clocks disagree. Written into
 * `into` when given (reused on the request path), else into a new one.
 */
export function hopDuration(nowMs: i64, sentMs: i64, into: HopDuration | null = null): HopDuration {
  const duration = into != null ? into : new HopDuration(0, false);
  const raw = nowMs - sentMs;
  duration.skewed = raw < 0 || raw > MAX_HOP_DURATION_MS;
  duration.milliseconds = raw < 0 ? 0 : raw > MAX_HOP_DURATION_MS ? MAX_HOP_DURATION_MS : raw;
  return duration;
}
