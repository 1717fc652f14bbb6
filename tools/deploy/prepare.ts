/**
 * What deploy, status and doctor share before they touch a cluster: their common flags, the
 * clusters file, the plans (validated in full), and how to run across clusters.
 */
import { readFileSync } from "node:fs";
import {
  integerFlag,
  repeatableFlag,
  stringFlag,
  UsageError,
  type FlagSpec,
  type ParsedArgs,
} from "../cli/args.js";
import { Progress } from "../cli/output.js";
import {
  ClustersFileError,
  istioInstallOf,
  readClustersFile,
  selectClusters,
  type ClustersFile,
  type IstioInstall,
} from "./clusters-file.js";
import { loadPluginConfigSchema, type PluginConfigCheck } from "./filter-config-schema.js";
import { parsePushOutput, type OciImage } from "./image-ref.js";
import { loadKubeConfig, type RunOptions } from "./kube.js";
import { planDeployment, type ClusterPlan } from "./plan.js";
import { loadIstioSchemas } from "./validate.js";

/** Which clusters, and how to reach them: every cluster command takes these. */
export const TARGET_FLAGS: FlagSpec = {
  clusters: "string",
  cluster: "repeatable",
  concurrency: "string",
  timeout: "string",
};
/** The image to pin: commands that render the WasmPlugin take these too. */
export const IMAGE_FLAGS: FlagSpec = { image: "string", digest: "string", pushed: "string" };

export const TARGET_FLAGS_USAGE = `  --clusters FILE      the clusters file (format: deploy/clusters.example.yaml)
  --cluster NAME       only this cluster of the file (repeatable)
  --concurrency N      clusters worked on at once (1-32, default 4)
  --timeout SECONDS    time allowed per cluster (1-600, default 60)`;
export const IMAGE_FLAGS_USAGE = `  --image REF          the filter image (oci://...), over the file's image:
  --digest sha256:...  the image manifest digest (kwt push prints it), over the file's digest:
  --pushed FILE        take url= and digest= from the output of kwt push ('-': stdin),
                       e.g. kwt push REF | kwt deploy --clusters FILE --pushed -`;
export const KUBECONFIG_NOTE = `Contexts are looked up in the kubeconfig as kubectl does: $KUBECONFIG (several files joined
by ':'), else ~/.kube/config.`;

export interface ClusterCommandOptions {
  clustersFile: string;
  image?: string;
  digest?: string;
  only: string[];
  concurrency: number;
  timeoutMs: number;
}

export function readClusterOptions(args: ParsedArgs): ClusterCommandOptions {
  const clustersFile = stringFlag(args, "clusters");
  if (!clustersFile) throw new UsageError("--clusters FILE is required");
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument '${args.positionals[0]}'`);
  let image = stringFlag(args, "image");
  let digest = stringFlag(args, "digest");
  const pushed = stringFlag(args, "pushed");
  if (pushed !== undefined) {
    if (image !== undefined || digest !== undefined)
      throw new UsageError("give --pushed or --image/--digest, not both");
    ({ image, digest } = readPushOutput(pushed));
  }
  return {
    clustersFile,
    image,
    digest,
    only: repeatableFlag(args, "cluster"),
    concurrency: integerFlag(args, "concurrency", 1, 32) ?? 4,
    timeoutMs: (integerFlag(args, "timeout", 1, 600) ?? 60) * 1000,
  };
}

function readPushOutput(file: string): { image: string; digest: string } {
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (error) {
    throw new UsageError(`--pushed ${file}: cannot read it: ${(error as Error).message}`);
  }
  try {
    return parsePushOutput(text);
  } catch (error) {
    throw new UsageError(`--pushed ${file}: ${(error as Error).message}`);
  }
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

/** Run options with one progress line per finished cluster (on stderr). */
export function runOptions(options: ClusterCommandOptions, verb: string): RunOptions {
  const progress = new Progress();
  return {
    kubeConfig: loadKubeConfig(),
    concurrency: options.concurrency,
    timeoutMs: options.timeoutMs,
    onDone: (outcome, finished, total) => {
      progress.step(`[${finished}/${total}] ${outcome.target.cluster}: ${outcome.error ? "failed" : verb}`);
      if (finished === total) progress.done();
    },
  };
}
