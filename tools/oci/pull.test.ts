import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repositoryScope } from "./auth.js";
import { gzipStored } from "./gzip.js";
import { MEDIA_TYPES, packageModule, sha256Digest, type Descriptor, type ImageManifest } from "./layout.js";
import { extractModule, pullModule } from "./pull.js";
import { parseReference } from "./reference.js";
import { RegistryClient } from "./registry-client.js";
import { writeTar } from "./tar.js";
import { startRegistry, type RunningRegistry } from "../testing/oci/registry.js";

const run = promisify(execFile);
const wasm = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);

/** An in-memory image: blobs by digest and a manifest over them. */
function image(mediaType: string | undefined, layers: [string, Uint8Array][]) {
  const blobs = new Map<string, Uint8Array>();
  const describe = (type: string, bytes: Uint8Array): Descriptor => {
    blobs.set(sha256Digest(bytes), bytes);
    return { mediaType: type, digest: sha256Digest(bytes), size: bytes.length };
  };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    ...(mediaType ? { mediaType } : {}),
    config: describe(MEDIA_TYPES.ociImageConfig, new TextEncoder().encode("{}")),
    layers: layers.map(([type, bytes]) => describe(type, bytes)),
  };
  const fetchBlob = async (d: Descriptor) => blobs.get(d.digest)!;
  return { manifest, fetchBlob, blobs };
}

const compatLayer = (name = "plugin.wasm", content = wasm) => gzipSync(writeTar([{ name, content }]));
const plainTar = writeTar([{ name: "plugin.wasm", content: wasm }]);

