/**
 * The Grafana dashboard deploy/grafana/kwt-dashboard.json, as data. Pure: `renderDashboard()` gives
 * the JSON text the committed file must equal (tools/dashboards/generate.ts writes it).
 */
import {
  CLUSTER_PAIR_LABELS,
  ENVOY_METRICS,
  FILTER_METRICS,
  ISTIO_AGENT_METRICS,
  ISTIOD_METRICS,
} from "./metrics.js";
import {
  durationSeconds,
  GRAFANA_RATE_INTERVAL,
  GRAFANA_RATE_INTERVAL_MS,
  histogramQuantile,
  selector,
  sumIncrease,
  sumRate,
  variableMatchers,
} from "./promql.js";

/** Grafana's own interval for rate(): at least four scrape intervals, adapted to the zoom. */
export const RATE_INTERVAL = GRAFANA_RATE_INTERVAL;

/**
 * Grafana's substitutions for a query: every label variable "All" (`.*`), $__rate_interval `window`
 * and $__rate_interval_ms its milliseconds.
 */
export function substituteVariables(expr: string, window: string): string {
  return expr
    .replaceAll(GRAFANA_RATE_INTERVAL_MS, String(durationSeconds(window) * 1000))
    .replaceAll(RATE_INTERVAL, window)
    .replace(/"\$[a-z_]+"/g, '".*"');
}

/** The data source template variable every panel and query uses. */
export const DATASOURCE = { type: "prometheus", uid: "${datasource}" } as const;

export interface QuerySpec {
  expr: string;
  legend: string;
  /** One value per series at the end of the range (tables), instead of a time series. */
  instant?: boolean;
}

export interface PanelSpec {
  title: string;
  description: string;
  kind: "timeseries" | "table";
  unit: string;
  /** Grid columns out of 24. */
  width: 6 | 8 | 12 | 24;
  queries: QuerySpec[];
  /** Table panels: turn the instant result into a matrix, rows by one label, columns by another. */
  matrix?: { rows: string; columns: string };
}

export interface RowSpec {
  title: string;
  panels: PanelSpec[];
}

export interface TemplateVariableSpec {
  name: string;
  label: string;
  /** The label whose values the variable offers, read from `metric` under the earlier variables. */
  valuesOf: { metric: string; label: string; matchers: string[] };
}

/**
 * Variables narrow each other in this order (cluster, then region, ...). `cluster` and `region` are
 * the external labels each cluster's agent adds (deploy/agents/): where a series was recorded, so
 * they filter every panel, the platform panels included. For the revision metrics, recorded by the
 * revision pod's inbound sidecar, they equal the filter's destination_cluster / destination_region.
 */
const VARIABLE_LABELS: ReadonlyArray<[variable: string, label: string, title: string]> = [
  ["cluster", "cluster", "Cluster"],
  ["region", "region", "Region"],
  ["namespace", "namespace_name", "Namespace"],
  ["service", "service_name", "Service"],
  ["revision", "revision_name", "Revision"],
];

export const TEMPLATE_VARIABLES: TemplateVariableSpec[] = VARIABLE_LABELS.map(
  ([name, label, title], index) => ({
    name,
    label: title,
    valuesOf: {
      metric: FILTER_METRICS.invocations,
      label,
      matchers: variableMatchers(
        VARIABLE_LABELS.slice(0, index).map(([variable, earlier]) => [earlier, variable]),
      ),
    },
  }),
);

/** Where the revision lives: its cluster, region, namespace, service and revision. */
const REVISION = variableMatchers(VARIABLE_LABELS.map(([variable, label]) => [label, variable]));
/** Where a series was recorded: what every other panel filters on. */
const PLACE = variableMatchers(VARIABLE_LABELS.slice(0, 2).map(([variable, label]) => [label, variable]));
/**
 * Each proxy's mean sampling probability (x 1e6) per position: the gauge sums its samplers (root
 * contexts, workers), kwt_samplers counts them; a proxy with none drops out instead of dividing by 0.
 */
const SAMPLER_MEAN = `${FILTER_METRICS.samplingProbability}${selector(PLACE)} / (${FILTER_METRICS.samplers}${selector(PLACE)} > 0)`;
/** Every result keeps the recording cluster and region, so one pane shows each cluster apart. */
export const PLACE_LABELS = ["cluster", "region"] as const;

