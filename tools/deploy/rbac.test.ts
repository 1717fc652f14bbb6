/**
 * The Roles in deploy/rbac/ against what kwt really sends: every request the commands make to a
 * loopback API server is turned into RBAC request attributes and checked against the rules as
 * Kubernetes' RBAC authorizer matches them; every rule must be needed by some request (minimal).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { parseClustersFile } from "./clusters-file.js";
import { readDataPlane } from "./data-plane.js";
import { deleteAll, deletionTargets } from "./delete.js";
import { dryRunAll } from "./diff.js";
import { diagnoseAll } from "./doctor.js";
import { useFakeClusters, type RecordedRequest } from "../testing/kube/fake-kube-api.js";
import { compilePluginConfigSchema } from "./filter-config-schema.js";
import { loadKubeConfig } from "./kube.js";
import { planDeployment } from "./plan.js";
import { rollout } from "./rollout.js";
import { readStatuses } from "./status.js";
import { TEST_FILTER_SCHEMA } from "../testing/deploy/stand-in-filter-schema.js";
import { loadIstioSchemas } from "./validate.js";

const root = path.resolve(import.meta.dirname, "../..");

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

interface Role {
  kind: "Role" | "ClusterRole";
  namespace?: string;
  rules: Rule[];
}

function roleIn(file: string): Role {
  const documents = parseAllDocuments(readFileSync(path.join(root, "deploy/rbac", file), "utf8")).map(
    (document) => document.toJS() as { kind: string; metadata: { namespace?: string }; rules?: Rule[] },
  );
  const role = documents.find((document) => document.kind === "Role" || document.kind === "ClusterRole")!;
  const binding = documents.find((document) => document.kind.endsWith("Binding")) as unknown as {
    kind: string;
    roleRef: { kind: string; name: string };
  };
  expect(binding.roleRef.kind).toBe(role.kind);
  return { kind: role.kind as Role["kind"], namespace: role.metadata.namespace, rules: role.rules ?? [] };
}

interface Attributes {
  verb: string;
  group: string;
  resource: string;
  namespace?: string;
  name: string;
}

/** What the API server's request-info parser makes of a request (discovery: undefined). */
function attributesOf(request: RecordedRequest): Attributes[] | undefined {
  const match =
    /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+)(?:\/([^/]+))?)?/.exec(
      request.path,
    );
  if (!match) return undefined;
  const [, group = "", namespace, plural, name = "", subresource] = match;
  const resource = subresource ? `${plural}/${subresource}` : plural!;
  const verb =
    request.method === "GET" ? (name ? "get" : "list") : request.method === "PATCH" ? "patch" : "delete";
  const base = { group, resource, namespace, name };
  // Server-side apply of an object that does not exist yet is also authorised as a create.
  return request.method === "PATCH" && request.status === 201
    ? [
        { ...base, verb },
        { ...base, verb: "create" },
      ]
    : [{ ...base, verb }];
}

function matchingRule(role: Role, attributes: Attributes): number {
  if (role.kind === "Role" && attributes.namespace !== role.namespace) return -1;
  return role.rules.findIndex(
    (rule) =>
      rule.apiGroups.includes(attributes.group) &&
      rule.resources.includes(attributes.resource) &&
      rule.verbs.includes(attributes.verb) &&
      (rule.resourceNames === undefined || rule.resourceNames.includes(attributes.name)),
  );
}

function describeAttributes(attributes: Attributes): string {
  return `${attributes.verb} ${attributes.group || "core"}/${attributes.resource} ${attributes.namespace ?? "(all)"}/${attributes.name}`;
}

/** Requests the role does not allow, and the indexes of the rules some request needed. */
function judge(role: Role, requests: RecordedRequest[]): { denied: string[]; used: Set<number> } {
  const denied: string[] = [];
  const used = new Set<number>();
  for (const request of requests) {
    const all = attributesOf(request);
    if (!all) {
      // Discovery: system:discovery, bound to every authenticated user by default.
      expect(request.path).toMatch(/^\/(api\/v1|apis\/[^/]+\/[^/]+)$/);
      continue;
    }
    for (const attributes of all) {
      const rule = matchingRule(role, attributes);
      if (rule === -1) denied.push(describeAttributes(attributes));
      else used.add(rule);
    }
  }
  return { denied: [...new Set(denied)].sort(), used };
}

const FILE = parseClustersFile(
  `image: oci://registry.example.com/kwt:1.0.0
pullSecret: { name: kwt-pull, usernameEnv: U, passwordEnv: P }
clusters:
  - { name: east, context: ctx-east }
`,
  "clusters.yaml",
);

