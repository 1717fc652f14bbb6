// deploy/istio/: the extraStatTags (mesh and pod forms) list exactly the filter's labels, the
// Telemetry resource passes Istio 1.20's and 1.30's CRD schemas, the kustomize base's WasmPlugin
// passes kwt's WasmPlugin validation with the settings a telemetry filter needs.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { FILTER_METRIC_LABELS, FILTER_ROOT_ID } from "../deploy/filter-contract.js";
import { SHIPPED_SCHEMAS } from "../deploy/istio-schema-source.js";
import {
  loadIstioSchemas,
  validateAgainstSchema,
  validateManifest,
  type SchemaNode,
} from "../deploy/validate.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const read = (file: string): string => readFileSync(path.join(root, file), "utf8");
const TELEMETRY_SCHEMAS = SHIPPED_SCHEMAS.filter((schema) => schema.kind === "Telemetry");

function telemetrySchema(file: string, apiVersion = "v1alpha1"): SchemaNode {
  const crd = parse(read(`deploy/istio-schemas/${file}`)) as {
    metadata: { name: string };
    spec: { versions: Array<{ name: string; served: boolean; schema: { openAPIV3Schema: SchemaNode } }> };
  };
  expect(crd.metadata.name).toBe("telemetries.telemetry.istio.io");
  const version = crd.spec.versions.find((candidate) => candidate.name === apiVersion);
  expect(version?.served).toBe(true);
  return (version as { schema: { openAPIV3Schema: SchemaNode } }).schema.openAPIV3Schema;
}

/** The schema without its `oneOf`s: kwt's structural validator does not implement `not`, which they use. */
function withoutOneOf(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutOneOf);
  if (node === null || typeof node !== "object") return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key]) => key !== "oneOf")
      .map(([key, value]) => [key, withoutOneOf(value)]),
  );
}

/**
 * What the API server would reject in `object`'s body, as `path: message`: Kubernetes' structural
 * rules (unknown fields, types, limits, CEL) by kwt's validator, the JSON Schema combinators
 * (`oneOf` of `not`/`required`: "at most one of literal, environment, header") by Ajv.
 */
function telemetryViolations(object: Record<string, unknown>, schema: SchemaNode): string[] {
  const { apiVersion: _apiVersion, kind: _kind, metadata: _metadata, ...body } = object;
  const out: Array<{ path: string; message: string }> = [];
  validateAgainstSchema(body, withoutOneOf(schema) as SchemaNode, "", out);
  // Formats appear only under `status` (date-time), which a manifest never carries.
  const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(schema);
  const combinators = validate(body)
    ? []
    : (validate.errors ?? []).map((error) => ({
        path: error.instancePath,
        message: `${error.keyword}: ${error.message}`,
      }));
  return [...out, ...combinators].map((violation) => `${violation.path}: ${violation.message}`);
}

describe("extraStatTags", () => {
  it("the mesh config lists exactly the labels the filter emits", () => {
    const values = parse(read("deploy/istio/mesh-config.yaml")) as {
      meshConfig: { defaultConfig: { extraStatTags: string[] } };
    };
    expect(values.meshConfig.defaultConfig.extraStatTags).toEqual([...FILTER_METRIC_LABELS]);
  });

  it("docs/filter.md names the same list", () => {
    expect(read("docs/filter.md")).toContain(
      `\`extraStatTags\` to set: \`${FILTER_METRIC_LABELS.join(",")}\``,
    );
  });

  it("the pod annotation example (revision template and ingress gateway) lists the same labels", () => {
    const documents = parseAllDocuments(read("deploy/istio/pod-annotations.yaml")).map(
      (document) =>
        document.toJS() as {
          kind: string;
          spec: { template: { metadata: { annotations: Record<string, string> } } };
        },
    );
    expect(documents.map((document) => document.kind)).toEqual(["Service", "Deployment"]);
    for (const document of documents) {
      const annotation = document.spec.template.metadata.annotations["sidecar.istio.io/extraStatTags"];
      expect(annotation?.split(",")).toEqual([...FILTER_METRIC_LABELS]);
    }
  });
});