const PER_REVISION = [...PLACE_LABELS, "namespace_name", "revision_name"] as const;
const REVISION_LEGEND = "{{namespace_name}}/{{revision_name}} ({{cluster}})";
const PAIR_LEGEND = "{{source_cluster}} → {{destination_cluster}}";
const CLUSTER_PAIR = [...PLACE_LABELS, "source_cluster", "destination_cluster"] as const;
const PLACE_LEGEND = "{{cluster}}";

/** Counts per minute read better than per second for rare events like cold starts. */
function perMinute(expr: string): string {
  return `60 * ${expr}`;
}

/** One query per quantile of an Envoy histogram, legends `p50 <legend>`, `p95 <legend>`, ... */
function quantiles(
  qs: readonly number[],
  family: string,
  matchers: string[],
  labels: readonly string[],
  legend = "",
): QuerySpec[] {
  return qs.map((q) => ({
    expr: histogramQuantile(q, family, matchers, labels, RATE_INTERVAL),
    legend: `p${Math.round(q * 100)}${legend === "" ? "" : ` ${legend}`}`,
  }));
}

/** 5xx share per cluster pair; pairs without a 5xx series show 0 rather than no data. */
function crossCluster5xxRatio(): string {
  const all = sumRate(FILTER_METRICS.crossClusterRequests, PLACE, CLUSTER_PAIR, RATE_INTERVAL);
  const failed = sumRate(
    FILTER_METRICS.crossClusterRequests,
    [...PLACE, 'response_code_class="5xx"'],
    CLUSTER_PAIR,
    RATE_INTERVAL,
  );
  return `(${failed} or 0 * ${all}) / ${all}`;
}

