// What the filter reported, read from the proxies' Prometheus text the way a dashboard would sum
// it, in the units of the ground truth (truth.ts) so the two sit side by side.

import { parseExposition, sumBy, total, type Sample } from "../../tools/demo/exposition.js";

export interface FilterMeasurement {
  invocations: number;
  invocationsByClass: Record<string, number>;
  errorsByKind: Record<string, number>;
  coldStarts: number;
  coldStartsUntimed: number;
  coldStartMeanMs: number;
  activatorProxied: number;
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
    coldStartsUntimed: total(samples, "knative_cold_starts_untimed_total"),
    coldStartMeanMs: timed === 0 ? 0 : total(samples, "knative_cold_start_duration_milliseconds_sum") / timed,
    activatorProxied: total(samples, "knative_activator_proxied_total"),
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
