import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import wabtInit from "wabt";
import { describe, expect, it } from "vitest";
import { layoutFiles, MEDIA_TYPES, packageModule, sha256Digest, type ImageManifest } from "./layout.js";
import { readTar } from "./tar.js";

const wabt = await wabtInit();

function wat(text: string): Uint8Array {
  const parsed = wabt.parseWat("test.wat", text);
  try {
    return parsed.toBinary({}).buffer;
  } finally {
    parsed.destroy();
  }
}

const module = wat(`(module
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 0))
  (func (export "proxy_abi_version_0_1_0")))`);
const other = wat(`(module (func (export "proxy_abi_version_0_2_1")) (func (export "something_else")))`);

const decode = (bytes: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(bytes));
const hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

describe("packageModule, artifact format", () => {
  const image = packageModule(module, "artifact", "test.wasm");
  const manifest = decode(image.manifest) as ImageManifest;

  it("has two layers, the runtime config and the raw module, and the config as manifest config", () => {
    const runtimeConfig = new TextEncoder().encode(
      JSON.stringify({
        type: "envoy_proxy",
        abiVersions: ["proxy_abi_version_0_1_0", "proxy_abi_version_0_2_1"],
      }),
    );
    expect(manifest).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: {
        mediaType: MEDIA_TYPES.wasmConfig,
        digest: `sha256:${hex(runtimeConfig)}`,
        size: runtimeConfig.length,
      },
      layers: [
        {
          mediaType: MEDIA_TYPES.wasmConfig,
          digest: `sha256:${hex(runtimeConfig)}`,
          size: runtimeConfig.length,
          annotations: { "org.opencontainers.image.title": "runtime-config.json" },
        },
        {
          mediaType: MEDIA_TYPES.wasmContentLayer,
          digest: `sha256:${hex(module)}`,
          size: module.length,
          annotations: { "org.opencontainers.image.title": "plugin.wasm" },
        },
      ],
    });
    expect([...image.blobs.keys()]).toEqual([`sha256:${hex(runtimeConfig)}`, `sha256:${hex(module)}`]);
    expect(image.manifestDescriptor).toEqual({
      mediaType: MEDIA_TYPES.ociManifest,
      digest: `sha256:${hex(image.manifest)}`,
      size: image.manifest.length,
    });
  });

  it("gives the same bytes for the same module and another digest for another module", () => {
    const again = packageModule(module.slice(), "artifact", "elsewhere/renamed.wasm");
    expect(Buffer.from(again.manifest).equals(Buffer.from(image.manifest))).toBe(true);
    expect(packageModule(other, "artifact", "other.wasm").manifestDescriptor.digest).not.toBe(
      image.manifestDescriptor.digest,
    );
  });
});

describe("packageModule, compat format", () => {
  const image = packageModule(module, "compat", "test.wasm");
  const manifest = decode(image.manifest) as ImageManifest;
  const layer = image.blobs.get(manifest.layers[0]!.digest)!;
  const tar = gunzipSync(layer);

  it("has one OCI tar+gzip layer holding only plugin.wasm, and the compat annotation", () => {
    expect(manifest.layers.map((l) => l.mediaType)).toEqual([MEDIA_TYPES.ociLayerTarGzip]);
    expect(manifest.layers[0]!.size).toBe(layer.length);
    expect(manifest.annotations).toEqual({ "module.wasm.image/variant": "compat" });
    expect(readTar(tar).map((f) => [f.name, Buffer.from(f.content).equals(Buffer.from(module))])).toEqual([
      ["plugin.wasm", true],
    ]);
  });

  it("has an OCI image config whose diff_id is the uncompressed tar's digest", () => {
    expect(manifest.config.mediaType).toBe(MEDIA_TYPES.ociImageConfig);
    expect(decode(image.blobs.get(manifest.config.digest)!)).toEqual({
      architecture: "wasm",
      os: "wasip1",
      config: {},
      rootfs: { type: "layers", diff_ids: [`sha256:${hex(tar)}`] },
    });
  });

  it("gives the same layer and manifest for the same module", () => {
    const again = packageModule(module.slice(), "compat", "x.wasm");
    expect(again.manifestDescriptor.digest).toBe(image.manifestDescriptor.digest);
    expect(again.manifestDescriptor.digest).not.toBe(
      packageModule(module, "artifact", "x").manifestDescriptor.digest,
    );
  });
});

describe("packageModule refuses what istio-agent would refuse", () => {
  it.each([
    [
      "a text file",
      new TextEncoder().encode("not wasm at all"),
      "bad.wasm is not a Wasm module (it must start with \\0asm",
    ],
    ["a short header", new Uint8Array([0, 0x61, 0x73, 0x6d]), "bad.wasm is not a Wasm module"],
    [
      "a broken module",
      new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0x99]),
      "bad.wasm is not a valid Wasm module",
    ],
  ])("%s", (_, bytes, message) => {
    expect(() => packageModule(bytes, "artifact", "bad.wasm")).toThrow(message);
    expect(() => packageModule(bytes, "compat", "bad.wasm")).toThrow(message);
  });
});

describe("layoutFiles", () => {
  const image = packageModule(module, "artifact", "test.wasm");

  it("lists oci-layout, an index naming the manifest, and every blob under blobs/sha256", () => {
    const files = layoutFiles(image, "v1.2.3");
    expect(files.map((f) => f.path)).toEqual([
      "oci-layout",
      "index.json",
      ...[image.manifestDescriptor.digest, ...image.blobs.keys()].map((d) => `blobs/sha256/${d.slice(7)}`),
    ]);
    expect(decode(files[0]!.content)).toEqual({ imageLayoutVersion: "1.0.0" });
    expect(decode(files[1]!.content)).toEqual({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [
        { ...image.manifestDescriptor, annotations: { "org.opencontainers.image.ref.name": "v1.2.3" } },
      ],
    });
    for (const file of files.slice(2)) expect(sha256Digest(file.content).slice(7)).toBe(blobHex(file.path));
  });

  it("refuses a name that is not a valid tag", () => {
    expect(() => layoutFiles(image, "-bad")).toThrow("tag '-bad' is not valid (letters, digits");
  });
});

function blobHex(p: string): string {
  return p.slice("blobs/sha256/".length);
}
