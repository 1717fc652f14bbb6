// The alert rules with Prometheus' own tool: `promtool check rules` on both shipped forms and
// `promtool test rules` on the unit tests, which must hold a firing and a non-firing case per alert.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { ALERTS, runbookAnchor } from "./alerts.js";
import { PROMETHEUS_RULE_FILE, RULES_FILE } from "./generated-files.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const PROMTOOL = "/usr/bin/promtool";
const UNIT_TESTS = "deploy/prometheus/tests/kwt-alerts.test.yaml";
/** The central rules' unit tests (recording rules over newborn series). */
const CENTRAL_UNIT_TESTS = "deploy/central/tests/kwt-rules.test.yaml";
const CENTRAL_RULES_FILE = "deploy/central/kwt-rules.yaml";
/** The cases whose series are born at N: each must fail when only increase() counts. */
const NEWBORN_ALERT_CASES = [
  "KwtColdStartSpike",
  "KwtColdStartSlow",
  "KwtSeriesOverflow",
  "KwtConfigRejected",
  "KwtWasmModuleFetchFailing",
];
const PROMTOOL_TIMEOUT_MS = 60_000;

function promtool(args: string[]): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL, args, { cwd: root, encoding: "utf8", timeout: PROMTOOL_TIMEOUT_MS });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/**
 * The rules as they were before newborn series were counted: every counterIncrease() back to a plain
 * increase(). Returns how many it replaced, so a test can check that it replaced anything at all.
 */
function withoutNewbornCounting(rules: string): { text: string; replaced: number } {
  let replaced = 0;
  const text = rules.replace(
    /\(\(increase\(([^[\s]+)\[(\w+)\]\) and \S+ offset \w+\) or \(max_over_time\([^\]]+\]\) unless \S+ offset \w+\)\)/g,
    (_whole, series: string, window: string) => {
      replaced++;
      return `(increase(${series}[${window}]))`;
    },
  );
  return { text, replaced };
}

interface UnitTests {
  rule_files: string[];
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
}

describe.skipIf(!existsSync(PROMTOOL))("alert rules with promtool", () => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), "kwt-rules-"));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it("accepts the plain rules file", () => {
    const { status, output } = promtool(["check", "rules", RULES_FILE]);
    expect(output).toContain(`SUCCESS: ${ALERTS.length} rules found`);
    expect(status).toBe(0);
  });

  it("accepts the PrometheusRule's spec as a rules file", () => {
    const resource = parse(readFileSync(path.join(root, PROMETHEUS_RULE_FILE), "utf8")) as { spec: unknown };
    const extracted = path.join(scratch, "prometheusrule-spec.yaml");
    writeFileSync(extracted, stringify(resource.spec));
    const { status, output } = promtool(["check", "rules", extracted]);
    expect(output).toContain(`SUCCESS: ${ALERTS.length} rules found`);
    expect(status).toBe(0);
  });

  it.each([UNIT_TESTS, CENTRAL_UNIT_TESTS])("passes the unit tests %s", (tests) => {
    const { status, output } = promtool(["test", "rules", tests]);
    expect(output).toContain("SUCCESS");
    expect(status).toBe(0);
  });

  /** Runs `tests` against a copy of `rulesFile` made by `change`. */
  function testChangedRules(tests: string, rulesFile: string, change: (rules: string) => string) {
    const rulesCopy = path.join(scratch, path.basename(rulesFile));
    writeFileSync(rulesCopy, change(readFileSync(path.join(root, rulesFile), "utf8")));
    const parsed = parse(readFileSync(path.join(root, tests), "utf8")) as UnitTests;
    const testsCopy = path.join(scratch, path.basename(tests));
    writeFileSync(testsCopy, stringify({ ...parsed, rule_files: [path.basename(rulesFile)] }));
    return promtool(["test", "rules", testsCopy]);
  }

  it("fails the unit tests when newborn series are not counted (plain increase)", () => {
    let replaced = 0;
    const { status, output } = testChangedRules(UNIT_TESTS, RULES_FILE, (rules) => {
      const plain = withoutNewbornCounting(rules);
      replaced = plain.replaced;
      return plain.text;
    });
    expect(replaced).toBeGreaterThan(10);
    const failed = [...output.matchAll(/alertname: (\w+), time/g)].map((match) => match[1]);
    expect([...new Set(failed)].sort()).toEqual([...NEWBORN_ALERT_CASES].sort());
    expect(status).toBe(1);
  });

  it("fails the central unit tests when the recording rules do not count newborn series", () => {
    const { status, output } = testChangedRules(
      CENTRAL_UNIT_TESTS,
      CENTRAL_RULES_FILE,
      (rules) => withoutNewbornCounting(rules).text,
    );
    expect(output).toContain("kwt:knative_cold_start_duration_milliseconds_bucket:rate1m");
    expect(output).toContain("kwt:knative_request_duration_milliseconds_bucket:rate1m");
    expect(status).toBe(1);
  });

  it("fails the unit tests when a threshold moves (the tests can fail)", () => {
    const { status, output } = testChangedRules(UNIT_TESTS, RULES_FILE, (rules) =>
      rules.replace(/ > 250$/m, " > 1000"),
    );
    expect(output).toContain("alertname: KwtCrossClusterHopLatencyHigh");
    expect(status).toBe(1);
  });
});

describe("alert unit tests and runbooks", () => {
  const tests = parse(readFileSync(path.join(root, UNIT_TESTS), "utf8")) as UnitTests;
  const cases = tests.tests.flatMap((test) => test.alert_rule_test ?? []);

  it("test the shipped rules file", () => {
    expect(tests.rule_files).toEqual([path.relative(path.dirname(UNIT_TESTS), RULES_FILE)]);
  });

  it.each(ALERTS.map((alert) => alert.name))("%s has a case that fires it and one that must not", (name) => {
    const own = cases.filter((test) => test.alertname === name);
    expect(own.some((test) => test.exp_alerts.length > 0)).toBe(true);
    expect(own.some((test) => test.exp_alerts.length === 0)).toBe(true);
  });

  it.each(ALERTS.map((alert) => alert.name))("%s has a runbook section in docs/operations.md", (name) => {
    const lines = readFileSync(path.join(root, "docs/operations.md"), "utf8").split("\n");
    const start = lines.indexOf(`### ${name}`);
    expect(start, `no heading '### ${name}' (anchor #${runbookAnchor(name)})`).toBeGreaterThan(-1);
    const end = lines.findIndex((line, index) => index > start && /^#{1,3} /.test(line));
    const section = lines.slice(start, end === -1 ? undefined : end).join("\n");
    for (const part of ["**Meaning**", "**Impact**", "**Diagnosis**", "**Mitigation**"]) {
      expect(section, `${name} runbook lacks ${part}`).toContain(part);
    }
  });
});
