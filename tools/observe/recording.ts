/**
 * Recording rules for the dashboard's heavy expressions: the histogram quantiles read every bucket
 * of every pod, and the traffic matrix every cross-cluster series. The central store records each
 * aggregate once per evaluation, per cluster and region, so that a long dashboard range reads a few
 * pre-summed series instead of every pod's buckets. Pure.
 */
import { PLACE_LABELS, PRODUCTION_PROFILE, type RuleProfile } from "../dashboards/alerts.js";
import { CLUSTER_PAIR_LABELS, FILTER_METRICS, REVISION_LABELS } from "../dashboards/metrics.js";
import { sumRate } from "../dashboards/promql.js";

export interface RecordingRule {
  record: string;
  expr: string;
}

/** The window each recorded rate covers in production (the test profile shrinks it). */
export const RECORDING_WINDOW = "1m";

export function recordingRules(profile: RuleProfile = PRODUCTION_PROFILE): RecordingRule[] {
  const window = profile.duration(RECORDING_WINDOW);
  const rate = (metric: string, labels: readonly string[]): RecordingRule => ({
    record: `kwt:${metric}:rate${RECORDING_WINDOW}`,
    expr: sumRate(metric, [], [...PLACE_LABELS, ...labels], window),
  });
  return [
    rate(`${FILTER_METRICS.coldStartDuration}_bucket`, [...REVISION_LABELS, "le"]),
    rate(`${FILTER_METRICS.requestDuration}_bucket`, [...REVISION_LABELS, "cold_start", "le"]),
    rate(`${FILTER_METRICS.crossClusterHopDuration}_bucket`, [...CLUSTER_PAIR_LABELS, "le"]),
    rate(FILTER_METRICS.crossClusterRequests, [...CLUSTER_PAIR_LABELS, "response_code_class"]),
  ];
}

export const RECORDING_RULES: RecordingRule[] = recordingRules();

export const RECORDING_GROUP = "kwt.recording";
