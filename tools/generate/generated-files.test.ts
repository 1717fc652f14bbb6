// Every generated file in the checkout is what `npm run generate` writes from its sources: the
// metric catalog, the configuration schema and the dashboard and alert generators.
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { GENERATED_FILES, ROOT, readSources } from "./generated-files.js";
import { catalogProblems, type MetricCatalog } from "./catalog.js";
import { replaceRegion } from "./markers.js";
import { renderAssemblyConfigKeys, type SchemaNode } from "./config-outputs.js";
import { FILTER_CONFIG_SCHEMA } from "../deploy/filter-config-schema.js";

describe("generated files", () => {
  const sources = readSources();

  it.each(GENERATED_FILES)("$path is what npm run generate writes", async ({ path: file, render }) => {
    const current = readFileSync(path.join(ROOT, file), "utf8");
    expect(current, `${file} is stale: run npm run generate`).toBe(await render(sources, current));
  });

  it("a marker region is replaced, the text around it kept; a missing marker is an error", () => {
    const text = "a\n  # BEGIN generated x (npm run generate)\n  old\n  # END generated x\nb";
    expect(replaceRegion(text, "f.yaml", "x", "yaml", ["- one", "- two"])).toBe(
      "a\n  # BEGIN generated x (npm run generate)\n  - one\n  - two\n  # END generated x\nb",
    );
    expect(() => replaceRegion("a\nb", "f.yaml", "x", "yaml", [])).toThrow(
      /f\.yaml: no "# BEGIN generated x/,
    );
  });
});

describe("the metric catalog check", () => {
  const base: MetricCatalog = {
    pluginName: "kwt",
    labels: [{ name: "reason", description: "why" }],
    labelGroups: {},
    accessLogFields: [{ name: "kwt_a", description: "" }],
    metrics: [{ id: "a", name: "a_total", kind: "counter", labels: ["reason"], summary: "", recordedAt: "" }],
  };

  it("accepts a catalog whose labels are all declared and used", () => {
    expect(catalogProblems(base)).toEqual([]);
  });

  it("names the metric and the label that is not declared, and a declared label nobody carries", () => {
    const catalog: MetricCatalog = {
      ...base,
      labels: [...base.labels, { name: "spare", description: "" }],
      metrics: [{ ...base.metrics[0]!, labels: ["reason", "sampled", "REV"] }],
    };
    expect(catalogProblems(catalog)).toEqual([
      'metrics[a]: label group REV is not in "labelGroups"',
      'metrics[a]: label sampled is not declared in "labels"',
      "labels: spare is declared but no metric carries it",
    ]);
  });

  it("names an access-log field that is not the filter's own (kwt_ prefix, nothing Istio uses)", () => {
    const catalog: MetricCatalog = {
      ...base,
      accessLogFields: [
        { name: "peer_cluster", description: "" },
        { name: "kwt.hop", description: "" },
      ],
    };
    expect(catalogProblems(catalog)).toEqual([
      "accessLogFields: peer_cluster: expected kwt_ and lower-case letters, digits, _ (no peer, no istio)",
      "accessLogFields: kwt.hop: expected kwt_ and lower-case letters, digits, _ (no peer, no istio)",
    ]);
  });
});

describe("the configuration key tables", () => {
  const schema = JSON.parse(readFileSync(path.join(ROOT, FILTER_CONFIG_SCHEMA), "utf8")) as SchemaNode;

  it("refuse a schema that puts a key before the key its lower bound points at", () => {
    expect(renderAssemblyConfigKeys(schema)).toContain("TracingMaxProbability");
    const tracing = schema.properties!.tracing!;
    const { maxProbability, ...others } = tracing.properties!;
    expect(maxProbability).toBeDefined();
    const reordered: SchemaNode = {
      ...schema,
      properties: {
        ...schema.properties,
        tracing: { ...tracing, properties: { maxProbability: maxProbability!, ...others } },
      },
    };
    expect(() => renderAssemblyConfigKeys(reordered)).toThrow(
      /tracing\.maxProbability: its lower bound tracing\.minProbability must come before it/,
    );
  });
});
