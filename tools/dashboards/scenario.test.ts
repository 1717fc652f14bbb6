// The shipped PromQL against the real filter: build/filter.wasm runs in harness proxies (the demo's
// two-cluster mesh with a scale-from-zero revision, plus an "edge" revision pod that is made to hit
// the rarer paths), a real Prometheus scrapes their /stats/prometheus, and every dashboard query,
// template variable and alert measurement that reads the filter's metrics must return series with
// the labels it groups by. A wrong metric or label name in the dashboard or the rules, or a filter
// that names things differently from docs/filter.md, fails here.
//
// istio-agent's, Envoy's Wasm runtime and istiod's metrics do not come from the filter or the
// harness; shipped-expressions.test.ts checks those expressions against fixtures.
import http from "node:http";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AdminServer,
  closeServer,
  HarnessProxy,
  listenOn,
  Plugin,
  StatStore,
} from "../../host-tests/harness/index.js";
import { KNATIVE_SERVING_IDENTITY } from "../../host-tests/scenarios/knative.js";
import { drive } from "../demo/drive.js";
import { DemoMesh, send } from "../demo/mesh.js";
import { DEFAULT_SCENARIO, EAST, WEST } from "../demo/scenario.js";
import { FILTER_METRIC_LABELS } from "../deploy/filter-contract.js";
import {
  alertSignalExpressions,
  dashboardExpressions,
  type ShippedExpression,
} from "../testing/prometheus/shipped-expressions.js";
import { ALERTS } from "./alerts.js";
import { RULES_FILE } from "./generated-files.js";
import { FILTER_METRICS } from "./metrics.js";
import {
  findExpressionProblems,
  PROMETHEUS_BINARY,
  PrometheusServer,
  type ScrapeTarget,
} from "../testing/prometheus/server.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const FILTER_WASM = path.join(root, "build/filter.wasm");
const LOOPBACK = "127.0.0.1";
const TEST_WINDOW = "10s";
/** Label sets the edge pod may define before the rest go to overflow series (the schema's minimum). */
const EDGE_MAX_SERIES = 16;
const EDGE_SOURCE_CLUSTERS = 20;
const SAMPLED_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

const EDGE_POD_CONFIG = {
  maxSeries: EDGE_MAX_SERIES,
  tickPeriodMs: 200,
  // One span at a time: the hop spans of a burst of requests overflow the queue (spans dropped),
  // the first of each tick is exported.
  spanExport: { enabled: true, cluster: "otel-collector", maxQueue: 1, maxBatch: 1 },
};

/** Sends the requests that reach the filter's rarer paths to the edge pod's inbound sidecar. */
async function driveEdgePod(pod: HarnessProxy): Promise<void> {
  const target = pod.listenAddress;
  // Through the activator without x-kwt-entry: the pod stamps its ready time and the arrival.
  await send(target, "/", { "k-proxy-request": "activator" });
  await send(target, "/", { "x-kwt-hop": "not-a-hop-stamp" });
  await send(target, "/", { "x-kwt-hop": `1;c=ahead;r=ahead-1;t=${Date.now() + 600_000}` });
  // More calling clusters than the series cap allows, each request a sampled trace.
  await Promise.all(
    Array.from({ length: EDGE_SOURCE_CLUSTERS }, (_, index) =>
      send(target, "/", {
        "x-kwt-hop": `1;c=caller-${index};r=region-${index};t=${Date.now()}`,
        traceparent: SAMPLED_TRACEPARENT,
      }),
    ),
  );
}

interface Closable {
  close(): Promise<void>;
}

