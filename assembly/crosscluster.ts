// Glue for cross-cluster hops: the hop stamp on requests leaving a workload or a gateway, and on
// the revision pod's inbound side the cross-cluster metrics of a trusted stamp from another cluster
// (hop duration when the request arrives, requests by response class in on_log). Decisions are
// made by hop.ts; this file writes the stamp and records the metrics.

import { Identity } from "./identity";
import { MetricFamily, SeriesRegistry } from "./metrics";
import { CROSS_CLUSTER_HOP_DURATION, CROSS_CLUSTER_REQUESTS } from "./generated/metric-families";
import { HeaderMap, Host } from "./hostinterface";
import { PrefixedDecimalWriter } from "./decimal";
import { HopDuration, hopDuration, hopStampPrefix, HopCheck, HopVerdict } from "./hop";
import { CODE_CLASS_COUNT, codeClassName } from "./knative";
import { KeyedObjects } from "./keytable";

/** Cross-cluster series ids for one source cluster and region (the destination is this proxy). */
class CrossClusterSeries {
  /** mesh_cross_cluster_hop_duration_milliseconds at HOP_DURATION, then requests by code class. */
  readonly ids: StaticArray<u32> = new StaticArray<u32>(1 + CODE_CLASS_COUNT);
  constructor(public readonly sourceRegion: string) {}
}

const HOP_DURATION: i32 = 0;

/**
 * What the inbound side learnt from a request's hop stamp, kept by the stream until on_log (each
 * stream has its own, written again for each request).
 */
export class InboundHop {
  constructor(
    /** A trusted stamp from another cluster. */
    public crossCluster: bool,
    public sourceCluster: string,
    public sourceRegion: string,
    public sentMs: i64,
    /** now - sent, clamped to what the histogram records (hop.ts hopDuration). */
    public hopMs: i64,
    /** The send time was outside [now - 1 h, now]: the stream counts kwt_clock_skew_total. */
    public skewed: bool,
    /** Its series ids, cached by source; null when not cached. */
    public series: CrossClusterSeries | null,
  ) {}
}

/** An InboundHop of no hop: a stream keeps one to fill (CrossCluster.onInboundRequest). */
export function newInboundHop(): InboundHop {
  return new InboundHop(false, "", "", 0, 0, false, null);
}

export const NOT_CROSS_CLUSTER = newInboundHop();

export class CrossCluster {
  private readonly hopStamps: PrefixedDecimalWriter;
  private readonly hopHeader: ArrayBuffer;
  /** Cross-cluster series by source cluster: a hop costs no stat name once its source is known. */
  private readonly bySourceCluster: KeyedObjects<CrossClusterSeries> = new KeyedObjects<CrossClusterSeries>();
  /** The hop duration being recorded, reused. */
  private readonly duration: HopDuration = new HopDuration(0, false);

  /** Built in proxy_on_configure. */
  constructor(
    hopHeader: string,
    private readonly identity: Identity,
    private readonly registry: SeriesRegistry,
    private readonly host: Host,
  ) {
    this.hopStamps = new PrefixedDecimalWriter(hopStampPrefix(identity.cluster, identity.region));
    this.hopHeader = String.UTF8.encode(hopHeader);
  }

  /** Request headers leaving a workload or a gateway: stamp the hop (when this proxy has a cluster). */
  stampOutbound(nowMs: i64): void {
    const stamps = this.hopStamps;
    if (stamps.enabled) {
      const length = stamps.write(nowMs);
      this.host.replaceHeaderBytes(HeaderMap.Request, this.hopHeader, stamps.at, length);
    }
  }

  /**
   * Request headers arriving at a revision pod, after the stream judged the hop stamp (`check`;
   * null when there was none or it was not trusted): records the hop duration of a cross-cluster
   * request. Returns what the stream keeps for onInboundLog (`into`, written, for a cross-cluster
   * hop; else NOT_CROSS_CLUSTER), whose `skewed` it counts as clock skew.
   */
  onInboundRequest(check: HopCheck | null, nowMs: i64, into: InboundHop): InboundHop {
    if (check == null || check.verdict != HopVerdict.CrossCluster) return NOT_CROSS_CLUSTER;
    const stamp = check.stamp!;
    const duration = hopDuration(nowMs, stamp.sentMs, this.duration);
    const hop = into;
    hop.crossCluster = true;
    hop.sourceCluster = stamp.cluster;
    hop.sourceRegion = stamp.region;
    hop.sentMs = stamp.sentMs;
    hop.hopMs = duration.milliseconds;
    hop.skewed = duration.skewed;
    hop.series = this.seriesOf(stamp.cluster, stamp.region);
    this.registry.record(this.seriesId(hop, CROSS_CLUSTER_HOP_DURATION, null, HOP_DURATION), <u64>hop.hopMs);
    return hop;
  }

  /** on_log of an inbound stream: count a cross-cluster request with its response class (index). */
  onInboundLog(hop: InboundHop, codeClass: i32): void {
    if (!hop.crossCluster) return;
    this.registry.increment(
      this.seriesId(hop, CROSS_CLUSTER_REQUESTS, codeClassName(codeClass), 1 + codeClass),
    );
  }

  /**
   * The cache entry of a source cluster; null beyond the cache bound, or when the cluster was first
   * seen in another region (then each such hop builds its stat name).
   */
  private seriesOf(cluster: string, region: string): CrossClusterSeries | null {
    const known = this.bySourceCluster.get(cluster);
    if (known != null) return known.sourceRegion == region ? known : null;
    if (!this.registry.cacheHasRoom(this.bySourceCluster.size)) return null;
    const series = new CrossClusterSeries(region);
    this.bySourceCluster.add(cluster, series);
    return series;
  }

  /** A cross-cluster series of `hop` (`codeClass`: the response class label, null for none). */
  private seriesId(hop: InboundHop, family: MetricFamily, codeClass: string | null, index: i32): u32 {
    const cache = hop.series != null ? hop.series!.ids : null;
    if (cache != null) {
      const cached = unchecked(cache[index]);
      if (cached != 0) return cached;
    }
    const values = [hop.sourceCluster, hop.sourceRegion, this.identity.cluster, this.identity.region];
    if (codeClass != null) values.push(codeClass);
    return this.registry.remember(cache, index, this.registry.id(family, values));
  }
}
