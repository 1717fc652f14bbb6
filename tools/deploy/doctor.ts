/**
 * Checks what makes the filter's metrics visible and true in a cluster: a supported Istio,
 * extraStatTags naming every label the filter emits, a stats matcher that exports wasmcustom.*,
 * and an activator with a sidecar (else cold starts cannot be verified) — and for each problem the
 * exact change to make.
 */
import { parse, parseDocument, stringify } from "yaml";
import type { IstioInstall } from "./clusters-file.js";
import { FILTER_METRIC_LABELS } from "./filter-contract.js";
import {
  ClusterError,
  runOnClusters,
  type ClusterClient,
  type ClusterOutcome,
  type RunOptions,
} from "./kube.js";

export type CheckLevel = "ok" | "warn" | "fail";

export interface Check {
  name: string;
  level: CheckLevel;
  detail: string;
  /** What to do, ready to copy. */
  fix?: string;
}

export interface DoctorTarget {
  cluster: string;
  context: string;
  istio: IstioInstall;
}

export interface IstioVersion {
  major: number;
  minor: number;
  text: string;
}

/** The oldest and newest Istio whose WasmPlugin schema kwt validates against. */
export const OLDEST_ISTIO = { major: 1, minor: 20 };
export const NEWEST_ISTIO = { major: 1, minor: 30 };

/** `docker.io/istio/pilot:1.20.8-distroless` -> 1.20.8; undefined for `latest` or a digest. */
export function istioVersionFromImage(image: string): IstioVersion | undefined {
  const tag = /:([^/:@]+)(?:@sha256:[a-f0-9]+)?$/.exec(image)?.[1];
  const version = tag && /^(\d+)\.(\d+)(?:\.\d+)?/.exec(tag);
  return version ? { major: Number(version[1]), minor: Number(version[2]), text: version[0] } : undefined;
}

function compareVersion(a: { major: number; minor: number }, b: { major: number; minor: number }): number {
  return a.major - b.major || a.minor - b.minor;
}

export function checkVersion(image: string | undefined, version: IstioVersion | undefined): Check {
  const name = "Istio version";
  const range = `${OLDEST_ISTIO.major}.${OLDEST_ISTIO.minor} to ${NEWEST_ISTIO.major}.${NEWEST_ISTIO.minor}`;
  if (!version) {
    return {
      name,
      level: "warn",
      detail: `cannot tell the version from istiod's image ${image ?? "(none)"}; kwt supports ${range}`,
    };
  }
  if (compareVersion(version, OLDEST_ISTIO) < 0) {
    return {
      name,
      level: "fail",
      detail: `${version.text} is older than ${OLDEST_ISTIO.major}.${OLDEST_ISTIO.minor}: it lacks what the WasmPlugin needs (FAIL_OPEN, the schema kwt validates against)`,
      fix: `upgrade Istio to ${OLDEST_ISTIO.major}.${OLDEST_ISTIO.minor} or newer`,
    };
  }
  if (compareVersion(version, NEWEST_ISTIO) > 0) {
    return {
      name,
      level: "warn",
      detail: `${version.text} is newer than ${NEWEST_ISTIO.major}.${NEWEST_ISTIO.minor}, the newest release kwt validates against`,
    };
  }
  return { name, level: "ok", detail: `${version.text} (supported: ${range})` };
}

interface MeshConfig {
  defaultConfig?: {
    extraStatTags?: unknown;
    proxyStatsMatcher?: {
      inclusionPrefixes?: unknown;
      inclusionSuffixes?: unknown;
      inclusionRegexps?: unknown;
    };
  };
}