describe("deploy/rbac against the requests kwt makes", () => {
  const fixture = useFakeClusters(["east"]);
  const options = () => ({ kubeConfig: loadKubeConfig(), concurrency: 1, timeoutMs: 10_000 });
  const plans = () => {
    const planned = planDeployment(FILE, {
      digest: `sha256:${"2b".repeat(32)}`,
      requireDigest: true,
      withSecret: true,
      only: [],
      env: { U: "robot", P: "pw" },
      checkPluginConfig: compilePluginConfigSchema(TEST_FILTER_SCHEMA),
      schemas: loadIstioSchemas(root),
    });
    expect(planned.problems).toEqual([]);
    return planned.plans;
  };

  it("kwt-deployer allows exactly what deploy, diff, status and delete do, and every rule is needed", async () => {
    const server = fixture.clusters.servers.east!;
    const run = { ...options(), force: false, keepGoing: false };
    expect((await rollout(plans(), run)).map((row) => row.result)).toEqual(["applied"]);
    await rollout(plans(), run);
    await dryRunAll(plans(), run);
    await readStatuses(plans(), options());
    await deleteAll(deletionTargets(FILE, []).targets, options());
    const deployer = roleIn("kwt-deployer.yaml");
    const { denied, used } = judge(deployer, server.requests);
    expect(denied).toEqual([]);
    expect([...used].sort()).toEqual(deployer.rules.map((_, index) => index));
    // Read-only people cannot change anything.
    expect(judge(roleIn("kwt-viewer.yaml"), server.requests).denied).toEqual([
      "create core/secrets istio-system/kwt-pull",
      "create extensions.istio.io/wasmplugins istio-system/kwt",
      "delete core/secrets istio-system/kwt-pull",
      "delete extensions.istio.io/wasmplugins istio-system/kwt",
      "patch core/secrets istio-system/kwt-pull",
      "patch extensions.istio.io/wasmplugins istio-system/kwt",
    ]);
  });

  it("kwt-viewer allows status and doctor, every rule needed", async () => {
    const server = fixture.clusters.servers.east!;
    server.seed({
      apiVersion: "extensions.istio.io/v1alpha1",
      kind: "WasmPlugin",
      metadata: { name: "kwt", namespace: "istio-system" },
      spec: { imagePullSecret: "kwt-pull" },
    });
    server.seed({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "istiod", namespace: "istio-system" },
      spec: { template: { spec: { containers: [{ name: "discovery", image: "istio/pilot:1.26.2" }] } } },
    });
    await readStatuses(plans(), options());
    await diagnoseAll(
      [{ cluster: "east", context: "ctx-east", istio: { namespace: "istio-system" } }],
      options(),
    );
    const viewer = roleIn("kwt-viewer.yaml");
    const { denied, used } = judge(viewer, server.requests);
    // doctor's activator check lists pods, which only kwt-data-plane grants (without it, a warning).
    expect(denied).toEqual(["list core/pods knative-serving/"]);
    expect(judge(roleIn("kwt-data-plane.yaml"), server.requests).denied).not.toContain(
      "list core/pods knative-serving/",
    );
    expect([...used].sort()).toEqual(viewer.rules.map((_, index) => index));
  });

  it("status --data-plane needs kwt-data-plane's pods/proxy, which neither other Role grants", async () => {
    const server = fixture.clusters.servers.east!;
    server.seed({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "hello-1", namespace: "default", labels: { "security.istio.io/tlsMode": "istio" } },
      status: { phase: "Running" },
    });
    server.podEndpoints.set("default/hello-1:15020/stats/prometheus", "istio_agent_wasm_cache_entries 1\n");
    const [outcome] = await readDataPlane(plans(), { ...options(), sample: 5 });
    expect(outcome!.result!.read).toBe(1);
    const dataPlane = roleIn("kwt-data-plane.yaml");
    expect(dataPlane.kind).toBe("ClusterRole");
    const { denied, used } = judge(dataPlane, server.requests);
    expect(denied).toEqual([]);
    expect([...used].sort()).toEqual(dataPlane.rules.map((_, index) => index));
    for (const file of ["kwt-deployer.yaml", "kwt-viewer.yaml"]) {
      expect(judge(roleIn(file), server.requests).denied).toEqual([
        "get core/pods/proxy default/hello-1:15020",
        "list core/pods (all)/",
      ]);
    }
  });
});
