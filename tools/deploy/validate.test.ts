import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { celRule, requestUriScheme } from "./cel-rules.js";
import { loadIstioSchemas, validateAgainstSchema, validateManifest, type SchemaNode } from "./validate.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const schemas = loadIstioSchemas(root);
const BOTH = "(Istio 1.20.8, 1.30.3)";
const DIGEST = "a".repeat(64);

function wasmPlugin(
  spec: Record<string, unknown>,
  metadata: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    apiVersion: "extensions.istio.io/v1alpha1",
    kind: "WasmPlugin",
    metadata: {
      name: "kwt",
      namespace: "istio-system",
      labels: { "app.kubernetes.io/managed-by": "kwt" },
      ...metadata,
    },
    spec: {
      url: "oci://registry.example.com/platform/kwt-filter:1.4.0",
      sha256: DIGEST,
      imagePullPolicy: "IfNotPresent",
      pluginName: "kwt",
      phase: "STATS",
      failStrategy: "FAIL_OPEN",
      type: "HTTP",
      match: [{ mode: "CLIENT_AND_SERVER" }],
      pluginConfig: { cluster: "east", region: "us-east1", tracing: { enabled: true } },
      ...spec,
    },
  };
}

function withoutSpecField(field: string): Record<string, unknown> {
  const object = wasmPlugin({});
  delete (object.spec as Record<string, unknown>)[field];
  return object;
}

