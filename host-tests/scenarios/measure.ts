// What the filter reported, read from the proxies' Prometheus text the way a dashboard would sum
// it, in the units of the ground truth (truth.ts) so the two sit side by side.

import { parseExposition, sumBy, total, type Sample } from "../../tools/demo/exposition.js";
import type { TruthSummary } from "./truth.js";

export interface FilterMeasurement {
  invocations: number;
  invocationsByClass: Record<string, number>;
  errorsByKind: Record<string, number>;
  coldStarts: number;
  coldStartMeanMs: number;
  activatorProxied: number;
  /** K-Proxy-Request from a peer without a mesh identity: neither cold start nor proxied. */
  activatorUnverified: number;
  /** knative_request_duration_milliseconds counts at gateways and callers, by cold_start. */
  clientLatency: { cold: number; warm: number };
  stampsRejected: number;
}

function grouped(samples: Sample[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { labels, value } of sumBy(samples, name, [label]).values()) {
    if (value > 0) out[labels[label]!] = value;
  }
  return out;
}

/** Sums the filter's series over every exposition given (one per proxy). */
export function measureFilter(expositions: readonly string[]): FilterMeasurement {
  const samples = expositions.flatMap((text) => parseExposition(text));
  const timed = total(samples, "knative_cold_start_duration_milliseconds_count");
  return {
    invocations: total(samples, "knative_invocations_total"),
    invocationsByClass: grouped(samples, "knative_invocations_total", "response_code_class"),
    errorsByKind: grouped(samples, "knative_errors_total", "error_kind"),
    coldStarts: total(samples, "knative_cold_starts_total"),
    coldStartMeanMs: timed === 0 ? 0 : total(samples, "knative_cold_start_duration_milliseconds_sum") / timed,
    activatorProxied: total(samples, "knative_activator_proxied_total"),
    activatorUnverified: total(samples, "knative_activator_unverified_total"),
    clientLatency: {
      cold: total(samples, "knative_request_duration_milliseconds_count", { cold_start: "true" }),
      warm: total(samples, "knative_request_duration_milliseconds_count", { cold_start: "false" }),
    },
    stampsRejected: total(samples, "kwt_stamps_rejected_total"),
  };
}

/** One counter's value (summed over its series) in each Envoy scrape Prometheus made of a pod. */
export function valuesOverScrapes(
  scrapes: ReadonlyArray<{ atMs: number; text: string }>,
  metric: string,
): Array<{ atMs: number; value: number }> {
  return scrapes.map(({ atMs, text }) => ({ atMs, value: total(parseExposition(text), metric) }));
}

/** One line of "truth next to the filter"; `filter` null where the filter has no such number. */
export interface TruthComparison {
  what: string;
  truth: number;
  filter: number | null;
}

export function compareWithTruth(truth: TruthSummary, filter: FilterMeasurement): TruthComparison[] {
  return [
    {
      what: "invocations (reached the user container)",
      truth: truth.invocations,
      filter: filter.invocations,
    },
    { what: "cold starts (held: no ready pod)", truth: truth.coldStarts, filter: filter.coldStarts },
    {
      what: "mean cold-start wait (ms)",
      truth: Math.round(truth.coldStartMeanMs),
      filter: Math.round(filter.coldStartMeanMs),
    },
    { what: "waits for capacity during a scale-up", truth: truth.queueWaits, filter: null },
    {
      what: "through the activator, not a cold start",
      truth: truth.activatorProxied,
      filter: filter.activatorProxied,
    },
    { what: "probes and scrapes at pods", truth: truth.probes + truth.scrapes, filter: null },
  ];
}
