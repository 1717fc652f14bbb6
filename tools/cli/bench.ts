import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { booleanFlag, parseArgs, stringFlag } from "./args.js";
import { EXIT_OK, projectRoot, type Command } from "./command.js";
import { renderTable } from "./output.js";
import { goalRows, pathRows, readmeBlock, replaceReadmeBlock, scalingRows } from "../bench/report.js";
import { compileAsEnvoy } from "../bench/engine.js";
import { FULL_SCALE, QUICK_SCALE, runBenchmark } from "../bench/run.js";

const USAGE = `Usage: kwt bench [--quick] [--out FILE]

Measures build/filter.wasm in the harness, every module and path interleaved in rounds (order
rotated, one process), compiled by V8 with Liftoff off as Envoy does, and prints tables:
  - per path (inbound, outbound and gateway common cases; cross-cluster, errors, new trace, cold
    start) and module: wasm time per request (time inside the module's exports minus time inside
    host functions, clock cost subtracted), host time, host calls, the Envoy estimate (wasm time +
    250 ns per host call), p50/p99/p99.9/max of wasm time, bytes handed in/out, linear memory;
  - the modules: the filter, its floor on that path (a WAT module generated from a recording of
    the filter that makes the same host calls with the same arguments and nothing else; the ratio
    "x floor" is the filter's time in the module over the floor's, median of per-round ratios), and
    the empty module (same callbacks, no host calls);
  - scaling: live label sets (10 to 4,000, and 100,000 with maxSeries 100000; the gateway at
    1,000 answers a second on a moving clock), request headers (10, 50, 100), tracestate (none,
    8, 32 members, passed through and rewritten); "x first" is a case's wasm time over its
    family's first case's, median of per-round ratios;
  - where the filter stands against the performance goals.
Writes the figures as JSON (default bench/results.json); when that is the project's own file, the
README's benchmark tables are regenerated from it.

Options:
  --quick      far fewer requests, to check the benchmark itself runs (seconds)
  --out FILE   where the JSON goes`;

export const benchCommand: Command = {
  name: "bench",
  summary: "measure wasm time, host calls, Envoy estimate, tails and scaling of the filter against floors",
  usage: USAGE,
  flags: { quick: "boolean", out: "string" },
  async run(argv) {
    const args = parseArgs(argv, this.flags);
    const quick = booleanFlag(args, "quick");
    const root = projectRoot();
    const projectResults = path.join(root, "bench", "results.json");
    const outFile = path.resolve(stringFlag(args, "out") ?? projectResults);

    const filterWasm = new Uint8Array(await readFile(path.join(root, "build", "filter.wasm")));
    compileAsEnvoy();
    const results = await runBenchmark(filterWasm, quick ? QUICK_SCALE : FULL_SCALE, (line) =>
      process.stderr.write(`${line}\n`),
    );

    console.log(renderTable(pathRows(results)));
    console.log("");
    console.log(renderTable(scalingRows(results)));
    console.log("");
    console.log(renderTable(goalRows(results)));
    console.log("");
    console.log(
      `machine: ${results.machine.cpu}, ${results.machine.cores} cores, ${results.machine.memoryGiB} GiB, Node ${results.machine.node}`,
    );
    await mkdir(path.dirname(outFile), { recursive: true });
    await writeFile(outFile, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`results: ${path.relative(process.cwd(), outFile) || outFile}`);
    if (outFile === projectResults) {
      const readmeFile = path.join(root, "README.md");
      await writeFile(
        readmeFile,
        replaceReadmeBlock(await readFile(readmeFile, "utf8"), readmeBlock(results)),
      );
      console.log("README.md: benchmark tables regenerated");
    }
    return EXIT_OK;
  },
};