export const DASHBOARD_ROWS: RowSpec[] = [
  {
    title: "Cold starts",
    panels: [
      {
        title: "Cold starts per minute",
        description:
          "Requests that waited in the activator for a new pod (a young sidecar VM seeing activator traffic), per revision. A series first scraped after its cold starts (a new pod's) counts its first value.",
        kind: "timeseries",
        unit: "cpm",
        width: 12,
        queries: [
          {
            expr: perMinute(sumRate(FILTER_METRICS.coldStarts, REVISION, PER_REVISION, RATE_INTERVAL)),
            legend: REVISION_LEGEND,
          },
        ],
      },
      {
        title: "Cold-start duration p50 / p95 / p99",
        description:
          "Time from the request entering the mesh (x-kwt-entry, stamped at the gateway or the caller's sidecar) to its arrival at the new pod, over the selected revisions.",
        kind: "timeseries",
        unit: "ms",
        width: 12,
        queries: quantiles(
          [0.5, 0.95, 0.99],
          FILTER_METRICS.coldStartDuration,
          REVISION,
          PLACE_LABELS,
          PLACE_LEGEND,
        ),
      },
      {
        title: "Cold-start duration p95 per revision",
        description: "The 95th percentile of cold-start waits, one line per revision.",
        kind: "timeseries",
        unit: "ms",
        width: 12,
        queries: quantiles([0.95], FILTER_METRICS.coldStartDuration, REVISION, PER_REVISION, REVISION_LEGEND),
      },
      {
        title: "Activator-proxied requests per minute (warm)",
        description:
          "Requests that came through the activator to a pod that was already running (proxy mode under load, or target-burst-capacity): the activator in the path without a cold start.",
        kind: "timeseries",
        unit: "cpm",
        width: 12,
        queries: [
          {
            expr: perMinute(sumRate(FILTER_METRICS.activatorProxied, REVISION, PER_REVISION, RATE_INTERVAL)),
            legend: REVISION_LEGEND,
          },
        ],
      },
      {
        title: "Unverifiable activator requests per minute",
        description:
          "Requests marked as through the activator (K-Proxy-Request) by a peer without a mesh identity: the activator's namespace has no sidecar, so the filter cannot tell cold starts from forgeries and counts neither. Non-zero: inject the sidecar into knative-serving (kwt doctor says so too).",
        kind: "timeseries",
        unit: "cpm",
        width: 12,
        queries: [
          {
            expr: perMinute(
              sumRate(FILTER_METRICS.activatorUnverified, REVISION, PER_REVISION, RATE_INTERVAL),
            ),
            legend: REVISION_LEGEND,
          },
        ],
      },
    ],
  },
  {
    title: "Invocations and errors",
    panels: [
      {
        title: "Invocations per second",
        description:
          "Requests served by revision pods (probes excluded), by response code class. Recorded by the inbound sidecar.",
        kind: "timeseries",
        unit: "reqps",
        width: 12,
        queries: [
          {
            expr: sumRate(
              FILTER_METRICS.invocations,
              REVISION,
              [...PER_REVISION, "response_code_class"],
              RATE_INTERVAL,
            ),
            legend: `${REVISION_LEGEND} {{response_code_class}}`,
          },
        ],
      },
      {
        title: "Error ratio per revision by error kind",
        description:
          "Errors of each kind divided by all invocations of the revision. downstream_reset means the client went away; local_reply, no_healthy_upstream and timeout come from Envoy; http_5xx and grpc from the application.",
        kind: "timeseries",
        unit: "percentunit",
        width: 12,
        queries: [
          {
            expr: `${sumRate(FILTER_METRICS.errors, REVISION, [...PER_REVISION, "error_kind"], RATE_INTERVAL)} / on (${PER_REVISION.join(", ")}) group_left ${sumRate(FILTER_METRICS.invocations, REVISION, PER_REVISION, RATE_INTERVAL)}`,
            legend: `${REVISION_LEGEND} {{error_kind}}`,
          },
        ],
      },
    ],
  },
  {
    title: "Client-visible latency",
    panels: [
      {
        title: "Latency p95: cold vs warm",
        description:
          "Whole request latency as the gateway or the calling sidecar saw it, split by whether the revision pod reported a cold start (x-kwt-pod).",
        kind: "timeseries",
        unit: "ms",
        width: 12,
        queries: quantiles(
          [0.95],
          FILTER_METRICS.requestDuration,
          REVISION,
          [...PER_REVISION, "cold_start"],
          `${REVISION_LEGEND} cold_start={{cold_start}}`,
        ),
      },
      {
        title: "Latency p50 / p99: cold vs warm",
        description: "Median and tail of the client-visible latency over the selected revisions.",
        kind: "timeseries",
        unit: "ms",
        width: 12,
        queries: quantiles(
          [0.5, 0.99],
          FILTER_METRICS.requestDuration,
          REVISION,
          [...PLACE_LABELS, "cold_start"],
          `${PLACE_LEGEND} cold_start={{cold_start}}`,
        ),
      },
    ],
  },
  {
    title: "Cross-cluster traffic",
    panels: [
      {
        title: "Traffic matrix (requests per second)",
        description:
          "Requests whose hop stamp came from another cluster: rows are the sending cluster, columns the receiving cluster.",
        kind: "table",
        unit: "reqps",
        width: 12,
        queries: [
          {
            expr: sumRate(FILTER_METRICS.crossClusterRequests, PLACE, CLUSTER_PAIR, RATE_INTERVAL),
            legend: PAIR_LEGEND,
            instant: true,
          },
        ],
        matrix: { rows: "source_cluster", columns: "destination_cluster" },
      },
      {
        title: "Hop latency p50 / p95 per cluster pair",
        description:
          "Time from the sender's hop stamp to arrival at the receiving sidecar (clamped at 0 on clock skew, which is counted separately).",
        kind: "timeseries",
        unit: "ms",
        width: 12,
        queries: quantiles(
          [0.5, 0.95],
          FILTER_METRICS.crossClusterHopDuration,
          PLACE,
          [...PLACE_LABELS, ...CLUSTER_PAIR_LABELS],
          PAIR_LEGEND,
        ),
      },
      {
        title: "Cross-cluster 5xx ratio per cluster pair",
        description: "Share of cross-cluster requests answered with a 5xx (0 for pairs without any).",
        kind: "timeseries",
        unit: "percentunit",
        width: 12,
        queries: [{ expr: crossCluster5xxRatio(), legend: PAIR_LEGEND }],
      },
      {
        title: "Clock skew events per minute",
        description:
          "Hop or entry times in the future: the clusters' clocks disagree, and hop latencies between them are understated.",
        kind: "timeseries",
        unit: "cpm",
        width: 12,
        queries: [
          {
            expr: perMinute(sumRate(FILTER_METRICS.clockSkew, PLACE, CLUSTER_PAIR, RATE_INTERVAL)),
            legend: PAIR_LEGEND,
          },
        ],
      },
    ],
  },
  {
    title: "Trace context and sampling",
    panels: [
      {
        title: "traceparent repairs per second",
        description: "Invalid traceparent headers the filter replaced on outbound requests, by reason.",
        kind: "timeseries",
        unit: "reqps",
        width: 8,
        queries: [
          {
            expr: sumRate(
              FILTER_METRICS.traceparentRepaired,
              PLACE,
              [...PLACE_LABELS, "reason"],
              RATE_INTERVAL,
            ),
            legend: "{{cluster}} {{reason}}",
          },
        ],
      },
      {
        title: "Traces started per second by sampling decision",
        description: "Outbound requests without a traceparent: the filter started a trace, sampled or not.",
        kind: "timeseries",
        unit: "reqps",
        width: 8,
        queries: [
          {
            expr: sumRate(FILTER_METRICS.tracesStarted, PLACE, [...PLACE_LABELS, "sampled"], RATE_INTERVAL),
            legend: "{{cluster}} sampled={{sampled}}",
          },
        ],
      },
      {
        title: "Adaptive sampling probability",
        description:
          "The head samplers' probability across proxies: each proxy's mean over its samplers (root contexts and workers) at each position; the gauge sums the probabilities times 1e6, kwt_samplers counts them.",
        kind: "timeseries",
        unit: "percentunit",
        width: 8,
        queries: [
          {
            expr: `min by (cluster, region) (${SAMPLER_MEAN}) / 1e6`,
            legend: "{{cluster}} min",
          },
          {
            expr: `avg by (cluster, region) (${SAMPLER_MEAN}) / 1e6`,
            legend: "{{cluster}} avg",
          },
          {
            expr: `max by (cluster, region) (${SAMPLER_MEAN}) / 1e6`,
            legend: "{{cluster}} max",
          },
        ],
      },
      {
        title: "Spans exported and dropped per second",
        description:
          "The filter's own OTLP spans: sent to the collector, or dropped (queue full, export failed).",
        kind: "timeseries",
        unit: "short",
        width: 24,
        queries: [
          {
            expr: sumRate(FILTER_METRICS.spansExported, PLACE, [...PLACE_LABELS], RATE_INTERVAL),
            legend: "{{cluster}} exported",
          },
          {
            expr: sumRate(FILTER_METRICS.spansDropped, PLACE, [...PLACE_LABELS, "reason"], RATE_INTERVAL),
            legend: "{{cluster}} dropped: {{reason}}",
          },
        ],
      },
    ],
  },
  {
    title: "Filter health",
    panels: [
      {
        title: "Series overflow per minute",
        description:
          "Label sets refused by the filter's series cap (maxSeries) and recorded with every label 'overflow'. Anything above zero means lost detail.",
        kind: "timeseries",
        unit: "cpm",
        width: 6,
        queries: [
          {
            expr: perMinute(sumRate(FILTER_METRICS.seriesOverflow, PLACE, [...PLACE_LABELS], RATE_INTERVAL)),
            legend: "{{cluster}} overflow",
          },
        ],
      },
      {
        title: "Configuration rejects",
        description:
          "Plugin configurations refused by proxy_on_configure: the proxy keeps its previous configuration, or (first load) the filter is not loaded.",
        kind: "timeseries",
        unit: "short",
        width: 6,
        queries: [
          {
            expr: sumIncrease(FILTER_METRICS.configRejected, PLACE, [...PLACE_LABELS], RATE_INTERVAL),
            legend: "{{cluster}} rejected configurations",
          },
        ],
      },
      {
        title: "Rejected stamps per second",
        description:
          "x-kwt-* headers the inbound sidecar refused: malformed, untrusted (no mTLS), or from a cluster or region not in knownClusters / knownRegions.",
        kind: "timeseries",
        unit: "reqps",
        width: 6,
        queries: [
          {
            expr: sumRate(FILTER_METRICS.stampsRejected, PLACE, [...PLACE_LABELS, "reason"], RATE_INTERVAL),
            legend: "{{cluster}} {{reason}}",
          },
        ],
      },
    ],
  },
  {
    title: "Wasm module and VM health (istio-agent, Envoy)",
    panels: [
      {
        title: "Module fetches per second by result",
        description:
          "istio-agent pulling the filter image (anything but success: check the image, its digest and pull secret).",
        kind: "timeseries",
        unit: "short",
        width: 8,
        queries: [
          {
            expr: sumRate(
              ISTIO_AGENT_METRICS.wasmRemoteFetches,
              PLACE,
              [...PLACE_LABELS, "result"],
              RATE_INTERVAL,
            ),
            legend: "{{cluster}} {{result}}",
          },
        ],
      },
      {
        title: "Wasm config conversions per second by result",
        description:
          "istio-agent rewriting the WasmPlugin's remote module into a local file for Envoy. fetch_failure here means proxies run without the filter (FAIL_OPEN).",
        kind: "timeseries",
        unit: "short",
        width: 8,
        queries: [
          {
            expr: sumRate(
              ISTIO_AGENT_METRICS.wasmConfigConversions,
              PLACE,
              [...PLACE_LABELS, "result"],
              RATE_INTERVAL,
            ),
            legend: "{{cluster}} {{result}}",
          },
        ],
      },
      {
        title: "Module cache",
        description: "Modules cached by istio-agents and cache lookups by hit/miss.",
        kind: "timeseries",
        unit: "short",
        width: 8,
        queries: [
          {
            expr: `sum by (cluster, region) (${ISTIO_AGENT_METRICS.wasmCacheEntries}${selector(PLACE)})`,
            legend: "{{cluster}} cache entries",
          },
          {
            expr: sumRate(
              ISTIO_AGENT_METRICS.wasmCacheLookups,
              PLACE,
              [...PLACE_LABELS, "hit"],
              RATE_INTERVAL,
            ),
            legend: "{{cluster}} lookups/s hit={{hit}}",
          },
        ],
      },
      {
        title: "V8 Wasm VMs",
        description:
          "Wasm VMs alive in Envoy's V8 runtime across proxies, and how fast new ones are created (a steady creation rate without new pods means VMs are being recreated).",
        kind: "timeseries",
        unit: "short",
        width: 24,
        queries: [
          {
            expr: `sum by (cluster, region) (${ENVOY_METRICS.wasmV8VmsActive}${selector(PLACE)})`,
            legend: "{{cluster}} active VMs",
          },
          {
            expr: sumRate(ENVOY_METRICS.wasmV8VmsCreated, PLACE, [...PLACE_LABELS], RATE_INTERVAL),
            legend: "{{cluster}} created per second",
          },
        ],
      },
    ],
  },
  {
    title: "Istio control plane",
    panels: [
      {
        title: "Proxy convergence p50 / p99",
        description:
          "Delay from a configuration change (a WasmPlugin update, say) to a proxy having all of it.",
        kind: "timeseries",
        unit: "s",
        width: 12,
        queries: quantiles(
          [0.5, 0.99],
          ISTIOD_METRICS.proxyConvergenceTime,
          PLACE,
          PLACE_LABELS,
          PLACE_LEGEND,
        ),
      },
      {
        title: "xDS push time p99 by type",
        description: "Time istiod takes to push each xDS type.",
        kind: "timeseries",
        unit: "s",
        width: 12,
        queries: quantiles(
          [0.99],
          ISTIOD_METRICS.xdsPushTime,
          PLACE,
          [...PLACE_LABELS, "type"],
          "{{cluster}} {{type}}",
        ),
      },
      {
        title: "xDS pushes per second by type",
        description: "Pushes istiod sends (and send errors, type *_senderr).",
        kind: "timeseries",
        unit: "short",
        width: 12,
        queries: [
          {
            expr: sumRate(ISTIOD_METRICS.xdsPushes, PLACE, [...PLACE_LABELS, "type"], RATE_INTERVAL),
            legend: "{{cluster}} {{type}}",
          },
        ],
      },
      {
        title: "Rejected configuration per second",
        description:
          "xDS responses proxies refused (NACKs), by type, and istiod's internal xDS errors. A rejected listener update can carry a WasmPlugin change.",
        kind: "timeseries",
        unit: "short",
        width: 12,
        queries: [
          {
            expr: sumRate(ISTIOD_METRICS.xdsRejects, PLACE, [...PLACE_LABELS, "type"], RATE_INTERVAL),
            legend: "{{cluster}} rejected {{type}}",
          },
          {
            expr: sumRate(ISTIOD_METRICS.xdsInternalErrors, PLACE, [...PLACE_LABELS], RATE_INTERVAL),
            legend: "{{cluster}} internal errors",
          },
        ],
      },
    ],
  },
];

