import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { booleanFlag, integerFlag, parseArgs, stringFlag, UsageError } from "./args.js";
import { EXIT_FAILURE, EXIT_OK, projectRoot, type Command } from "./command.js";
import { style } from "./output.js";
import { shippedFileLogFormat } from "../demo/access-log.js";
import { drive } from "../demo/drive.js";
import { DemoMesh } from "../demo/mesh.js";
import {
  headlineQueries,
  measureFilterCost,
  observedClusters,
  OBSERVE_INTERVAL_SECONDS,
  renderCosts,
  renderDelivered,
  renderHeadlines,
  steadyTraffic,
} from "../demo/observe.js";
import { DEFAULT_SCENARIO, type Scenario } from "../demo/scenario.js";
import { TEST_PROFILE } from "../dashboards/alerts.js";
import { delay, INSTALL_HINT, missingBinaries, type CentralEngine } from "../observe/engines.js";
import { agentName, ObservePipeline } from "../observe/pipeline.js";
import { compareWithTruth, measureFilter } from "../../host-tests/scenarios/measure.js";
import { renderSummary, summarise, type ProxyExposition } from "../demo/summary.js";

const USAGE = `Usage: kwt demo [--once] [--cold-start-delay-ms N] [--json FILE] [--observe [--store S]]

Runs a small two-cluster mesh on loopback with the harness and build/filter.wasm: in cluster east an
ingress gateway, an activator stand-in and a Knative revision pod (sidecar + app) that starts from
zero; in cluster west a workload that calls the revision across clusters. Plays a short scenario
(scale from zero, warm traffic, errors, activator proxy mode, a scale-up to a second pod with
requests waiting for capacity, the autoscaler's and Prometheus's scrapes on the pod's :9090 and
:9091, cross-cluster calls), prints what the filter measured, the ground truth of what happened
next to it, and each proxy's /stats/prometheus URL, then keeps running until Ctrl-C.

Options:
  --once                     exit after the summary (for scripts and CI)
  --cold-start-delay-ms N    how long the revision pod takes to start (default ${DEFAULT_SCENARIO.coldStartDelayMs})
  --json FILE                also write the scenario and the summary as JSON
  --observe                  also run the multi-cluster metrics path on loopback with the real engines:
                             one agent per demo cluster (the shipped scrape configuration, static
                             targets instead of discovery), the central store, rule evaluation (the
                             rules' test profile, so alerts fire within seconds) and Alertmanager,
                             with temporary storage; prints their URLs. With --once: waits for an
                             alert, prints the dashboard's headline queries from the central store,
                             the alerts Alertmanager delivered and what the filter's metrics cost per
                             pod, then stops everything
  --store S                  central store for --observe: victoria-metrics (vmagent, vmalert;
                             default) or prometheus (Prometheus agents, receiver)`;

/** How long --observe --once waits for Alertmanager to deliver an alert. */
const DELIVERY_TIMEOUT_MS = 90_000;

/** Reads every proxy's /stats/prometheus over HTTP until two reads agree (streams end after replies). */
async function settledExpositions(mesh: DemoMesh): Promise<ProxyExposition[]> {
  let previous = "";
  for (let attempt = 0; attempt < 40; attempt++) {
    const expositions = await Promise.all(
      mesh.adminUrls().map(async ({ name, url }) => ({ name, text: await (await fetch(url)).text() })),
    );
    const current = JSON.stringify(expositions);
    if (current === previous) return expositions;
    previous = current;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("demo: the proxies' stats kept changing; streams did not finish");
}

async function runDemo(scenario: Scenario, wasmPath: string) {
  const wasm = new Uint8Array(await readFile(wasmPath));
  const mesh = await DemoMesh.start({
    wasm,
    coldStartDelayMs: scenario.coldStartDelayMs,
    scaleUpDelayMs: scenario.scaleUpDelayMs,
    gatewayAccessLogFormat: shippedFileLogFormat(projectRoot()).format,
  });
  try {
    await drive(mesh, scenario);
    const expositions = await settledExpositions(mesh);
    const summary = summarise(expositions, mesh.gatewayAccessLog);
    summary.groundTruth = compareWithTruth(
      mesh.truth.summary(),
      measureFilter(expositions.map((e) => e.text)),
    );
    return { mesh, summary };
  } catch (error) {
    await mesh.close();
    throw error;
  }
}

function waitForSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
}

