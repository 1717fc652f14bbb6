// The request shapes the benchmarks replay, one per path the filter has, with the plugin set-up
// each path needs. Pure data: measuring lives in measure.ts.

import { type HeaderList, ManualClock, type PluginOptions } from "../../host-tests/harness/index.js";
import { FILTER_METRIC_LABELS } from "../deploy/filter-contract.js";

export type BenchPath = "inbound-knative" | "outbound-stamping" | "gateway-response";

const REVISION_LABELS = {
  "serving.knative.dev/revision": "hello-00001",
  "serving.knative.dev/service": "hello",
  "serving.knative.dev/configuration": "hello",
};

/** Where each path runs: a revision pod's inbound sidecar, a workload's outbound sidecar, a gateway. */
export function pluginOptionsFor(path: BenchPath, wasm: Uint8Array, clock: ManualClock): PluginOptions {
  const base = {
    wasm,
    pluginConfig: "{}",
    extraStatTags: [...FILTER_METRIC_LABELS],
    clock,
    // One worker VM: the figures are one VM's cost per request and memory (the harness defaults to two).
    workers: 1,
  };
  switch (path) {
    case "inbound-knative":
      return {
        ...base,
        direction: "inbound",
        node: {
          proxyType: "sidecar",
          cluster: "east",
          region: "us-east1",
          namespace: "demo",
          labels: REVISION_LABELS,
        },
      };
    case "outbound-stamping":
      return {
        ...base,
        direction: "outbound",
        node: { proxyType: "sidecar", cluster: "west", region: "europe-west1", namespace: "shop" },
      };
    case "gateway-response":
      return {
        ...base,
        direction: "outbound",
        node: { proxyType: "router", cluster: "east", region: "us-east1", namespace: "istio-system" },
      };
  }
}

export interface BenchRequest {
  request: HeaderList;
  response: HeaderList;
  responseCode: number;
  /** The stream arrives over mutual TLS (inside the mesh). */
  mtls: boolean;
}

const CODES = [200, 200, 200, 404, 500, 503];

/**
 * The i-th request of a path. `rotating` spreads label values over many series (source clusters,
 * revisions, response codes), as a busy mesh would; otherwise every request is the same.
 */
export function benchRequest(path: BenchPath, i: number, rotating: boolean, nowMs: number): BenchRequest {
  const code = rotating ? CODES[i % CODES.length]! : 200;
  const request: HeaderList = [
    [":method", "GET"],
    [":path", "/api/items?page=2"],
    [":authority", "hello.demo.svc.cluster.local"],
    ["user-agent", "bench/1.0"],
    ["accept", "application/json"],
  ];
  const response: HeaderList = [
    [":status", `${code}`],
    ["content-type", "application/json"],
  ];
  switch (path) {
    case "inbound-knative": {
      const source = rotating ? `cluster-${i % 50}` : "west";
      request.push(["x-kwt-hop", `1;c=${source};r=europe-west1;t=${nowMs - 3}`]);
      request.push(["x-kwt-entry", `${nowMs - 5}`]);
      request.push(["traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"]);
      if (i % 10 === 0) request.push(["k-proxy-request", "activator"]);
      return { request, response, responseCode: code, mtls: true };
    }
    case "outbound-stamping":
      return { request, response, responseCode: code, mtls: false };
    case "gateway-response": {
      const revision = rotating ? `hello-${String(i % 100).padStart(5, "0")}` : "hello-00001";
      const cold = rotating && i % 20 === 0 ? "1" : "0";
      response.push(["x-kwt-pod", `1;cs=${cold};w=;c=east;r=us-east1;n=demo;s=hello;v=${revision}`]);
      return { request, response, responseCode: code, mtls: false };
    }
  }
}
