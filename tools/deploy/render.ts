/** Pure rendering of the manifests kwt applies: the WasmPlugin and the optional pull Secret. */
import { stringify } from "yaml";
import type { JsonObject, PullPolicy } from "./clusters-file.js";
import { FILTER_ROOT_ID } from "./filter-contract.js";
import { WASM_PLUGIN_API_VERSION } from "./validate.js";

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

export const MANAGED_LABELS = {
  "app.kubernetes.io/name": "kwt-filter",
  "app.kubernetes.io/managed-by": "kwt",
};

export interface WasmPluginInput {
  name: string;
  namespace: string;
  /** oci:// reference. */
  url: string;
  /** `sha256:<hex>`: the image manifest digest Istio verifies the pull against. */
  digest?: string;
  imagePullPolicy: PullPolicy;
  pullSecretName?: string;
  /** Without one the plugin covers the namespace, or the whole mesh in Istio's root namespace. */
  selector?: Record<string, string>;
  priority?: number;
  pluginConfig: JsonObject;
}

export function renderWasmPlugin(input: WasmPluginInput): KubeObject {
  return {
    apiVersion: WASM_PLUGIN_API_VERSION,
    kind: "WasmPlugin",
    metadata: { name: input.name, namespace: input.namespace, labels: { ...MANAGED_LABELS } },
    spec: {
      ...(input.selector && { selector: { matchLabels: input.selector } }),
      url: input.url,
      ...(input.digest && { sha256: input.digest.slice("sha256:".length) }),
      imagePullPolicy: input.imagePullPolicy,
      ...(input.pullSecretName && { imagePullSecret: input.pullSecretName }),
      pluginName: FILTER_ROOT_ID,
      // A telemetry filter must never break traffic: with FAIL_CLOSE (Istio's default) a failed
      // pull turns into a deny-all filter.
      failStrategy: "FAIL_OPEN",
      // After authn/authz, before Istio's own stats: the filter sees the final response code.
      phase: "STATS",
      ...(input.priority !== undefined && { priority: input.priority }),
      type: "HTTP",
      // Inbound (revision pods) and outbound (callers, gateways); the filter detects its position.
      match: [{ mode: "CLIENT_AND_SERVER" }],
      pluginConfig: input.pluginConfig,
    },
  };
}

export interface PullSecretInput {
  name: string;
  namespace: string;
  registry: string;
  username: string;
  password: string;
}

export function renderPullSecret(input: PullSecretInput): KubeObject {
  const auth = Buffer.from(`${input.username}:${input.password}`).toString("base64");
  const dockerConfig = {
    auths: { [input.registry]: { username: input.username, password: input.password, auth } },
  };
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: input.name, namespace: input.namespace, labels: { ...MANAGED_LABELS } },
    type: "kubernetes.io/dockerconfigjson",
    data: { ".dockerconfigjson": Buffer.from(JSON.stringify(dockerConfig)).toString("base64") },
  };
}

/**
 * One cluster's objects as multi-document YAML, headed by a comment naming the cluster and context.
 * A Secret is never printed, not even base64-encoded: a comment says kwt deploy would create or
 * update it, so the output is safe to show, store and `kubectl apply`.
 */
export function renderClusterDocuments(cluster: {
  cluster: string;
  context: string;
  objects: KubeObject[];
}): string {
  const header = `# cluster ${cluster.cluster} (kubeconfig context ${cluster.context})\n`;
  return cluster.objects
    .map((object) =>
      object.kind === "Secret"
        ? `---\n${header}# Secret ${object.metadata.namespace}/${object.metadata.name} (${String(object.type)}): kwt deploy would create or update it from the registry credentials; content redacted\n`
        : `---\n${header}${stringify(object, { lineWidth: 0 })}`,
    )
    .join("");
}

/** A file name for a cluster's dry-run output: its name, with the characters a path cannot hold replaced. */
export function clusterFileName(cluster: string): string {
  return `${cluster.replace(/[/:]/g, "_")}.yaml`;
}

/** One file per cluster, each holding only that cluster's objects; throws if two names collide. */
export function renderClusterFiles(
  clusters: { cluster: string; context: string; objects: KubeObject[] }[],
): { file: string; cluster: string; text: string }[] {
  const seen = new Map<string, string>();
  return clusters.map((cluster) => {
    const file = clusterFileName(cluster.cluster);
    const other = seen.get(file);
    if (other !== undefined)
      throw new Error(
        `clusters ${other} and ${cluster.cluster} would both be written to ${file}; rename one`,
      );
    seen.set(file, cluster.cluster);
    return { file, cluster: cluster.cluster, text: renderClusterDocuments(cluster) };
  });
}
