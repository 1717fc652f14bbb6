import { readFile, writeFile, mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { booleanFlag, parseArgs, stringFlag } from "./args.js";
import { EXIT_OK, projectRoot, type Command } from "./command.js";
import { renderTable } from "./output.js";
import { compileModule } from "../build/filter.js";
import { measureHttp, measureLifecycle, measureMemory, type LifecycleFigure } from "../bench/measure.js";
import type { BenchPath } from "../bench/workloads.js";

const USAGE = `Usage: kwt bench [--quick] [--out FILE]

Measures build/filter.wasm in the harness and prints a table:
  - per-request cost of the whole stream lifecycle in V8 (median ns), against two no-op floors built
    with the same SDK and compiler options, on the inbound Knative path, the outbound stamping path and
    the gateway response path; host calls per request on each;
  - the release module's size;
  - linear memory after warm-up and after one million requests with rotating label values;
  - requests per second through one harness proxy, with and without the filter.
Writes the figures as JSON (default bench/results.json).

Options:
  --quick      far fewer iterations, to check the benchmark itself runs
  --out FILE   where the JSON goes`;

const FLOORS = [
  { name: "bare no-op", entry: "bench/modules/bare-noop.ts", out: "build/bench/bare-noop.wasm" },
  { name: "SDK no-op", entry: "bench/modules/sdk-noop.ts", out: "build/bench/sdk-noop.wasm" },
];
const PATHS: BenchPath[] = ["inbound-knative", "outbound-stamping", "gateway-response"];

export const benchCommand: Command = {
  name: "bench",
  summary: "measure per-request cost, host calls, size, memory and HTTP throughput of the filter",
  usage: USAGE,
  flags: { quick: "boolean", out: "string" },
  async run(argv) {
    const args = parseArgs(argv, this.flags);
    const quick = booleanFlag(args, "quick");
    const root = projectRoot();
    const outFile = path.resolve(stringFlag(args, "out") ?? path.join(root, "bench", "results.json"));
    const scale = quick
      ? { runs: 3, batch: 500, warmup: 1_000, memoryRequests: 5_000, httpMs: 300 }
      : { runs: 9, batch: 20_000, warmup: 50_000, memoryRequests: 1_000_000, httpMs: 3_000 };

    const filterWasm = new Uint8Array(await readFile(path.join(root, "build", "filter.wasm")));
    await mkdir(path.join(root, "build", "bench"), { recursive: true });
    const floors: Array<{ name: string; wasm: Uint8Array }> = [];
    for (const floor of FLOORS) {
      const built = await compileModule(root, floor.entry, "release", floor.out);
      floors.push({ name: floor.name, wasm: new Uint8Array(await readFile(built.file)) });
    }

    const lifecycle: LifecycleFigure[] = [];
    for (const floor of floors) {
      lifecycle.push(
        await measureLifecycle(floor.name, floor.wasm, "inbound-knative", scale.runs, scale.batch),
      );
    }
    for (const benchPath of PATHS) {
      lifecycle.push(await measureLifecycle("filter", filterWasm, benchPath, scale.runs, scale.batch));
    }
    const memory = [];
    for (const benchPath of ["inbound-knative", "gateway-response"] as const) {
      memory.push(await measureMemory(filterWasm, benchPath, scale.warmup, scale.memoryRequests));
    }
    const httpFigures = await measureHttp(filterWasm, scale.httpMs, 16);

    const bare = lifecycle.find((f) => f.module === "bare no-op")!.nsPerRequest;
    const sdk = lifecycle.find((f) => f.module === "SDK no-op")!.nsPerRequest;
    console.log(
      renderTable([
        ["module", "path", "ns/request", "x bare no-op", "x SDK no-op", "host calls/request"],
        ...lifecycle.map((f) => [
          f.module,
          f.path,
          f.nsPerRequest.toFixed(0),
          (f.nsPerRequest / bare).toFixed(2),
          (f.nsPerRequest / sdk).toFixed(2),
          `${f.hostCallsPerRequest}`,
        ]),
      ]),
    );
    console.log("");
    console.log(`release module: ${filterWasm.length} bytes (${(filterWasm.length / 1024).toFixed(1)} KiB)`);
    console.log("");
    console.log(
      renderTable([
        ["memory run", "requests", "after warm-up (bytes)", "after run (bytes)", "growth"],
        ...memory.map((m) => [
          m.path,
          `${m.requests}`,
          `${m.afterWarmupBytes}`,
          `${m.afterAllBytes}`,
          `${m.afterAllBytes - m.afterWarmupBytes}`,
        ]),
      ]),
    );
    console.log("");
    console.log(
      renderTable([
        ["HTTP through one proxy", "requests/s", "failed"],
        ...httpFigures.map((h) => [h.proxy, `${h.requestsPerSecond}`, `${h.failed}`]),
      ]),
    );
    const machine = {
      cpu: os.cpus()[0]?.model ?? "unknown",
      cores: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
    };
    console.log(
      `\nmachine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}`,
    );
    await mkdir(path.dirname(outFile), { recursive: true });
    const results = {
      quick,
      machine,
      moduleBytes: filterWasm.length,
      lifecycle,
      memory,
      http: httpFigures,
    };
    await writeFile(outFile, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`results: ${path.relative(process.cwd(), outFile) || outFile}`);
    return EXIT_OK;
  },
};
