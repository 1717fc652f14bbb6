import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile, mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readTar, writeTar } from "./tar.js";

const run = promisify(execFile);
let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), "kwt-tar-"));
});
afterAll(() => rm(scratch, { recursive: true, force: true }));

const content = new Uint8Array(1000).map((_, i) => (i * 7) % 256);

describe("writeTar", () => {
  it("writes an archive GNU tar lists with fixed owner, mode and time and extracts byte for byte", async () => {
    const file = path.join(scratch, "one.tar");
    await writeFile(file, writeTar([{ name: "plugin.wasm", content }]));
    const { stdout } = await run("tar", ["--list", "--verbose", "--numeric-owner", "--utc", "--file", file]);
    expect(stdout).toBe("-rw-r--r-- 0/0            1000 1970-01-01 00:00 plugin.wasm\n");
    const extracted = (await run("tar", ["--extract", "--to-stdout", "--file", file], { encoding: "buffer" }))
      .stdout;
    expect(extracted.equals(Buffer.from(content))).toBe(true);
  });

  it("pads each file to 512-byte blocks and ends with two zero blocks", () => {
    const archive = writeTar([{ name: "a", content: new Uint8Array(513) }]);
    expect(archive.length).toBe(512 + 1024 + 1024);
    expect(archive.subarray(512 + 1024).every((b) => b === 0)).toBe(true);
  });

  it("refuses names a ustar header cannot hold", () => {
    expect(() => writeTar([{ name: "x".repeat(101), content }])).toThrow(
      "must be a relative name of 1 to 100",
    );
    expect(() => writeTar([{ name: "/abs", content }])).toThrow("must be a relative name");
  });
});

describe("readTar", () => {
  it("reads what GNU tar writes, joining directories and skipping non-files", async () => {
    const dir = path.join(scratch, "tree");
    await mkdir(path.join(dir, "sub"), { recursive: true });
    await writeFile(path.join(dir, "sub", "plugin.wasm"), content);
    await writeFile(path.join(dir, "readme"), "hi");
    const file = path.join(scratch, "gnu.tar");
    await run("tar", ["--create", "--format=ustar", "--file", file, "-C", dir, "./readme", "./sub"]);
    const files = readTar(await readFile(file));
    expect(files.map((f) => [f.name, f.content.length])).toEqual([
      ["./readme", 2],
      ["./sub/plugin.wasm", 1000],
    ]);
    expect(Buffer.from(files[1]!.content).equals(Buffer.from(content))).toBe(true);
  });

  it("round-trips its own writer and rejects a corrupted header", () => {
    const archive = writeTar([
      { name: "first", content: new Uint8Array([1, 2, 3]) },
      { name: "plugin.wasm", content },
    ]);
    expect(readTar(archive).map((f) => [f.name, Array.from(f.content.subarray(0, 3))])).toEqual([
      ["first", [1, 2, 3]],
      ["plugin.wasm", [0, 7, 14]],
    ]);
    archive[0] = "g".charCodeAt(0);
    expect(() => readTar(archive)).toThrow("header at offset 0 has a bad checksum");
  });
});
