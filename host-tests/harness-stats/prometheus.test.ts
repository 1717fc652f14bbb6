import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  compareStatNames,
  escapeLabelValue,
  extractTags,
  formatDouble,
  istioTagExtractors,
  prometheusMetricName,
} from "../harness/prometheus.js";
import { FILTER_METRIC_LABELS } from "../../tools/deploy/filter-contract.js";
import { StatStore, VmMetrics } from "../harness/stats.js";
import { MetricType } from "../harness/types.js";

/** Defines each metric in a fresh VM on `store` and applies the values. */
function populate(
  store: StatStore,
  metrics: Array<{ type: MetricType; name: string; values: bigint[] }>,
): StatStore {
  const vm = new VmMetrics(store);
  for (const metric of metrics) {
    const { id } = vm.define(metric.type, metric.name);
    for (const value of metric.values) {
      if (metric.type === MetricType.Counter) vm.increment(id, value);
      else vm.record(id, value);
    }
  }
  return store;
}

const BUCKET_BOUNDS = [
  "0.5",
  "1",
  "5",
  "10",
  "25",
  "50",
  "100",
  "250",
  "500",
  "1000",
  "2500",
  "5000",
  "10000",
  "30000",
  "60000",
  "300000",
  "600000",
  "1800000",
  "3600000",
];

function histogramLines(
  name: string,
  labels: string,
  counts: number[],
  sum: string,
  count: number,
): string[] {
  const prefix = labels === "" ? "" : `${labels},`;
  return [
    ...BUCKET_BOUNDS.map((le, i) => `${name}_bucket{${prefix}le="${le}"} ${counts[i]}`),
    `${name}_bucket{${prefix}le="+Inf"} ${count}`,
    `${name}_sum{${labels}} ${sum}`,
    `${name}_count{${labels}} ${count}`,
  ];
}

describe("extractTags with Istio's rules", () => {
  const extractors = istioTagExtractors(["namespace_name", "service_name", "response_code_class"], true);

  it("cuts each configured label out of the name and keeps rule order for the tags", () => {
    expect(
      extractTags(
        "wasmcustom.namespace_name=.=default;.;service_name=.=hello;.;source_cluster=.=c1;.;response_code_class=.=2xx;.;knative_invocations_total",
        extractors,
      ),
    ).toEqual({
      tagExtractedName: "wasmcustom.knative_invocations_total",
      tags: [
        // source_cluster is one of pilot-agent's DefaultStatTags, which come before the configured ones.
        { name: "source_cluster", value: "c1" },
        { name: "namespace_name", value: "default" },
        { name: "service_name", value: "hello" },
        { name: "response_code_class", value: "2xx" },
      ],
    });
  });

  it("leaves labels that no rule names in the stat name", () => {
    expect(extractTags("wasmcustom.revision_name=.=r1;.;namespace_name=.=ns;.;x_total", extractors)).toEqual({
      tagExtractedName: "wasmcustom.revision_name=.=r1;.;x_total",
      tags: [{ name: "namespace_name", value: "ns" }],
    });
  });

  it("applies Istio's fixed 'tag' rule too: a value containing 'tag.' gains an extra label", () => {
    const withRevision = istioTagExtractors(["revision_name"], true);
    expect(
      extractTags("wasmcustom.revision_name=.=mytag.v1;.;knative_cold_starts_total", withRevision),
    ).toEqual({
      tagExtractedName: "wasmcustom.knative_cold_starts_total",
      tags: [
        { name: "revision_name", value: "mytag.v1" },
        { name: "tag", value: "v1" },
      ],
    });
  });

  it("takes a tag configured twice only once, from the first rule", () => {
    const twice = istioTagExtractors(["source_cluster", "source_cluster"], true);
    expect(extractTags("wasmcustom.source_cluster=.=a;.;x_total", twice).tags).toEqual([
      { name: "source_cluster", value: "a" },
    ]);
  });

  it("without Istio's defaults only the extraStatTags rules exist", () => {
    const only = istioTagExtractors(["namespace_name"], false);
    expect(extractTags("wasmcustom.source_cluster=.=c1;.;namespace_name=.=ns;.;x_total", only)).toEqual({
      tagExtractedName: "wasmcustom.source_cluster=.=c1;.;x_total",
      tags: [{ name: "namespace_name", value: "ns" }],
    });
  });

  it("names a tag whose regex cannot compile", () => {
    expect(() => istioTagExtractors(["bad(tag"], false)).toThrow(/stat tag 'bad\(tag': regex/);
  });
});