// Grafana dashboard JSON model (schemaVersion 39: Grafana 10.x/11.x).

const PANEL_HEIGHT = 8;
const GRID_WIDTH = 24;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function target(query: QuerySpec, index: number): Json {
  return {
    refId: String.fromCharCode("A".charCodeAt(0) + index),
    datasource: { ...DATASOURCE },
    expr: query.expr,
    legendFormat: query.legend,
    range: !query.instant,
    instant: query.instant === true,
    ...(query.instant ? { format: "table" } : {}),
  };
}

function panelBody(panel: PanelSpec): Record<string, Json> {
  if (panel.kind === "table") {
    return {
      type: "table",
      fieldConfig: { defaults: { unit: panel.unit, decimals: 2 }, overrides: [] },
      options: { showHeader: true, cellHeight: "sm" },
      transformations: panel.matrix
        ? [
            {
              id: "groupingToMatrix",
              options: {
                rowField: panel.matrix.rows,
                columnField: panel.matrix.columns,
                valueField: "Value",
                emptyValue: "zero",
              },
            },
          ]
        : [],
    };
  }
  return {
    type: "timeseries",
    fieldConfig: {
      defaults: {
        unit: panel.unit,
        min: 0,
        custom: { drawStyle: "line", lineWidth: 1, fillOpacity: 10, showPoints: "never", spanNulls: false },
      },
      overrides: [],
    },
    options: {
      legend: {
        showLegend: true,
        displayMode: "table",
        placement: "bottom",
        calcs: ["mean", "max", "lastNotNull"],
      },
      tooltip: { mode: "multi", sort: "desc" },
    },
  };
}