describe("extractModule follows istio-agent's detection order", () => {
  it("takes a Docker manifest's last layer as a Docker tar+gzip", async () => {
    const { manifest, fetchBlob } = image(MEDIA_TYPES.dockerManifest, [
      [MEDIA_TYPES.dockerLayerTarGzip, compatLayer("other")],
      [MEDIA_TYPES.dockerLayerTarGzip, compatLayer()],
    ]);
    expect(await extractModule(manifest, fetchBlob)).toEqual({ format: "docker", module: wasm });
  });

  it("refuses a Docker manifest whose last layer has an OCI media type, without trying other formats", async () => {
    const { manifest, fetchBlob } = image(MEDIA_TYPES.dockerManifest, [
      [MEDIA_TYPES.ociLayerTarGzip, compatLayer()],
    ]);
    await expect(extractModule(manifest, fetchBlob)).rejects.toThrow(
      `could not extract Wasm file from the image as Docker container: invalid media type ${MEDIA_TYPES.ociLayerTarGzip} (expect ${MEDIA_TYPES.dockerLayerTarGzip})`,
    );
  });

  it("reads compat before artifact and finds plugin.wasm in a subdirectory", async () => {
    const { manifest, fetchBlob } = image(MEDIA_TYPES.ociManifest, [
      [MEDIA_TYPES.wasmContentLayer, new Uint8Array([9, 9, 9, 9, 9, 9, 9, 9])],
      [MEDIA_TYPES.ociLayerTarGzip, compatLayer("./sub/plugin.wasm")],
    ]);
    expect(await extractModule(manifest, fetchBlob)).toEqual({ format: "compat", module: wasm });
  });

  it("falls back to the artifact format when the last layer is not a tar+gzip", async () => {
    const { manifest, fetchBlob } = image(undefined, [
      [MEDIA_TYPES.wasmContentLayer, wasm],
      [MEDIA_TYPES.wasmConfig, new TextEncoder().encode("{}")],
    ]);
    expect(await extractModule(manifest, fetchBlob)).toEqual({ format: "artifact", module: wasm });
  });

  it.each<[string, [string, Uint8Array][], string]>([
    [
      "an uncompressed tar layer",
      [[MEDIA_TYPES.ociLayerTarGzip.replace("+gzip", ""), plainTar]],
      `as compat: invalid media type application/vnd.oci.image.layer.v1.tar (expect ${MEDIA_TYPES.ociLayerTarGzip}); as artifact: number of layers must be 2 but got 1`,
    ],
    [
      "a tar+gzip without plugin.wasm",
      [[MEDIA_TYPES.ociLayerTarGzip, compatLayer("module.wasm")]],
      "as compat: plugin.wasm not found in the archive; as artifact: number of layers must be 2 but got 1",
    ],
    [
      "a tar+gzip layer that is not gzip",
      [[MEDIA_TYPES.ociLayerTarGzip, plainTar]],
      "as compat: failed to parse layer as tar.gz: incorrect header check",
    ],
    [
      "three artifact layers",
      [
        [MEDIA_TYPES.wasmConfig, wasm],
        [MEDIA_TYPES.wasmContentLayer, wasm],
        [MEDIA_TYPES.wasmConfig, wasm.slice(1)],
      ],
      "as artifact: number of layers must be 2 but got 3",
    ],
    [
      "two layers without the content media type",
      [
        [MEDIA_TYPES.wasmConfig, wasm],
        ["application/octet-stream", wasm],
      ],
      `as artifact: could not find the layer of type ${MEDIA_TYPES.wasmContentLayer}`,
    ],
  ])("refuses %s, saying why for each format", async (_, layers, message) => {
    const { manifest, fetchBlob } = image(MEDIA_TYPES.ociManifest, layers);
    await expect(extractModule(manifest, fetchBlob)).rejects.toThrow(message);
  });

  it("reads a layer made by GNU tar and gzip", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "kwt-pull-"));
    try {
      await mkdir(path.join(dir, "in"));
      await writeFile(path.join(dir, "in", "plugin.wasm"), wasm);
      await run("tar", ["-czf", path.join(dir, "layer.tgz"), "-C", path.join(dir, "in"), "."]);
      const { manifest, fetchBlob } = image(MEDIA_TYPES.ociManifest, [
        [MEDIA_TYPES.ociLayerTarGzip, await readFile(path.join(dir, "layer.tgz"))],
      ]);
      expect(await extractModule(manifest, fetchBlob)).toEqual({ format: "compat", module: wasm });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("pullModule against docker-registry", () => {
  let registry: RunningRegistry;
  let client: RegistryClient;
  beforeAll(async () => {
    registry = await startRegistry();
    const ref = parseReference(`${registry.host}/kwt/handmade`);
    client = new RegistryClient(ref, { scopes: [repositoryScope(ref.repository, ["pull", "push"])] });
  });
  afterAll(() => registry.stop());

  /** Uploads blobs and a manifest by hand (monolithic POST+PUT), bypassing pushImage. */
  async function putByHand(
    blobs: Map<string, Uint8Array>,
    manifest: Uint8Array,
    mediaType: string,
    tag: string,
  ) {
    for (const [digest, content] of blobs) {
      const start = await client.request("POST", client.url("blobs/uploads/"));
      const target = new URL(String(start.headers.location), start.url);
      target.searchParams.set("digest", digest);
      expect((await client.request("PUT", target, { body: content })).status).toBe(201);
    }
    const put = await client.request("PUT", client.url(`manifests/${tag}`), {
      headers: { "content-type": mediaType },
      body: manifest,
    });
    expect(put.status).toBe(201);
  }

  it("pulls a Docker schema 2 compat image and reports the manifest digest", async () => {
    const layer = gzipStored(writeTar([{ name: "plugin.wasm", content: wasm }]));
    const config = new TextEncoder().encode(
      '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
    );
    const manifest = new TextEncoder().encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.dockerManifest,
        config: {
          mediaType: "application/vnd.docker.container.image.v1+json",
          digest: sha256Digest(config),
          size: config.length,
        },
        layers: [
          { mediaType: MEDIA_TYPES.dockerLayerTarGzip, digest: sha256Digest(layer), size: layer.length },
        ],
      }),
    );
    const blobs = new Map([
      [sha256Digest(config), config],
      [sha256Digest(layer), layer],
    ]);
    await putByHand(blobs, manifest, MEDIA_TYPES.dockerManifest, "docker");
    const pulled = await pullModule(parseReference(`${registry.host}/kwt/handmade:docker`));
    expect(pulled).toMatchObject({ digest: sha256Digest(manifest), format: "docker", module: wasm });
    const byDigest = await pullModule(
      parseReference(`${registry.host}/kwt/handmade@${sha256Digest(manifest)}`),
    );
    expect(byDigest.digest).toBe(sha256Digest(manifest));
  });

  it("says what the registry answered for a missing tag", async () => {
    await expect(pullModule(parseReference(`${registry.host}/kwt/handmade:nope`))).rejects.toThrow(
      `could not fetch manifest ${registry.host}/kwt/handmade:nope: 404 MANIFEST_UNKNOWN: manifest unknown`,
    );
  });

  it("refuses an image index and a module without the Wasm header", async () => {
    const packaged = packageModule(wasm, "artifact", "w");
    await putByHand(packaged.blobs, packaged.manifest, MEDIA_TYPES.ociManifest, "single");
    const index = new TextEncoder().encode(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.ociIndex,
        manifests: [packaged.manifestDescriptor],
      }),
    );
    await putByHand(new Map(), index, MEDIA_TYPES.ociIndex, "index");
    await expect(pullModule(parseReference(`${registry.host}/kwt/handmade:index`))).rejects.toThrow(
      `${registry.host}/kwt/handmade:index is an image index; push a single manifest`,
    );

    const notWasm = new TextEncoder().encode("#!/bin/sh\necho not wasm\n");
    const bad = image(MEDIA_TYPES.ociManifest, [
      [MEDIA_TYPES.ociLayerTarGzip, compatLayer("plugin.wasm", notWasm)],
    ]);
    await putByHand(
      bad.blobs,
      new TextEncoder().encode(JSON.stringify(bad.manifest)),
      MEDIA_TYPES.ociManifest,
      "bad",
    );
    await expect(pullModule(parseReference(`${registry.host}/kwt/handmade:bad`))).rejects.toThrow(
      `fetched Wasm binary from oci://${registry.host}/kwt/handmade:bad is invalid (no \\0asm header)`,
    );
  });
});
