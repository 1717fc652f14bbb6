/** Per cluster: is the WasmPlugin there, which digest does it pin, does it match the clusters file. */
import { isDeepStrictEqual } from "node:util";
import type { KubernetesObject } from "@kubernetes/client-node";
import { runOnClusters, type ClusterClient, type ClusterOutcome, type RunOptions } from "./kube.js";
import type { ClusterPlan } from "./plan.js";
import type { KubeObject } from "./render.js";

export interface PluginStatus {
  present: boolean;
  /** `sha256:<hex>` the live WasmPlugin pins, if any. */
  digest?: string;
  /** Compared only when the expected digest is known. */
  digestMatches?: boolean;
  /** spec fields that differ from what kwt would apply (sha256 counted in digestMatches instead). */
  differences: string[];
  /** Whether the pull Secret the WasmPlugin names exists (undefined when it names none). */
  pullSecretPresent?: boolean;
}

function specOf(object: KubernetesObject | KubeObject | undefined): Record<string, unknown> {
  const spec = (object as { spec?: unknown } | undefined)?.spec;
  return spec !== null && typeof spec === "object" ? (spec as Record<string, unknown>) : {};
}

/** Pure comparison of the live WasmPlugin with the one kwt renders. */
export function comparePlugin(
  expected: KubeObject,
  live: KubernetesObject | undefined,
  expectedDigest?: string,
): PluginStatus {
  if (!live) return { present: false, differences: [] };
  const want = specOf(expected);
  const have = specOf(live);
  const digest = typeof have.sha256 === "string" && have.sha256 !== "" ? `sha256:${have.sha256}` : undefined;
  const fields = [...new Set([...Object.keys(want), ...Object.keys(have)])].filter(
    (field) => field !== "sha256",
  );
  return {
    present: true,
    digest,
    digestMatches: expectedDigest === undefined ? undefined : digest === expectedDigest,
    differences: fields.filter((field) => !isDeepStrictEqual(want[field], have[field])).sort(),
  };
}

async function statusOf(client: ClusterClient, plan: ClusterPlan): Promise<PluginStatus> {
  const live = await client.read(plan.wasmPlugin);
  const status = comparePlugin(plan.wasmPlugin, live, plan.digest);
  const secretName = specOf(live).imagePullSecret;
  if (typeof secretName === "string") {
    const secret = {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: secretName, namespace: plan.wasmPlugin.metadata.namespace },
    };
    status.pullSecretPresent = (await client.read(secret)) !== undefined;
  }
  return status;
}

export function readStatuses(
  plans: ClusterPlan[],
  options: RunOptions,
): Promise<ClusterOutcome<ClusterPlan, PluginStatus>[]> {
  return runOnClusters(plans, options, statusOf);
}

/** In sync: present, pinning the expected digest (when known), same spec, its pull Secret there. */
export function inSync(status: PluginStatus): boolean {
  return (
    status.present &&
    status.digestMatches !== false &&
    status.differences.length === 0 &&
    status.pullSecretPresent !== false
  );
}