function parseMesh(meshText: string | undefined): MeshConfig {
  const mesh: unknown = meshText ? parse(meshText) : undefined;
  return mesh !== null && typeof mesh === "object" ? (mesh as MeshConfig) : {};
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((entry): entry is string => typeof entry === "string") : [];
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export interface MeshLocation {
  context: string;
  namespace: string;
  configMap: string;
}

/** The mesh config text with extraStatTags set to `tags`, everything else kept as it was. */
function meshWithTags(meshText: string | undefined, tags: string[]): string {
  const document = parseDocument(meshText ?? "");
  if (document.contents === null) return stringify({ defaultConfig: { extraStatTags: tags } });
  document.setIn(["defaultConfig", "extraStatTags"], tags);
  return document.toString({ lineWidth: 0 });
}

export function checkExtraStatTags(meshText: string | undefined, where: MeshLocation): Check {
  const name = "extraStatTags";
  const present = strings(parseMesh(meshText).defaultConfig?.extraStatTags);
  const missing = FILTER_METRIC_LABELS.filter((label) => !present.includes(label));
  if (missing.length === 0) {
    return {
      name,
      level: "ok",
      detail: `all ${FILTER_METRIC_LABELS.length} labels the filter emits are listed`,
    };
  }
  const tags = [...present, ...missing];
  const patch = JSON.stringify({ data: { mesh: meshWithTags(meshText, tags) } });
  const fix = [
    "add the missing labels to the mesh config, then restart the workloads (Knative: roll out a new revision); proxies read extraStatTags only when they start.",
    "  To keep it across upgrades, in the istiod Helm values (or spec.meshConfig of an IstioOperator):",
    "    meshConfig:",
    "      defaultConfig:",
    "        extraStatTags:",
    ...tags.map((tag) => `          - ${tag}`),
    "  Or at once on the live ConfigMap (the next istioctl/helm install overwrites it):",
    `    kubectl --context ${shellQuote(where.context)} -n ${where.namespace} patch configmap ${where.configMap} --type merge -p ${shellQuote(patch)}`,
  ].join("\n");
  return {
    name,
    level: "fail",
    detail: `${missing.length} of ${FILTER_METRIC_LABELS.length} labels missing (${missing.join(", ")}): their values stay in the metric names`,
    fix,
  };
}

/** Istio's bootstrap always includes the stats prefix `wasm` (since long before 1.20). */
export function checkStatsInclusion(meshText: string | undefined, version: IstioVersion | undefined): Check {
  const name = "stats inclusion";
  if (version && compareVersion(version, OLDEST_ISTIO) >= 0) {
    return {
      name,
      level: "ok",
      detail: "Istio's built-in inclusion prefix 'wasm' exports the filter's wasmcustom.* stats",
    };
  }
  const matcher = parseMesh(meshText).defaultConfig?.proxyStatsMatcher;
  const sample = "wasmcustom.knative_invocations_total";
  const covered =
    strings(matcher?.inclusionPrefixes).some((prefix) => sample.startsWith(prefix)) ||
    strings(matcher?.inclusionRegexps).some((pattern) => {
      try {
        return new RegExp(`^(?:${pattern})$`).test(sample);
      } catch {
        return false;
      }
    });
  if (covered) return { name, level: "ok", detail: "the mesh's proxyStatsMatcher includes wasmcustom.*" };
  const why = version
    ? `kwt knows the built-in stats inclusions of Istio ${OLDEST_ISTIO.major}.${OLDEST_ISTIO.minor} and newer, not of ${version.text}`
    : "Istio version unknown";
  return {
    name,
    level: "warn",
    detail: `${why}, and the mesh's proxyStatsMatcher does not include wasmcustom.* itself`,
    fix: "to be sure, add the prefix in the mesh config: meshConfig.defaultConfig.proxyStatsMatcher.inclusionPrefixes: [wasmcustom]",
  };
}

/** Where Knative Serving runs the activator (net-istio's default install). */
export const ACTIVATOR_NAMESPACE = "knative-serving";
const ACTIVATOR_SELECTOR = "app=activator";

interface PodSummary {
  metadata?: { name?: string; annotations?: Record<string, string> };
  spec?: { containers?: { name?: string }[]; initContainers?: { name?: string }[] };
}

/** Istio's injector adds istio-proxy (a native sidecar, an init container, from 1.29 by default) and sidecar.istio.io/status. */
function hasSidecar(pod: PodSummary): boolean {
  const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  return (
    containers.some((container) => container.name === "istio-proxy") ||
    pod.metadata?.annotations?.["sidecar.istio.io/status"] !== undefined
  );
}

/**
 * Whether the filter can verify cold starts: only when the activator has a sidecar does it reach
 * revision pods with its mesh identity; without one its K-Proxy-Request arrives in plaintext and
 * the filter counts it in knative_activator_unverified_total instead of as a cold start.
 */
export function checkActivatorSidecar(pods: PodSummary[] | undefined, context: string): Check {
  const name = "activator";
  if (pods === undefined || pods.length === 0) {
    return {
      name,
      level: "warn",
      detail: `no activator pod (${ACTIVATOR_SELECTOR}) in namespace ${ACTIVATOR_NAMESPACE}: is Knative Serving installed here? Cold starts are verified only from an activator with a sidecar`,
    };
  }
  const without = pods.filter((pod) => !hasSidecar(pod)).map((pod) => pod.metadata?.name ?? "(unnamed)");
  if (without.length === 0) {
    return {
      name,
      level: "ok",
      detail: `${pods.length} activator pod${pods.length === 1 ? "" : "s"} with an Istio sidecar: cold starts are verified by the activator's mesh identity`,
    };
  }
  const quoted = shellQuote(context);
  return {
    name,
    level: "warn",
    detail: `${without.length} of ${pods.length} activator pods have no Istio sidecar (${without.join(", ")}): their requests reach revision pods in plaintext, so cold starts cannot be verified; the filter counts them in knative_activator_unverified_total, not as cold starts`,
    fix: [
      `inject the sidecar into ${ACTIVATOR_NAMESPACE} and restart the activator:`,
      `  kubectl --context ${quoted} label namespace ${ACTIVATOR_NAMESPACE} istio-injection=enabled`,
      `  kubectl --context ${quoted} -n ${ACTIVATOR_NAMESPACE} rollout restart deployment/activator`,
    ].join("\n"),
  };
}

async function activatorPods(client: ClusterClient): Promise<PodSummary[]> {
  const list = JSON.parse(
    await client.getRaw(
      `/api/v1/namespaces/${ACTIVATOR_NAMESPACE}/pods`,
      { labelSelector: ACTIVATOR_SELECTOR },
      "listing the activator's pods",
      `list pods in namespace ${ACTIVATOR_NAMESPACE} (deploy/rbac/kwt-data-plane.yaml)`,
    ),
  ) as { items?: PodSummary[] };
  return list.items ?? [];
}

async function istiodImage(
  client: ClusterClient,
  target: DoctorTarget,
  deployment: string,
): Promise<string | undefined> {
  const live = await client.read({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: deployment, namespace: target.istio.namespace },
  });
  if (!live) {
    throw new ClusterError(
      `Deployment ${target.istio.namespace}/${deployment} not found: is istiod installed here (set istio.namespace / istio.revision in the clusters file)?`,
    );
  }
  const containers =
    (live as { spec?: { template?: { spec?: { containers?: { name?: string; image?: string }[] } } } }).spec
      ?.template?.spec?.containers ?? [];
  return (containers.find((container) => container.name === "discovery") ?? containers[0])?.image;
}

