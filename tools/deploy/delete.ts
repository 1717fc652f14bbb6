/**
 * kwt delete: removes, per cluster, the WasmPlugin and the pull Secret that kwt itself created,
 * and nothing else. "Created by kwt" is read from the live object: kwt's labels, and field manager
 * kwt having applied it (managedFields). An object someone else made under the same name is kept
 * and said so. Deleting what is already gone is not an error, so a rerun is safe.
 */
import type { KubernetesObject } from "@kubernetes/client-node";
import { selectClusters, type ClustersFile } from "./clusters-file.js";
import {
  FIELD_MANAGER,
  runOnClusters,
  type ClusterClient,
  type ClusterOutcome,
  type ObjectRef,
  type RunOptions,
} from "./kube.js";
import { MANAGED_LABELS } from "./render.js";
import { WASM_PLUGIN_API_VERSION } from "./validate.js";

export interface DeletionTarget {
  cluster: string;
  context: string;
  /** In delete order: the WasmPlugin before the Secret it may name. */
  objects: ObjectRef[];
}

export type DeleteAction = "deleted" | "absent" | "kept";

export interface DeletedObject {
  kind: string;
  namespace: string;
  name: string;
  action: DeleteAction;
  /** Why a `kept` object was left alone. */
  reason?: string;
}

/** Pure: what kwt may have created in each selected cluster, from the clusters file. */
export function deletionTargets(
  file: ClustersFile,
  only: string[],
): { targets: DeletionTarget[]; problems: string[] } {
  const { clusters, problems } = selectClusters(file, only);
  const targets = clusters.map((cluster) => {
    const namespace = cluster.namespace ?? file.namespace;
    const objects: ObjectRef[] = [
      { apiVersion: WASM_PLUGIN_API_VERSION, kind: "WasmPlugin", metadata: { name: file.name, namespace } },
    ];
    if (file.pullSecret)
      objects.push({ apiVersion: "v1", kind: "Secret", metadata: { name: file.pullSecret.name, namespace } });
    return { cluster: cluster.name, context: cluster.context, objects };
  });
  return { targets, problems };
}

/** Pure: undefined when kwt created `live`; otherwise why it did not. */
export function notCreatedByKwt(live: KubernetesObject): string | undefined {
  const labels = live.metadata?.labels ?? {};
  const wrongLabels = Object.entries(MANAGED_LABELS)
    .filter(([key, value]) => labels[key] !== value)
    .map(
      ([key, value]) =>
        `${key} is ${labels[key] === undefined ? "not set" : JSON.stringify(labels[key])}, not ${JSON.stringify(value)}`,
    );
  const appliedByKwt = (live.metadata?.managedFields ?? []).some(
    (entry) => entry.manager === FIELD_MANAGER && entry.operation === "Apply",
  );
  const reasons = [
    ...(wrongLabels.length ? [`label ${wrongLabels.join(", label ")}`] : []),
    ...(appliedByKwt ? [] : [`field manager ${FIELD_MANAGER} never applied it`]),
  ];
  return reasons.length
    ? `not created by kwt (${reasons.join("; ")}); delete it yourself if it should go`
    : undefined;
}

/** `keep`: a reason to leave the object alone even when kwt created it. */
async function deleteOne(client: ClusterClient, object: ObjectRef, keep?: string): Promise<DeletedObject> {
  const identity = { kind: object.kind, namespace: object.metadata.namespace, name: object.metadata.name };
  const live = await client.read(object);
  if (!live) return { ...identity, action: "absent" };
  const reason = notCreatedByKwt(live) ?? keep;
  if (reason) return { ...identity, action: "kept", reason };
  const { uid, resourceVersion } = live.metadata ?? {};
  const deleted = await client.delete(object, { uid: uid ?? "", resourceVersion: resourceVersion ?? "" });
  return { ...identity, action: deleted ? "deleted" : "absent" };
}

async function deleteTarget(client: ClusterClient, target: DeletionTarget): Promise<DeletedObject[]> {
  const done: DeletedObject[] = [];
  for (const object of target.objects) {
    const pluginStays = done.some((entry) => entry.kind === "WasmPlugin" && entry.action === "kept");
    const keep =
      object.kind === "Secret" && pluginStays ? "the WasmPlugin that may pull with it stays" : undefined;
    done.push(await deleteOne(client, object, keep));
  }
  return done;
}

export function deleteAll(
  targets: DeletionTarget[],
  options: RunOptions,
): Promise<ClusterOutcome<DeletionTarget, DeletedObject[]>[]> {
  return runOnClusters(targets, options, deleteTarget);
}
