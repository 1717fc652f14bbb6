// `npm run build` must be reproducible: the same sources give the same bytes, so the digest a
// WasmPlugin pins can be rebuilt and checked by anyone.

import { createHash } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { compileModule, FILTER_ENTRY } from "./filter.js";

const root = path.resolve(import.meta.dirname, "../..");
const outFile = `build/reproducibility-${process.pid}.wasm`;

afterAll(async () => {
  await rm(path.join(root, outFile), { force: true });
});

it("compiles the release module to the same bytes as build/filter.wasm", async () => {
  const rebuilt = await compileModule(root, FILTER_ENTRY, "release", outFile);
  const published = await readFile(path.join(root, "build/filter.wasm"));
  expect(rebuilt.size).toBe(published.length);
  expect(rebuilt.sha256).toBe(createHash("sha256").update(published).digest("hex"));
  expect([...(await readFile(rebuilt.file)).subarray(0, 4)]).toEqual([0x00, 0x61, 0x73, 0x6d]);
}, 120_000);
