// What a metric family is: its name, kind and the names of its labels. The filter's families are
// declared in deploy/filter-metrics.json and generated into generated/metric-families.ts. Pure.

export enum MetricKind {
  Counter = 0,
  Gauge = 1,
  Histogram = 2,
}

/** A metric and the names of its labels, in the order they are encoded. */
export class MetricFamily {
  constructor(
    public readonly name: string,
    public readonly kind: MetricKind,
    public readonly labels: string[],
  ) {}
}
