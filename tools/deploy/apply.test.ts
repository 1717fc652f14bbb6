import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { applyAll } from "./apply.js";
import { parseClustersFile } from "./clusters-file.js";
import { startFakeClusters, type FakeClusters, type FakeKubeApi } from "../testing/kube/fake-kube-api.js";
import { compilePluginConfigSchema } from "./filter-config-schema.js";
import { loadKubeConfig } from "./kube.js";
import { planDeployment, type ClusterPlan } from "./plan.js";
import { TEST_FILTER_SCHEMA } from "../testing/deploy/stand-in-filter-schema.js";
import { loadIstioSchemas } from "./validate.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const schemas = loadIstioSchemas(root);
const checkPluginConfig = compilePluginConfigSchema(TEST_FILTER_SCHEMA);
const DIGEST = `sha256:${"ab".repeat(32)}`;
const NAMES = ["east", "west", "central"] as const;
const WASM = "extensions.istio.io/v1alpha1";

function clustersYaml(extra = ""): string {
  return `image: oci://registry.example.com/platform/kwt-filter:1.4.0
config: { tracing: { minProbability: 0.01 } }
${extra}
clusters:
${NAMES.map((name) => `  - { name: ${name}, context: ctx-${name}, region: r-${name} }`).join("\n")}
`;
}

function plansFor(yaml: string, env: Record<string, string> = {}): ClusterPlan[] {
  const { plans, problems } = planDeployment(parseClustersFile(yaml, "clusters.yaml"), {
    digest: DIGEST,
    requireDigest: true,
    withSecret: true,
    only: [],
    env,
    checkPluginConfig,
    schemas,
  });
  expect(problems).toEqual([]);
  return plans;
}

