import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseClustersFile } from "./clusters-file.js";
import { dataPlaneCells, readDataPlane, readProxyMetrics, summarizeDataPlane } from "./data-plane.js";
import { useFakeClusters, type FakeKubeApi } from "../testing/kube/fake-kube-api.js";
import { compilePluginConfigSchema } from "./filter-config-schema.js";
import { loadKubeConfig, mapWithConcurrency } from "./kube.js";
import { planDeployment, type ClusterPlan } from "./plan.js";
import { TEST_FILTER_SCHEMA } from "../testing/deploy/stand-in-filter-schema.js";
import { loadIstioSchemas } from "./validate.js";

const root = path.resolve(import.meta.dirname, "../..");

/** A merged endpoint's text as istio-agent serves it: Envoy's stats, the agent's, the filter's. */
function mergedMetrics(options: {
  fetches?: Record<string, number>;
  cache?: number;
  valid?: number[];
}): string {
  const lines = [
    "# TYPE envoy_cluster_upstream_rq_total counter",
    'envoy_cluster_upstream_rq_total{cluster_name="xds-grpc"} 12',
    "# HELP istio_agent_wasm_remote_fetch_count Number of remote wasm fetches",
    "# TYPE istio_agent_wasm_remote_fetch_count counter",
    ...Object.entries(options.fetches ?? {}).map(
      ([result, count]) => `istio_agent_wasm_remote_fetch_count{result="${result}"} ${count}`,
    ),
    ...(options.cache === undefined ? [] : [`istio_agent_wasm_cache_entries ${options.cache}`]),
    ...(options.valid ?? []).map((value, index) => `kwt_config_valid{root_id="kwt-${index}"} ${value}`),
  ];
  return `${lines.join("\n")}\n`;
}

describe("reading a sidecar's merged metrics", () => {
  it("reads only the metrics it needs, whatever else the application merged in", () => {
    const withAppMetrics = `${mergedMetrics({ fetches: { success: 1 }, cache: 1 })}# app metrics, with timestamps\nhttp_requests_total{path="/"} 7 1700000000000\n`;
    expect(readProxyMetrics(withAppMetrics)).toEqual({ fetches: { success: 1 }, cacheEntries: 1 });
  });

  it("reads fetches by result, cache entries and the config-validity gauge, which may be absent", () => {
    expect(
      readProxyMetrics(
        mergedMetrics({ fetches: { success: 2, download_failure: 1 }, cache: 1, valid: [1, 0] }),
      ),
    ).toEqual({
      fetches: { success: 2, download_failure: 1 },
      cacheEntries: 1,
      configValid: [
        { series: 'kwt_config_valid{root_id="kwt-0"}', value: 1 },
        { series: 'kwt_config_valid{root_id="kwt-1"}', value: 0 },
      ],
    });
    expect(
      readProxyMetrics(mergedMetrics({ fetches: { success: 1 }, cache: 1 })).configValid,
    ).toBeUndefined();
  });

  it("summarises a cluster's sample, naming each problem by pod", () => {
    const status = summarizeDataPlane([
      {
        pod: "a/one",
        reading: readProxyMetrics(mergedMetrics({ fetches: { success: 1 }, cache: 1, valid: [1] })),
      },
      {
        pod: "a/two",
        reading: readProxyMetrics(
          mergedMetrics({ fetches: { checksum_mismatched: 3 }, cache: 0, valid: [0] }),
        ),
      },
      { pod: "b/three", error: "forbidden" },
    ]);
    expect(status).toEqual({
      sampled: 3,
      read: 2,
      fetches: { success: 1, checksum_mismatched: 3 },
      podsWithCachedModule: 1,
      configReported: 2,
      problems: [
        "pod a/two: module fetch failed (checksum_mismatched 3)",
        "pod a/two: no Wasm module in istio-agent's cache",
        'pod a/two: configuration rejected, not the one given (kwt_config_valid{root_id="kwt-0"} = 0)',
        "pod b/three: metrics not readable: forbidden",
      ],
    });
    expect(dataPlaneCells(status)).toEqual({
      sidecars: "2 of 3 read",
      fetches: "checksum_mismatched 3, success 1",
      cache: "1 of 2 cached",
      config: "reported by 2 of 2",
    });
    const older = summarizeDataPlane([
      { pod: "a/one", reading: readProxyMetrics(mergedMetrics({ fetches: { success: 1 }, cache: 1 })) },
    ]);
    expect([older.problems, dataPlaneCells(older).config]).toEqual([
      [],
      "not reported by this filter version",
    ]);
    expect(summarizeDataPlane([]).problems).toEqual([
      "no running pod with an Istio sidecar matches the WasmPlugin",
    ]);
  });

  it("bounds how many reads run at once", async () => {
    let now = 0;
    let most = 0;
    const results = await mapWithConcurrency([1, 2, 3, 4, 5, 6, 7], 3, async (item) => {
      most = Math.max(most, ++now);
      await new Promise((resolve) => setTimeout(resolve, 5));
      now--;
      return item * 10;
    });
    expect([results, most]).toEqual([[10, 20, 30, 40, 50, 60, 70], 3]);
  });
});

function plans(extra = ""): ClusterPlan[] {
  const file = parseClustersFile(
    `image: oci://registry.example.com/kwt:1.0.0
${extra}
clusters:
  - { name: east, context: ctx-east }
  - { name: west, context: ctx-west }
`,
    "clusters.yaml",
  );
  const plan = planDeployment(file, {
    requireDigest: false,
    withSecret: false,
    only: [],
    env: {},
    checkPluginConfig: compilePluginConfigSchema(TEST_FILTER_SCHEMA),
    schemas: loadIstioSchemas(root),
  });
  expect(plan.problems).toEqual([]);
  return plan.plans;
}

