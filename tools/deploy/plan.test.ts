import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ClustersFileError, parseClustersFile } from "./clusters-file.js";
import {
  compilePluginConfigSchema,
  FILTER_CONFIG_SCHEMA,
  loadPluginConfigSchema,
} from "./filter-config-schema.js";
import { normalizeDigest, parseOciImage } from "./image-ref.js";
import { mergeConfig, planDeployment, type PlanOptions } from "./plan.js";
import { clusterFileName, renderClusterDocuments } from "./render.js";
import { TEST_FILTER_SCHEMA } from "../testing/deploy/stand-in-filter-schema.js";
import { loadIstioSchemas } from "./validate.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;

const EXAMPLE = `
image: oci://registry.example.com/platform/kwt-filter:1.4.0
config:
  maxSeries: 4000
  tracing: { targetSampledPerSecond: 10, minProbability: 0.01 }
clusters:
  - name: east
    context: prod-east
    region: us-east1
    config: { tracing: { minProbability: 0.05 } }
  - name: west
    context: prod-west
    region: us-west1
`;

function options(overrides: Partial<PlanOptions> = {}): PlanOptions {
  return {
    digest: DIGEST,
    requireDigest: true,
    withSecret: true,
    only: [],
    env: {},
    checkPluginConfig: compilePluginConfigSchema(TEST_FILTER_SCHEMA),
    schemas: loadIstioSchemas(root),
    ...overrides,
  };
}

function problemsOf(text: string): string[] {
  try {
    parseClustersFile(text, "clusters.yaml");
  } catch (error) {
    if (error instanceof ClustersFileError) return error.problems;
    throw error;
  }
  return [];
}

describe("clusters file", () => {
  it("reads the example with defaults filled in", () => {
    const file = parseClustersFile(EXAMPLE, "clusters.yaml");
    expect(file).toMatchObject({
      name: "kwt",
      namespace: "istio-system",
      imagePullPolicy: "IfNotPresent",
      istio: { namespace: "istio-system" },
      clusters: [
        { name: "east", context: "prod-east", region: "us-east1", index: 0 },
        { name: "west", context: "prod-west", region: "us-west1", config: {}, index: 1 },
      ],
    });
  });

  it("the shipped example file parses", () => {
    const file = parseClustersFile(
      readFileSync(path.join(root, "deploy/clusters.example.yaml"), "utf8"),
      "example",
    );
    expect(file.clusters.map((cluster) => [cluster.name, cluster.context, cluster.region])).toEqual([
      ["east", "prod-east", "us-east1"],
      ["west", "prod-west", "us-west1"],
    ]);
  });

  it.skipIf(!existsSync(path.join(root, FILTER_CONFIG_SCHEMA)))(
    "the example's config passes the filter's own schema",
    () => {
      const file = parseClustersFile(
        readFileSync(path.join(root, "deploy/clusters.example.yaml"), "utf8"),
        "example",
      );
      const real = options({ checkPluginConfig: loadPluginConfigSchema(root, {}) });
      expect(planDeployment(file, real).problems).toEqual([]);
      const inverted = parseClustersFile(
        `${EXAMPLE}    config: { tracing: { maxProbability: 0.001 } }\n`,
        "c",
      );
      expect(planDeployment(inverted, real).problems).toEqual([
        "cluster west: pluginConfig.tracing.maxProbability (from clusters[1].config): 0.001 is out of range; expected a number >= tracing.minProbability (0.01)",
      ]);
    },
  );

  it("names every wrong field", () => {
    expect(
      problemsOf(`
imagePullPolicy: Sometimes
namspace: istio-system
pullSecret: { name: kwt-pull, usernameEnv: USER }
clusters:
  - name: "east cluster"
    region: us-east1
    config: { cluster: other }
  - name: west
    context: prod-west
    selector: { matchLabels: { app: 1 } }
  - name: west
    context: prod-west
  - just-a-string
`),
    ).toEqual([
      "namspace: unknown field; expected one of image, digest, name, namespace, selector, imagePullPolicy, priority, pullSecret, istio, config, clusters",
      'imagePullPolicy: "Sometimes" is not IfNotPresent or Always',
      "pullSecret.passwordEnv: give usernameEnv and passwordEnv together, or neither",
      'clusters[0].name: "east cluster" is not a label value ([A-Za-z0-9_.:/-], at most 63 characters)',
      "clusters[0].context: required",
      "clusters[0].config.cluster: kwt sets it from clusters[0].name; remove it",
      "clusters[1].selector.matchLabels.app: must be a string (quote it)",
      "clusters[3]: must be a mapping with name and context",
      'clusters[2].name: "west" is already used by clusters[1]; each cluster once',
      'clusters[2].context: "prod-west" is already used by clusters[1]; each cluster once',
    ]);
    expect(problemsOf("clusters: []")).toEqual([
      "clusters: required: a list with at least one cluster (name, context)",
    ]);
    expect(problemsOf("clusters: [\n  - name: a\n   context: b")[0]).toMatch(/^invalid YAML: /);
  });

  it("parses image references and digests", () => {
    expect(parseOciImage("registry.example.com:5000/platform/kwt-filter:1.4.0")).toEqual({
      url: "oci://registry.example.com:5000/platform/kwt-filter:1.4.0",
      registry: "registry.example.com:5000",
      repository: "platform/kwt-filter",
      tag: "1.4.0",
      digest: undefined,
    });
    expect(parseOciImage(`oci://localhost/kwt@${DIGEST}`).digest).toBe(DIGEST);
    expect(() => parseOciImage("https://example.com/kwt.wasm")).toThrow(
      /must be an oci:\/\/ image reference/,
    );
    expect(() => parseOciImage("oci://kwt-filter:1.4.0")).toThrow(/must start with a registry host/);
    expect(() => parseOciImage("oci://registry.example.com/Platform/kwt")).toThrow(/needs a tag|lower-case/);
    expect(normalizeDigest("0123456789abcdef".repeat(4))).toBe(DIGEST);
    expect(() => normalizeDigest("sha256:ABC")).toThrow(
      'must be sha256:<64 lower-case hex digits>, got "sha256:ABC"',
    );
  });
});

