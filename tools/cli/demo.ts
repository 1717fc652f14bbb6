import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { booleanFlag, integerFlag, parseArgs, stringFlag } from "./args.js";
import { EXIT_OK, projectRoot, type Command } from "./command.js";
import { style } from "./output.js";
import { drive } from "../demo/drive.js";
import { DemoMesh } from "../demo/mesh.js";
import { DEFAULT_SCENARIO, podConfig, type Scenario } from "../demo/scenario.js";
import { renderSummary, summarise, type ProxyExposition } from "../demo/summary.js";

const USAGE = `Usage: kwt demo [--once] [--cold-start-delay-ms N] [--json FILE]

Runs a small two-cluster mesh on loopback with the harness and build/filter.wasm: in cluster east an
ingress gateway, an activator stand-in and a Knative revision pod (sidecar + app) that starts from
zero; in cluster west a workload that calls the revision across clusters. Plays a short scenario
(scale from zero, warm traffic, errors, activator proxy mode, cross-cluster calls), prints what the
filter measured and each proxy's /stats/prometheus URL, then keeps running until Ctrl-C.

Options:
  --once                     exit after the summary (for scripts and CI)
  --cold-start-delay-ms N    how long the revision pod takes to start (default ${DEFAULT_SCENARIO.coldStartDelayMs})
  --json FILE                also write the scenario and the summary as JSON`;

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
    podConfig: podConfig(scenario),
  });
  try {
    await drive(mesh, scenario);
    return { mesh, summary: summarise(await settledExpositions(mesh)) };
  } catch (error) {
    await mesh.close();
    throw error;
  }
}

export const demoCommand: Command = {
  name: "demo",
  summary: "run the local two-cluster demo mesh on the harness and print what the filter measured",
  usage: USAGE,
  flags: { once: "boolean", "cold-start-delay-ms": "string", json: "string" },
  async run(argv) {
    const args = parseArgs(argv, this.flags);
    const scenario: Scenario = {
      ...DEFAULT_SCENARIO,
      coldStartDelayMs:
        integerFlag(args, "cold-start-delay-ms", 0, 60_000) ?? DEFAULT_SCENARIO.coldStartDelayMs,
    };
    const wasmPath = path.join(projectRoot(), "build", "filter.wasm");
    const { mesh, summary } = await runDemo(scenario, wasmPath);
    const jsonPath = stringFlag(args, "json");
    if (jsonPath) await writeFile(jsonPath, `${JSON.stringify({ scenario, summary }, null, 2)}\n`);
    console.log(style("knative-wasm-telemetry demo: what the filter measured", "bold"));
    console.log("");
    console.log(renderSummary(summary));
    console.log("");
    console.log("Prometheus endpoints:");
    for (const { name, url } of mesh.adminUrls()) console.log(`  ${name.padEnd(36)} ${url}`);
    console.log(
      `Send requests through the east gateway: http://${mesh.eastGateway.host}:${mesh.eastGateway.port}/`,
    );
    if (booleanFlag(args, "once")) {
      await mesh.close();
      return EXIT_OK;
    }
    console.log("Running; Ctrl-C to stop.");
    await new Promise<void>((resolve) => {
      process.once("SIGINT", resolve);
      process.once("SIGTERM", resolve);
    });
    await mesh.close();
    return EXIT_OK;
  },
};
