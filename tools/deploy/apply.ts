/** Applies each cluster's plan with server-side apply, concurrently, one result per cluster. */
import {
  ClusterError,
  runOnClusters,
  type ClusterClient,
  type ClusterOutcome,
  type RunOptions,
} from "./kube.js";
import type { ClusterPlan } from "./plan.js";
import type { KubeObject } from "./render.js";

export type ApplyAction = "created" | "configured" | "unchanged";

export interface AppliedObject {
  kind: string;
  namespace: string;
  name: string;
  action: ApplyAction;
}

function resourceVersion(
  object: { metadata?: { resourceVersion?: string } } | undefined,
): string | undefined {
  return object?.metadata?.resourceVersion;
}

async function applyObject(
  client: ClusterClient,
  object: KubeObject,
  force: boolean,
): Promise<AppliedObject> {
  const before = await client.read(object);
  const after = await client.apply(object, force);
  // Server-side apply leaves resourceVersion alone when the object does not change.
  const action: ApplyAction = !before
    ? "created"
    : resourceVersion(before) === resourceVersion(after)
      ? "unchanged"
      : "configured";
  return { kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name, action };
}

/** Applies one cluster's objects in order; a failure names what was already applied there. */
export async function applyPlan(
  client: ClusterClient,
  plan: ClusterPlan,
  force: boolean,
): Promise<AppliedObject[]> {
  const applied: AppliedObject[] = [];
  for (const object of plan.objects) {
    try {
      applied.push(await applyObject(client, object, force));
    } catch (error) {
      const done = applied.map((entry) => `${entry.kind} ${entry.action}`).join(", ");
      const message = error instanceof Error ? error.message : String(error);
      throw new ClusterError(done ? `${message} (already applied here: ${done})` : message);
    }
  }
  return applied;
}

export function applyAll(
  plans: ClusterPlan[],
  options: RunOptions & { force: boolean },
): Promise<ClusterOutcome<ClusterPlan, AppliedObject[]>[]> {
  return runOnClusters(plans, options, (client, plan) => applyPlan(client, plan, options.force));
}
