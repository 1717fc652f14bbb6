/** OCI image references and manifest digests as WasmPlugins use them. */

export interface OciImage {
  /** The reference as the WasmPlugin's `url`: always with the `oci://` scheme. */
  url: string;
  /** host[:port], the key of the registry's entry in a pull secret. */
  registry: string;
  repository: string;
  tag?: string;
  /** `sha256:<hex>` when the reference pins one. */
  digest?: string;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const REGISTRY = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** `sha256:<64 hex>` from that form or the bare 64 hex digits; throws what was expected. */
export function normalizeDigest(text: string): string {
  const digest = /^[a-f0-9]{64}$/.test(text) ? `sha256:${text}` : text;
  if (!DIGEST.test(digest)) throw new Error(`must be sha256:<64 lower-case hex digits>, got ${JSON.stringify(text)}`);
  return digest;
}

/**
 * Parses `oci://registry/repository[:tag][@sha256:...]`; the scheme may be left out. The registry
 * must be named (Istio would otherwise assume Docker Hub, rarely what a platform team means).
 */
export function parseOciImage(text: string): OciImage {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text);
  if (scheme && scheme[1]!.toLowerCase() !== "oci") {
    throw new Error(`must be an oci:// image reference (kwt pins OCI manifest digests), got ${JSON.stringify(text)}`);
  }
  const reference = scheme ? text.slice(scheme[0].length) : text;
  const [nameAndTag = "", digest, ...extra] = reference.split("@");
  const slash = nameAndTag.indexOf("/");
  const registry = slash === -1 ? "" : nameAndTag.slice(0, slash);
  const rest = slash === -1 ? nameAndTag : nameAndTag.slice(slash + 1);
  const colon = rest.lastIndexOf(":");
  const repository = colon === -1 ? rest : rest.slice(0, colon);
  const tag = colon === -1 ? undefined : rest.slice(colon + 1);
  const expected = "expected oci://registry.example.com/team/kwt-filter:1.4.0";
  if (extra.length > 0 || !REGISTRY.test(registry) || !(/[.:]/.test(registry) || registry === "localhost")) {
    throw new Error(`must start with a registry host (and port), ${expected}; got ${JSON.stringify(text)}`);
  }
  if (!repository.split("/").every((component) => PATH_COMPONENT.test(component))) {
    throw new Error(`repository ${JSON.stringify(repository)} must be lower-case path components; ${expected}`);
  }
  if (tag !== undefined && !TAG.test(tag)) throw new Error(`tag ${JSON.stringify(tag)} is not a valid tag; ${expected}`);
  if (digest !== undefined && !DIGEST.test(digest)) {
    throw new Error(`digest ${JSON.stringify(digest)} must be sha256:<64 lower-case hex digits>`);
  }
  if (tag === undefined && digest === undefined) throw new Error(`needs a tag or a digest; ${expected}`);
  return { url: `oci://${reference}`, registry, repository, tag, digest };
}

/**
 * The image and digest from what `kwt push` prints (`url=...`, `digest=...` lines); throws naming
 * what is missing.
 */
export function parsePushOutput(text: string): { image: string; digest: string } {
  const values = new Map(
    text
      .split("\n")
      .map((line) => /^([a-z0-9]+)=(.*)$/.exec(line.trim()))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => [match[1]!, match[2]!]),
  );
  const image = values.get("url");
  const digest = values.get("digest");
  if (!image || !digest) {
    throw new Error(`expected the output of kwt push (lines url=oci://... and digest=sha256:...); ${image ? "digest=" : "url="} is missing`);
  }
  return { image, digest };
}
