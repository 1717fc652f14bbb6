/**
 * What apply would change in each cluster, as the cluster itself decides it: kwt sends each object
 * as a server-side apply with `dryRun=All`, so the API server runs defaulting, its own CRD schema
 * and admission webhooks, and answers with the object as it would be; that is compared with the
 * live object. The comparison and its wording are pure; only `dryRunPlan` talks to a cluster.
 */
import { isDeepStrictEqual } from "node:util";
import type { KubernetesObject } from "@kubernetes/client-node";
import { runOnClusters, type ClusterClient, type ClusterOutcome, type RunOptions } from "./kube.js";
import type { ClusterPlan } from "./plan.js";
import type { KubeObject } from "./render.js";

export type ChangeAction = "create" | "change" | "unchanged";

export interface FieldChange {
  /** `spec.pluginConfig.tracing.minProbability`, `metadata.labels["app.kubernetes.io/name"]`. */
  path: string;
  /** JSON text of the live value; absent when apply adds the field. */
  before?: string;
  /** JSON text of the value after apply; absent when apply removes the field. */
  after?: string;
}

export interface ObjectChange {
  kind: string;
  namespace: string;
  name: string;
  action: ChangeAction;
  /** Every field apply would add, change or remove (none for `unchanged`). */
  fields: FieldChange[];
}

/** What the API server keeps on every object and apply never sets. */
const SERVER_METADATA = ["managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"];
/** A Secret's payload is shown only as changed, never as its values. */
const SECRET_PAYLOAD = new Set(["data", "stringData"]);
export const REDACTED = '"(redacted)"';

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function comparable(object: KubernetesObject | KubeObject | undefined): Json {
  if (!object) return {};
  const copy = structuredClone(object) as Json;
  delete copy.status;
  if (isRecord(copy.metadata)) for (const key of SERVER_METADATA) delete copy.metadata[key];
  return copy;
}

function pathOf(keys: string[]): string {
  return keys
    .map((key, index) =>
      /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? `${index === 0 ? "" : "."}${key}` : `[${JSON.stringify(key)}]`,
    )
    .join("");
}

/** Leaves of a JSON object by key path; lists are compared whole, as apply treats kwt's lists. */
function leaves(
  value: unknown,
  prefix: string[] = [],
  into = new Map<string, unknown>(),
): Map<string, unknown> {
  if (isRecord(value) && (prefix.length === 0 || Object.keys(value).length > 0)) {
    for (const [key, child] of Object.entries(value)) leaves(child, [...prefix, key], into);
  } else if (prefix.length > 0) into.set(JSON.stringify(prefix), value);
  return into;
}

/** Pure: how `after` (the dry run's answer) differs from `live` (undefined: the object does not exist). */
export function diffObject(
  live: KubernetesObject | undefined,
  after: KubernetesObject | KubeObject,
): ObjectChange {
  const metadata = (after.metadata ?? {}) as { name?: string; namespace?: string };
  const identity = {
    kind: String(after.kind),
    namespace: metadata.namespace ?? "",
    name: metadata.name ?? "",
  };
  const before = leaves(comparable(live));
  const afterLeaves = leaves(comparable(after));
  const redact = identity.kind === "Secret";
  const fields: FieldChange[] = [];
  for (const key of [...new Set([...before.keys(), ...afterLeaves.keys()])].sort()) {
    const keys = JSON.parse(key) as string[];
    const [had, has] = [before.get(key), afterLeaves.get(key)];
    if (before.has(key) && afterLeaves.has(key) && isDeepStrictEqual(had, has)) continue;
    const hidden = redact && SECRET_PAYLOAD.has(keys[0]!);
    const show = (value: unknown) => (hidden ? REDACTED : JSON.stringify(value));
    fields.push({
      path: pathOf(keys),
      ...(before.has(key) && { before: show(had) }),
      ...(afterLeaves.has(key) && { after: show(has) }),
    });
  }
  const action: ChangeAction = !live ? "create" : fields.length === 0 ? "unchanged" : "change";
  return { ...identity, action, fields };
}

/** Pure: a change as lines for a person, e.g. `~ spec.priority: 10 -> 20`. */
export function describeChange(change: ObjectChange): string[] {
  const head = `${change.kind} ${change.namespace}/${change.name}: ${change.action === "create" ? "would be created" : change.action === "change" ? "would change" : "unchanged"}`;
  if (change.action !== "change") return [head];
  return [
    head,
    ...change.fields.map((field) =>
      field.before === undefined
        ? `  + ${field.path}: ${field.after}`
        : field.after === undefined
          ? `  - ${field.path}: ${field.before}`
          : `  ~ ${field.path}: ${field.before} -> ${field.after}`,
    ),
  ];
}

/** Server-side dry-run apply of one cluster's objects, in apply order; nothing is stored. */
export async function dryRunPlan(
  client: ClusterClient,
  plan: ClusterPlan,
  force: boolean,
): Promise<ObjectChange[]> {
  const changes: ObjectChange[] = [];
  for (const object of plan.objects) {
    const live = await client.read(object);
    changes.push(diffObject(live, await client.apply(object, force, true)));
  }
  return changes;
}

export function dryRunAll(
  plans: ClusterPlan[],
  options: RunOptions & { force: boolean },
): Promise<ClusterOutcome<ClusterPlan, ObjectChange[]>[]> {
  return runOnClusters(plans, options, (client, plan) => dryRunPlan(client, plan, options.force));
}
