import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  checkActivatorSidecar,
  checkExtraStatTags,
  checkStatsInclusion,
  checkVersion,
  diagnoseAll,
  istioVersionFromImage,
  type Check,
} from "./doctor.js";
import { useFakeClusters } from "../testing/kube/fake-kube-api.js";
import { FILTER_METRIC_LABELS } from "./filter-contract.js";
import { loadKubeConfig } from "./kube.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const WHERE = { context: "prod-east", namespace: "istio-system", configMap: "istio" };

/** The JSON merge patch inside a printed kubectl command, and the mesh config it would write. */
function patchedMesh(fix: string): Record<string, unknown> {
  const command = fix.split("\n").find((line) => line.trim().startsWith("kubectl "))!;
  const patch = JSON.parse(command.slice(command.indexOf("-p '") + 4, -1).replace(/'\\''/g, "'")) as {
    data: { mesh: string };
  };
  return parse(patch.data.mesh) as Record<string, unknown>;
}

describe("doctor checks", () => {
  it("the label list is the one docs/filter.md asks for", () => {
    const doc = readFileSync(path.join(root, "docs/filter.md"), "utf8");
    const listed = /The exact `extraStatTags` to set: `([^`]+)`/.exec(doc)?.[1]?.split(",");
    expect(listed).toEqual([...FILTER_METRIC_LABELS]);
  });

  it("reads the Istio version from istiod's image", () => {
    expect(istioVersionFromImage("docker.io/istio/pilot:1.20.8-distroless")).toEqual({
      major: 1,
      minor: 20,
      text: "1.20.8",
    });
    expect(istioVersionFromImage("gcr.io/istio-release/pilot:1.30.3")).toEqual({
      major: 1,
      minor: 30,
      text: "1.30.3",
    });
    expect(istioVersionFromImage(`localhost:5000/pilot:1.22.0@sha256:${"a".repeat(64)}`)?.text).toBe(
      "1.22.0",
    );
    expect(istioVersionFromImage("istio/pilot:latest")).toBeUndefined();
    expect(istioVersionFromImage(`istio/pilot@sha256:${"a".repeat(64)}`)).toBeUndefined();
  });

  it("judges the version", () => {
    expect(checkVersion("i:1.25.1", istioVersionFromImage("i:1.25.1"))).toEqual({
      name: "Istio version",
      level: "ok",
      detail: "1.25.1 (supported: 1.20 to 1.30)",
    });
    expect(checkVersion("i:1.18.2", istioVersionFromImage("i:1.18.2"))).toMatchObject({
      level: "fail",
      fix: "upgrade Istio to 1.20 or newer",
    });
    expect(checkVersion("i:1.31.0", istioVersionFromImage("i:1.31.0")).level).toBe("warn");
    expect(checkVersion("i:latest", undefined)).toEqual({
      name: "Istio version",
      level: "warn",
      detail: "cannot tell the version from istiod's image i:latest; kwt supports 1.20 to 1.30",
    });
  });

  it("passes when extraStatTags lists every label", () => {
    const mesh = `defaultConfig:\n  extraStatTags: [${FILTER_METRIC_LABELS.join(", ")}, request_host]\n`;
    expect(checkExtraStatTags(mesh, WHERE)).toEqual({
      name: "extraStatTags",
      level: "ok",
      detail: `all ${FILTER_METRIC_LABELS.length} labels the filter emits are listed`,
    });
  });

  it("prints the exact fix, keeping the rest of the mesh config", () => {
    const mesh = [
      "# set by the platform team",
      "accessLogFile: /dev/stdout",
      "defaultConfig:",
      "  discoveryAddress: istiod.istio-system.svc:15012",
      "  extraStatTags:",
      "    - request_host",
      "    - source_cluster",
      "",
    ].join("\n");
    const check = checkExtraStatTags(mesh, WHERE);
    const missing = FILTER_METRIC_LABELS.filter((label) => label !== "source_cluster");
    expect(check.level).toBe("fail");
    expect(check.detail).toBe(
      `${missing.length} of ${FILTER_METRIC_LABELS.length} labels missing (${missing.join(", ")}): their values stay in the metric names`,
    );
    const tags = ["request_host", "source_cluster", ...missing];
    expect(check.fix!.split("\n").slice(0, 5)).toEqual([
      "add the missing labels to the mesh config, then restart the workloads (Knative: roll out a new revision); proxies read extraStatTags only when they start.",
      "  To keep it across upgrades, in the istiod Helm values (or spec.meshConfig of an IstioOperator):",
      "    meshConfig:",
      "      defaultConfig:",
      "        extraStatTags:",
    ]);
    expect(check.fix).toContain(tags.map((tag) => `          - ${tag}`).join("\n"));
    expect(check.fix).toContain(
      '    kubectl --context \'prod-east\' -n istio-system patch configmap istio --type merge -p \'{"data":{"mesh":',
    );
    expect(patchedMesh(check.fix!)).toEqual({
      accessLogFile: "/dev/stdout",
      defaultConfig: { discoveryAddress: "istiod.istio-system.svc:15012", extraStatTags: tags },
    });
    expect(patchedMesh(checkExtraStatTags(undefined, WHERE).fix!)).toEqual({
      defaultConfig: { extraStatTags: [...FILTER_METRIC_LABELS] },
    });
  });

  it("knows when wasmcustom stats are exported", () => {
    expect(checkStatsInclusion("", { major: 1, minor: 22, text: "1.22.1" }).level).toBe("ok");
    const matcher = "defaultConfig:\n  proxyStatsMatcher:\n    inclusionRegexps: ['wasmcustom\\..*']\n";
    expect(checkStatsInclusion(matcher, undefined)).toEqual({
      name: "stats inclusion",
      level: "ok",
      detail: "the mesh's proxyStatsMatcher includes wasmcustom.*",
    });
    expect(checkStatsInclusion("defaultConfig: {}", undefined)).toMatchObject({
      level: "warn",
      fix: "to be sure, add the prefix in the mesh config: meshConfig.defaultConfig.proxyStatsMatcher.inclusionPrefixes: [wasmcustom]",
    });
    expect(checkStatsInclusion("defaultConfig: {}", undefined).detail).toBe(
      "Istio version unknown, and the mesh's proxyStatsMatcher does not include wasmcustom.* itself",
    );
  });

  it("names a known but old version instead of calling it unknown", () => {
    expect(checkStatsInclusion("defaultConfig: {}", { major: 1, minor: 18, text: "1.18.7" })).toMatchObject({
      level: "warn",
      detail:
        "kwt knows the built-in stats inclusions of Istio 1.20 and newer, not of 1.18.7, and the mesh's proxyStatsMatcher does not include wasmcustom.* itself",
    });
  });
});

describe("the activator check", () => {
  const injected = {
    metadata: { name: "activator-1", annotations: { "sidecar.istio.io/status": "{}" } },
    spec: { containers: [{ name: "activator" }, { name: "istio-proxy" }] },
  };
  const nativeSidecar = {
    metadata: { name: "activator-2" },
    spec: { containers: [{ name: "activator" }], initContainers: [{ name: "istio-proxy" }] },
  };
  const plain = { metadata: { name: "activator-3" }, spec: { containers: [{ name: "activator" }] } };

  it("is ok when every activator pod has a sidecar", () => {
    expect(checkActivatorSidecar([injected, nativeSidecar], "prod")).toEqual({
      name: "activator",
      level: "ok",
      detail:
        "2 activator pods with an Istio sidecar: cold starts are verified by the activator's mesh identity",
    });
  });

  it("warns that cold starts cannot be verified without one, with the fix", () => {
    const check = checkActivatorSidecar([injected, plain], "prod-east");
    expect(check.level).toBe("warn");
    expect(check.detail).toBe(
      "1 of 2 activator pods have no Istio sidecar (activator-3): their requests reach revision pods in plaintext, so cold starts cannot be verified; the filter counts them in knative_activator_unverified_total, not as cold starts",
    );
    expect(check.fix!.split("\n").slice(1)).toEqual([
      "  kubectl --context 'prod-east' label namespace knative-serving istio-injection=enabled",
      "  kubectl --context 'prod-east' -n knative-serving rollout restart deployment/activator",
    ]);
    expect(checkActivatorSidecar([], "prod").level).toBe("warn");
  });
});

describe("diagnoseAll against loopback API servers", () => {
  const fixture = useFakeClusters(["east", "west", "central"]);

  function istiod(name: string, image: string): Record<string, unknown> {
    return {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace: "istio-system" },
      spec: { template: { spec: { containers: [{ name: "discovery", image }] } } },
    };
  }

  function meshConfigMap(name: string, tags: readonly string[]): Record<string, unknown> {
    return {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name, namespace: "istio-system" },
      data: { mesh: `defaultConfig:\n  extraStatTags: [${tags.join(", ")}]\n` },
    };
  }

  it("checks each cluster, with revisions, and fails only the checks it cannot make", async () => {
    fixture.clusters.servers.east!.seed(istiod("istiod", "docker.io/istio/pilot:1.30.3-distroless"));
    fixture.clusters.servers.east!.seed(meshConfigMap("istio", FILTER_METRIC_LABELS));
    fixture.clusters.servers.east!.seed({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "activator-1", namespace: "knative-serving", labels: { app: "activator" } },
      spec: { containers: [{ name: "activator" }, { name: "istio-proxy" }] },
    });
    fixture.clusters.servers.west!.seed({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "activator-1", namespace: "knative-serving", labels: { app: "activator" } },
      spec: { containers: [{ name: "activator" }] },
    });
    fixture.clusters.servers.west!.seed(istiod("istiod-1-20", "docker.io/istio/pilot:1.20.8"));
    fixture.clusters.servers.west!.seed(meshConfigMap("istio-1-20", ["source_cluster"]));
    fixture.clusters.servers.central!.seed(istiod("istiod", "docker.io/istio/pilot:1.24.0"));
    fixture.clusters.servers.central!.intercept = (request) =>
      request.path.includes("/configmaps/")
        ? {
            code: 403,
            reason: "Forbidden",
            message: 'configmaps "istio" is forbidden: User "viewer" cannot get resource "configmaps"',
          }
        : undefined;
    const outcomes = await diagnoseAll(
      [
        { cluster: "east", context: "ctx-east", istio: { namespace: "istio-system" } },
        { cluster: "west", context: "ctx-west", istio: { namespace: "istio-system", revision: "1-20" } },
        { cluster: "central", context: "ctx-central", istio: { namespace: "istio-system" } },
      ],
      { kubeConfig: loadKubeConfig(), concurrency: 2, timeoutMs: 10_000 },
    );
    const levels = (checks: Check[] | undefined) => checks?.map((check) => `${check.name}: ${check.level}`);
    expect(
      outcomes.map((outcome) => [outcome.target.cluster, levels(outcome.result), outcome.error]),
    ).toEqual([
      ["east", ["Istio version: ok", "extraStatTags: ok", "stats inclusion: ok", "activator: ok"], undefined],
      [
        "west",
        ["Istio version: ok", "extraStatTags: fail", "stats inclusion: ok", "activator: warn"],
        undefined,
      ],
      [
        "central",
        ["Istio version: ok", "extraStatTags: fail", "stats inclusion: fail", "activator: warn"],
        undefined,
      ],
    ]);
    expect(outcomes[1]!.result![1]!.fix).toContain("-n istio-system patch configmap istio-1-20 --type merge");
    expect(outcomes[2]!.result![1]!.detail).toBe(
      `reading ConfigMap istio-system/istio: forbidden (403): configmaps "istio" is forbidden: User "viewer" cannot get resource "configmaps"; the user of context "ctx-central" needs RBAC permission to get ConfigMap objects in namespace istio-system`,
    );
  });

  it("says when istiod is not where the file says", async () => {
    const [outcome] = await diagnoseAll(
      [{ cluster: "east", context: "ctx-east", istio: { namespace: "istio-system" } }],
      {
        kubeConfig: loadKubeConfig(),
        concurrency: 1,
        timeoutMs: 10_000,
      },
    );
    expect(outcome!.result!.map((check) => check.detail)).toEqual([
      "Deployment istio-system/istiod not found: is istiod installed here (set istio.namespace / istio.revision in the clusters file)?",
      "ConfigMap istio-system/istio (the mesh config) not found: is istiod installed here (istio.namespace / istio.revision)?",
      "ConfigMap istio-system/istio (the mesh config) not found: is istiod installed here (istio.namespace / istio.revision)?",
      "no activator pod (app=activator) in namespace knative-serving: is Knative Serving installed here? Cold starts are verified only from an activator with a sidecar",
    ]);
  });
});
