import { createHash } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { staticObjectTransform } from "./static-headers.js";

export interface BuiltModule {
  target: "release" | "debug";
  file: string;
  size: number;
  sha256: string;
}

/** The filter's entry file; other modules (the benchmark floors) compile with the same options. */
export const FILTER_ENTRY = "assembly/index.ts";

/**
 * Compiles `entry` with one asconfig.json target's options and the static-headers transform (so a
 * bare `asc --config asconfig.json` makes a larger module than this); `outFile` (relative to the
 * checkout) replaces the target's output. Returns where it went and what it hashes to.
 */
export async function compileModule(
  root: string,
  entry: string,
  target: BuiltModule["target"],
  outFile?: string,
): Promise<BuiltModule> {
  const output: string[] = [];
  // Imported on demand: asc reads process.argv when loaded and is heavy; only `build` needs it.
  const { default: asc } = await import("assemblyscript/asc");
  const stream = { write: (chunk: string | Uint8Array) => output.push(String(chunk)) };
  const { error } = await asc.main(
    [
      entry,
      "--config",
      path.join(root, "asconfig.json"),
      "--target",
      target,
      "--baseDir",
      root,
      ...(outFile ? ["--outFile", outFile] : []),
    ],
    { stdout: stream, stderr: stream, transforms: [staticObjectTransform()] },
  );
  if (error) {
    throw new Error(`AssemblyScript ${target} build failed:\n${output.join("")}${error.message}`);
  }
  const config = JSON.parse(await readFile(path.join(root, "asconfig.json"), "utf8")) as {
    targets: Record<string, { outFile: string }>;
  };
  const file = path.join(root, outFile ?? config.targets[target]!.outFile);
  const bytes = await readFile(file);
  return { target, file, size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
}

/** Builds the release module (build/filter.wasm) and the debug module beside it. */
export async function buildFilter(root: string): Promise<BuiltModule[]> {
  await mkdir(path.join(root, "build"), { recursive: true });
  const release = await compileModule(root, FILTER_ENTRY, "release");
  const debug = await compileModule(root, FILTER_ENTRY, "debug");
  return [release, debug];
}
