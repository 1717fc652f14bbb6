// The benchmark itself must keep working: a quick run through the bundled CLI produces figures
// for every module and path. Its numbers are read by people, not asserted, except the rule the
// filter must keep on any machine: linear memory does not grow once warmed up.

import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { expect, it } from "vitest";
import { runKwt } from "../testing/kwt-cli.js";

const root = path.resolve(import.meta.dirname, "../..");

it("kwt bench --quick measures every path and finds no memory growth", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "kwt-bench-"));
  try {
    const out = path.join(dir, "results.json");
    const { code, stdout, stderr } = await runKwt(
      ["bench", "--quick", "--out", out],
      { CI: "true" },
      120_000,
    );
    expect(code, stderr).toBe(0);
    const results = JSON.parse(await readFile(out, "utf8")) as {
      moduleBytes: number;
      lifecycle: Array<{ module: string; path: string; nsPerRequest: number; hostCallsPerRequest: number }>;
      memory: Array<{ path: string; afterWarmupBytes: number; afterAllBytes: number }>;
      http: Array<{ proxy: string; requestsPerSecond: number; failed: number }>;
    };
    expect(results.lifecycle.map((f) => `${f.module}/${f.path}`)).toEqual([
      "bare no-op/inbound-knative",
      "SDK no-op/inbound-knative",
      "filter/inbound-knative",
      "filter/outbound-stamping",
      "filter/gateway-response",
    ]);
    expect(results.lifecycle.find((f) => f.module === "bare no-op")!.hostCallsPerRequest).toBe(0);
    for (const figure of results.lifecycle.filter((f) => f.module === "filter")) {
      expect(figure.hostCallsPerRequest).toBeGreaterThan(0);
      expect(figure.nsPerRequest).toBeGreaterThan(0);
    }
    for (const memory of results.memory) expect(memory.afterAllBytes).toBe(memory.afterWarmupBytes);
    expect(results.http.map((h) => h.failed)).toEqual([0, 0]);
    expect(results.moduleBytes).toBe((await readFile(path.join(root, "build/filter.wasm"))).length);
    expect(stdout).toContain("ns/request");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
