// Shared setup for the part-2 filter tests (filter-knative/setup.ts builds on it too): the compiled
// filter, proxies in two clusters, one request through a stream, and header and stat helpers.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { ManualClock } from "../harness/clock.js";
import { Plugin, type Stream } from "../harness/plugin.js";
import type { HeaderList, PluginOptions, StreamEnd, StreamOptions } from "../harness/types.js";
import { seriesValue } from "../support/prometheus-text.js";
import { FILTER_METRIC_LABELS } from "../../tools/deploy/filter-contract.js";

const filterPath = fileURLToPath(new URL("../../build/filter.wasm", import.meta.url));
export const FILTER_WASM = new Uint8Array(readFileSync(filterPath));

export const CLUSTER_A = { cluster: "cluster-a", region: "eu-west1" };
export const CLUSTER_B = { cluster: "cluster-b", region: "us-east1" };

export type Position = "gateway" | "outbound" | "inbound";

export interface ProxySetup {
  place: { cluster: string; region: string };
  position: Position;
  config?: Record<string, unknown>;
  clock?: ManualClock;
  upstreamClusters?: Record<string, string>;
  /** Knative revision labels for an inbound sidecar. */
  revision?: boolean;
}

export function pluginOptions(setup: ProxySetup): PluginOptions {
  const labels: Record<string, string> = setup.revision
    ? {
        "serving.knative.dev/revision": "hello-00001",
        "serving.knative.dev/service": "hello",
        "serving.knative.dev/configuration": "hello",
      }
    : {};
  return {
    wasm: FILTER_WASM,
    pluginConfig: JSON.stringify(setup.config ?? {}),
    direction: setup.position === "inbound" ? "inbound" : "outbound",
    node: {
      proxyType: setup.position === "gateway" ? "router" : "sidecar",
      cluster: setup.place.cluster,
      region: setup.place.region,
      namespace: "default",
      podName: "pod-1",
      labels,
    },
    extraStatTags: [...FILTER_METRIC_LABELS],
    clock: setup.clock ?? new ManualClock(),
    upstreamClusters: setup.upstreamClusters,
  };
}

export function loadProxy(setup: ProxySetup): Promise<Plugin> {
  return Plugin.load(pluginOptions(setup));
}

export const BASE_REQUEST: HeaderList = [
  [":method", "GET"],
  [":path", "/"],
  [":authority", "hello.default.svc.cluster.local"],
];

export interface Exchange {
  stream: Stream;
  request: HeaderList;
  response: HeaderList;
}

/** Knative's activator (with the autoscaler and controller): a mesh identity the filter believes K-Proxy-Request from. */
export const ACTIVATOR_IDENTITY = "spiffe://cluster.local/ns/knative-serving/sa/controller";
/** A revision pod's workload identity, as the upstream of a gateway or outbound sidecar. */
export const POD_IDENTITY = "spiffe://cluster.local/ns/demo/sa/default";

/** The route's cluster (xds.cluster_name) of a request to the revision: an in-mesh destination. */
export const REVISION_CLUSTER = "outbound|80||hello.demo.svc.cluster.local";

/** A connection from the mesh: the activator's certificate downstream, a revision pod upstream. */
export const MESH_CONNECTION: StreamOptions = {
  peerIdentity: ACTIVATOR_IDENTITY,
  upstreamCluster: REVISION_CLUSTER,
  upstreamAddress: "10.0.0.9:8012",
  upstreamIdentity: POD_IDENTITY,
};
/** A plaintext downstream (no certificate), still with a revision pod upstream. */
export const PLAINTEXT_CONNECTION: StreamOptions = {
  mtls: false,
  upstreamCluster: REVISION_CLUSTER,
  upstreamAddress: "10.0.0.9:8012",
  upstreamIdentity: POD_IDENTITY,
};

/**
 * One request through the filter: request headers, optional response headers, then the end. The
 * connection is MESH_CONNECTION unless `fromMesh` is false (then PLAINTEXT_CONNECTION), with
 * `connection` laid over it.
 */
export function exchange(
  plugin: Plugin,
  request: HeaderList,
  options: {
    fromMesh?: boolean;
    connection?: StreamOptions;
    status?: number;
    responseHeaders?: HeaderList;
    end?: StreamEnd;
  } = {},
): Exchange {
  const base = (options.fromMesh ?? true) ? MESH_CONNECTION : PLAINTEXT_CONNECTION;
  const stream = plugin.createStream({ ...base, ...options.connection });
  const requestOut = stream.onRequestHeaders(request, true).headers;
  let responseOut: HeaderList = [];
  if (options.status !== undefined) {
    responseOut = stream.onResponseHeaders(
      [[":status", String(options.status)], ...(options.responseHeaders ?? [])],
      true,
    ).headers;
  }
  stream.end(options.end ?? {});
  return { stream, request: requestOut, response: responseOut };
}

/** Every value of a header, in order. */
export function allValues(headers: HeaderList, name: string): string[] {
  return headers.filter(([key]) => key === name).map(([, value]) => value);
}

/** The single value of a header; fails the test if it is absent or repeated. */
export function onlyValue(headers: HeaderList, name: string): string {
  const values = allValues(headers, name);
  if (values.length !== 1) throw new Error(`expected one ${name} header, got ${JSON.stringify(values)}`);
  return values[0] as string;
}

export const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface ParsedTraceparent {
  traceId: string;
  parentId: string;
  flags: number;
}

export function parseTraceparent(value: string): ParsedTraceparent {
  const match = TRACEPARENT_RE.exec(value);
  if (match === null) throw new Error(`not a version-00 traceparent: ${value}`);
  return {
    traceId: match[1] as string,
    parentId: match[2] as string,
    flags: Number.parseInt(match[3] as string, 16),
  };
}

/** The Prometheus value of one series, e.g. `kwt_traces_started_total{sampled="true"}`, labels in any order. */
export function metricValue(plugin: Plugin, series: string): number | undefined {
  return seriesValue(plugin.stats.prometheusText(), series);
}
