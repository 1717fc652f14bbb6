import path from "node:path";
import { describe, expect, it } from "vitest";
import { applyAll } from "./apply.js";
import { parseClustersFile } from "./clusters-file.js";
import { describeChange, diffObject, dryRunAll, REDACTED } from "./diff.js";
import { useFakeClusters } from "../testing/kube/fake-kube-api.js";
import { compilePluginConfigSchema } from "./filter-config-schema.js";
import { loadKubeConfig } from "./kube.js";
import { planDeployment, type ClusterPlan } from "./plan.js";
import { TEST_FILTER_SCHEMA } from "../testing/deploy/stand-in-filter-schema.js";
import { loadIstioSchemas } from "./validate.js";

const root = path.resolve(import.meta.dirname, "../..");
const DIGEST = `sha256:${"9a".repeat(32)}`;
const WASM = "extensions.istio.io/v1alpha1";

function plans(config: string, env: Record<string, string> = {}, extra = ""): ClusterPlan[] {
  const file = parseClustersFile(
    `image: oci://registry.example.com/kwt:1.0.0
config: ${config}
${extra}
clusters:
  - { name: east, context: ctx-east, region: r1 }
  - { name: west, context: ctx-west, region: r2 }
`,
    "clusters.yaml",
  );
  const plan = planDeployment(file, {
    digest: DIGEST,
    requireDigest: true,
    withSecret: true,
    only: [],
    env,
    checkPluginConfig: compilePluginConfigSchema(TEST_FILTER_SCHEMA),
    schemas: loadIstioSchemas(root),
  });
  expect(plan.problems).toEqual([]);
  return plan.plans;
}

describe("diffObject", () => {
  const wanted = plans("{ maxSeries: 500 }")[0]!.wasmPlugin;

  it("tells a creation, no change, and each added, changed and removed field", () => {
    expect(diffObject(undefined, wanted).action).toBe("create");
    const live = {
      ...structuredClone(wanted),
      metadata: { ...wanted.metadata, resourceVersion: "7", uid: "u", managedFields: [{ manager: "kwt" }] },
      status: { conditions: [] },
    };
    expect(
      diffObject(live, { ...structuredClone(wanted), metadata: { ...live.metadata, resourceVersion: "8" } }),
    ).toEqual({
      kind: "WasmPlugin",
      namespace: "istio-system",
      name: "kwt",
      action: "unchanged",
      fields: [],
    });
    const after = structuredClone(wanted) as Record<string, Record<string, unknown>>;
    after.spec!.priority = 10;
    delete after.spec!.imagePullPolicy;
    (after.spec!.pluginConfig as Record<string, unknown>).maxSeries = 900;
    after.metadata!.labels = { ...wanted.metadata.labels, "team.example.com/owner": "obs" };
    const change = diffObject(live, after as never);
    expect(change.action).toBe("change");
    expect(describeChange(change)).toEqual([
      "WasmPlugin istio-system/kwt: would change",
      '  + metadata.labels["team.example.com/owner"]: "obs"',
      '  - spec.imagePullPolicy: "IfNotPresent"',
      "  ~ spec.pluginConfig.maxSeries: 500 -> 900",
      "  + spec.priority: 10",
    ]);
  });

  it("shows a Secret's data only as changed, never its values", () => {
    const [before, after] = [
      plans(
        "{}",
        { U: "robot", P: "old-password" },
        "pullSecret: { name: kwt-pull, usernameEnv: U, passwordEnv: P }",
      ),
      plans(
        "{}",
        { U: "robot", P: "new-password" },
        "pullSecret: { name: kwt-pull, usernameEnv: U, passwordEnv: P }",
      ),
    ].map((list) => list[0]!.objects[0]!);
    const change = diffObject(before as never, after!);
    expect(change.fields).toEqual([{ path: 'data[".dockerconfigjson"]', before: REDACTED, after: REDACTED }]);
    const text = JSON.stringify(change);
    for (const value of [
      "old-password",
      "new-password",
      (before!.data as Record<string, string>)[".dockerconfigjson"]!,
      (after!.data as Record<string, string>)[".dockerconfigjson"]!,
    ])
      expect(text).not.toContain(value);
  });
});

describe("dryRunAll against loopback API servers", () => {
  const fixture = useFakeClusters(["east", "west"]);
  const options = () => ({ kubeConfig: loadKubeConfig(), concurrency: 2, timeoutMs: 10_000, force: false });

  it("asks each cluster with dryRun=All, stores nothing, and names a refusal from admission", async () => {
    const { east, west } = fixture.clusters.servers;
    await applyAll(plans("{ maxSeries: 500 }").slice(0, 1), options());
    const stored = structuredClone(east!.stored(WASM, "WasmPlugin", "istio-system", "kwt"));
    west!.admission = (object) =>
      (object.spec as { priority?: number }).priority === undefined
        ? "spec.priority: required by policy"
        : undefined;
    const before = east!.requests.length;

    const outcomes = await dryRunAll(plans("{ maxSeries: 900 }"), options());
    expect(
      outcomes.map(({ target, result, error }) => [target.cluster, result?.map(describeChange), error]),
    ).toEqual([
      [
        "east",
        [["WasmPlugin istio-system/kwt: would change", "  ~ spec.pluginConfig.maxSeries: 500 -> 900"]],
        undefined,
      ],
      [
        "west",
        undefined,
        'dry-run applying WasmPlugin istio-system/kwt: the API server refused WasmPlugin istio-system/kwt (400): admission webhook "validation.istio.io" denied the request: spec.priority: required by policy',
      ],
    ]);
    const patches = east!.requests.slice(before).filter((request) => request.method === "PATCH");
    expect(patches.map((request) => Object.fromEntries(request.query))).toEqual([
      { dryRun: "All", fieldManager: "kwt", force: "false" },
    ]);
    expect(east!.stored(WASM, "WasmPlugin", "istio-system", "kwt")).toEqual(stored);
    expect(west!.stored(WASM, "WasmPlugin", "istio-system", "kwt")).toBeUndefined();

    west!.admission = undefined;
    const [, westAgain] = await dryRunAll(plans("{ maxSeries: 900 }"), options());
    expect(westAgain!.result!.map((change) => change.action)).toEqual(["create"]);
    expect(west!.stored(WASM, "WasmPlugin", "istio-system", "kwt")).toBeUndefined();
  });
});
