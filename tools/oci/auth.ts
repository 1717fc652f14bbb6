/**
 * Registry authentication as Docker clients do it: a 401 carries a WWW-Authenticate challenge;
 * Basic is answered with the stored user and password; Bearer is answered with a token fetched
 * from the challenge's realm. Credentials come from Docker's config.json (DOCKER_CONFIG honoured),
 * including credential helpers. Parsing and request planning are pure; file and process access
 * is at the bottom, injected so it can be tested.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

export interface Challenge {
  /** Lower-cased auth scheme, e.g. `bearer` or `basic`. */
  scheme: string;
  params: Record<string, string>;
}

export type Credentials =
  | { kind: "basic"; username: string; password: string }
  /** An OAuth2 refresh token (`identitytoken` in config.json), exchanged at the token realm. */
  | { kind: "identity-token"; token: string }
  /** A bearer token to send as is (`registrytoken` in config.json). */
  | { kind: "registry-token"; token: string };

/**
 * Splits a WWW-Authenticate value into challenges (RFC 7235): `Scheme k=v, k="quoted, value"`,
 * possibly several challenges separated by commas.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const skip = (pattern: RegExp) => {
    while (i < header.length && pattern.test(header[i]!)) i++;
  };
  const token = () => {
    const start = i;
    skip(/[!#$%&'*+.^_`|~0-9A-Za-z-]/);
    return header.slice(start, i);
  };
  while (i < header.length) {
    skip(/[\s,]/);
    const scheme = token();
    if (!scheme) {
      if (i < header.length)
        throw new Error(`WWW-Authenticate: unexpected '${header[i]}' at ${i} in '${header}'`);
      break;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    while (true) {
      skip(/[\s,]/);
      const save = i;
      const key = token();
      skip(/\s/);
      if (!key || header[i] !== "=") {
        i = save; // the next challenge's scheme (or a token68, which registries do not send)
        break;
      }
      i++;
      skip(/\s/);
      let value = "";
      if (header[i] === '"') {
        i++;
        while (i < header.length && header[i] !== '"') {
          if (header[i] === "\\") i++;
          value += header[i] ?? "";
          i++;
        }
        if (header[i] !== '"')
          throw new Error(`WWW-Authenticate: unterminated quoted value for '${key}' in '${header}'`);
        i++;
      } else {
        const start = i;
        skip(/[^\s,]/);
        value = header.slice(start, i);
      }
      challenge.params[key.toLowerCase()] = value;
    }
  }
  return challenges;
}

/** The scope a push (or pull) needs, in the registry token scope grammar. */
export function repositoryScope(repository: string, actions: readonly ("pull" | "push")[]): string {
  return `repository:${repository}:${actions.join(",")}`;
}

export function basicAuthorization(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
}

export interface TokenRequest {
  method: "GET" | "POST";
  url: string;
  headers: Record<string, string>;
  body?: string;
}

/**
 * The request for a bearer token answering `challenge` (Docker registry token spec): GET with
 * Basic credentials, or, for an identity token, the OAuth2 refresh_token grant as a form POST.
 * The challenge's own scope is kept and `scopes` added, so one token serves HEAD, upload and PUT.
 */
export function tokenRequest(
  challenge: Challenge,
  scopes: readonly string[],
  credentials?: Credentials,
): TokenRequest {
  const realm = challenge.params.realm;
  if (!realm) throw new Error("the registry's Bearer challenge has no realm: it cannot be answered");
  let realmUrl: URL;
  try {
    realmUrl = new URL(realm);
  } catch {
    throw new Error(`the registry's Bearer realm '${realm}' is not a URL`);
  }
  const allScopes = [...new Set([...(challenge.params.scope?.split(" ").filter(Boolean) ?? []), ...scopes])];
  const service = challenge.params.service;
  if (credentials?.kind === "identity-token") {
    const form = new URLSearchParams({
      grant_type: "refresh_token",
      refresh_token: credentials.token,
      client_id: "kwt",
    });
    if (service) form.set("service", service);
    if (allScopes.length) form.set("scope", allScopes.join(" "));
    return {
      method: "POST",
      url: realmUrl.toString(),
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form.toString(),
    };
  }
  if (service) realmUrl.searchParams.set("service", service);
  for (const scope of allScopes) realmUrl.searchParams.append("scope", scope);
  const headers: Record<string, string> =
    credentials?.kind === "basic"
      ? { authorization: basicAuthorization(credentials.username, credentials.password) }
      : {};
  return { method: "GET", url: realmUrl.toString(), headers };
}

/** The token from a token endpoint's JSON answer (`token`, or OAuth2's `access_token`). */
export function parseTokenResponse(body: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new Error("the token endpoint did not answer JSON");
  }
  const record = (parsed ?? {}) as Record<string, unknown>;
  const token = record.token ?? record.access_token;
  if (typeof token !== "string" || token === "") throw new Error("the token endpoint's answer has no token");
  return token;
}