describe("applyAll against loopback API servers", () => {
  let dir: string;
  let fake: FakeClusters | undefined;
  let servers: Record<(typeof NAMES)[number], FakeKubeApi>;
  const inFlight = { now: 0, max: 0 };
  const previousKubeconfig = process.env.KUBECONFIG;

  async function startServers(
    tokens: Record<string, string> = {},
    withoutIstio: string[] = [],
  ): Promise<void> {
    fake = await startFakeClusters(dir, [...NAMES], { tokens, withoutIstio, delayMs: 20, inFlight });
    servers = fake.servers as typeof servers;
    process.env.KUBECONFIG = fake.kubeconfig;
  }

  function run(
    plans: ClusterPlan[],
    overrides: { force?: boolean; concurrency?: number; timeoutMs?: number } = {},
  ) {
    return applyAll(plans, {
      kubeConfig: loadKubeConfig(),
      concurrency: overrides.concurrency ?? 4,
      timeoutMs: overrides.timeoutMs ?? 10_000,
      force: overrides.force ?? false,
    });
  }

  function summary(outcomes: Awaited<ReturnType<typeof run>>): Record<string, string> {
    return Object.fromEntries(
      outcomes.map((outcome) => [
        outcome.target.cluster,
        outcome.error ?? outcome.result!.map((object) => `${object.kind} ${object.action}`).join(", "),
      ]),
    );
  }

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "kwt-apply-"));
    inFlight.now = 0;
    inFlight.max = 0;
  });

  afterEach(async () => {
    await fake?.close();
    fake = undefined;
    rmSync(dir, { recursive: true, force: true });
    process.env.KUBECONFIG = previousKubeconfig;
  });

  it("applies to every cluster with server-side apply as kwt, at most `concurrency` at once", async () => {
    await startServers();
    const plans = plansFor(clustersYaml());
    expect(summary(await run(plans, { concurrency: 2 }))).toEqual({
      east: "WasmPlugin created",
      west: "WasmPlugin created",
      central: "WasmPlugin created",
    });
    expect(inFlight.max).toBe(2);
    for (const [index, name] of NAMES.entries()) {
      const patch = servers[name].requests.find((request) => request.method === "PATCH")!;
      expect(patch.path).toBe("/apis/extensions.istio.io/v1alpha1/namespaces/istio-system/wasmplugins/kwt");
      expect(patch.contentType).toBe("application/apply-patch+yaml");
      expect(Object.fromEntries(patch.query)).toEqual({ fieldManager: "kwt", force: "false" });
      const live = servers[name].stored(WASM, "WasmPlugin", "istio-system", "kwt")!;
      expect(live.spec).toEqual(plans[index]!.wasmPlugin.spec);
      expect((live.spec as { pluginConfig: unknown }).pluginConfig).toEqual({
        cluster: name,
        region: `r-${name}`,
        tracing: { minProbability: 0.01 },
      });
    }
  });

  it("a rerun changes nothing; a changed file converges, dropping fields kwt no longer sets", async () => {
    await startServers();
    await run(plansFor(clustersYaml("priority: 10")));
    const before = servers.east.stored(WASM, "WasmPlugin", "istio-system", "kwt")!;
    const versionBefore = (before.metadata as { resourceVersion: string }).resourceVersion;
    expect(summary(await run(plansFor(clustersYaml("priority: 10"))))).toEqual({
      east: "WasmPlugin unchanged",
      west: "WasmPlugin unchanged",
      central: "WasmPlugin unchanged",
    });
    expect(
      (
        servers.east.stored(WASM, "WasmPlugin", "istio-system", "kwt")!.metadata as {
          resourceVersion: string;
        }
      ).resourceVersion,
    ).toBe(versionBefore);

    expect(summary(await run(plansFor(clustersYaml()))).east).toBe("WasmPlugin configured");
    const after = servers.east.stored(WASM, "WasmPlugin", "istio-system", "kwt")!;
    expect((after.spec as Record<string, unknown>).priority).toBeUndefined();
    expect((after.metadata as { generation: number }).generation).toBe(2);
  });

  it("one failing cluster does not stop the others, and a rerun converges", async () => {
    await startServers();
    servers.west.intercept = (request) =>
      request.method === "PATCH"
        ? { code: 500, message: "etcdserver: request timed out", reason: "InternalError" }
        : undefined;
    const plans = plansFor(clustersYaml());
    expect(summary(await run(plans))).toEqual({
      east: "WasmPlugin created",
      west: "applying WasmPlugin istio-system/kwt: the API server failed (500): etcdserver: request timed out; rerun when it is healthy",
      central: "WasmPlugin created",
    });
    servers.west.intercept = undefined;
    expect(summary(await run(plans))).toEqual({
      east: "WasmPlugin unchanged",
      west: "WasmPlugin created",
      central: "WasmPlugin unchanged",
    });
  });

  it("explains 401 and 403, and what was already applied", async () => {
    await startServers({ central: "expired-token" });
    servers.east.intercept = (request) =>
      request.method === "PATCH" && request.path.includes("/wasmplugins/")
        ? {
            code: 403,
            reason: "Forbidden",
            message:
              'wasmplugins.extensions.istio.io "kwt" is forbidden: User "dev" cannot patch resource "wasmplugins" in API group "extensions.istio.io" in the namespace "istio-system"',
          }
        : undefined;
    const withSecret = clustersYaml(
      "pullSecret: { name: kwt-pull, usernameEnv: REG_USER, passwordEnv: REG_PASS }",
    );
    const outcomes = summary(await run(plansFor(withSecret, { REG_USER: "robot", REG_PASS: "s3cret" })));
    expect(outcomes).toEqual({
      east: 'applying WasmPlugin istio-system/kwt: forbidden (403): wasmplugins.extensions.istio.io "kwt" is forbidden: User "dev" cannot patch resource "wasmplugins" in API group "extensions.istio.io" in the namespace "istio-system"; the user of context "ctx-east" needs RBAC permission to patch WasmPlugin objects in namespace istio-system (already applied here: Secret created)',
      west: "Secret created, WasmPlugin created",
      central: `discovering v1: unauthorized (401): the API server at ${servers.central.url} rejected the credentials of context "ctx-central"; log in again or renew the token, then rerun`,
    });
    const secret = servers.west.stored("v1", "Secret", "istio-system", "kwt-pull")!;
    expect(secret.type).toBe("kubernetes.io/dockerconfigjson");
    expect(
      (servers.west.stored(WASM, "WasmPlugin", "istio-system", "kwt")!.spec as Record<string, unknown>)
        .imagePullSecret,
    ).toBe("kwt-pull");
  });

  it("reports a conflict with another field manager and takes the fields over only with force", async () => {
    await startServers();
    const plans = plansFor(clustersYaml());
    const edited = structuredClone(plans[0]!.wasmPlugin);
    (edited.spec as Record<string, unknown>).sha256 = "cd".repeat(32);
    servers.east.seed(edited, "kubectl-edit");
    const first = summary(await run(plans));
    expect(first.east).toBe(
      'applying WasmPlugin istio-system/kwt: conflict (409): another field manager owns .spec.sha256 (conflict with "kubectl-edit"); rerun with --force to take them over for kwt, or change them back',
    );
    expect(first.west).toBe("WasmPlugin created");
    expect(
      (servers.east.stored(WASM, "WasmPlugin", "istio-system", "kwt")!.spec as Record<string, unknown>)
        .sha256,
    ).toBe("cd".repeat(32));

    expect(summary(await run(plans, { force: true })).east).toBe("WasmPlugin configured");
    expect(
      (servers.east.stored(WASM, "WasmPlugin", "istio-system", "kwt")!.spec as Record<string, unknown>)
        .sha256,
    ).toBe("ab".repeat(32));
    expect(servers.east.owners(WASM, "WasmPlugin", "istio-system", "kwt").kwt).toContain(".spec.sha256");
    expect(servers.east.owners(WASM, "WasmPlugin", "istio-system", "kwt")["kubectl-edit"]).not.toContain(
      ".spec.sha256",
    );
    expect(summary(await run(plans)).east).toBe("WasmPlugin unchanged");
  });

  it("says when Istio is missing, a context is unknown, or a cluster does not answer in time", async () => {
    await startServers({}, ["central"]);
    servers.west.intercept = () => "hang";
    const plans = plansFor(clustersYaml());
    const withUnknownContext = [...plans, { ...plans[0]!, cluster: "north", context: "ctx-north" }];
    const started = Date.now();
    expect(summary(await run(withUnknownContext, { timeoutMs: 500 }))).toEqual({
      east: "WasmPlugin created",
      west: `no answer from ${servers.west.url} within 0.5s (--timeout); is the cluster reachable?`,
      central: `the API server at ${servers.central.url} does not serve extensions.istio.io/v1alpha1 WasmPlugin. Is Istio installed in this cluster?`,
      north: `context "ctx-north" is not in the kubeconfig (KUBECONFIG=${process.env.KUBECONFIG}; it has ctx-east, ctx-west, ctx-central); check the clusters file or 'kubectl config get-contexts'`,
    });
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
