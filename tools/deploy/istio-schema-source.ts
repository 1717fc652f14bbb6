/** The Istio CRD schemas kwt ships and validates against, and how they are made from istio/istio's files. */
import { parse, stringify } from "yaml";

const BUNDLE_1_20 = { tag: "1.20.8", source: "manifests/charts/base/crds/crd-all.gen.yaml" } as const;
const BUNDLE_1_30 = { tag: "1.30.3", source: "manifests/charts/base/files/crd-all.gen.yaml" } as const;

/**
 * The CRDs shipped in deploy/istio-schemas/ and where istio/istio keeps them at each tag: kwt
 * validates WasmPlugins against the first, the tests validate deploy/istio/telemetry.yaml against the second.
 */
export const SHIPPED_SCHEMAS = [
  { kind: "WasmPlugin", file: "wasmplugin-crd-1.20.yaml", ...BUNDLE_1_20 },
  { kind: "WasmPlugin", file: "wasmplugin-crd-1.30.yaml", ...BUNDLE_1_30 },
  { kind: "Telemetry", file: "telemetry-crd-1.20.yaml", ...BUNDLE_1_20 },
  { kind: "Telemetry", file: "telemetry-crd-1.30.yaml", ...BUNDLE_1_30 },
] as const;

/**
 * Removes every `description` keyword. Keys directly inside a `properties` map are field names, not
 * keywords, so a field that happens to be called `description` is kept.
 */
export function stripDescriptions(node: unknown, keysAreFieldNames = false): unknown {
  if (Array.isArray(node)) return node.map((item) => stripDescriptions(item));
  if (node === null || typeof node !== "object") return node;
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "description" && !keysAreFieldNames) continue;
    result[key] = stripDescriptions(value, !keysAreFieldNames && key === "properties");
  }
  return result;
}

export function strippedSchemaText(sourceText: string, tag: string, source: string): string {
  const header = [
    `# From istio/istio tag ${tag}, ${source} (Apache License 2.0).`,
    "# Descriptions removed by tools/deploy/strip-schemas.ts; regenerate with it, do not edit.",
  ].join("\n");
  return `${header}\n${stringify(stripDescriptions(parse(sourceText)), { lineWidth: 0 })}`;
}