/** config.json keys name registries in several spellings; Docker compares them by host only. */
function configKeyHost(key: string): string {
  return key.replace(/^[a-z]+:\/\//i, "").replace(/\/.*$/, "");
}

const DOCKER_HUB_KEYS = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

function sameRegistry(key: string, registry: string): boolean {
  const host = configKeyHost(key);
  return host === registry || (DOCKER_HUB_KEYS.has(host) && DOCKER_HUB_KEYS.has(registry));
}

interface AuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
  identitytoken?: unknown;
  registrytoken?: unknown;
}

export interface DockerConfig {
  auths?: Record<string, AuthEntry>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

export type CredentialSource =
  | { kind: "none" }
  | { kind: "inline"; credentials: Credentials }
  /** Ask `docker-credential-<helper> get`. */
  | { kind: "helper"; helper: string; serverUrl: string };

function entryCredentials(key: string, entry: AuthEntry): Credentials | undefined {
  if (typeof entry.registrytoken === "string" && entry.registrytoken) {
    return { kind: "registry-token", token: entry.registrytoken };
  }
  if (typeof entry.identitytoken === "string" && entry.identitytoken) {
    return { kind: "identity-token", token: entry.identitytoken };
  }
  if (typeof entry.auth === "string" && entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon === -1)
      throw new Error(`Docker config: auths["${key}"].auth must be base64 of 'user:password'`);
    return { kind: "basic", username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry.username === "string" && typeof entry.password === "string") {
    return { kind: "basic", username: entry.username, password: entry.password };
  }
  return undefined;
}

/** Where the credentials for `registry` are: per-registry helper first, then auths, then credsStore. */
export function credentialSource(config: DockerConfig, registry: string): CredentialSource {
  const helperKey = Object.keys(config.credHelpers ?? {}).find((key) => sameRegistry(key, registry));
  if (helperKey) return { kind: "helper", helper: config.credHelpers![helperKey]!, serverUrl: helperKey };
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    if (!sameRegistry(key, registry)) continue;
    const credentials = entryCredentials(key, entry);
    if (credentials) return { kind: "inline", credentials };
  }
  if (config.credsStore) {
    const key = Object.keys(config.auths ?? {}).find((k) => sameRegistry(k, registry));
    return { kind: "helper", helper: config.credsStore, serverUrl: key ?? registry };
  }
  return { kind: "none" };
}

/** Parses a credential helper's `get` answer: `{"Username": ..., "Secret": ...}`; `<token>` means an identity token. */
export function helperCredentials(helper: string, output: string): Credentials {
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(output) as typeof parsed;
  } catch {
    throw new Error(`docker-credential-${helper} did not print JSON`);
  }
  if (typeof parsed.Secret !== "string") throw new Error(`docker-credential-${helper} printed no Secret`);
  if (parsed.Username === "<token>") return { kind: "identity-token", token: parsed.Secret };
  return {
    kind: "basic",
    username: typeof parsed.Username === "string" ? parsed.Username : "",
    password: parsed.Secret,
  };
}

export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env, home: string = os.homedir()): string {
  return path.join(env.DOCKER_CONFIG || path.join(home, ".docker"), "config.json");
}

/** The Docker config at `file`, or an empty one when the file does not exist. */
export async function readDockerConfig(file: string): Promise<DockerConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw error;
  }
  try {
    return JSON.parse(text) as DockerConfig;
  } catch (error) {
    throw new Error(
      `${file} is not valid JSON (${(error as Error).message}); fix it or point DOCKER_CONFIG elsewhere`,
    );
  }
}

function runCredentialHelper(helper: string, serverUrl: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      `docker-credential-${helper}`,
      ["get"],
      { timeout: 30_000 },
      (error, stdout, stderr) => {
        if ((error as NodeJS.ErrnoException | null)?.code === "ENOENT") {
          reject(
            new Error(
              `docker-credential-${helper} not found on PATH: Docker's config.json names the credential helper '${helper}' for ${serverUrl} (credHelpers or credsStore); install it or remove that entry`,
            ),
          );
        } else if (error) {
          const detail = stderr.trim() || stdout.trim() || error.message;
          reject(new Error(`docker-credential-${helper} get failed for ${serverUrl}: ${detail}`));
        } else resolve(stdout);
      },
    );
    child.stdin?.end(serverUrl);
  });
}

/**
 * Credentials for `registry` from Docker's config, or undefined for anonymous access.
 * A helper that does not know the registry ("credentials not found") means anonymous too.
 */
export async function loadCredentials(
  registry: string,
  configFile: string = dockerConfigPath(),
): Promise<Credentials | undefined> {
  const source = credentialSource(await readDockerConfig(configFile), registry);
  if (source.kind === "none") return undefined;
  if (source.kind === "inline") return source.credentials;
  try {
    return helperCredentials(source.helper, await runCredentialHelper(source.helper, source.serverUrl));
  } catch (error) {
    if (/credentials not found/i.test((error as Error).message)) return undefined;
    throw error;
  }
}
