import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { applyAll } from "./apply.js";
import { parseClustersFile } from "./clusters-file.js";
import { useFakeClusters } from "../testing/kube/fake-kube-api.js";
import { compilePluginConfigSchema } from "./filter-config-schema.js";
import { loadKubeConfig } from "./kube.js";
import { planDeployment, type ClusterPlan } from "./plan.js";
import { comparePlugin, inSync, readStatuses } from "./status.js";
import { TEST_FILTER_SCHEMA } from "../testing/deploy/stand-in-filter-schema.js";
import { loadIstioSchemas } from "./validate.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const DIGEST = `sha256:${"12".repeat(32)}`;
const OTHER_DIGEST = `sha256:${"34".repeat(32)}`;
const WASM = "extensions.istio.io/v1alpha1";

function plans(digest: string | undefined, pullSecret = ""): ClusterPlan[] {
  const file = parseClustersFile(
    `image: oci://registry.example.com/kwt:1.0.0
${pullSecret}
clusters:
  - { name: east, context: ctx-east, region: r1 }
  - { name: west, context: ctx-west, region: r2 }
  - { name: central, context: ctx-central }
`,
    "clusters.yaml",
  );
  const plan = planDeployment(file, {
    digest,
    requireDigest: false,
    withSecret: false,
    only: [],
    env: {},
    checkPluginConfig: compilePluginConfigSchema(TEST_FILTER_SCHEMA),
    schemas: loadIstioSchemas(root),
  });
  expect(plan.problems).toEqual([]);
  return plan.plans;
}

describe("comparePlugin", () => {
  const expected = plans(DIGEST)[0]!.wasmPlugin;

  it("reports absence, a matching plugin, and each kind of drift", () => {
    expect(comparePlugin(expected, undefined, DIGEST)).toEqual({ present: false, differences: [] });
    expect(comparePlugin(expected, structuredClone(expected), DIGEST)).toEqual({
      present: true,
      digest: DIGEST,
      digestMatches: true,
      differences: [],
    });
    const drifted = structuredClone(expected);
    const spec = drifted.spec as Record<string, unknown>;
    spec.sha256 = OTHER_DIGEST.slice(7);
    spec.pluginConfig = { cluster: "east" };
    spec.targetRefs = [{ kind: "Gateway", name: "public" }];
    delete spec.failStrategy;
    expect(comparePlugin(expected, drifted, DIGEST)).toEqual({
      present: true,
      digest: OTHER_DIGEST,
      digestMatches: false,
      differences: ["failStrategy", "pluginConfig", "targetRefs"],
    });
    const status = comparePlugin(plans(undefined)[0]!.wasmPlugin, drifted, undefined);
    expect(status.digestMatches).toBeUndefined();
    expect(inSync(status)).toBe(false);
  });
});

describe("readStatuses against loopback API servers", () => {
  const fixture = useFakeClusters(["east", "west", "central"]);

  const options = () => ({ kubeConfig: loadKubeConfig(), concurrency: 3, timeoutMs: 10_000 });

  it("shows present, drifted, absent and unreadable clusters, reading only", async () => {
    const withSecret = "pullSecret: { name: kwt-pull }";
    await applyAll(plans(OTHER_DIGEST, withSecret).slice(0, 1), { ...options(), force: false });
    await applyAll(plans(DIGEST, withSecret).slice(1, 2), { ...options(), force: false });
    fixture.clusters.servers.west!.seed({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "kwt-pull", namespace: "istio-system" },
      type: "kubernetes.io/dockerconfigjson",
      data: {},
    });
    fixture.clusters.servers.central!.intercept = (request) =>
      (request.path.endsWith("/wasmplugins/kwt") && {
        code: 403,
        message: 'wasmplugins.extensions.istio.io "kwt" is forbidden',
        reason: "Forbidden",
      }) ||
      undefined;
    const requestsBefore = fixture.clusters.servers.east!.requests.length;

    const outcomes = await readStatuses(plans(DIGEST, withSecret), options());
    expect(outcomes.map(({ target, result, error }) => [target.cluster, result, error])).toEqual([
      [
        "east",
        {
          present: true,
          digest: OTHER_DIGEST,
          digestMatches: false,
          differences: [],
          pullSecretPresent: false,
        },
        undefined,
      ],
      [
        "west",
        { present: true, digest: DIGEST, digestMatches: true, differences: [], pullSecretPresent: true },
        undefined,
      ],
      [
        "central",
        undefined,
        `reading WasmPlugin istio-system/kwt: forbidden (403): wasmplugins.extensions.istio.io "kwt" is forbidden; the user of context "ctx-central" needs RBAC permission to get WasmPlugin objects in namespace istio-system`,
      ],
    ]);
    expect(
      fixture.clusters.servers
        .east!.requests.slice(requestsBefore)
        .every((request) => request.method === "GET"),
    ).toBe(true);
    expect(fixture.clusters.servers.east!.stored(WASM, "WasmPlugin", "istio-system", "kwt")).toBeDefined();
  });
});
