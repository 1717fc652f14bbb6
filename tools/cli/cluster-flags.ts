/**
 * The flag groups deploy, status and doctor share (as kn keeps shared flag groups beside its
 * commands): which clusters, the image to pin, and the output format.
 */
import { readFileSync } from "node:fs";
import type { ClusterCommandOptions } from "../deploy/cluster-selection.js";
import { parsePushOutput } from "../deploy/image-ref.js";
import {
  integerFlag,
  noPositionals,
  repeatableFlag,
  stringFlag,
  UsageError,
  type FlagSpec,
  type ParsedArgs,
} from "./args.js";
import { InputError } from "./command.js";

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
by ':'; missing ones skipped), else ~/.kube/config.`;

export function readClusterOptions(args: ParsedArgs): ClusterCommandOptions {
  const clustersFile = stringFlag(args, "clusters");
  if (!clustersFile) throw new UsageError("--clusters FILE is required");
  noPositionals(args);
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

/** A missing or garbled --pushed file is bad input (exit 1), like a missing clusters file. */
function readPushOutput(file: string): { image: string; digest: string } {
  let text: string;
  try {
    text = readFileSync(file === "-" ? 0 : file, "utf8");
  } catch (error) {
    throw new InputError(`--pushed ${file}: cannot read it: ${(error as Error).message}`);
  }
  try {
    return parsePushOutput(text);
  } catch (error) {
    throw new InputError(`--pushed ${file}: ${(error as Error).message}`);
  }
}
