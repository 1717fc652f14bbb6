/**
 * Pulling a module from a registry the way istio-agent does (istio/istio pkg/wasm/imagefetcher.go
 * and cache.go), so what it accepts, refuses and reports as the digest is what a sidecar would:
 * - the digest is the sha256 of the manifest bytes, and WasmPlugin.sha256 is compared with it;
 * - a Docker schema 2 manifest: the last layer must be a Docker tar+gzip layer holding plugin.wasm;
 * - otherwise the compat format is tried first (last layer an OCI tar+gzip holding plugin.wasm),
 *   then the artifact format (exactly two layers, one with the Wasm content media type);
 * - the module must be at least 8 bytes and start with \0asm.
 * One difference on purpose: an image index is refused (push a single manifest), where the agent
 * would pick a platform from it.
 */
import path from "node:path";
import { gunzipSync } from "node:zlib";
import { repositoryScope, type Credentials } from "./auth.js";
import {
  isWasmModule,
  MEDIA_TYPES,
  sha256Digest,
  COMPAT_MODULE_FILE,
  type Descriptor,
  type ImageManifest,
} from "./layout.js";
import type { ImageReference } from "./reference.js";
import { describeResponse, RegistryClient, RegistryError, type RegistryTls } from "./registry-client.js";
import type { RetryPolicy } from "./retry.js";
import { readTar } from "./tar.js";

export type DetectedFormat = "docker" | "compat" | "artifact";

export interface PulledModule {
  /** `sha256:<hex>` of the manifest. */
  digest: string;
  format: DetectedFormat;
  module: Uint8Array;
  manifest: ImageManifest;
}

type FetchBlob = (descriptor: Descriptor) => Promise<Uint8Array>;

function moduleFromTarGzip(layer: Uint8Array): Uint8Array {
  let archive: Uint8Array;
  try {
    archive = gunzipSync(layer);
  } catch (error) {
    throw new Error(`failed to parse layer as tar.gz: ${(error as Error).message}`);
  }
  const file = readTar(archive).find((entry) => path.posix.basename(entry.name) === COMPAT_MODULE_FILE);
  if (!file) throw new Error(`${COMPAT_MODULE_FILE} not found in the archive`);
  return file.content;
}

async function fromLastTarGzipLayer(manifest: ImageManifest, mediaType: string, fetchBlob: FetchBlob) {
  const layer = manifest.layers.at(-1);
  if (!layer) throw new Error("number of layers must be greater than zero");
  if (layer.mediaType !== mediaType)
    throw new Error(`invalid media type ${layer.mediaType} (expect ${mediaType})`);
  return moduleFromTarGzip(await fetchBlob(layer));
}

async function fromArtifact(manifest: ImageManifest, fetchBlob: FetchBlob) {
  if (manifest.layers.length !== 2)
    throw new Error(`number of layers must be 2 but got ${manifest.layers.length}`);
  const layer = manifest.layers.find((l) => l.mediaType === MEDIA_TYPES.wasmContentLayer);
  if (!layer) throw new Error(`could not find the layer of type ${MEDIA_TYPES.wasmContentLayer}`);
  return fetchBlob(layer);
}

/** istio-agent's format detection and extraction, over any blob source. */
export async function extractModule(
  manifest: ImageManifest,
  fetchBlob: FetchBlob,
): Promise<{ format: DetectedFormat; module: Uint8Array }> {
  if (manifest.mediaType === MEDIA_TYPES.dockerManifest) {
    try {
      return {
        format: "docker",
        module: await fromLastTarGzipLayer(manifest, MEDIA_TYPES.dockerLayerTarGzip, fetchBlob),
      };
    } catch (error) {
      throw new Error(
        `could not extract Wasm file from the image as Docker container: ${(error as Error).message}`,
      );
    }
  }
  let compatError: Error;
  try {
    return {
      format: "compat",
      module: await fromLastTarGzipLayer(manifest, MEDIA_TYPES.ociLayerTarGzip, fetchBlob),
    };
  } catch (error) {
    compatError = error as Error;
  }
  try {
    return { format: "artifact", module: await fromArtifact(manifest, fetchBlob) };
  } catch (artifactError) {
    throw new Error(
      "the image is in neither format istio-agent accepts: " +
        `as compat: ${compatError.message}; as artifact: ${(artifactError as Error).message}`,
    );
  }
}

