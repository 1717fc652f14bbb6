/**
 * Image references as `kwt push` and WasmPlugin.url use them: `[oci://]host[:port]/path[:tag][@sha256:hex]`.
 * Grammar from the OCI distribution spec (repository names, tags) and Docker's rule for telling a
 * registry host from the first path component.
 */

export interface ImageReference {
  /** host[:port] as written, e.g. `127.0.0.1:5000` or `docker.io`. */
  registry: string;
  /** The repository path, e.g. `kwt/filter`. */
  repository: string;
  tag?: string;
  digest?: string;
}

const DOCKER_HUB = "docker.io";
const REPOSITORY_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
export const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
export const TAG_RULE =
  "letters, digits, '_', '.', '-'; at most 128 characters; not starting with '.' or '-'";
export const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
const REGISTRY_HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

export class InvalidReferenceError extends Error {}

/** Docker's rule: the first component names a registry when it has a dot, a port or is localhost. */
function looksLikeRegistry(component: string): boolean {
  return (
    component.includes(".") ||
    component.includes(":") ||
    component === "localhost" ||
    component.startsWith("[")
  );
}

export function parseReference(text: string): ImageReference {
  const input = text.startsWith("oci://") ? text.slice("oci://".length) : text;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) {
    throw new InvalidReferenceError(
      `'${text}': only oci:// or no scheme is accepted, e.g. 127.0.0.1:5000/kwt/filter:v1`,
    );
  }
  const at = input.indexOf("@");
  const digest = at === -1 ? undefined : input.slice(at + 1);
  const nameAndTag = at === -1 ? input : input.slice(0, at);
  if (digest !== undefined && !SHA256_DIGEST.test(digest)) {
    throw new InvalidReferenceError(`'${text}': digest must be sha256: followed by 64 lower-case hex digits`);
  }
  const lastSlash = nameAndTag.lastIndexOf("/");
  const colon = nameAndTag.indexOf(":", lastSlash + 1);
  const name = colon === -1 ? nameAndTag : nameAndTag.slice(0, colon);
  const tag = colon === -1 ? undefined : nameAndTag.slice(colon + 1);
  if (tag !== undefined && !TAG.test(tag)) {
    throw new InvalidReferenceError(`'${text}': tag '${tag}' is not valid (${TAG_RULE})`);
  }
  const components = name.split("/");
  let registry = DOCKER_HUB;
  if (components.length > 1 && looksLikeRegistry(components[0]!)) registry = components.shift()!;
  if (!REGISTRY_HOST.test(registry))
    throw new InvalidReferenceError(`'${text}': '${registry}' is not a valid host[:port]`);
  if (registry === DOCKER_HUB && components.length === 1) components.unshift("library");
  for (const component of components) {
    if (!REPOSITORY_COMPONENT.test(component)) {
      throw new InvalidReferenceError(
        `'${text}': repository component '${component}' must be lower-case letters and digits, separated by '.', '_', '__' or '-'`,
      );
    }
  }
  return {
    registry,
    repository: components.join("/"),
    ...(tag ? { tag } : {}),
    ...(digest ? { digest } : {}),
  };
}

/** Whether `text` names its registry host; if not, parseReference takes Docker Hub, as docker does. */
export function namesRegistry(text: string): boolean {
  const input = text.startsWith("oci://") ? text.slice("oci://".length) : text;
  const components = input.split("@")[0]!.split("/");
  return components.length > 1 && looksLikeRegistry(components[0]!);
}

/** The host:port to send API requests to (Docker Hub's API lives on another name). */
export function apiHost(ref: ImageReference): string {
  return ref.registry === DOCKER_HUB ? "registry-1.docker.io" : ref.registry;
}

function hostName(registry: string): string {
  return registry.startsWith("[")
    ? registry.slice(0, registry.indexOf("]") + 1)
    : registry.replace(/:\d+$/, "");
}

/** Loopback registries are reached over plain HTTP without asking (what Docker does for localhost too). */
export function isLoopback(registry: string): boolean {
  const host = hostName(registry);
  return host === "localhost" || host === "[::1]" || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/** `oci://registry/repository[:tag][@digest]`, the form WasmPlugin.url takes. */
export function ociUrl(ref: ImageReference): string {
  return `oci://${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}