/** Runs the engines over the demo mesh; returns the exit code. The caller closes the mesh. */
async function observe(mesh: DemoMesh, store: CentralEngine, once: boolean): Promise<number> {
  const west = mesh.proxies.find((proxy) => proxy.name.startsWith("west"));
  if (!west) throw new Error("demo: the west workload did not start");
  const clusters = observedClusters(mesh);
  const pipeline = await ObservePipeline.start({
    store,
    clusters,
    profile: TEST_PROFILE,
    intervalSeconds: OBSERVE_INTERVAL_SECONDS,
  });
  const traffic = steadyTraffic(mesh, west);
  try {
    console.log("");
    console.log(style(`Multi-cluster metrics path (${store}), on loopback:`, "bold"));
    console.log(`  ${"central store (Prometheus API; Grafana data source)".padEnd(52)} ${pipeline.queryUrl}`);
    for (const { name, url } of pipeline.urls()) console.log(`  ${name.padEnd(52)} ${url}`);
    if (!once) {
      console.log("Running; Ctrl-C to stop.");
      await waitForSignal();
      return EXIT_OK;
    }
    const deadline = Date.now() + DELIVERY_TIMEOUT_MS;
    while (pipeline.delivered().length === 0 && Date.now() < deadline) await delay(500);
    const results = [];
    for (const query of headlineQueries()) results.push({ query, samples: await pipeline.query(query.expr) });
    console.log("");
    console.log(style("The dashboard's headline queries, from the central store:", "bold"));
    console.log(renderHeadlines(results));
    console.log("");
    console.log(style("Alerts Alertmanager delivered (receiver /<cluster>/<page|ticket>):", "bold"));
    console.log(renderDelivered(pipeline.delivered()));
    console.log("");
    console.log(style("What the filter's metrics add per pod:", "bold"));
    const costs = await measureFilterCost(pipeline, clusters, async (cluster) => {
      const agent = pipeline.engine(agentName({ cluster, region: "" }));
      return agent ? (await fetch(`${agent.url}/metrics`)).text() : "";
    });
    console.log(renderCosts(costs));
    const clustersSeen = new Set(
      results.flatMap(({ samples }) => samples.map((sample) => sample.metric.cluster)),
    );
    const complete = clusters.every((cluster) => clustersSeen.has(cluster.place.cluster));
    if (!complete) console.error("demo: the central store did not answer with both clusters' series");
    if (pipeline.delivered().length === 0) {
      console.error(`demo: Alertmanager delivered no alert within ${DELIVERY_TIMEOUT_MS / 1000} s`);
    }
    return complete && pipeline.delivered().length > 0 ? EXIT_OK : EXIT_FAILURE;
  } finally {
    await traffic.stop();
    await pipeline.stop();
  }
}

function storeFlag(value: string | undefined): CentralEngine | undefined {
  if (value === undefined || value === "victoria-metrics") return "victoria-metrics";
  if (value === "prometheus") return "prometheus";
  return undefined;
}

export const demoCommand: Command = {
  name: "demo",
  summary: "run the local two-cluster demo mesh on the harness and print what the filter measured",
  usage: USAGE,
  flags: {
    once: "boolean",
    "cold-start-delay-ms": "string",
    json: "string",
    observe: "boolean",
    store: "string",
  },
  async run(argv) {
    const args = parseArgs(argv, this.flags);
    const store = storeFlag(stringFlag(args, "store"));
    if (store === undefined) {
      throw new UsageError(
        `--store must be victoria-metrics or prometheus, got ${stringFlag(args, "store")}`,
      );
    }
    const observing = booleanFlag(args, "observe");
    const missing = observing ? missingBinaries(store) : [];
    if (missing.length > 0) {
      console.error(`kwt demo --observe: ${missing.join(", ")} not found; ${INSTALL_HINT}`);
      return EXIT_FAILURE;
    }
    const scenario: Scenario = {
      ...DEFAULT_SCENARIO,
      coldStartDelayMs:
        integerFlag(args, "cold-start-delay-ms", 0, 60_000) ?? DEFAULT_SCENARIO.coldStartDelayMs,
    };
    const wasmPath = path.join(projectRoot(), "build", "filter.wasm");
    const { mesh, summary } = await runDemo(scenario, wasmPath);
    const jsonPath = stringFlag(args, "json");
    if (jsonPath) await writeFile(jsonPath, `${JSON.stringify({ scenario, summary }, null, 2)}\n`);
    console.log(style("knative-wasm-telemetry demo: what the filter measured, and what happened", "bold"));
    console.log("");
    console.log(renderSummary(summary));
    console.log("");
    console.log("Prometheus endpoints:");
    const endpoints = mesh.adminUrls();
    const width = Math.max(...endpoints.map(({ name }) => name.length));
    for (const { name, url } of endpoints) console.log(`  ${name.padEnd(width)} ${url}`);
    console.log(
      `Send requests through the east gateway: http://${mesh.eastGateway.host}:${mesh.eastGateway.port}/`,
    );
    try {
      if (observing) return await observe(mesh, store, booleanFlag(args, "once"));
      if (booleanFlag(args, "once")) return EXIT_OK;
      console.log("Running; Ctrl-C to stop.");
      await waitForSignal();
      return EXIT_OK;
    } finally {
      await mesh.close();
    }
  },
};