describe("planDeployment", () => {
  it("merges defaults with per-cluster config and sets cluster and region", () => {
    const { plans, problems } = planDeployment(parseClustersFile(EXAMPLE, "clusters.yaml"), options());
    expect(problems).toEqual([]);
    expect(plans.map((plan) => plan.wasmPlugin)).toEqual([
      {
        apiVersion: "extensions.istio.io/v1alpha1",
        kind: "WasmPlugin",
        metadata: {
          name: "kwt",
          namespace: "istio-system",
          labels: { "app.kubernetes.io/name": "kwt-filter", "app.kubernetes.io/managed-by": "kwt" },
        },
        spec: {
          url: "oci://registry.example.com/platform/kwt-filter:1.4.0",
          sha256: DIGEST.slice(7),
          imagePullPolicy: "IfNotPresent",
          pluginName: "kwt",
          failStrategy: "FAIL_OPEN",
          phase: "STATS",
          type: "HTTP",
          match: [{ mode: "CLIENT_AND_SERVER" }],
          pluginConfig: {
            cluster: "east",
            region: "us-east1",
            maxSeries: 4000,
            tracing: { targetSampledPerSecond: 10, minProbability: 0.05 },
          },
        },
      },
      expect.objectContaining({
        spec: expect.objectContaining({
          pluginConfig: {
            cluster: "west",
            region: "us-west1",
            maxSeries: 4000,
            tracing: { targetSampledPerSecond: 10, minProbability: 0.01 },
          },
        }),
      }),
    ]);
    expect(mergeConfig({ a: [1, 2], b: { c: 1 } }, { a: [3], b: { d: 2 } })).toEqual({
      a: [3],
      b: { c: 1, d: 2 },
    });
  });

  it("renders a selector, another namespace and the pull Secret from the environment", () => {
    const file = parseClustersFile(
      `${EXAMPLE}
    namespace: knative-serving
    selector: { matchLabels: { "serving.knative.dev/service": hello } }
pullSecret: { name: kwt-pull, usernameEnv: REG_USER, passwordEnv: REG_PASS }
`,
      "clusters.yaml",
    );
    const { plans, problems } = planDeployment(
      file,
      options({ only: ["west"], env: { REG_USER: "u", REG_PASS: "p" } }),
    );
    expect(problems).toEqual([]);
    expect(plans).toHaveLength(1);
    const [secret, wasmPlugin] = plans[0]!.objects;
    expect(secret).toMatchObject({
      kind: "Secret",
      metadata: { name: "kwt-pull", namespace: "knative-serving" },
    });
    const dockerConfig = JSON.parse(
      Buffer.from((secret!.data as Record<string, string>)[".dockerconfigjson"]!, "base64").toString(),
    );
    expect(dockerConfig).toEqual({
      auths: { "registry.example.com": { username: "u", password: "p", auth: "dTpw" } },
    });
    expect(wasmPlugin).toMatchObject({
      metadata: { namespace: "knative-serving" },
      spec: {
        selector: { matchLabels: { "serving.knative.dev/service": "hello" } },
        imagePullSecret: "kwt-pull",
      },
    });
  });

  it("reports schema, image, digest and secret problems with where they come from", () => {
    const file = parseClustersFile(
      `${EXAMPLE}    config: { tracing: { minProbability: 2 }, colour: blue }
pullSecret: { name: kwt-pull, usernameEnv: REG_USER, passwordEnv: REG_PASS }
`,
      "clusters.yaml",
    );
    expect(planDeployment(file, options({ digest: undefined, only: ["west", "north"] })).problems).toEqual([
      "digest: missing: pass --digest sha256:... (the manifest digest kwt push prints) or set digest: in the clusters file",
      "--cluster north: no such cluster in the clusters file (it has east, west)",
      "cluster west: pluginConfig.colour (from clusters[1].config): unknown key; expected one of cluster, region, role, maxSeries, knownClusters, tracing (the filter refuses configurations with unknown keys)",
      "cluster west: pluginConfig.tracing.minProbability (from clusters[1].config): 2 is out of range; expected a number from 0 to 1",
      "pullSecret.usernameEnv: environment variable REG_USER is not set (or empty)",
      "pullSecret.passwordEnv: environment variable REG_PASS is not set (or empty)",
    ]);
    expect(planDeployment(file, options({ image: "docker.io/kwt" })).problems[0]).toBe(
      "--image: needs a tag or a digest; expected oci://registry.example.com/team/kwt-filter:1.4.0",
    );
    const pinned = options({
      image: `oci://registry.example.com/kwt@sha256:${"f".repeat(64)}`,
      withSecret: false,
    });
    expect(planDeployment(parseClustersFile(EXAMPLE, "c"), pinned).problems).toEqual([
      `--digest: ${DIGEST} differs from the digest in --image (sha256:${"f".repeat(64)}); give one`,
    ]);
  });

  it("reports what Istio's schemas refuse, per cluster", () => {
    const file = parseClustersFile(
      `${EXAMPLE}priority: 5\nselector: { matchLabels: { app: "hello-*" } }\n`,
      "c",
    );
    expect(planDeployment(file, options({ only: ["east"] })).problems).toEqual([
      "cluster east: WasmPlugin istio-system/kwt: spec.selector.matchLabels.app: wildcard not allowed in label value match (Istio 1.30.3)",
    ]);
  });

  it("prints one cluster's objects as YAML that reads back as the same objects", () => {
    const { plans } = planDeployment(parseClustersFile(EXAMPLE, "c"), options());
    const text = renderClusterDocuments(plans[1]!);
    expect(
      text.startsWith(
        "---\n# cluster west (kubeconfig context prod-west)\napiVersion: extensions.istio.io/v1alpha1\n",
      ),
    ).toBe(true);
    const documents = text
      .split(/^---\n/m)
      .filter(Boolean)
      .map((document) => parse(document) as unknown);
    expect(documents).toEqual([plans[1]!.wasmPlugin]);
  });

  it("never prints the pull Secret's password, in clear or base64: it names the Secret, redacted", () => {
    const withSecret = `${EXAMPLE}pullSecret: { name: kwt-pull, usernameEnv: REG_USER, passwordEnv: REG_PASS }\n`;
    const password = "pa55-w0rd-that-must-not-leak";
    const { plans, problems } = planDeployment(
      parseClustersFile(withSecret, "c"),
      options({ env: { REG_USER: "robot", REG_PASS: password } }),
    );
    expect(problems).toEqual([]);
    expect(plans[0]!.objects.map((object) => object.kind)).toEqual(["Secret", "WasmPlugin"]);
    const text = renderClusterDocuments(plans[0]!);
    const secret = plans[0]!.objects[0]! as unknown as { data: Record<string, string> };
    const encoded = secret.data[".dockerconfigjson"]!;
    const decoded = Buffer.from(encoded, "base64").toString("utf8");
    const basicAuth = Buffer.from(`robot:${password}`).toString("base64");
    expect(decoded).toContain(password);
    for (const secretText of [password, encoded, basicAuth]) expect(text).not.toContain(secretText);
    expect(text).toContain(
      "# Secret istio-system/kwt-pull (kubernetes.io/dockerconfigjson): kwt deploy would create or update it from the registry credentials; content redacted\n",
    );
    const documents = text
      .split(/^---\n/m)
      .map((document) => parse(document) as unknown)
      .filter((document) => document !== null);
    expect(documents).toEqual([plans[0]!.wasmPlugin]);
  });

  it("names each cluster's file after the cluster, paths made safe", () => {
    expect(["east", "us/east:1"].map(clusterFileName)).toEqual(["east.yaml", "us_east_1.yaml"]);
  });
});
