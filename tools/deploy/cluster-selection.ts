/**
 * What deploy, status and doctor share before they touch a cluster: the clusters file read in
 * full, the selected clusters' targets, and their plans (validated in full, every problem listed).
 */
import {
  ClustersFileError,
  istioInstallOf,
  readClustersFile,
  selectClusters,
  type ClustersFile,
  type IstioInstall,
} from "./clusters-file.js";
import { loadPluginConfigSchema, type PluginConfigCheck } from "./filter-config-schema.js";
import type { OciImage } from "./image-ref.js";
import { planDeployment, type ClusterPlan } from "./plan.js";
import { loadIstioSchemas } from "./validate.js";

export interface ClusterCommandOptions {
  clustersFile: string;
  image?: string;
  digest?: string;
  only: string[];
  concurrency: number;
  timeoutMs: number;
}

/** The input is wrong: nothing was (or may be) applied. Lists every problem. */
export class InvalidInputError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
  }
}

/** The clusters file, or InvalidInputError naming every problem in it. */
export function readClusterFile(options: ClusterCommandOptions): ClustersFile {
  try {
    return readClustersFile(options.clustersFile);
  } catch (error) {
    if (error instanceof ClustersFileError)
      throw new InvalidInputError(error.problems.map((problem) => `${error.source}: ${problem}`));
    throw error;
  }
}

export interface Prepared {
  file: ClustersFile;
  plans: ClusterPlan[];
  /** The image the plans pin. */
  image: OciImage;
}

/** The selected clusters' targets (istio settings resolved); InvalidInputError for unknown names. */
export function readTargets(
  options: ClusterCommandOptions,
): { cluster: string; context: string; istio: IstioInstall }[] {
  const file = readClusterFile(options);
  const { clusters, problems } = selectClusters(file, options.only);
  if (problems.length > 0) throw new InvalidInputError(problems);
  return clusters.map((cluster) => ({
    cluster: cluster.name,
    context: cluster.context,
    istio: istioInstallOf(file, cluster),
  }));
}

/** Reads the file and plans every selected cluster; throws InvalidInputError listing all problems. */
export function preparePlans(
  root: string,
  options: ClusterCommandOptions,
  mode: { requireDigest: boolean; withSecret: boolean },
): Prepared {
  const file = readClusterFile(options);
  let checkPluginConfig: PluginConfigCheck;
  try {
    checkPluginConfig = loadPluginConfigSchema(root);
  } catch (error) {
    throw new InvalidInputError([(error as Error).message]);
  }
  const { plans, image, problems } = planDeployment(file, {
    image: options.image,
    digest: options.digest,
    only: options.only,
    env: process.env,
    checkPluginConfig,
    schemas: loadIstioSchemas(root),
    ...mode,
  });
  if (problems.length > 0 || !image) throw new InvalidInputError(problems);
  return { file, plans, image };
}