describe("the Telemetry resource", () => {
  const telemetry = parse(read("deploy/istio/telemetry.yaml")) as Record<string, unknown> & {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace: string };
    spec: {
      tracing: Array<{ customTags: Record<string, { header?: { name: string } }> }>;
      accessLogging: unknown[];
    };
  };

  it.each(TELEMETRY_SCHEMAS)("is valid for Istio $tag", ({ file }) => {
    expect([telemetry.apiVersion, telemetry.kind]).toEqual(["telemetry.istio.io/v1alpha1", "Telemetry"]);
    expect(telemetryViolations(telemetry, telemetrySchema(file))).toEqual([]);
  });

  it("as telemetry.istio.io/v1 (telemetry-v1.yaml) is valid for Istio 1.30, whose CRD serves v1", () => {
    const v1 = parse(read("deploy/istio/telemetry-v1.yaml")) as Record<string, unknown>;
    expect(v1.apiVersion).toBe("telemetry.istio.io/v1");
    expect(telemetryViolations(v1, telemetrySchema("telemetry-crd-1.30.yaml", "v1"))).toEqual([]);
    const served = (
      parse(read("deploy/istio-schemas/telemetry-crd-1.20.yaml")) as {
        spec: { versions: Array<{ name: string }> };
      }
    ).spec.versions.map((version) => version.name);
    expect(served).toEqual(["v1alpha1"]);
  });

  it("an access-logging entry with an unknown field is refused by both releases", () => {
    const broken = structuredClone(telemetry) as Record<string, unknown> & {
      spec: { accessLogging: unknown[] };
    };
    broken.spec.accessLogging[0] = { providers: [{ name: "kwt-file-log" }], format: "%RESPONSE_CODE%" };
    for (const { file } of TELEMETRY_SCHEMAS) {
      expect(telemetryViolations(broken, telemetrySchema(file)).join("\n")).toContain(
        "format: unknown field",
      );
    }
  });

  it("is mesh-wide and tags spans with the headers the filter stamps", () => {
    expect(telemetry.metadata.namespace).toBe("istio-system");
    const headers = Object.values(telemetry.spec.tracing[0]?.customTags ?? {}).flatMap((tag) =>
      tag.header ? [tag.header.name] : [],
    );
    expect(headers).toEqual(["x-kwt-entry", "x-kwt-hop"]);
  });

  it("a tag with two sources is refused by both releases", () => {
    const twoSources = structuredClone(telemetry);
    const tags = twoSources.spec.tracing[0]?.customTags as Record<string, unknown>;
    tags["kwt.both"] = { header: { name: "x-kwt-hop" }, literal: { value: "x" } };
    for (const { file } of TELEMETRY_SCHEMAS) {
      expect(telemetryViolations(twoSources, telemetrySchema(file))).toContain(
        "/spec/tracing/0/customTags/kwt.both: oneOf: must match exactly one schema in oneOf",
      );
    }
  });

  it("a formatter tag (newer Istio only) would be refused by Istio 1.20's schema", () => {
    const withFormatter = structuredClone(telemetry);
    const tags = withFormatter.spec.tracing[0]?.customTags as Record<string, unknown>;
    tags["kwt.pod"] = { formatter: { value: "%RESP(x-kwt-pod)%" } };
    expect(telemetryViolations(withFormatter, telemetrySchema("telemetry-crd-1.20.yaml"))).toEqual([
      'spec.tracing[0].customTags["kwt.pod"].formatter: unknown field; known fields here: environment, header, literal',
    ]);
    expect(telemetryViolations(withFormatter, telemetrySchema("telemetry-crd-1.30.yaml"))).toEqual([]);
  });
});

describe("the WasmPlugin kustomize base", () => {
  const kustomization = parse(read("deploy/istio/wasmplugin/kustomization.yaml")) as { resources: string[] };
  const plugin = parse(read("deploy/istio/wasmplugin/wasmplugin.yaml")) as {
    metadata: { name: string; namespace: string };
    spec: Record<string, unknown>;
  };

  it("lists the WasmPlugin as its only resource", () => {
    expect(kustomization.resources).toEqual(["wasmplugin.yaml"]);
  });

  it("passes the Istio 1.20 and 1.30 WasmPlugin schemas", () => {
    expect(validateManifest(plugin, loadIstioSchemas(root))).toEqual([]);
  });

  it("loads the filter mesh-wide, fail-open, in the STATS phase, for both directions", () => {
    expect(plugin.metadata).toMatchObject({ name: "kwt", namespace: "istio-system" });
    expect(plugin.spec).toMatchObject({
      pluginName: FILTER_ROOT_ID,
      failStrategy: "FAIL_OPEN",
      phase: "STATS",
      type: "HTTP",
      match: [{ mode: "CLIENT_AND_SERVER" }],
    });
    expect(plugin.spec.selector).toBeUndefined();
  });
});
