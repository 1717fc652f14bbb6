// Shared setup for the Knative filter tests: proxies at each position on each Envoy property
// layout, Knative's request shapes, and exact reads of the Prometheus output.

import { ManualClock } from "../harness/clock.js";
import { Plugin } from "../harness/plugin.js";
import { PROPERTY_LAYOUTS } from "../harness/properties.js";
import type {
  HeaderList,
  NodeIdentity,
  PluginOptions,
  PropertyLayout,
  StreamOptions,
} from "../harness/types.js";
import { seriesLines } from "../support/prometheus-text.js";
import { FILTER_WASM, MESH_CONNECTION } from "../filter-tracing/setup.js";
import { FILTER_METRIC_LABELS } from "../../tools/deploy/filter-contract.js";

export {
  ACTIVATOR_IDENTITY,
  FILTER_WASM,
  MESH_CONNECTION,
  PLAINTEXT_CONNECTION,
  POD_IDENTITY,
  REVISION_CLUSTER,
  exchange,
  metricValue,
} from "../filter-tracing/setup.js";

/** An in-mesh caller through knative-local-gateway: its workload identity, on the mesh-facing port 8081. */
export const LOCAL_GATEWAY_CONNECTION: StreamOptions = {
  ...MESH_CONNECTION,
  peerIdentity: "spiffe://cluster.local/ns/shop/sa/checkout",
  destinationPort: 8081,
};

export const LAYOUTS: readonly PropertyLayout[] = PROPERTY_LAYOUTS;

/** ManualClock's origin: the VMs start at this wall-clock time. */
export const T0_MS = 1_700_000_000_000;

export const REVISION_LABELS: Record<string, string> = {
  "serving.knative.dev/revision": "hello-00001",
  "serving.knative.dev/service": "hello",
  "serving.knative.dev/configuration": "hello-config",
};

/** The REV labels of the revision pod above, in `name="value"` form. */
export const REV = `namespace_name="demo",service_name="hello",configuration_name="hello-config",revision_name="hello-00001",destination_cluster="cluster-a",destination_region="eu-west1"`;

export type Position = "gateway" | "outbound" | "inbound";

/** A property layout alone, or an Envoy version (its stream ends and its layout). */
export type ProxySetup = ({ layout: PropertyLayout } | { envoy: string }) & {
  position: Position;
  config?: Record<string, unknown> | string | Uint8Array;
  node?: NodeIdentity;
  clock?: ManualClock;
};

export function revisionNode(): NodeIdentity {
  return {
    proxyType: "sidecar",
    podName: "hello-00001-deployment-7d9c-x2x",
    cluster: "cluster-a",
    region: "eu-west1",
    namespace: "demo",
    labels: { ...REVISION_LABELS },
  };
}

export function gatewayNode(): NodeIdentity {
  return {
    proxyType: "router",
    podName: "istio-ingressgateway-1",
    cluster: "cluster-a",
    region: "eu-west1",
    namespace: "istio-system",
    labels: { app: "istio-ingressgateway" },
  };
}

export function proxyOptions(setup: ProxySetup): PluginOptions {
  const node = setup.node ?? (setup.position === "gateway" ? gatewayNode() : revisionNode());
  return {
    wasm: FILTER_WASM,
    pluginConfig:
      typeof setup.config === "string" || setup.config instanceof Uint8Array
        ? setup.config
        : JSON.stringify(setup.config ?? {}),
    ...("envoy" in setup ? { envoy: setup.envoy } : { propertyLayout: setup.layout }),
    direction: setup.position === "inbound" ? "inbound" : "outbound",
    node,
    extraStatTags: [...FILTER_METRIC_LABELS],
    clock: setup.clock ?? new ManualClock(T0_MS),
  };
}

export function loadProxy(setup: ProxySetup): Promise<Plugin> {
  return Plugin.load(proxyOptions(setup));
}

export const REQUEST: HeaderList = [
  [":method", "GET"],
  [":path", "/"],
  [":authority", "hello.demo.example.com"],
  ["user-agent", "curl/8.5.0"],
];

/**
 * The autoscaler's scrape of queue-proxy's metrics through the pod's sidecar in mesh mode: to port
 * 9090, about once a second, no probe header nor user agent (docs/filter.md, "What counts").
 */
export const AUTOSCALER_SCRAPE: HeaderList = [
  [":method", "GET"],
  [":path", "/metrics"],
  [":authority", "hello-00001-private.demo:9090"],
  ["accept", "application/protobuf"],
];
export const AUTOSCALER_SCRAPE_PORT = 9090;

/** The activator's own pod: Knative's data plane in knative-serving, no revision labels. */
export function activatorNode(): NodeIdentity {
  return {
    proxyType: "sidecar",
    podName: "activator-5c8b9d7f4-abcde",
    cluster: "cluster-a",
    region: "eu-west1",
    namespace: "knative-serving",
    labels: { app: "activator", role: "activator" },
  };
}

/** The activator's readiness probe of the pod (pod-IP mode): a 200 makes the pod ready. */
export const READINESS_PROBE: HeaderList = [
  [":method", "GET"],
  [":path", "/healthz"],
  ["k-network-probe", "queue"],
  ["user-agent", "Knative-Activator-Probe"],
];

/** What the activator forwards: K-Proxy-Request plus the entry stamp the gateway put on. */
export function activatorRequest(entryMs?: number): HeaderList {
  const headers: HeaderList = [...REQUEST, ["k-proxy-request", "activator"]];
  if (entryMs !== undefined) headers.push(["x-kwt-entry", String(entryMs)]);
  return headers;
}

/** Runs `step` once per worker: streams go round-robin, so each worker VM gets one. */
export function onEachWorker(plugin: Plugin, step: () => void): void {
  for (let i = 0; i < plugin.workerCount; i++) step();
}

export function header(headers: HeaderList, name: string): string | undefined {
  return headers.find(([key]) => key === name)?.[1];
}

/** Every series of one metric in the Prometheus text (lines starting with the name and `{`). */
export function seriesOf(plugin: Plugin, metric: string): string[] {
  return seriesLines(plugin.stats.prometheusText(), metric);
}