describe("Prometheus names and numbers", () => {
  it("strips wasmcustom., sanitises, drops names starting with a digit, prefixes other stats with envoy_", () => {
    expect(prometheusMetricName("wasmcustom.knative_invocations_total")).toBe("knative_invocations_total");
    expect(prometheusMetricName("wasmcustom.a.b-c:d")).toBe("a_b_c_d");
    expect(prometheusMetricName("wasmcustom.1st_total")).toBeUndefined();
    expect(prometheusMetricName("wasmcustom.")).toBeUndefined();
    expect(prometheusMetricName("cluster.outbound|80||x.upstream_rq_total")).toBe(
      "envoy_cluster_outbound_80__x_upstream_rq_total",
    );
  });

  it("escapes backslash, newline and double quote in label values", () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  });

  it("prints doubles like printf %.32g", () => {
    expect(formatDouble(0.5)).toBe("0.5");
    expect(formatDouble(1800000)).toBe("1800000");
    expect(formatDouble(5532)).toBe("5532");
    expect(formatDouble(-2.5)).toBe("-2.5");
    expect(formatDouble(0.1)).toBe("0.10000000000000000555111512312578");
    expect(formatDouble(0.0001)).toBe("0.00010000000000000000479217360238593");
    expect(formatDouble(1.5e-5)).toBe("1.5000000000000000380012861456169e-05");
    expect(formatDouble(1e32)).toBe("1.0000000000000000536616220439347e+32");
    expect(formatDouble(0)).toBe("0");
  });

  it("orders stat names token by token, like Envoy's symbol table", () => {
    const names = ["wasmcustom.a-b", "wasmcustom.a.b", "wasmcustom.a", "wasmcustom.B"];
    expect([...names].sort(compareStatNames)).toEqual([
      "wasmcustom.B",
      "wasmcustom.a",
      "wasmcustom.a.b",
      "wasmcustom.a-b",
    ]);
  });
});