export const ACCEPTED_MANIFESTS = [
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifest,
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifestList,
].join(", ");

function parseManifest(body: Buffer, contentType: string | undefined, where: string): ImageManifest {
  let parsed: ImageManifest;
  try {
    parsed = JSON.parse(body.toString("utf8")) as ImageManifest;
  } catch {
    throw new Error(`${where}: the manifest is not JSON`);
  }
  const mediaType = parsed.mediaType ?? contentType?.split(";")[0]?.trim();
  if (mediaType === MEDIA_TYPES.ociIndex || mediaType === MEDIA_TYPES.dockerManifestList) {
    throw new Error(`${where} is an image index; push a single manifest (kwt push does)`);
  }
  if (parsed.schemaVersion !== 2 || !parsed.config || !Array.isArray(parsed.layers)) {
    throw new Error(`${where}: not a schema 2 image manifest`);
  }
  return { ...parsed, ...(mediaType ? { mediaType } : {}) };
}

export interface PullOptions {
  plainHttp?: boolean;
  credentials?: Credentials;
  tls?: RegistryTls;
  /** WasmPlugin.sha256: 64 hex digits the manifest digest must equal. */
  expectedSha256?: string;
  retry?: RetryPolicy;
  timeoutMs?: number;
}

export async function pullModule(ref: ImageReference, options: PullOptions = {}): Promise<PulledModule> {
  const client = new RegistryClient(ref, {
    plainHttp: options.plainHttp,
    credentials: options.credentials,
    tls: options.tls,
    scopes: [repositoryScope(ref.repository, ["pull"])],
    retry: options.retry,
    timeoutMs: options.timeoutMs,
  });
  const where = `${ref.registry}/${ref.repository}`;
  const reference = ref.digest ?? ref.tag ?? "latest";
  const response = await client.request("GET", client.url(`manifests/${reference}`), {
    headers: { accept: ACCEPTED_MANIFESTS },
  });
  if (response.status !== 200) {
    throw new RegistryError(
      `could not fetch manifest ${where}:${reference}: ${describeResponse(response)}`,
      response.status,
    );
  }
  const digest = sha256Digest(response.body);
  if (ref.digest && ref.digest !== digest)
    throw new Error(`${where}: asked for ${ref.digest}, the registry sent ${digest}`);
  const contentType = response.headers["content-type"];
  const manifest = parseManifest(response.body, contentType, `${where}:${reference}`);
  const hex = digest.slice("sha256:".length);
  if (options.expectedSha256 !== undefined && options.expectedSha256 !== hex) {
    throw new Error(
      `module downloaded from oci://${where}:${reference} has checksum ${hex}, which does not match: ${options.expectedSha256}`,
    );
  }

  const fetchBlob: FetchBlob = async (descriptor) => {
    const blob = await client.request("GET", client.url(`blobs/${descriptor.digest}`));
    if (blob.status !== 200) {
      throw new RegistryError(`blob ${descriptor.digest}: ${describeResponse(blob)}`, blob.status);
    }
    if (sha256Digest(blob.body) !== descriptor.digest)
      throw new Error(`blob ${descriptor.digest}: content does not match its digest`);
    return new Uint8Array(blob.body);
  };
  const { format, module } = await extractModule(manifest, fetchBlob);
  if (!isWasmModule(module))
    throw new Error(`fetched Wasm binary from oci://${where}:${reference} is invalid (no \\0asm header)`);
  return { digest, format, module, manifest };
}
