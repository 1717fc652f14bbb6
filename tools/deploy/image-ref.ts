/** OCI image references and manifest digests as WasmPlugins use them. */

import {
  InvalidReferenceError,
  ociUrl,
  parseReference,
  SHA256_DIGEST,
  type ImageReference,
} from "../oci/reference.js";

/** A parsed reference (its registry is the key of the registry's entry in a pull secret) and its URL. */
export interface OciImage extends ImageReference {
  /** The reference as the WasmPlugin's `url`: always with the `oci://` scheme. */
  url: string;
}

/** `sha256:<64 hex>` from that form or the bare 64 hex digits; throws what was expected. */
export function normalizeDigest(text: string): string {
  const digest = /^[a-f0-9]{64}$/.test(text) ? `sha256:${text}` : text;
  if (!SHA256_DIGEST.test(digest))
    throw new Error(`must be sha256:<64 lower-case hex digits>, got ${JSON.stringify(text)}`);
  return digest;
}

/**
 * Parses `oci://registry/repository[:tag][@sha256:...]` with the grammar of tools/oci/reference.ts;
 * the scheme may be left out. The registry must be named (Istio would otherwise assume Docker Hub,
 * rarely what a platform team means) and a tag or digest given.
 */
export function parseOciImage(text: string): OciImage {
  const expected = "expected oci://registry.example.com/team/kwt-filter:1.4.0";
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text);
  if (scheme && scheme[1]!.toLowerCase() !== "oci") {
    throw new Error(
      `must be an oci:// image reference (kwt pins OCI manifest digests), got ${JSON.stringify(text)}`,
    );
  }
  const written = scheme ? text.slice(scheme[0].length) : text;
  let image: ImageReference;
  try {
    image = parseReference(written);
  } catch (error) {
    if (error instanceof InvalidReferenceError) throw new Error(`${error.message}; ${expected}`);
    throw error;
  }
  if (!written.startsWith(`${image.registry}/`)) {
    throw new Error(`must start with a registry host (and port), ${expected}; got ${JSON.stringify(text)}`);
  }
  if (image.tag === undefined && image.digest === undefined)
    throw new Error(`needs a tag or a digest; ${expected}`);
  return { url: ociUrl(image), ...image };
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
    throw new Error(
      `expected the output of kwt push (lines url=oci://... and digest=sha256:...); ${image ? "digest=" : "url="} is missing`,
    );
  }
  return { image, digest };
}
