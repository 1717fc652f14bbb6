// Benchmarks of the compiled module in the harness: per-request cost, host calls, memory growth,
// and HTTP throughput through a harness proxy. Figures to read, not pass/fail checks.

import http from "node:http";
import { Worker } from "node:worker_threads";
import {
  closeServer,
  type FilterPlugin,
  type FilterStream,
  HarnessProxy,
  listenOn,
  ManualClock,
  Plugin,
  StatStore,
} from "../../host-tests/harness/index.js";
import { benchRequest, pluginOptionsFor, type BenchPath } from "./workloads.js";

const NS_PER_MS = 1_000_000;

/** Runs one full stream lifecycle; returns the host calls the module made. */
function oneRequest(
  plugin: Plugin,
  path: BenchPath,
  i: number,
  rotating: boolean,
  clock: ManualClock,
): number {
  const nowMs = Number(clock.realtimeNs() / BigInt(NS_PER_MS));
  const shape = benchRequest(path, i, rotating, nowMs);
  const stream = plugin.createStream({ mtls: shape.mtls });
  stream.onRequestHeaders(shape.request, true);
  stream.onResponseHeaders(shape.response, true);
  stream.end({ responseCode: shape.responseCode, durationNs: 2_000_000n });
  return stream.hostCalls;
}

export interface LifecycleFigure {
  module: string;
  path: BenchPath;
  nsPerRequest: number;
  hostCallsPerRequest: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Median ns per request over `runs` batches of `batch` requests, after a warm-up batch. */
export async function measureLifecycle(
  module: string,
  wasm: Uint8Array,
  path: BenchPath,
  runs: number,
  batch: number,
): Promise<LifecycleFigure> {
  const clock = new ManualClock();
  const plugin = await Plugin.load(pluginOptionsFor(path, wasm, clock));
  try {
    let hostCalls = 0;
    for (let i = 0; i < batch; i++) hostCalls = oneRequest(plugin, path, i, false, clock);
    const perRun: number[] = [];
    for (let run = 0; run < runs; run++) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < batch; i++) oneRequest(plugin, path, i, false, clock);
      perRun.push(Number(process.hrtime.bigint() - start) / batch);
    }
    if (plugin.failed) throw new Error(`${module} failed (trapped) on the ${path} path`);
    return { module, path, nsPerRequest: median(perRun), hostCallsPerRequest: hostCalls };
  } finally {
    plugin.close();
  }
}

export interface MemoryFigure {
  path: BenchPath;
  requests: number;
  afterWarmupBytes: number;
  afterAllBytes: number;
}

/** Linear memory after a warm-up and after `requests` requests with rotating label values. */
export async function measureMemory(
  wasm: Uint8Array,
  path: BenchPath,
  warmup: number,
  requests: number,
): Promise<MemoryFigure> {
  const clock = new ManualClock();
  const plugin = await Plugin.load(pluginOptionsFor(path, wasm, clock));
  try {
    for (let i = 0; i < warmup; i++) oneRequest(plugin, path, i, true, clock);
    const afterWarmupBytes = plugin.linearMemoryBytes()[0]!;
    for (let i = 0; i < requests; i++) {
      oneRequest(plugin, path, i, true, clock);
      if (i % 1000 === 0) clock.advance(1);
    }
    if (plugin.failed) throw new Error(`the filter trapped during the memory run on ${path}`);
    return { path, requests, afterWarmupBytes, afterAllBytes: plugin.linearMemoryBytes()[0]! };
  } finally {
    plugin.close();
  }
}

/** A stand-in for "no filter": the proxy's own work only. */
class PassThroughPlugin implements FilterPlugin {
  createStream(): FilterStream {
    return {
      onRequestHeaders: (headers) => ({ status: 0, headers }),
      onRequestBody: (body) => ({ status: 0, body }),
      onRequestTrailers: (trailers) => ({ status: 0, trailers }),
      onResponseHeaders: (headers) => ({ status: 0, headers }),
      onResponseBody: (body) => ({ status: 0, body }),
      onResponseTrailers: (trailers) => ({ status: 0, trailers }),
      end: () => {},
    };
  }
}

// The load generator runs in its own thread so that the proxy's event loop is not also the client's.
const LOAD_GENERATOR = `
const { parentPort, workerData } = require("node:worker_threads");
const http = require("node:http");
const { port, connections, durationMs } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
let done = 0, failed = 0;
const deadline = Date.now() + durationMs;
function loop() {
  if (Date.now() >= deadline) return Promise.resolve();
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, path: "/", agent }, (res) => {
      res.resume();
      res.on("end", () => { if (res.statusCode === 200) done++; else failed++; resolve(); });
    });
    req.on("error", () => { failed++; resolve(); });
    req.end();
  }).then(loop);
}
Promise.all(Array.from({ length: connections }, loop)).then(() => {
  agent.destroy();
  parentPort.postMessage({ done, failed });
});
`;

function generateLoad(
  port: number,
  connections: number,
  durationMs: number,
): Promise<{ done: number; failed: number }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(LOAD_GENERATOR, { eval: true, workerData: { port, connections, durationMs } });
    worker.once("message", resolve);
    worker.once("error", reject);
  });
}

export interface HttpFigure {
  proxy: string;
  requestsPerSecond: number;
  failed: number;
}

/** Requests per second through one harness proxy, with the filter and without it, same run. */
export async function measureHttp(
  wasm: Uint8Array,
  durationMs: number,
  connections: number,
): Promise<HttpFigure[]> {
  const upstream = http.createServer((_request, response) => {
    response.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
  });
  const upstreamAddress = await listenOn(upstream, { host: "127.0.0.1", port: 0 });
  const figures: HttpFigure[] = [];
  try {
    const variants: Array<[string, () => Promise<FilterPlugin>, StatStore]> = [];
    const withoutStats = new StatStore();
    variants.push(["without filter", async () => new PassThroughPlugin(), withoutStats]);
    const withStats = new StatStore();
    variants.push([
      "with filter (inbound Knative)",
      () => Plugin.load(pluginOptionsFor("inbound-knative", wasm, new ManualClock()), withStats),
      withStats,
    ]);
    for (const [name, loadPlugin, stats] of variants) {
      const proxy = await HarnessProxy.start({
        loadPlugin,
        stats,
        listen: { host: "127.0.0.1", port: 0 },
        upstream: `http://127.0.0.1:${upstreamAddress.port}`,
        mtls: true,
      });
      try {
        const { done, failed } = await generateLoad(proxy.listenAddress.port, connections, durationMs);
        figures.push({ proxy: name, requestsPerSecond: Math.round(done / (durationMs / 1000)), failed });
      } finally {
        await proxy.close();
      }
    }
  } finally {
    await closeServer(upstream);
  }
  return figures;
}