describe("StatStore.prometheusText", () => {
  it("writes counters, gauges and histograms with their tags, grouped and sorted as Envoy does", () => {
    const store = populate(
      new StatStore({ extraStatTags: ["namespace_name", "service_name", "response_code_class"] }),
      [
        {
          type: MetricType.Counter,
          name: "namespace_name=.=default;.;service_name=.=hello;.;source_cluster=.=c1;.;response_code_class=.=2xx;.;knative_invocations_total",
          values: [3n],
        },
        {
          type: MetricType.Counter,
          name: "namespace_name=.=default;.;service_name=.=bye;.;source_cluster=.=c1;.;response_code_class=.=2xx;.;knative_invocations_total",
          values: [1n],
        },
        { type: MetricType.Gauge, name: "kwt_sampling_probability", values: [500000n] },
        {
          type: MetricType.Histogram,
          name: "namespace_name=.=default;.;knative_cold_start_duration_milliseconds",
          values: [20n, 30n],
        },
        { type: MetricType.Counter, name: "kwt_config_rejected_total", values: [] },
      ],
    );
    const expected = [
      "# TYPE knative_invocations_total counter",
      'knative_invocations_total{source_cluster="c1",namespace_name="default",service_name="bye",response_code_class="2xx"} 1',
      'knative_invocations_total{source_cluster="c1",namespace_name="default",service_name="hello",response_code_class="2xx"} 3',
      "# TYPE kwt_config_rejected_total counter",
      "kwt_config_rejected_total{} 0",
      "# TYPE kwt_sampling_probability gauge",
      "kwt_sampling_probability{} 500000",
      "# TYPE knative_cold_start_duration_milliseconds histogram",
      ...histogramLines(
        "knative_cold_start_duration_milliseconds",
        'namespace_name="default"',
        [0, 0, 0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2],
        "51",
        2,
      ),
    ];
    expect(store.prometheusText()).toBe(expected.map((line) => `${line}\n`).join(""));
  });

  it("keeps the label text in the metric name when no rule extracts it", () => {
    const store = populate(new StatStore({ istioDefaultTags: false }), [
      {
        type: MetricType.Counter,
        name: "namespace_name=.=default;.;knative_cold_starts_total",
        values: [2n],
      },
    ]);
    expect(store.prometheusText()).toBe(
      "# TYPE namespace_name___default___knative_cold_starts_total counter\n" +
        "namespace_name___default___knative_cold_starts_total{} 2\n",
    );
  });

  it("escapes label values and leaves out families whose name starts with a digit", () => {
    const store = populate(new StatStore({ extraStatTags: ["reason"], istioDefaultTags: false }), [
      { type: MetricType.Counter, name: 'reason=.=a"b\\c;.;kwt_stamps_rejected_total', values: [1n] },
      { type: MetricType.Counter, name: "9lives_total", values: [1n] },
    ]);
    expect(store.prometheusText()).toBe(
      '# TYPE kwt_stamps_rejected_total counter\nkwt_stamps_rejected_total{reason="a\\"b\\\\c"} 1\n',
    );
  });

  it("is empty for an empty store", () => {
    expect(new StatStore().prometheusText()).toBe("");
  });

  it("passes promtool check metrics: parses, with only style lints (Envoy writes no HELP; the contract uses ms)", () => {
    const store = populate(new StatStore({ extraStatTags: [...FILTER_METRIC_LABELS] }), [
      {
        type: MetricType.Counter,
        name: "namespace_name=.=default;.;service_name=.=hello;.;configuration_name=.=hello;.;revision_name=.=hello-00001;.;destination_cluster=.=east;.;destination_region=.=eu-1;.;source_cluster=.=west;.;response_code_class=.=5xx;.;error_kind=.=http_5xx;.;knative_errors_total",
        values: [2n],
      },
      {
        type: MetricType.Histogram,
        name: "namespace_name=.=default;.;service_name=.=hello;.;configuration_name=.=hello;.;revision_name=.=hello-00001;.;destination_cluster=.=east;.;destination_region=.=eu-1;.;source_cluster=.=west;.;response_code_class=.=2xx;.;cold_start=.=true;.;knative_request_duration_milliseconds",
        values: [0n, 7n, 250n, 1234n, 99999999n],
      },
      {
        type: MetricType.Counter,
        name: 'reason=.=quote"back\\slash;.;kwt_stamps_rejected_total',
        values: [1n],
      },
      { type: MetricType.Counter, name: "sampled=.=true;.;kwt_traces_started_total", values: [5n] },
      { type: MetricType.Gauge, name: "kwt_sampling_probability", values: [1000000n] },
    ]);
    const text = store.prometheusText();
    const check = spawnSync("promtool", ["check", "metrics"], {
      input: text,
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(check.error).toBeUndefined();
    const problems = `${check.stdout}${check.stderr}`.split("\n").filter((line) => line !== "");
    // Exit 3 means lint findings only; 1 would be a parse error.
    expect(check.status).toBe(3);
    expect(problems.filter((line) => !line.endsWith(" no help text"))).toEqual([
      'knative_request_duration_milliseconds use base unit "seconds" instead of "milliseconds"',
    ]);
    expect(problems).toHaveLength(6);
  });
});
