// Every PromQL expression the dashboard and the alert rules ship, evaluated by a real Prometheus
// that scrapes loopback targets exposing each metric with the labels its writer gives it.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALERTS } from "./alerts.js";
import {
  alertSignalExpressions,
  dashboardExpressions,
  labelsInResult,
  metricNamesIn,
  substituteVariables,
} from "../testing/prometheus/shipped-expressions.js";
import { RULES_FILE } from "./generated-files.js";
import { ENVOY_METRICS, FILTER_METRICS, ISTIO_AGENT_METRICS, ISTIOD_METRICS } from "./metrics.js";
import { durationSeconds } from "./promql.js";
import {
  labelledWithPlace,
  startFixtureTargets,
  type FixtureTargets,
} from "../testing/prometheus/metrics-fixture.js";
import { findExpressionProblems, PROMETHEUS_BINARY, PrometheusServer } from "../testing/prometheus/server.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** The fixtures' scrape interval is 1 s; a 10 s window holds enough samples for rate(). */
const TEST_WINDOW = "10s";

describe("the shipped expressions", () => {
  it("read every metric of the filter's contract and of the Istio/Envoy health sources", () => {
    const read = new Set(
      [...dashboardExpressions(TEST_WINDOW), ...alertSignalExpressions()].flatMap((shipped) =>
        metricNamesIn(shipped.expr).map((name) => name.replace(/_bucket$/, "")),
      ),
    );
    const known = [FILTER_METRICS, ISTIO_AGENT_METRICS, ENVOY_METRICS, ISTIOD_METRICS].flatMap((names) =>
      Object.values(names),
    );
    expect(known.filter((name) => !read.has(name))).toEqual([]);
  });

  it("replace Grafana's variables with 'All' and a fixed window", () => {
    expect(substituteVariables('sum(rate(x{a=~"$cluster", b=~"$namespace"}[$__rate_interval]))', "30s")).toBe(
      'sum(rate(x{a=~".*", b=~".*"}[30s]))',
    );
    expect(
      substituteVariables("max_over_time(x[$__rate_interval]) / ($__rate_interval_ms / 1000)", "30s"),
    ).toBe("max_over_time(x[30s]) / (30000 / 1000)");
  });

  it("read PromQL durations as seconds, and refuse what is not one", () => {
    expect(["250ms", "10s", "5m", "1h30m", "6h"].map(durationSeconds)).toEqual([0.25, 10, 300, 5400, 21600]);
    expect(() => durationSeconds("5 m")).toThrow("not a PromQL duration: '5 m'");
  });

  it("name the labels their results must carry: grouping labels but le, and legend labels", () => {
    expect(
      labelsInResult(
        "histogram_quantile(0.95, sum by (source_cluster, le) (rate(x_bucket[1m]))) / on (source_cluster) group_left sum by (source_cluster) (y)",
        "p95 {{source_cluster}} {{ cold_start }}",
      ),
    ).toEqual(["source_cluster", "cold_start"]);
    expect(labelsInResult("sum(rate(x[1m]))")).toEqual([]);
  });

  it("know who writes each metric they read", () => {
    const [errorRatio] = dashboardExpressions(TEST_WINDOW).filter((shipped) =>
      shipped.origin.includes("Error ratio per revision"),
    );
    expect(errorRatio?.sources).toEqual(["filter"]);
    expect(
      metricNamesIn('sum(rate(knative_errors_total{error_kind="knative_invocations_total"}[5m]))'),
    ).toEqual(["knative_errors_total"]);
    const wasm = alertSignalExpressions().find((shipped) =>
      shipped.origin.startsWith("alert KwtWasmModuleFetchFailing"),
    );
    expect(wasm?.sources).toEqual(["istio-agent"]);
  });
});

describe.skipIf(!existsSync(PROMETHEUS_BINARY))("a real Prometheus scraping every source", () => {
  let fixtures: FixtureTargets;
  let prometheus: PrometheusServer;

  beforeAll(async () => {
    fixtures = await startFixtureTargets();
    prometheus = await PrometheusServer.start({
      targets: labelledWithPlace(fixtures.targets, { cluster: "east", region: "us-east1" }),
      ruleFiles: [path.join(root, RULES_FILE)],
    });
    await prometheus.waitForScrapes(3, 20_000);
  });

  afterAll(async () => {
    await prometheus?.stop();
    await fixtures?.close();
  });

  it("returns series for every dashboard query and template variable", async () => {
    const shipped = dashboardExpressions(TEST_WINDOW);
    expect(shipped.length).toBeGreaterThan(30);
    expect(await findExpressionProblems(prometheus, shipped)).toEqual([]);
  });

  it("returns series for every measurement the alerts compare with a threshold", async () => {
    const shipped = alertSignalExpressions();
    expect(shipped.map((signal) => signal.origin.split(" ")[1])).toEqual(
      ALERTS.flatMap((alert) => alert.signals.map(() => alert.name)),
    );
    expect(await findExpressionProblems(prometheus, shipped)).toEqual([]);
  });

  it("loads the rules file and evaluates every alert without error", async () => {
    const health = await prometheus.evaluatedRuleHealth(10_000);
    const byName = (a: string[], b: string[]): number => (a[0] as string).localeCompare(b[0] as string);
    expect(health.map(({ name, health: state, lastError }) => [name, state, lastError]).sort(byName)).toEqual(
      ALERTS.map((alert) => [alert.name, "ok", ""]).sort(byName),
    );
  });

  it("reports a misspelled metric, a misspelled label and a syntax error", async () => {
    const problems = await findExpressionProblems(prometheus, [
      { origin: "metric typo", expr: "sum(rate(knative_invocation_total[10s]))" },
      { origin: "label typo", expr: 'knative_invocations_total{revision="checkout-00001"}' },
      { origin: "syntax", expr: "sum(rate(knative_invocations_total[10s])" },
      {
        origin: "grouping typo",
        expr: "sum by (revison_name) (knative_invocations_total)",
        labels: ["revison_name"],
      },
      {
        origin: "fine",
        expr: 'sum by (revision_name) (knative_invocations_total{revision_name="checkout-00001"})',
        labels: ["revision_name"],
      },
    ]);
    expect(problems.map(({ origin, problem }) => [origin, problem.split(":")[0]])).toEqual([
      ["metric typo", "no series"],
      ["label typo", "no series"],
      ["syntax", "bad_data"],
      ["grouping typo", "no series has label(s) revison_name"],
    ]);
  });
});