function addPod(
  server: FakeKubeApi,
  namespace: string,
  name: string,
  options: { sidecar?: boolean; phase?: string; labels?: Record<string, string>; metrics?: string } = {},
): void {
  server.seed({
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace,
      labels: {
        ...(options.sidecar !== false && { "security.istio.io/tlsMode": "istio" }),
        ...options.labels,
      },
    },
    status: { phase: options.phase ?? "Running" },
  });
  if (options.metrics !== undefined)
    server.podEndpoints.set(`${namespace}/${name}:15020/stats/prometheus`, options.metrics);
}

describe("readDataPlane against loopback API servers", () => {
  const fixture = useFakeClusters(["east", "west"]);
  const options = (sample: number) => ({
    kubeConfig: loadKubeConfig(),
    concurrency: 2,
    timeoutMs: 10_000,
    sample,
  });

  it("samples running sidecar pods through the pod proxy and names fetch failures and rejected configurations", async () => {
    const { east, west } = fixture.clusters.servers;
    const healthy = mergedMetrics({ fetches: { success: 1 }, cache: 1, valid: [1] });
    addPod(east!, "default", "hello-1", { metrics: healthy });
    addPod(east!, "shop", "cart-1", {
      metrics: mergedMetrics({ fetches: { download_failure: 2 }, cache: 0, valid: [] }),
    });
    addPod(east!, "default", "no-sidecar", { sidecar: false, metrics: healthy });
    addPod(east!, "default", "finished", { phase: "Succeeded", metrics: healthy });
    addPod(west!, "default", "hello-1", {
      metrics: mergedMetrics({ fetches: { success: 1 }, cache: 1, valid: [0] }),
    });
    addPod(west!, "default", "hello-2", { metrics: healthy });
    addPod(west!, "default", "hello-3");

    const [eastStatus, westStatus] = await readDataPlane(plans(), options(2));
    expect(eastStatus!.result).toEqual({
      sampled: 2,
      read: 2,
      fetches: { success: 1, download_failure: 2 },
      podsWithCachedModule: 1,
      configReported: 1,
      problems: [
        "pod shop/cart-1: module fetch failed (download_failure 2)",
        "pod shop/cart-1: no Wasm module in istio-agent's cache",
      ],
    });
    expect(westStatus!.result!.problems).toEqual([
      'pod default/hello-1: configuration rejected, not the one given (kwt_config_valid{root_id="kwt-0"} = 0)',
    ]);
    const list = east!.requests.find((request) => request.path === "/api/v1/pods")!;
    expect(Object.fromEntries(list.query)).toEqual({
      labelSelector: "security.istio.io/tlsMode=istio",
      fieldSelector: "status.phase=Running",
      limit: "2",
    });
    const proxied = west!.requests
      .filter((request) => request.path.includes("/proxy/"))
      .map((request) => request.path);
    expect(proxied.sort()).toEqual([
      "/api/v1/namespaces/default/pods/hello-1:15020/proxy/stats/prometheus",
      "/api/v1/namespaces/default/pods/hello-2:15020/proxy/stats/prometheus",
    ]);

    const [, allWest] = await readDataPlane(plans(), options(5));
    expect(allWest!.result!.problems).toContain(
      "pod default/hello-3: metrics not readable: reading pod default/hello-3's metrics: the API server failed (503): error trying to reach service: dial tcp hello-3:15020: connect: connection refused; rerun when it is healthy",
    );
  });

  it("looks only in the plugin's namespace and selector when it is not mesh-wide, and explains a missing pods/proxy permission", async () => {
    const { east, west } = fixture.clusters.servers;
    addPod(east!, "shop", "cart-1", {
      labels: { app: "cart" },
      metrics: mergedMetrics({ fetches: { success: 1 }, cache: 1 }),
    });
    addPod(east!, "shop", "other", { labels: { app: "other" } });
    addPod(east!, "default", "cart-2", { labels: { app: "cart" } });
    addPod(west!, "shop", "cart-1", { labels: { app: "cart" } });
    west!.intercept = (request) =>
      request.path.includes("/proxy/")
        ? {
            code: 403,
            reason: "Forbidden",
            message:
              'pods "cart-1" is forbidden: User "ci" cannot get resource "pods/proxy" in API group "" in the namespace "shop"',
          }
        : undefined;
    const [east1, west1] = await readDataPlane(
      plans("namespace: shop\nselector: { matchLabels: { app: cart } }"),
      options(5),
    );
    expect(east1!.result).toMatchObject({ sampled: 1, read: 1, problems: [] });
    expect(dataPlaneCells(east1!.result!).config).toBe("not reported by this filter version");
    expect(east!.requests.find((request) => request.path.endsWith("/pods"))!.path).toBe(
      "/api/v1/namespaces/shop/pods",
    );
    expect(west1!.result!.problems).toEqual([
      'pod shop/cart-1: metrics not readable: reading pod shop/cart-1\'s metrics: forbidden (403): pods "cart-1" is forbidden: User "ci" cannot get resource "pods/proxy" in API group "" in the namespace "shop"; the user of context "ctx-west" needs RBAC permission to get pods/proxy in namespace shop (deploy/rbac/kwt-data-plane.yaml)',
    ]);
  });
});