describe.skipIf(!existsSync(PROMETHEUS_BINARY))(
  "the shipped PromQL against the filter in harness proxies",
  () => {
    const closables: Closable[] = [];
    let prometheus: PrometheusServer | undefined;
    let spanExports = 0;
    let filterExpressions: ShippedExpression[];

    beforeAll(async () => {
      if (!existsSync(FILTER_WASM)) throw new Error(`${FILTER_WASM} is missing: run npm run build first`);
      const wasm = await readFile(FILTER_WASM);

      const mesh = await DemoMesh.start({
        wasm,
        coldStartDelayMs: 300,
      });
      closables.push(mesh);
      await drive(mesh, DEFAULT_SCENARIO);

      const app = http.createServer((_request, response) => response.writeHead(200).end("ok\n"));
      const collector = http.createServer((request, response) => {
        request.resume();
        request.on("end", () => {
          spanExports++;
          response.writeHead(200, { "content-type": "application/json" }).end("{}");
        });
      });
      const appAddress = await listenOn(app, { host: LOOPBACK, port: 0 });
      const collectorAddress = await listenOn(collector, { host: LOOPBACK, port: 0 });
      closables.push({ close: () => closeServer(app) }, { close: () => closeServer(collector) });

      const edgeStats = new StatStore({ extraStatTags: [...FILTER_METRIC_LABELS] });
      const loadEdgePlugin = () =>
        Plugin.load(
          {
            wasm,
            pluginConfig: JSON.stringify(EDGE_POD_CONFIG),
            direction: "inbound",
            node: {
              proxyType: "sidecar",
              cluster: "east",
              region: "us-east1",
              namespace: "edge",
              workloadName: "edge-00001-deployment",
              labels: {
                "serving.knative.dev/revision": "edge-00001",
                "serving.knative.dev/service": "edge",
                "serving.knative.dev/configuration": "edge",
              },
            },
            extraStatTags: [...FILTER_METRIC_LABELS],
            upstreamClusters: {
              "otel-collector": `http://${collectorAddress.host}:${collectorAddress.port}`,
            },
          },
          edgeStats,
        );
      const edge = await HarnessProxy.start({
        loadPlugin: loadEdgePlugin,
        stats: edgeStats,
        listen: { host: LOOPBACK, port: 0 },
        upstream: `http://${appAddress.host}:${appAddress.port}`,
        admin: { host: LOOPBACK, port: 0 },
        // A revision pod's sidecar sees requests addressed to queue-proxy's serving port, here from
        // the activator's mesh identity.
        identity: { destinationPort: 8012, peerIdentity: KNATIVE_SERVING_IDENTITY },
      });
      // A second listener of the same Envoy reached in plaintext (an activator without a sidecar):
      // its K-Proxy-Request cannot be verified.
      const plaintextEdge = await HarnessProxy.start({
        loadPlugin: loadEdgePlugin,
        stats: edgeStats,
        listen: { host: LOOPBACK, port: 0 },
        upstream: `http://${appAddress.host}:${appAddress.port}`,
        identity: { destinationPort: 8012 },
      });
      closables.push(plaintextEdge);
      await send(plaintextEdge.listenAddress, "/", { "k-proxy-request": "activator" });
      closables.push(edge);
      await driveEdgePod(edge);
      const deadline = Date.now() + 5_000;
      while (spanExports === 0 && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));

      // A proxy whose configuration the filter refuses: it runs on the defaults, counts the refusal
      // and reports kwt_config_valid 0.
      const rejectedStats = new StatStore({ extraStatTags: [...FILTER_METRIC_LABELS] });
      const rejected = await Plugin.load(
        { wasm, pluginConfig: JSON.stringify({ maxSeries: 1 }), direction: "inbound" },
        rejectedStats,
      );
      expect(rejected.rejection).toBeUndefined();
      closables.push({ close: async () => rejected.close() });
      const rejectedAdmin = await AdminServer.start({
        address: { host: LOOPBACK, port: 0 },
        stats: rejectedStats,
        isReady: () => true,
      });
      closables.push(rejectedAdmin);

      const admins = [
        ...mesh.adminUrls().map(({ name, url }) => ({ name, url: new URL(url) })),
        {
          name: "edge revision pod",
          url: new URL(`http://${edge.adminAddress?.host}:${edge.adminAddress?.port}/stats/prometheus`),
        },
        {
          name: "rejected configuration",
          url: new URL(`http://${rejectedAdmin.address.host}:${rejectedAdmin.address.port}/stats/prometheus`),
        },
      ];
      const targets: ScrapeTarget[] = admins.map(({ name, url }) => ({
        job: name.replace(/[^a-zA-Z0-9_]/g, "_"),
        address: url.host,
        metricsPath: url.pathname,
        // What each cluster's agent adds (external labels): the demo names its proxies by cluster.
        labels: name.startsWith("west") ? { ...WEST } : { ...EAST },
      }));
      prometheus = await PrometheusServer.start({ targets, ruleFiles: [path.join(root, RULES_FILE)] });
      await prometheus.waitForScrapes(3, 20_000);

      filterExpressions = [...dashboardExpressions(TEST_WINDOW), ...alertSignalExpressions()].filter(
        (shipped) => shipped.sources.length === 1 && shipped.sources[0] === "filter",
      );
    });

    afterAll(async () => {
      await prometheus?.stop();
      for (const closable of closables.reverse()) await closable.close();
    });

    it("drives the filter into every metric of its contract", async () => {
      const names = (
        await (prometheus as PrometheusServer).query('group by (__name__) ({__name__=~".+"})')
      ).map((sample) => sample.metric.__name__);
      const families = new Set(names.map((name) => name?.replace(/_(bucket|sum|count)$/, "")));
      expect(Object.values(FILTER_METRICS).filter((metric) => !families.has(metric))).toEqual([]);
      expect(spanExports).toBeGreaterThan(0);
    });

    it("answers every dashboard query and alert measurement on the filter's metrics with labelled series", async () => {
      const dashboardCount = dashboardExpressions(TEST_WINDOW).filter((shipped) =>
        shipped.sources.every((source) => source === "filter"),
      ).length;
      expect(filterExpressions.length).toBeGreaterThanOrEqual(dashboardCount);
      expect(await findExpressionProblems(prometheus as PrometheusServer, filterExpressions)).toEqual([]);
    });

    it("evaluates the shipped rules file against the filter's real metrics without errors", async () => {
      const health = await (prometheus as PrometheusServer).evaluatedRuleHealth(10_000);
      expect(health.map((rule) => rule.health)).toEqual(ALERTS.map(() => "ok"));
    });
  },
);
