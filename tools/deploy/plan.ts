/**
 * Turns a clusters file (plus command-line overrides) into one validated plan per cluster: what to
 * apply where. Pure: the environment, the filter's schema check and Istio's schemas are handed in.
 */
import {
  istioInstallOf,
  selectClusters,
  type ClusterEntry,
  type ClustersFile,
  type IstioInstall,
  type JsonObject,
  type JsonValue,
} from "./clusters-file.js";
import type { PluginConfigCheck } from "./filter-config-schema.js";
import { normalizeDigest, parseOciImage, type OciImage } from "./image-ref.js";
import { renderPullSecret, renderWasmPlugin, type KubeObject } from "./render.js";
import { validateManifest, type IstioSchema } from "./validate.js";

export interface PlanOptions {
  /** --image, over the file's `image`. */
  image?: string;
  /** --digest, over the file's `digest`. */
  digest?: string;
  /** deploy pins a digest; status and doctor can do without. */
  requireDigest: boolean;
  /** Render the pull Secret from its credential variables (deploy); otherwise only reference it. */
  withSecret: boolean;
  /** --cluster names: plan only these (all when empty). */
  only: string[];
  env: Record<string, string | undefined>;
  checkPluginConfig: PluginConfigCheck;
  schemas: IstioSchema[];
}

export interface ClusterPlan {
  cluster: string;
  context: string;
  istio: IstioInstall;
  /** `sha256:<hex>` the WasmPlugin pins, when known. */
  digest?: string;
  wasmPlugin: KubeObject;
  /** In apply order: the pull Secret (when rendered) before the WasmPlugin that names it. */
  objects: KubeObject[];
}

export interface DeploymentPlan {
  plans: ClusterPlan[];
  /** The image every plan pins (undefined when it could not be parsed: see problems). */
  image?: OciImage;
  /** Everything wrong, each naming its field; nothing may be applied unless this is empty. */
  problems: string[];
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return value !== null && value !== undefined && typeof value === "object" && !Array.isArray(value);
}

/** Objects merge key by key; anything else in `override` replaces what `base` has. */
export function mergeConfig(base: JsonObject, override: JsonObject): JsonObject {
  const merged: JsonObject = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const current = merged[key];
    merged[key] = isObject(current) && isObject(value) ? mergeConfig(current, value) : value;
  }
  return merged;
}

function hasPath(config: JsonValue, path: string): boolean {
  let node: JsonValue | undefined = config;
  for (const part of path.split(/\.|\[(\d+)\]/).filter(Boolean)) {
    if (Array.isArray(node)) node = node[Number(part)];
    else if (isObject(node)) node = node[part];
    else return false;
    if (node === undefined) return false;
  }
  return true;
}

/** Where in the clusters file a pluginConfig problem comes from. */
function origin(path: string, cluster: ClusterEntry, file: ClustersFile): string {
  const field = path.split(/[.[]/)[0];
  if (field === "cluster") return `clusters[${cluster.index}].name`;
  if (field === "region") return `clusters[${cluster.index}].region`;
  if (path !== "" && hasPath(cluster.config, path)) return `clusters[${cluster.index}].config`;
  if (path !== "" && hasPath(file.config, path)) return "config";
  return `config / clusters[${cluster.index}].config`;
}

interface ImageChoice {
  image?: OciImage;
  digest?: string;
}

function chooseImage(file: ClustersFile, options: PlanOptions, problems: string[]): ImageChoice {
  const imageText = options.image ?? file.image;
  const imageField = options.image !== undefined ? "--image" : "image";
  let image: OciImage | undefined;
  if (imageText === undefined)
    problems.push("image: missing: set image: in the clusters file or pass --image oci://...");
  else {
    try {
      image = parseOciImage(imageText);
    } catch (error) {
      problems.push(`${imageField}: ${(error as Error).message}`);
    }
  }
  const digestText = options.digest ?? file.digest;
  const digestField = options.digest !== undefined ? "--digest" : "digest";
  let digest = image?.digest;
  if (digestText !== undefined) {
    try {
      const given = normalizeDigest(digestText);
      if (digest !== undefined && digest !== given) {
        problems.push(
          `${digestField}: ${given} differs from the digest in ${imageField} (${digest}); give one`,
        );
      }
      digest = given;
    } catch (error) {
      problems.push(`${digestField}: ${(error as Error).message}`);
    }
  }
  // A --digest that failed to parse is reported above; "missing" would be a second, wrong problem.
  if (digest === undefined && digestText === undefined && options.requireDigest && image) {
    problems.push(
      "digest: missing: pass --digest sha256:... (the manifest digest kwt push prints) or set digest: in the clusters file",
    );
  }
  return { image, digest };
}

function pullSecretFor(
  file: ClustersFile,
  options: PlanOptions,
  image: OciImage,
  namespace: string,
  problems: string[],
): KubeObject | undefined {
  const settings = file.pullSecret;
  if (!options.withSecret || !settings?.usernameEnv || !settings.passwordEnv) return undefined;
  const username = options.env[settings.usernameEnv];
  const password = options.env[settings.passwordEnv];
  for (const [field, variable, value] of [
    ["usernameEnv", settings.usernameEnv, username],
    ["passwordEnv", settings.passwordEnv, password],
  ] as const) {
    if (!value) problems.push(`pullSecret.${field}: environment variable ${variable} is not set (or empty)`);
  }
  if (!username || !password) return undefined;
  return renderPullSecret({ name: settings.name, namespace, registry: image.registry, username, password });
}

export function planDeployment(file: ClustersFile, options: PlanOptions): DeploymentPlan {
  const problems: string[] = [];
  const { image, digest } = chooseImage(file, options, problems);
  const { clusters, problems: unknownClusters } = selectClusters(file, options.only);
  problems.push(...unknownClusters);
  const plans: ClusterPlan[] = [];
  const secretProblems = new Set<string>();
  for (const cluster of clusters) {
    const pluginConfig: JsonObject = {
      cluster: cluster.name,
      ...(cluster.region !== undefined && { region: cluster.region }),
      ...mergeConfig(file.config, cluster.config),
    };
    for (const problem of options.checkPluginConfig(pluginConfig)) {
      const at = problem.path === "" ? "pluginConfig" : `pluginConfig.${problem.path}`;
      problems.push(
        `cluster ${cluster.name}: ${at} (from ${origin(problem.path, cluster, file)}): ${problem.message}`,
      );
    }
    if (!image) continue;
    const namespace = cluster.namespace ?? file.namespace;
    const wasmPlugin = renderWasmPlugin({
      name: file.name,
      namespace,
      url: image.url,
      digest,
      imagePullPolicy: file.imagePullPolicy,
      pullSecretName: file.pullSecret?.name,
      selector: cluster.selector ?? file.selector,
      priority: file.priority,
      pluginConfig,
    });
    const found: string[] = [];
    const secret = pullSecretFor(file, options, image, namespace, found);
    // The same missing variable would otherwise be reported once per cluster.
    for (const problem of found) secretProblems.add(problem);
    const objects = secret ? [secret, wasmPlugin] : [wasmPlugin];
    for (const object of objects) {
      for (const problem of validateManifest(object, options.schemas)) {
        problems.push(
          `cluster ${cluster.name}: ${object.kind} ${namespace}/${object.metadata.name}: ${problem}`,
        );
      }
    }
    plans.push({
      cluster: cluster.name,
      context: cluster.context,
      istio: istioInstallOf(file, cluster),
      digest,
      wasmPlugin,
      objects,
    });
  }
  return { plans, image, problems: [...problems, ...secretProblems] };
}
