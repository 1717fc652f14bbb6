/** How push and inspect reach a registry: transport, trust and credentials flags, as oras spells them. */
import { readFile } from "node:fs/promises";
import { dockerConfigPath, loadCredentials, type Credentials } from "../oci/auth.js";
import {
  InvalidReferenceError,
  namesRegistry,
  parseReference,
  type ImageReference,
} from "../oci/reference.js";
import type { RegistryTls } from "../oci/registry-client.js";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "../oci/retry.js";
import { booleanFlag, integerFlag, stringFlag, UsageError, type FlagSpec, type ParsedArgs } from "./args.js";
import { InputError } from "./command.js";
import { style } from "./output.js";

/** --retries N: retries after a 5xx answer or a network error (never after a 4xx). */
export function retryPolicy(args: ParsedArgs): RetryPolicy {
  const retries = integerFlag(args, "retries", 0, 10) ?? DEFAULT_RETRY_POLICY.attempts - 1;
  return { ...DEFAULT_RETRY_POLICY, attempts: retries + 1 };
}

export const REGISTRY_FLAGS: FlagSpec = {
  retries: "string",
  "plain-http": "boolean",
  insecure: "boolean",
  "ca-file": "string",
  username: "string",
  "password-stdin": "boolean",
};

export const REGISTRY_FLAGS_USAGE = [
  "  --retries N    retries after a 5xx answer or a network error, with backoff",
  `                 (default: ${DEFAULT_RETRY_POLICY.attempts - 1}; 4xx answers are never retried)`,
  "  --plain-http   talk HTTP, not HTTPS, to a registry that is not on loopback",
  "                 (loopback registries use HTTP unless --insecure or --ca-file is given)",
  "  --insecure     HTTPS without verifying the registry's certificate (test registries only)",
  "  --ca-file PEM  HTTPS trusting the CA certificates in PEM too (a private registry's CA)",
  "  --username U --password-stdin",
  "                 log in as U with the password read from stdin, instead of the",
  "                 credentials in Docker's config.json",
].join("\n");

export const CREDENTIALS_NOTE = [
  "Credentials: --username with --password-stdin, else Docker's config.json",
  "($DOCKER_CONFIG/config.json, else ~/.docker/config.json): auths entries, credHelpers and",
  "credsStore, as 'docker login' writes them. Basic and bearer-token (WWW-Authenticate)",
  "registries are supported; without credentials kwt goes anonymously.",
].join("\n");

/**
 * The one positional argument REF as an image reference; warns (stderr) when it names no registry
 * host and so means Docker Hub.
 */
export function referenceArgument(command: string, args: ParsedArgs): ImageReference {
  if (args.positionals.length !== 1) {
    throw new UsageError(
      args.positionals.length === 0 ? "REF is missing" : `expected one REF, got ${args.positionals.length}`,
    );
  }
  const text = args.positionals[0]!;
  let ref: ImageReference;
  try {
    ref = parseReference(text);
  } catch (error) {
    if (error instanceof InvalidReferenceError) throw new UsageError(error.message);
    throw error;
  }
  if (!namesRegistry(text)) {
    console.error(
      style(
        `kwt ${command}: warning: '${text}' names no registry host, so it means Docker Hub (docker.io/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}); to use another registry write HOST[:PORT]/REPOSITORY[:TAG], e.g. 127.0.0.1:5000/kwt/filter:v1`,
        "yellow",
        process.stderr,
      ),
    );
  }
  return ref;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export interface RegistryAccess {
  plainHttp: boolean;
  /** Only when --insecure or --ca-file asks for it. */
  tls?: RegistryTls;
  credentials: Credentials | undefined;
}

/** The command line's registry flags, checked; credentials from stdin or Docker's config. */
export async function registryAccess(args: ParsedArgs, ref: ImageReference): Promise<RegistryAccess> {
  const username = stringFlag(args, "username");
  const passwordStdin = booleanFlag(args, "password-stdin");
  if (passwordStdin && username === undefined) throw new UsageError("--password-stdin needs --username");
  if (username !== undefined && !passwordStdin)
    throw new UsageError("--username needs --password-stdin (the password is never a flag)");
  const plainHttp = booleanFlag(args, "plain-http");
  const insecure = booleanFlag(args, "insecure");
  const caFile = stringFlag(args, "ca-file");
  if (plainHttp && (insecure || caFile !== undefined))
    throw new UsageError("--plain-http talks no TLS: --insecure and --ca-file do not go with it");
  let ca: Uint8Array | undefined;
  if (caFile !== undefined) {
    try {
      ca = await readFile(caFile);
    } catch (error) {
      throw new InputError(`--ca-file ${caFile}: cannot read it: ${(error as Error).message}`);
    }
  }
  let credentials: Credentials | undefined;
  if (username !== undefined) {
    const password = (await readStdin()).replace(/\r?\n$/, "");
    if (password === "") throw new InputError("--password-stdin: stdin was empty; pipe the password in");
    credentials = { kind: "basic", username, password };
  } else {
    credentials = await loadCredentials(ref.registry, dockerConfigPath());
  }
  const tls = insecure || ca ? { ...(ca ? { ca } : {}), insecure } : undefined;
  return { plainHttp, ...(tls ? { tls } : {}), credentials };
}
