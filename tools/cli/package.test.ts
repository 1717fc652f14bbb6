import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runKwt } from "../testing/kwt-cli.js";

let scratch: string;
const env = () => ({ HOME: scratch });
beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), "kwt-package-cli-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function manifestOf(layout: string, digest: string): Promise<Buffer> {
  return readFile(path.join(layout, "blobs", "sha256", digest.slice("sha256:".length)));
}

describe("kwt package", () => {
  it.each(["artifact", "compat"])(
    "writes a %s layout and prints its manifest digest, the same on every run",
    async (format) => {
      const first = path.join(scratch, `${format}-1`);
      const second = path.join(scratch, `${format}-2`);
      const one = await runKwt(["package", "--format", format, "--out", first, "--tag", "v1"], env());
      const two = await runKwt(["package", `--format=${format}`, "--out", second, "--tag", "v1"], env());
      expect(one.code).toBe(0);
      expect(one.stderr).toBe("");
      const digest = /^digest=(sha256:[0-9a-f]{64})$/m.exec(one.stdout)?.[1];
      expect(one.stdout).toBe(`layout=${first}\ndigest=${digest}\nsha256=${digest!.slice(7)}\n`);
      expect(two.stdout).toBe(one.stdout.replace(first, second));
      const manifest = await manifestOf(first, digest!);
      expect(`sha256:${createHash("sha256").update(manifest).digest("hex")}`).toBe(digest);
      const index = JSON.parse(await readFile(path.join(first, "index.json"), "utf8")) as {
        manifests: { digest: string; annotations: Record<string, string> }[];
      };
      expect(
        index.manifests.map((m) => [m.digest, m.annotations["org.opencontainers.image.ref.name"]]),
      ).toEqual([[digest, "v1"]]);
    },
  );

  it("defaults to the artifact format", async () => {
    const out = path.join(scratch, "default");
    const result = await runKwt(["package", "--out", out], env());
    const digest = /^digest=(\S+)$/m.exec(result.stdout)![1]!;
    const manifest = JSON.parse((await manifestOf(out, digest)).toString()) as {
      layers: { mediaType: string }[];
    };
    expect(manifest.layers.map((l) => l.mediaType)).toEqual([
      "application/vnd.module.wasm.config.v1+json",
      "application/vnd.module.wasm.content.layer.v1+wasm",
    ]);
  });

  it("exits 2 with one line and a pointer to --help for a bad command line", async () => {
    const result = await runKwt(["package", "--format", "zip"], env());
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toBe(
      "kwt package: --format must be one of artifact, compat, got 'zip'\nsee 'kwt package --help'\n",
    );
    expect((await runKwt(["package", "--tag", ".x"], env())).stderr).toContain(
      "--tag '.x' is not a valid tag",
    );
    expect((await runKwt(["package", "extra"], env())).code).toBe(2);
  });

  it("exits 1 saying what to do when the module or the directory is wrong", async () => {
    const missing = path.join(scratch, "missing.wasm");
    const noModule = await runKwt(["package", "--wasm", missing, "--out", path.join(scratch, "x")], env());
    expect(noModule).toEqual({
      code: 1,
      stdout: "",
      stderr: `kwt package: cannot read ${missing} (ENOENT): check --wasm\n`,
    });
    const notWasm = path.join(scratch, "text.wasm");
    await writeFile(notWasm, "hello, world");
    const invalid = await runKwt(["package", "--wasm", notWasm, "--out", path.join(scratch, "y")], env());
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("is not a Wasm module (it must start with \\0asm");
    const occupied = path.join(scratch, "occupied");
    await mkdir(occupied);
    await writeFile(path.join(occupied, "notes.txt"), "mine");
    const refused = await runKwt(["package", "--out", occupied], env());
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `kwt package: ${occupied} exists and is not an OCI image layout (no oci-layout file); choose an empty or new --out directory\n`,
    );
  });

  it("--tag adds a name to an existing layout and keeps the others", async () => {
    const out = path.join(scratch, "tags");
    const v1 = await runKwt(["package", "--out", out, "--tag", "v1"], env());
    const v2 = await runKwt(["package", "--out", out, "--tag", "v2", "--format", "compat"], env());
    const again = await runKwt(["package", "--out", out, "--tag", "v1", "--format", "compat"], env());
    expect([v1.code, v2.code, again.code]).toEqual([0, 0, 0]);
    const digest = (result: { stdout: string }) => /^digest=(\S+)$/m.exec(result.stdout)![1];
    const index = JSON.parse(await readFile(path.join(out, "index.json"), "utf8")) as {
      manifests: { digest: string; annotations: Record<string, string> }[];
    };
    // v1 moved to the compat image; v2 kept; the artifact image's old v1 entry is gone
    expect(
      index.manifests.map((m) => [m.annotations["org.opencontainers.image.ref.name"], m.digest]),
    ).toEqual([
      ["v2", digest(v2)],
      ["v1", digest(again)],
    ]);
    expect(digest(v2)).toBe(digest(again));
  });

  it("refuses a Wasm module that is not a Proxy-Wasm module Envoy would load", async () => {
    const bare = path.join(scratch, "bare.wasm");
    await writeFile(bare, Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
    const result = await runKwt(["package", "--wasm", bare, "--out", path.join(scratch, "bare")], env());
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^kwt package: \S*bare\.wasm is not a Proxy-Wasm module Envoy would load: Missing or unknown Proxy-Wasm ABI version/,
    );
  });

  it("prints its help with exit 0", async () => {
    const result = await runKwt(["package", "--help"], env());
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: kwt package \[--format artifact\|compat\] \[--out DIR\]/);
  });
});