describe("validateManifest: WasmPlugin against Istio 1.20 and 1.30", () => {
  it("accepts what kwt renders, mesh-wide and with a selector, and a pull secret reference", () => {
    expect(validateManifest(wasmPlugin({}), schemas)).toEqual([]);
    expect(
      validateManifest(
        wasmPlugin({
          selector: { matchLabels: { "serving.knative.dev/service": "hello" } },
          imagePullSecret: "kwt-pull",
        }),
        schemas,
      ),
    ).toEqual([]);
  });

  it("names a missing required field", () => {
    expect(validateManifest(withoutSpecField("url"), schemas)).toEqual([
      `spec.url: required field is missing ${BOTH}`,
    ]);
    const noSpec = wasmPlugin({});
    delete noSpec.spec;
    expect(validateManifest(noSpec, schemas)).toEqual([`spec: required field is missing ${BOTH}`]);
  });

  it("names an enum value a release does not know", () => {
    expect(validateManifest(wasmPlugin({ failStrategy: "FAIL_RELOAD" }), schemas)).toEqual([
      'spec.failStrategy: must be one of FAIL_CLOSE, FAIL_OPEN; got string "FAIL_RELOAD" (Istio 1.20.8)',
    ]);
    expect(validateManifest(wasmPlugin({ phase: "LATE" }), schemas)).toEqual([
      `spec.phase: must be one of UNSPECIFIED_PHASE, AUTHN, AUTHZ, STATS; got string "LATE" ${BOTH}`,
    ]);
  });

  it("checks patterns, lengths, types and integer ranges", () => {
    expect(validateManifest(wasmPlugin({ sha256: `sha256:${DIGEST}` }), schemas)).toEqual([
      `spec.sha256: must match (^$|^[a-f0-9]{64}$); got "sha256:${DIGEST}" ${BOTH}`,
    ]);
    expect(validateManifest(wasmPlugin({ pluginName: "k".repeat(257) }), schemas)).toEqual([
      `spec.pluginName: must be at most 256 characters long, is 257 ${BOTH}`,
    ]);
    expect(validateManifest(wasmPlugin({ priority: "high" }), schemas)).toEqual([
      `spec.priority: must be an integer, got string "high" ${BOTH}`,
    ]);
    expect(validateManifest(wasmPlugin({ priority: 2 ** 31 }), schemas)).toEqual([
      "spec.priority: must fit in a 32-bit integer; got 2147483648 (Istio 1.30.3)",
    ]);
    expect(
      validateManifest(wasmPlugin({ match: [{ mode: "SERVER", ports: [{ number: 0 }] }] }), schemas),
    ).toEqual([`spec.match[0].ports[0].number: must be >= 1; got 0 ${BOTH}`]);
    expect(validateManifest(wasmPlugin({ pluginConfig: "cluster=east" }), schemas)).toEqual([
      `spec.pluginConfig: must be an object, got string "cluster=east" ${BOTH}`,
    ]);
  });

  it("rejects fields a release does not know, which its API server would silently drop", () => {
    const targetRefs = [{ kind: "Gateway", group: "gateway.networking.k8s.io", name: "public" }];
    expect(validateManifest(wasmPlugin({ targetRefs }), schemas)).toEqual([
      expect.stringMatching(
        /^spec\.targetRefs: unknown field; known fields here: failStrategy, .* \(Istio 1\.20\.8\)$/,
      ),
    ]);
    expect(validateManifest(wasmPlugin({ match: [{ mode: "SERVER", port: 80 }] }), schemas)).toEqual([
      `spec.match[0].port: unknown field; known fields here: mode, ports ${BOTH}`,
    ]);
  });

  it("evaluates the CEL rules the schemas carry", () => {
    const selector = { matchLabels: { app: "hello" } };
    const targetRefs = [{ kind: "Gateway", group: "gateway.networking.k8s.io", name: "public" }];
    expect(validateManifest(wasmPlugin({ selector, targetRefs }), schemas)).toEqual([
      expect.stringMatching(/^spec\.targetRefs: unknown field.*\(Istio 1\.20\.8\)$/),
      "spec: only one of targetRefs or selector can be set (Istio 1.30.3)",
    ]);
    expect(validateManifest(wasmPlugin({ selector: { matchLabels: { app: "hello-*" } } }), schemas)).toEqual([
      "spec.selector.matchLabels.app: wildcard not allowed in label value match (Istio 1.30.3)",
    ]);
    expect(validateManifest(wasmPlugin({ selector: { matchLabels: { "app*": "x" } } }), schemas)).toEqual([
      "spec.selector.matchLabels: wildcard not allowed in label key match (Istio 1.30.3)",
    ]);
    expect(validateManifest(wasmPlugin({ url: "ftp://registry.example.com/kwt" }), schemas)).toEqual([
      `spec.url: url must have schema one of [http, https, file, oci] ${BOTH}`,
    ]);
    expect(
      validateManifest(
        wasmPlugin({ vmConfig: { env: [{ name: "POD_NAME", valueFrom: "HOST", value: "x" }] } }),
        schemas,
      ),
    ).toEqual([`spec.vmConfig.env[0]: value may only be set when valueFrom is INLINE ${BOTH}`]);
  });

  it("finds duplicate keys in map-type lists", () => {
    const ports = [{ number: 8080 }, { number: 8080 }];
    expect(validateManifest(wasmPlugin({ match: [{ mode: "SERVER", ports }] }), schemas)).toEqual([
      `spec.match[0].ports[1]: duplicate entry (number=8080), same as [0] ${BOTH}`,
    ]);
  });

  it("checks metadata like the API server", () => {
    expect(
      validateManifest(
        wasmPlugin({}, { name: "Kwt_Filter", namespace: "istio.system", labels: { "-bad": "ok" } }),
        schemas,
      ),
    ).toEqual([
      `metadata.name: must be a DNS-1123 subdomain (lower-case letters, digits, '-', '.'; at most 253); got "Kwt_Filter"`,
      `metadata.namespace: must be a DNS-1123 label (lower-case letters, digits, '-'; at most 63); got "istio.system"`,
      'metadata.labels["-bad"]: is not a valid label key ([prefix/]name, name at most 63 of [A-Za-z0-9_.-])',
    ]);
  });
});

describe("validateManifest: Secret", () => {
  const auths = Buffer.from(JSON.stringify({ auths: { "registry.example.com": { auth: "dTpw" } } })).toString(
    "base64",
  );
  const secret = (
    data: Record<string, unknown>,
    extra: Record<string, unknown> = {},
  ): Record<string, unknown> => ({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "kwt-pull", namespace: "istio-system" },
    type: "kubernetes.io/dockerconfigjson",
    data,
    ...extra,
  });

  it("accepts a docker config secret", () => {
    expect(validateManifest(secret({ ".dockerconfigjson": auths }), schemas)).toEqual([]);
  });

  it("names each problem", () => {
    expect(validateManifest(secret({ ".dockerconfigjson": "not base64!" }, { spec: {} }), schemas)).toEqual([
      "spec: unknown field; a Secret has apiVersion, kind, metadata, type, data, stringData, immutable",
      'data[".dockerconfigjson"]: must be base64-encoded',
      'data[".dockerconfigjson"]: must be a JSON object with "auths"',
    ]);
    expect(validateManifest(secret({ "bad key": "" }), schemas)).toEqual([
      'data["bad key"]: key must consist of [-._a-zA-Z0-9]',
      'data[".dockerconfigjson"]: required for type kubernetes.io/dockerconfigjson',
    ]);
  });

  it("refuses kinds it cannot validate", () => {
    expect(
      validateManifest(
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", namespace: "b" } },
        schemas,
      ),
    ).toEqual([
      "(object): kwt validates only v1 Secret and extensions.istio.io/v1alpha1 WasmPlugin, got v1 ConfigMap",
    ]);
  });
});

