// deploy/otel/collector.yaml (no collector binary here, so the checks are structural): the traces
// pipeline receives OTLP/HTTP where the filter sends it and keeps the cluster and region resource
// attributes the filter sets.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** The resource attributes the filter puts on each span batch (assembly/spanexport.ts). */
const LOCATION_ATTRIBUTES = ["k8s.cluster.name", "cloud.region"];

interface Collector {
  receivers: Record<string, { protocols?: { http?: { endpoint: string } } }>;
  processors: Record<string, { attributes?: Array<{ key: string; action: string }> }>;
  exporters: Record<string, { endpoint?: string }>;
  service: { pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }> };
}

const collector = parse(readFileSync(path.join(root, "deploy/otel/collector.yaml"), "utf8")) as Collector;
const traces = collector.service.pipelines.traces;

describe("the OpenTelemetry Collector configuration", () => {
  it("has a traces pipeline built only from components it defines", () => {
    expect(traces).toBeDefined();
    for (const [kind, names] of [
      ["receivers", traces?.receivers ?? []],
      ["processors", traces?.processors ?? []],
      ["exporters", traces?.exporters ?? []],
    ] as const) {
      expect(names.length, kind).toBeGreaterThan(0);
      expect(
        names.filter((name) => !(name in collector[kind])),
        kind,
      ).toEqual([]);
    }
  });

  it("receives OTLP/HTTP on the standard port, whose path is the filter's default /v1/traces", () => {
    expect(traces?.receivers).toContain("otlp");
    expect(collector.receivers.otlp?.protocols?.http?.endpoint).toBe("0.0.0.0:4318");
    expect(readFileSync(path.join(root, "docs/filter.md"), "utf8")).toContain(
      '| `spanExport.path` | string | `"/v1/traces"` |',
    );
  });

  it("never overwrites or drops the cluster and region the filter sets, only fills them in", () => {
    const touching = (traces?.processors ?? []).flatMap((name) =>
      (collector.processors[name]?.attributes ?? [])
        .filter((attribute) => LOCATION_ATTRIBUTES.includes(attribute.key))
        .map((attribute) => `${name}:${attribute.key}:${attribute.action}`),
    );
    expect(touching.sort()).toEqual(["resource:cloud.region:insert", "resource:k8s.cluster.name:insert"]);
    // Only processors that keep resource attributes as they are.
    expect(traces?.processors).toEqual(["memory_limiter", "resource", "batch"]);
  });

  it("uses the resource attribute names the filter writes", () => {
    const filterSource = readdirSync(path.join(root, "assembly"))
      .filter((file) => file.endsWith(".ts"))
      .map((file) => readFileSync(path.join(root, "assembly", file), "utf8"))
      .join("\n");
    for (const attribute of LOCATION_ATTRIBUTES) expect(filterSource).toContain(`"${attribute}"`);
  });

  it("exports to the backend named by the environment", () => {
    expect(traces?.exporters.map((name) => collector.exporters[name]?.endpoint)).toEqual([
      "${env:OTLP_BACKEND_ENDPOINT}",
    ]);
  });
});
