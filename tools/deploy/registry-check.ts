/**
 * Before kwt deploy touches a cluster: is the pinned image in the registry? Asked with the
 * transport, trust and credentials `kwt push` uses (its registry flags, else Docker's config.json), as a HEAD of the manifest by digest, and of
 * the tag: sidecars pull by the WasmPlugin's url and refuse a module whose manifest digest is not
 * the pinned sha256, so a tag moved to another image breaks the rollout as surely as a missing one.
 */
import { repositoryScope, type Credentials } from "../oci/auth.js";
import { ACCEPTED_MANIFESTS } from "../oci/pull.js";
import {
  describeResponse,
  RegistryClient,
  type RegistryResponse,
  type RegistryTls,
} from "../oci/registry-client.js";
import type { RetryPolicy } from "../oci/retry.js";
import type { OciImage } from "./image-ref.js";

export interface RegistryCheckOptions {
  credentials?: Credentials;
  plainHttp?: boolean;
  /** --insecure / --ca-file, as kwt push takes them. */
  tls?: RegistryTls;
  timeoutMs?: number;
  retry?: RetryPolicy;
}

/** What the registry said about the pinned digest and about the tag (when the url has one). */
export interface RegistryAnswers {
  digestStatus: number;
  digestAnswer: string;
  tag?: { status: number; answer: string; digest?: string };
}

/** Pure: the problems in the registry's answers, each saying what to do; empty when all is well. */
export function registryProblems(image: OciImage, digest: string, answers: RegistryAnswers): string[] {
  const where = `${image.registry}/${image.repository}`;
  const problems: string[] = [];
  if (answers.digestStatus === 404) {
    problems.push(
      `${where}@${digest} is not in the registry (${answers.digestAnswer}); push it with kwt push, or pin the digest kwt push printed`,
    );
  } else if (answers.digestStatus !== 200) {
    problems.push(`${where}@${digest}: the registry answered ${answers.digestAnswer}`);
  }
  const tag = answers.tag;
  if (tag && tag.status === 404) {
    problems.push(
      `${where}:${image.tag} is not in the registry (${tag.answer}); sidecars pull the WasmPlugin's url, so push that tag`,
    );
  } else if (tag && tag.status !== 200) {
    problems.push(`${where}:${image.tag}: the registry answered ${tag.answer}`);
  } else if (tag?.digest !== undefined && tag.digest !== digest) {
    problems.push(
      `${where}:${image.tag} points at ${tag.digest}, not the pinned ${digest}: sidecars would refuse the module (checksum mismatch); push the image again or pin ${tag.digest}`,
    );
  }
  return problems;
}

function header(response: RegistryResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Asks the registry; throws (RegistryError, network errors) when it cannot be asked at all. */
export async function askRegistry(
  image: OciImage,
  digest: string,
  options: RegistryCheckOptions,
): Promise<RegistryAnswers> {
  const client = new RegistryClient(image, {
    credentials: options.credentials,
    plainHttp: options.plainHttp,
    ...(options.tls ? { tls: options.tls } : {}),
    timeoutMs: options.timeoutMs,
    retry: options.retry,
    scopes: [repositoryScope(image.repository, ["pull"])],
  });
  const head = (reference: string) =>
    client.request("HEAD", client.url(`manifests/${reference}`), { headers: { accept: ACCEPTED_MANIFESTS } });
  const byDigest = await head(digest);
  const answers: RegistryAnswers = {
    digestStatus: byDigest.status,
    digestAnswer: describeResponse(byDigest),
  };
  if (image.tag !== undefined) {
    const byTag = await head(image.tag);
    answers.tag = {
      status: byTag.status,
      answer: describeResponse(byTag),
      digest: header(byTag, "docker-content-digest"),
    };
  }
  return answers;
}

export async function checkRegistry(
  image: OciImage,
  digest: string,
  options: RegistryCheckOptions,
): Promise<string[]> {
  try {
    return registryProblems(image, digest, await askRegistry(image, digest, options));
  } catch (error) {
    return [`${image.registry}/${image.repository}: cannot check the image: ${(error as Error).message}`];
  }
}
