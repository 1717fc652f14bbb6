// The committed rule files agree with each other, and the dashboard is a well-formed Grafana model:
// unique panel ids, no overlapping panels, every panel and query on the data source variable, the
// template variables the issue asks for. (That every generated file is up to date is checked by
// tools/generate/generated-files.test.ts.)
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ruleGroups } from "./alerts.js";
import { DATASOURCE } from "./grafana.js";
import { DASHBOARD_FILE, PROMETHEUS_RULE_FILE, RULES_FILE } from "./generated-files.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const read = (file: string): string => readFileSync(path.join(root, file), "utf8");

interface Target {
  refId: string;
  expr: string;
  datasource: unknown;
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: unknown;
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  name: string;
  type: string;
  datasource?: unknown;
  query: unknown;
}
interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboard = JSON.parse(read(DASHBOARD_FILE)) as Dashboard;
const queryPanels = dashboard.panels.filter((panel) => panel.type !== "row");

describe("the alert rules", () => {
  it("the PrometheusRule carries exactly the rules file's groups", () => {
    const rulesFile = parse(read(RULES_FILE)) as { groups: unknown };
    const resource = parse(read(PROMETHEUS_RULE_FILE)) as {
      apiVersion: string;
      kind: string;
      metadata: { name: string };
      spec: { groups: unknown };
    };
    expect([resource.apiVersion, resource.kind, resource.metadata.name]).toEqual([
      "monitoring.coreos.com/v1",
      "PrometheusRule",
      "kwt",
    ]);
    expect(resource.spec.groups).toEqual(rulesFile.groups);
    expect(rulesFile.groups).toEqual(JSON.parse(JSON.stringify(ruleGroups())));
  });
});

describe("the Grafana dashboard", () => {
  it("has a stable uid, a title and Grafana 10/11's schema version", () => {
    expect([dashboard.uid, dashboard.schemaVersion]).toEqual(["kwt-knative-mesh", 39]);
    expect(dashboard.title).toMatch(/kwt/);
  });

  it("gives every panel, row included, a unique id", () => {
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("puts every panel and every query on the data source variable", () => {
    const offenders = queryPanels.flatMap((panel) => [
      ...(JSON.stringify(panel.datasource) === JSON.stringify(DATASOURCE) ? [] : [`${panel.title}: panel`]),
      ...(panel.targets ?? [])
        .filter((target) => JSON.stringify(target.datasource) !== JSON.stringify(DATASOURCE))
        .map((target) => `${panel.title}: query ${target.refId}`),
    ]);
    expect(offenders).toEqual([]);
    expect(queryPanels.every((panel) => (panel.targets ?? []).length > 0)).toBe(true);
  });

  it("gives queries in a panel distinct refIds and non-empty expressions", () => {
    for (const panel of queryPanels) {
      const refIds = (panel.targets ?? []).map((target) => target.refId);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
      expect(
        (panel.targets ?? []).every((target) => target.expr.trim() !== ""),
        panel.title,
      ).toBe(true);
    }
  });

  it("lays panels out inside 24 columns without overlaps, rows flat (not collapsed)", () => {
    const cells = new Map<string, string>();
    for (const panel of dashboard.panels) {
      const { h, w, x, y } = panel.gridPos;
      expect(x + w <= 24 && x >= 0 && w > 0 && h > 0, panel.title).toBe(true);
      for (let row = y; row < y + h; row++) {
        for (let column = x; column < x + w; column++) {
          const key = `${row}:${column}`;
          expect(cells.get(key), `${panel.title} overlaps`).toBeUndefined();
          cells.set(key, panel.title);
        }
      }
      if (panel.type === "row") expect(panel.panels).toEqual([]);
    }
  });

  it("offers data source, cluster, region, namespace, service and revision variables, chained", () => {
    const variables = dashboard.templating.list;
    expect(variables.map((variable) => [variable.name, variable.type])).toEqual([
      ["datasource", "datasource"],
      ["cluster", "query"],
      ["region", "query"],
      ["namespace", "query"],
      ["service", "query"],
      ["revision", "query"],
    ]);
    for (const variable of variables.slice(1)) expect(variable.datasource).toEqual(DATASOURCE);
    const revision = variables[5]?.query as { query: string };
    expect(revision.query).toBe(
      'label_values(knative_invocations_total{cluster=~"$cluster", region=~"$region", namespace_name=~"$namespace", service_name=~"$service"}, revision_name)',
    );
  });

  it("filters every query of every panel by cluster and region and keeps both in its result", () => {
    const targets = queryPanels.flatMap((panel) =>
      (panel.targets ?? []).map((target) => ({ panel, target })),
    );
    expect(targets.length).toBeGreaterThan(30);
    for (const { panel, target } of targets) {
      const where = `${panel.title}: ${target.expr}`;
      expect(target.expr, where).toContain('cluster=~"$cluster"');
      expect(target.expr, where).toContain('region=~"$region"');
      for (const grouping of target.expr.match(/\bby \(([^)]*)\)/g) ?? []) {
        expect(grouping, where).toMatch(/\bcluster, region\b/);
      }
    }
  });

  it("filters every revision query by all five label variables", () => {
    const revisionQueries = queryPanels
      .flatMap((panel) => panel.targets ?? [])
      .filter((target) => /knative_/.test(target.expr));
    expect(revisionQueries.length).toBeGreaterThan(10);
    for (const target of revisionQueries) {
      for (const variable of ["$cluster", "$region", "$namespace", "$service", "$revision"]) {
        expect(target.expr, target.expr).toContain(`"${variable}"`);
      }
    }
  });

  it("has the panels the issue asks for", () => {
    const titles = queryPanels.map((panel) => panel.title);
    expect(titles).toEqual(
      expect.arrayContaining([
        "Cold starts per minute",
        "Cold-start duration p50 / p95 / p99",
        "Invocations per second",
        "Error ratio per revision by error kind",
        "Latency p95: cold vs warm",
        "Traffic matrix (requests per second)",
        "Hop latency p50 / p95 per cluster pair",
        "traceparent repairs per second",
        "Traces started per second by sampling decision",
        "Series overflow per minute",
        "Configuration rejects",
        "Module fetches per second by result",
        "V8 Wasm VMs",
        "Proxy convergence p50 / p99",
        "xDS push time p99 by type",
        "Rejected configuration per second",
      ]),
    );
  });
});
