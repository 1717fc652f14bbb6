// What Knative puts on the wire that the scenarios reproduce: queue-proxy's ports, the headers and
// user agents of its probes and scrapes (knative/networking pkg/http/header, serving pkg/activator,
// pkg/autoscaler/metrics), and the mesh identities of its components.

import type { HeaderList } from "../harness/index.js";

/** queue-proxy's ports: the serving ones reach the user container, the others never do. */
export const QueueProxyPort = {
  http1: 8012,
  h2c: 8013,
  https: 8112,
  autoscalerMetrics: 9090,
  userMetrics: 9091,
} as const;

export const SERVING_PORTS: ReadonlySet<number> = new Set([
  QueueProxyPort.http1,
  QueueProxyPort.h2c,
  QueueProxyPort.https,
]);

/** The activator, autoscaler and controller share one service account (identity alone says little). */
export const KNATIVE_SERVING_IDENTITY = "spiffe://cluster.local/ns/knative-serving/sa/controller";
export const INGRESS_GATEWAY_IDENTITY =
  "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account";

export function workloadIdentity(namespace: string, serviceAccount: string): string {
  return `spiffe://cluster.local/ns/${namespace}/sa/${serviceAccount}`;
}

/** The activator's readiness probe of a pod (or, in mesh mode, of the private service). */
export function activatorProbe(authority: string): HeaderList {
  return [
    [":method", "GET"],
    [":path", "/healthz"],
    [":authority", authority],
    ["k-network-probe", "queue"],
    ["user-agent", "Knative-Activator-Probe"],
  ];
}

/** net-istio's status prober, through the gateway to the revision (answered by queue-proxy). */
export function ingressProbe(host: string): HeaderList {
  return [
    [":method", "GET"],
    [":path", "/healthz"],
    [":authority", host],
    ["k-network-probe", "probe"],
    ["k-network-hash", "override"],
    ["user-agent", "Knative-Ingress-Probe"],
  ];
}

/** The kubelet's readiness probe of queue-proxy, when Istio does not rewrite it to pilot-agent. */
export function kubeletProbe(authority: string): HeaderList {
  return [
    [":method", "GET"],
    [":path", "/"],
    [":authority", authority],
    ["k-kubelet-probe", "queue"],
    ["user-agent", "kube-probe/1.29"],
  ];
}

/** The autoscaler's scrape of queue-proxy: `Accept: application/protobuf`, nothing else. */
export function autoscalerScrape(authority: string): HeaderList {
  return [
    [":method", "GET"],
    [":path", "/metrics"],
    [":authority", authority],
    ["accept", "application/protobuf"],
  ];
}

/** Prometheus scraping queue-proxy's user metrics. */
export function prometheusScrape(authority: string): HeaderList {
  return [
    [":method", "GET"],
    [":path", "/metrics"],
    [":authority", authority],
    ["user-agent", "Prometheus/2.42.0"],
    ["accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"],
  ];
}
