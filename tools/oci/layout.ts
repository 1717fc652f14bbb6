/**
 * Pure building of the OCI image that carries the filter, in either format istio-agent accepts
 * (see pkg/wasm/imagefetcher.go in istio/istio), and of the OCI image layout on disk.
 * Everything here is a function of the module bytes: no clocks, no host names, fixed key order.
 */
import { createHash } from "node:crypto";
import { gzipStored } from "./gzip.js";
import { TAG, TAG_RULE } from "./reference.js";
import { writeTar } from "./tar.js";

export const MEDIA_TYPES = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociImageConfig: "application/vnd.oci.image.config.v1+json",
  ociLayerTarGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerLayerTarGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  wasmConfig: "application/vnd.module.wasm.config.v1+json",
  wasmContentLayer: "application/vnd.module.wasm.content.layer.v1+wasm",
} as const;

/** The file name istio-agent looks for inside a compat layer. */
export const COMPAT_MODULE_FILE = "plugin.wasm";

/**
 * artifact: the raw module as its own layer plus a JSON runtime-config layer (the "oci" variant
 * of the solo-io Wasm image spec). compat: one gzip'd tar layer holding plugin.wasm, a plain
 * container image that every registry and container tool handles.
 */
export const PACKAGE_FORMATS = ["artifact", "compat"] as const;
export type PackageFormat = (typeof PACKAGE_FORMATS)[number];
export const DEFAULT_PACKAGE_FORMAT: PackageFormat = "artifact";

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface PackagedImage {
  format: PackageFormat;
  /** The manifest exactly as stored and pushed: its sha256 is the digest WasmPlugin.sha256 holds. */
  manifest: Uint8Array;
  manifestDescriptor: Descriptor;
  /** Config and layer blobs by digest, each once (the artifact format uses one blob twice). */
  blobs: Map<string, Uint8Array>;
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

function describe(mediaType: string, bytes: Uint8Array, annotations?: Record<string, string>): Descriptor {
  return {
    mediaType,
    digest: sha256Digest(bytes),
    size: bytes.length,
    ...(annotations ? { annotations } : {}),
  };
}

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

/** istio-agent's own check on a fetched module: at least the 8-byte header, starting with \0asm. */
export function isWasmModule(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && WASM_MAGIC.every((byte, i) => bytes[i] === byte);
}

/** The proxy_abi_version_* exports, which tell a runtime which Proxy-Wasm ABI the module speaks. */
function proxyAbiVersions(module: Uint8Array, source: string): string[] {
  let compiled: WebAssembly.Module;
  try {
    compiled = new WebAssembly.Module(new Uint8Array(module));
  } catch (error) {
    throw new Error(`${source} is not a valid Wasm module: ${(error as Error).message}`);
  }
  return WebAssembly.Module.exports(compiled)
    .map((e) => e.name)
    .filter((name) => name.startsWith("proxy_abi_version_"))
    .sort();
}

function artifactParts(module: Uint8Array, source: string) {
  const runtimeConfig = jsonBytes({ type: "envoy_proxy", abiVersions: proxyAbiVersions(module, source) });
  const config = describe(MEDIA_TYPES.wasmConfig, runtimeConfig);
  // istio-agent requires exactly two layers and takes the one with the content media type; the
  // runtime config is both the manifest config and the second layer, stored once.
  const layers = [
    describe(MEDIA_TYPES.wasmConfig, runtimeConfig, {
      "org.opencontainers.image.title": "runtime-config.json",
    }),
    describe(MEDIA_TYPES.wasmContentLayer, module, { "org.opencontainers.image.title": COMPAT_MODULE_FILE }),
  ];
  return { config, layers, blobs: [runtimeConfig, module], annotations: undefined };
}

function compatParts(module: Uint8Array, source: string) {
  proxyAbiVersions(module, source);
  const tar = writeTar([{ name: COMPAT_MODULE_FILE, content: module }]);
  const layer = gzipStored(tar);
  // A complete OCI image config so container tools accept the image; the platform follows the
  // CNCF Wasm OCI artifact convention rather than pretending to be a Linux image.
  const imageConfig = jsonBytes({
    architecture: "wasm",
    os: "wasip1",
    config: {},
    rootfs: { type: "layers", diff_ids: [sha256Digest(tar)] },
  });
  return {
    config: describe(MEDIA_TYPES.ociImageConfig, imageConfig),
    layers: [describe(MEDIA_TYPES.ociLayerTarGzip, layer)],
    blobs: [imageConfig, layer],
    annotations: { "module.wasm.image/variant": "compat" },
  };
}

function formatParts(module: Uint8Array, format: PackageFormat, source: string) {
  switch (format) {
    case "artifact":
      return artifactParts(module, source);
    case "compat":
      return compatParts(module, source);
    default: {
      // A format added to PACKAGE_FORMATS without a case here fails type-checking (the `never`),
      // instead of building as another format; the throw covers callers that skip the types.
      const unknown: never = format;
      throw new Error(
        `package format '${String(unknown)}' has no layout (expected one of ${PACKAGE_FORMATS.join(", ")})`,
      );
    }
  }
}

/** The image for `module` in `format`; `source` names the module in errors. */
export function packageModule(module: Uint8Array, format: PackageFormat, source: string): PackagedImage {
  if (!isWasmModule(module)) {
    throw new Error(`${source} is not a Wasm module (it must start with \\0asm and be at least 8 bytes)`);
  }
  const parts = formatParts(module, format, source);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: parts.config,
    layers: parts.layers,
    ...(parts.annotations ? { annotations: parts.annotations } : {}),
  };
  const manifestBytes = jsonBytes(manifest);
  const blobs = new Map<string, Uint8Array>();
  for (const blob of parts.blobs) blobs.set(sha256Digest(blob), blob);
  return {
    format,
    manifest: manifestBytes,
    manifestDescriptor: describe(MEDIA_TYPES.ociManifest, manifestBytes),
    blobs,
  };
}

export interface LayoutFile {
  path: string;
  content: Uint8Array;
}

export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";

/**
 * The files of an OCI image layout holding `image` under the name `refName`. `previous` are the
 * index entries of the layout already there: they stay, except one that had this name.
 */
export function layoutFiles(
  image: PackagedImage,
  refName: string,
  previous: readonly Descriptor[] = [],
): LayoutFile[] {
  // ref.name may be wider than a tag; a tag keeps `skopeo copy oci:DIR:NAME docker://...:NAME` working.
  if (!TAG.test(refName)) {
    throw new Error(`tag '${refName}' is not valid (${TAG_RULE})`);
  }
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociIndex,
    manifests: [
      ...previous.filter((entry) => entry.annotations?.[REF_NAME_ANNOTATION] !== refName),
      { ...image.manifestDescriptor, annotations: { [REF_NAME_ANNOTATION]: refName } },
    ],
  };
  const blobFile = (digest: string, content: Uint8Array): LayoutFile => ({
    path: `blobs/sha256/${digest.slice("sha256:".length)}`,
    content,
  });
  return [
    { path: "oci-layout", content: jsonBytes({ imageLayoutVersion: "1.0.0" }) },
    { path: "index.json", content: jsonBytes(index) },
    blobFile(image.manifestDescriptor.digest, image.manifest),
    ...[...image.blobs].map(([digest, content]) => blobFile(digest, content)),
  ];
}
