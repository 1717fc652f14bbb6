import path from "node:path";
import { describe, expect, it } from "vitest";
import { applyAll } from "./apply.js";
import { parseClustersFile } from "./clusters-file.js";
import { deleteAll, deletionTargets } from "./delete.js";
import { useFakeClusters } from "../testing/kube/fake-kube-api.js";
import { compilePluginConfigSchema } from "./filter-config-schema.js";
import { ClusterClient, loadKubeConfig } from "./kube.js";
import { planDeployment } from "./plan.js";
import { TEST_FILTER_SCHEMA } from "../testing/deploy/stand-in-filter-schema.js";
import { loadIstioSchemas } from "./validate.js";

const root = path.resolve(import.meta.dirname, "../..");
const WASM = "extensions.istio.io/v1alpha1";
const FILE = parseClustersFile(
  `image: oci://registry.example.com/kwt:1.0.0
pullSecret: { name: kwt-pull, usernameEnv: U, passwordEnv: P }
clusters:
  - { name: east, context: ctx-east }
  - { name: west, context: ctx-west }
  - { name: north, context: ctx-north }
`,
  "clusters.yaml",
);

function summary(outcomes: Awaited<ReturnType<typeof deleteAll>>): Record<string, string> {
  return Object.fromEntries(
    outcomes.map(({ target, result, error }) => [
      target.cluster,
      error ??
        result!
          .map((object) => `${object.kind} ${object.action}${object.reason ? ` (${object.reason})` : ""}`)
          .join(", "),
    ]),
  );
}

describe("deleteAll against loopback API servers", () => {
  const fixture = useFakeClusters(["east", "west", "north"]);
  const options = () => ({ kubeConfig: loadKubeConfig(), concurrency: 3, timeoutMs: 10_000 });

  it("removes what kwt created, keeps what it did not, and a rerun finds nothing left to do", async () => {
    const { east, west, north } = fixture.clusters.servers;
    const { plans, problems } = planDeployment(FILE, {
      digest: `sha256:${"1f".repeat(32)}`,
      requireDigest: true,
      withSecret: true,
      only: [],
      env: { U: "robot", P: "pw" },
      checkPluginConfig: compilePluginConfigSchema(TEST_FILTER_SCHEMA),
      schemas: loadIstioSchemas(root),
    });
    expect(problems).toEqual([]);
    await applyAll([plans[0]!, plans[2]!], { ...options(), force: false });
    // west: another tool's plugin and secret under kwt's names.
    west!.seed(
      {
        apiVersion: WASM,
        kind: "WasmPlugin",
        metadata: {
          name: "kwt",
          namespace: "istio-system",
          labels: { "app.kubernetes.io/managed-by": "Helm" },
        },
        spec: { url: "oci://other/filter:1" },
      },
      "helm",
    );
    west!.seed({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "kwt-pull", namespace: "istio-system" },
    });
    // north: kwt's Secret, but its plugin replaced by kwt's manifest applied by hand: the labels
    // alone do not make it kwt's, and the Secret stays with the plugin that may use it.
    north!.seed(structuredClone(plans[2]!.wasmPlugin), "kubectl-client-side-apply");

    const { targets } = deletionTargets(FILE, []);
    expect(summary(await deleteAll(targets, options()))).toEqual({
      east: "WasmPlugin deleted, Secret deleted",
      west: 'WasmPlugin kept (not created by kwt (label app.kubernetes.io/name is not set, not "kwt-filter", label app.kubernetes.io/managed-by is "Helm", not "kwt"; field manager kwt never applied it); delete it yourself if it should go), Secret kept (not created by kwt (label app.kubernetes.io/name is not set, not "kwt-filter", label app.kubernetes.io/managed-by is not set, not "kwt"; field manager kwt never applied it); delete it yourself if it should go)',
      north:
        "WasmPlugin kept (not created by kwt (field manager kwt never applied it); delete it yourself if it should go), Secret kept (the WasmPlugin that may pull with it stays)",
    });
    expect(east!.stored(WASM, "WasmPlugin", "istio-system", "kwt")).toBeUndefined();
    expect(east!.stored("v1", "Secret", "istio-system", "kwt-pull")).toBeUndefined();
    expect(west!.stored(WASM, "WasmPlugin", "istio-system", "kwt")).toBeDefined();
    expect(west!.stored("v1", "Secret", "istio-system", "kwt-pull")).toBeDefined();
    expect(north!.stored(WASM, "WasmPlugin", "istio-system", "kwt")).toBeDefined();
    const deletes = east!.requests
      .filter((request) => request.method === "DELETE")
      .map((request) => request.path);
    expect(deletes).toEqual([
      "/apis/extensions.istio.io/v1alpha1/namespaces/istio-system/wasmplugins/kwt",
      "/api/v1/namespaces/istio-system/secrets/kwt-pull",
    ]);

    const again = summary(await deleteAll(deletionTargets(FILE, ["east"]).targets, options()));
    expect(again).toEqual({ east: "WasmPlugin absent, Secret absent" });
    expect(west!.requests.filter((request) => request.method === "DELETE")).toEqual([]);
  });

  it("does not delete an object that changed since it was read", async () => {
    const { east } = fixture.clusters.servers;
    const secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "kwt-pull", namespace: "istio-system" },
    };
    east!.seed(secret);
    const client = new ClusterClient(loadKubeConfig(), "ctx-east");
    const live = (await client.read(secret))!;
    await expect(
      client.delete(secret, { uid: "some-other-uid", resourceVersion: live.metadata!.resourceVersion! }),
    ).rejects.toThrow(
      "deleting Secret istio-system/kwt-pull: it changed since kwt read it (409); rerun to check it again",
    );
    expect(east!.stored("v1", "Secret", "istio-system", "kwt-pull")).toBeDefined();
  });
});
