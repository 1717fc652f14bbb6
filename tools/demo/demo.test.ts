// The main job end to end: `kwt demo --once` as a user runs it (the bundled CLI, build/filter.wasm,
// real HTTP through harness proxies). The ground truth the demo's stand-ins recorded equals what
// the scenario sent; every number of the filter equals it, or is asserted as today's known-wrong
// value (issue 13, "The filter's numbers are true in a real Knative mesh"), so it flips when fixed.

import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runKwt } from "../testing/kwt-cli.js";
import { CONTAINER_CONCURRENCY } from "./mesh.js";
import { shippedFileLogFormat } from "./access-log.js";
import { expectedCounts, EAST, REVISION, WEST, type Scenario, type Summary } from "./scenario.js";

const COLD_START_DELAY_MS = 600;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

describe("kwt demo --once", () => {
  let dir: string;
  let stdout: string;
  let scenario: Scenario;
  let summary: Summary;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "kwt-demo-"));
    const jsonPath = path.join(dir, "summary.json");
    const result = await runKwt(
      ["demo", "--once", "--cold-start-delay-ms", `${COLD_START_DELAY_MS}`, "--json", jsonPath],
      { CI: "true" },
    );
    if (result.code !== 0) throw new Error(`kwt demo --once exited with ${result.code}:\n${result.stderr}`);
    stdout = result.stdout;
    ({ scenario, summary } = JSON.parse(await readFile(jsonPath, "utf8")) as {
      scenario: Scenario;
      summary: Summary;
    });
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function truthRow(what: string) {
    const row = summary.groundTruth.find((r) => r.what.startsWith(what));
    if (row === undefined)
      throw new Error(`no ground-truth row "${what}" in ${JSON.stringify(summary.groundTruth)}`);
    return row;
  }

  it("records the ground truth of what the scenario sent", () => {
    const expected = expectedCounts(scenario, CONTAINER_CONCURRENCY);
    expect(truthRow("invocations").truth).toBe(expected.invocations);
    expect(truthRow("cold starts").truth).toBe(expected.coldStarts);
    expect(truthRow("waits for capacity").truth).toBe(expected.queueWaits);
    expect(truthRow("through the activator").truth).toBe(expected.activatorProxied);
    // The held requests waited at least the pod's start delay, and not absurdly longer.
    expect(truthRow("mean cold-start wait").truth).toBeGreaterThanOrEqual(COLD_START_DELAY_MS);
    expect(truthRow("mean cold-start wait").truth).toBeLessThan(COLD_START_DELAY_MS + 5_000);
    // Each pod's readiness probe, and the autoscaler's and Prometheus's scrapes.
    expect(truthRow("probes and scrapes").truth).toBeGreaterThanOrEqual(2 + expected.podScrapes);
  });

  it("counts cold starts, each timed from mesh entry; the scale-up's waits for capacity are none", () => {
    const expected = expectedCounts(scenario, CONTAINER_CONCURRENCY);
    expect(summary.coldStarts).toHaveLength(1);
    const [coldStarts] = summary.coldStarts;
    expect(coldStarts).toMatchObject({ revision: REVISION.revision, cluster: EAST.cluster });
    expect(coldStarts!.count).toBe(truthRow("cold starts").truth);
    expect(coldStarts!.count).toBe(expected.coldStarts);
    expect(truthRow("cold starts").filter).toBe(coldStarts!.count);
    expect(coldStarts!.timed).toBe(coldStarts!.count);
  });

  it("counts invocations per calling cluster and response class", () => {
    const expected = expectedCounts(scenario, CONTAINER_CONCURRENCY);
    const byKey = Object.fromEntries(
      summary.invocations.map((i) => [`${i.sourceCluster}/${i.codeClass}`, i.count]),
    );
    // The scrapes arrive on the pods' :9090 and :9091 listeners, not a serving port: not counted.
    expect(byKey).toEqual({
      [`${EAST.cluster}/2xx`]: expected.invocationsFromEast["2xx"],
      [`${EAST.cluster}/5xx`]: expected.invocationsFromEast["5xx"],
      [`${WEST.cluster}/2xx`]: expected.invocationsFromWest["2xx"],
    });
    expect(truthRow("invocations").truth).toBe(expected.invocations);
    expect(truthRow("invocations").filter).toBe(expected.invocations);
    expect(new Set(summary.invocations.map((i) => i.revision))).toEqual(new Set([REVISION.revision]));
  });

  it("counts errors by kind, activator proxy mode, and the cross-cluster matrix", () => {
    const expected = expectedCounts(scenario, CONTAINER_CONCURRENCY);
    expect(Object.fromEntries(summary.errors.map((e) => [e.errorKind, e.count]))).toEqual(expected.errors);
    expect(summary.activatorProxied.map((a) => a.revision)).toEqual([REVISION.revision]);
    // The scale-up's waits for capacity are among them.
    expect(summary.activatorProxied[0]!.count).toBe(truthRow("through the activator").truth);
    expect(summary.activatorProxied[0]!.count).toBe(expected.activatorProxied);
    expect(summary.crossCluster).toEqual([
      { source: WEST.cluster, destination: EAST.cluster, count: expected.crossClusterWestToEast },
    ]);
  });

  it("reports the client-visible latency of every request where it entered the mesh, split cold/warm", () => {
    const expected = expectedCounts(scenario, CONTAINER_CONCURRENCY);
    const counts = Object.fromEntries(
      summary.clientLatency.map((l) => [`${l.proxy}/${l.coldStart}`, l.count]),
    );
    expect(counts).toEqual({
      "east ingress gateway/true": expected.coldStarts,
      "east ingress gateway/false": expected.gatewayRequests - expected.coldStarts,
      "west workload (outbound sidecar)/false": expected.crossClusterWestToEast,
    });
    expect(counts["east ingress gateway/true"]).toBe(truthRow("cold starts").truth);
    const cold = summary.clientLatency.find((l) => l.proxy === "east ingress gateway" && l.coldStart);
    expect(cold!.meanMs).toBeGreaterThanOrEqual(COLD_START_DELAY_MS);
  });

  it("reports traces started and repaired where requests enter the mesh", () => {
    const expected = expectedCounts(scenario, CONTAINER_CONCURRENCY);
    expect(summary.traces).toEqual([
      {
        proxy: "east ingress gateway",
        started: expected.gatewayTracesStarted,
        repaired: expected.gatewayTracesRepaired,
      },
      { proxy: "west workload (outbound sidecar)", started: expected.westTracesStarted, repaired: 0 },
    ]);
  });

  it("prints one access-log line of the gateway, which decides cold starts: one with its wait, in the shipped format", () => {
    const line = summary.coldStartLogLine;
    expect(line).not.toBeNull();
    expect(stdout).toContain(`A cold start in the gateway's access log\n  ${line}\n`);
    const entry = JSON.parse(line!) as Record<string, string>;
    expect(Object.keys(entry)).toEqual(shippedFileLogFormat(ROOT).labels);
    expect(entry).toMatchObject({ kwt_cold_start: "1", response_code: "200", method: "GET" });
    // The same wait the cold-start histogram recorded for one of the held requests.
    expect(Number(entry.kwt_cold_start_wait_ms)).toBeGreaterThanOrEqual(COLD_START_DELAY_MS);
    expect(Number(entry.kwt_cold_start_wait_ms)).toBeLessThan(COLD_START_DELAY_MS + 5_000);
    expect(entry.kwt_error_kind).toBe("-");
  });

  it("prints the summary and every proxy's stats URL", () => {
    expect(stdout).toContain("Cold starts per revision");
    expect(stdout).toContain("Cross-cluster requests");
    expect(stdout).toContain("Ground truth next to what the filter measured");
    const expected = expectedCounts(scenario, CONTAINER_CONCURRENCY);
    expect(stdout).toMatch(
      new RegExp(`cold starts \\(held: no ready pod\\) +${expected.coldStarts} +${expected.coldStarts} *\\n`),
    );
    expect(stdout).toMatch(
      new RegExp(`waits for capacity during a scale-up +${expected.queueWaits} +- +not measured`),
    );
    const urls = stdout.match(/http:\/\/127\.0\.0\.1:\d+\/stats\/prometheus/g) ?? [];
    // Gateway, both revision pods, west's workload.
    expect(urls).toHaveLength(4);
  });
});