async function meshText(
  client: ClusterClient,
  target: DoctorTarget,
  configMap: string,
): Promise<string | undefined> {
  const live = await client.read({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: configMap, namespace: target.istio.namespace },
  });
  if (!live) {
    throw new ClusterError(
      `ConfigMap ${target.istio.namespace}/${configMap} (the mesh config) not found: is istiod installed here (istio.namespace / istio.revision)?`,
    );
  }
  return (live as { data?: Record<string, string> }).data?.mesh;
}

/** A check that could not read what it needs fails alone, unless the whole cluster is out of reach. */
function failed(name: string, error: unknown): Check {
  if (error instanceof ClusterError && error.scope === "cluster") throw error;
  return { name, level: "fail", detail: error instanceof Error ? error.message : String(error) };
}

/** Runs every check for one cluster; a check that cannot read what it needs fails alone. */
export async function diagnose(client: ClusterClient, target: DoctorTarget): Promise<Check[]> {
  const suffix = target.istio.revision ? `-${target.istio.revision}` : "";
  const configMap = `istio${suffix}`;
  let image: string | undefined;
  let version: IstioVersion | undefined;
  const checks: Check[] = [];
  try {
    image = await istiodImage(client, target, `istiod${suffix}`);
    version = image ? istioVersionFromImage(image) : undefined;
    checks.push(checkVersion(image, version));
  } catch (error) {
    checks.push(failed("Istio version", error));
  }
  try {
    const mesh = await meshText(client, target, configMap);
    const where = { context: target.context, namespace: target.istio.namespace, configMap };
    checks.push(checkExtraStatTags(mesh, where), checkStatsInclusion(mesh, version));
  } catch (error) {
    checks.push(failed("extraStatTags", error), failed("stats inclusion", error));
  }
  try {
    checks.push(checkActivatorSidecar(await activatorPods(client), target.context));
  } catch (error) {
    // Optional: without permission to list pods, say what it could not tell instead of failing.
    const unread = failed("activator", error);
    checks.push({
      ...unread,
      level: "warn",
      detail: `${unread.detail}; whether cold starts are verified is unknown`,
    });
  }
  return checks;
}

export function diagnoseAll(
  targets: DoctorTarget[],
  options: RunOptions,
): Promise<ClusterOutcome<DoctorTarget, Check[]>[]> {
  return runOnClusters(targets, options, diagnose);
}