describe("validateAgainstSchema", () => {
  it("implements oneOf and anyOf", () => {
    const schema: SchemaNode = {
      type: "object",
      properties: { a: { type: "string" }, b: { type: "string" } },
      oneOf: [{ required: ["a"] }, { required: ["b"] }],
    };
    const run = (value: unknown): string[] => {
      const out: { path: string; message: string }[] = [];
      validateAgainstSchema(value, schema, "x", out);
      return out.map((v) => `${v.path}: ${v.message}`);
    };
    expect(run({ a: "1" })).toEqual([]);
    expect(run({ a: "1", b: "2" })).toEqual(["x: must match exactly one allowed form (oneOf), matches 2"]);
    expect(run({})).toEqual(["x: must match exactly one allowed form (oneOf), matches 0"]);
    const intOrString: SchemaNode = {
      anyOf: [{ type: "integer" }, { type: "string" }],
      "x-kubernetes-int-or-string": true,
    };
    const out: { path: string; message: string }[] = [];
    validateAgainstSchema(1.5, intOrString, "n", out);
    expect(out).toEqual([{ path: "n", message: "must be an integer or a string, got number 1.5" }]);
  });

  it("reports a CEL rule kwt does not implement instead of skipping it", () => {
    const out: { path: string; message: string }[] = [];
    validateAgainstSchema(
      "x",
      { type: "string", "x-kubernetes-validations": [{ rule: "self.startsWith('y')" }] },
      "f",
      out,
    );
    expect(out).toEqual([{ path: "f", message: `kwt cannot evaluate the CEL rule "self.startsWith('y')"` }]);
  });
});

describe("CEL rules", () => {
  function rulesIn(node: unknown, found: string[] = []): string[] {
    if (Array.isArray(node)) node.forEach((item) => rulesIn(item, found));
    else if (node && typeof node === "object") {
      for (const [key, value] of Object.entries(node)) {
        if (key === "x-kubernetes-validations")
          found.push(...(value as { rule: string }[]).map((v) => v.rule));
        else rulesIn(value, found);
      }
    }
    return found;
  }

  it("every rule in the shipped schemas is implemented", () => {
    const rules = schemas.flatMap(({ schema }) => rulesIn(schema));
    expect(rules.length).toBe(10);
    expect(rules.filter((rule) => !celRule(rule))).toEqual([]);
  });

  it("parses URLs like Go's url.ParseRequestURI", () => {
    expect(requestUriScheme("oci://registry.example.com/kwt:1")).toBe("oci");
    expect(requestUriScheme("OCI://registry.example.com/kwt:1")).toBe("oci");
    expect(requestUriScheme("file:///opt/filters/kwt.wasm")).toBe("file");
    expect(requestUriScheme("/opt/filters/kwt.wasm")).toBe("");
    expect(requestUriScheme("registry.example.com/kwt:1")).toBeUndefined();
    expect(requestUriScheme("registry:5000/kwt")).toBe("registry");
    expect(requestUriScheme("oci://bad host/kwt")).toBeUndefined();
    expect(requestUriScheme("oci://registry:port/kwt")).toBeUndefined();
    expect(requestUriScheme("oci://registry/k%zz")).toBeUndefined();
    expect(requestUriScheme("")).toBeUndefined();
  });

  it("the url rule accepts scheme-less references and refuses other schemes", () => {
    const urlRule = celRule(
      `isURL(self) ? (url(self).getScheme() in ["", "http", "https", "oci", "file"]) : (isURL("http://" + self) && url("http://" + self).getScheme() in ["", "http", "https", "oci", "file"])`,
    )!;
    expect(urlRule("registry.example.com/kwt:1")).toBe(true);
    expect(urlRule("https://example.com/kwt.wasm")).toBe(true);
    expect(urlRule("registry:5000/kwt")).toBe(false);
    expect(urlRule("s3://bucket/kwt.wasm")).toBe(false);
  });
});