function templateVariable(spec: TemplateVariableSpec): Json {
  const { metric, label, matchers } = spec.valuesOf;
  const query = `label_values(${metric}${matchers.length ? `{${matchers.join(", ")}}` : ""}, ${label})`;
  return {
    name: spec.name,
    label: spec.label,
    type: "query",
    datasource: { ...DATASOURCE },
    definition: query,
    query: { query, refId: "PrometheusVariableQueryEditor-VariableQuery", qryType: 1 },
    refresh: 2,
    includeAll: true,
    multi: true,
    allValue: ".*",
    current: { selected: true, text: ["All"], value: ["$__all"] },
    sort: 1,
    hide: 0,
    options: [],
  };
}

/** The dashboard as Grafana's JSON model: rows as row panels, panels laid out left to right. */
export function buildDashboard(): Json {
  const panels: Json[] = [];
  let nextId = 1;
  let y = 0;
  for (const row of DASHBOARD_ROWS) {
    panels.push({
      type: "row",
      id: nextId++,
      title: row.title,
      collapsed: false,
      gridPos: { h: 1, w: GRID_WIDTH, x: 0, y },
      panels: [],
    });
    y += 1;
    let x = 0;
    for (const panel of row.panels) {
      if (x + panel.width > GRID_WIDTH) {
        x = 0;
        y += PANEL_HEIGHT;
      }
      panels.push({
        id: nextId++,
        title: panel.title,
        description: panel.description,
        datasource: { ...DATASOURCE },
        gridPos: { h: PANEL_HEIGHT, w: panel.width, x, y },
        ...panelBody(panel),
        targets: panel.queries.map(target),
      });
      x += panel.width;
    }
    y += PANEL_HEIGHT;
  }
  return {
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: "grafana", uid: "-- Grafana --" },
          enable: true,
          hide: true,
          iconColor: "rgba(0, 211, 255, 1)",
          name: "Annotations & Alerts",
          type: "dashboard",
        },
      ],
    },
    description:
      "Knative cold starts, invocations, client-visible latency and cross-cluster hops from the kwt Proxy-Wasm filter, with the filter's own health, Wasm module/VM health and the Istio control plane.",
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    links: [],
    panels,
    refresh: "1m",
    schemaVersion: 39,
    tags: ["knative", "istio", "wasm", "kwt"],
    templating: {
      list: [
        {
          name: "datasource",
          label: "Data source",
          type: "datasource",
          query: "prometheus",
          current: {},
          hide: 0,
          includeAll: false,
          multi: false,
          options: [],
          refresh: 1,
          regex: "",
        },
        ...TEMPLATE_VARIABLES.map(templateVariable),
      ],
    },
    time: { from: "now-6h", to: "now" },
    timepicker: {},
    timezone: "browser",
    title: "Knative on Istio: cold starts and mesh telemetry (kwt)",
    uid: "kwt-knative-mesh",
    version: 1,
  };
}

export function renderDashboard(): string {
  return `${JSON.stringify(buildDashboard(), null, 2)}\n`;
}
