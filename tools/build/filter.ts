import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Transform } from "assemblyscript/asc";
import { inlineSmallFunctions } from "./inlining.js";
import { staticObjectTransform } from "./static-headers.js";

export interface BuiltModule {
  target: "release" | "debug";
  file: string;
  size: number;
  sha256: string;
}

/** The filter's entry file; other modules (the benchmark floors) compile with the same options. */
export const FILTER_ENTRY = "assembly/index.ts";

/** What the build reads of an asconfig.json target. */
interface TargetOptions {
  outFile: string;
  optimizeLevel?: number;
  shrinkLevel?: number;
  runPasses?: string[];
}

/**
 * Compiles `entry` with one asconfig.json target's options and the static-headers transform (so a
 * bare `asc --config asconfig.json` makes a larger module than this); an optimised target's module
 * then has its small functions inlined (inlining.ts). `outFile` (relative to the checkout) replaces
 * the target's output. Returns where it went and what it hashes to.
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
  let features: number | undefined;
  const featuresRecorder = {
    afterCompile(module: { getFeatures(): number }): void {
      features = module.getFeatures();
    },
  } as unknown as Transform;
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
    { stdout: stream, stderr: stream, transforms: [staticObjectTransform(), featuresRecorder] },
  );
  if (error) {
    throw new Error(`AssemblyScript ${target} build failed:\n${output.join("")}${error.message}`);
  }
  const config = JSON.parse(await readFile(path.join(root, "asconfig.json"), "utf8")) as {
    targets: Record<string, TargetOptions>;
  };
  const options = config.targets[target]!;
  const file = path.join(root, outFile ?? options.outFile);
  let bytes: Uint8Array = await readFile(file);
  if ((options.optimizeLevel ?? 0) > 0) {
    const { default: binaryen } = await import("assemblyscript/binaryen");
    bytes = inlineSmallFunctions(binaryen, bytes, {
      features: features!,
      optimizeLevel: options.optimizeLevel!,
      shrinkLevel: options.shrinkLevel ?? 0,
      passes: options.runPasses ?? [],
    });
    await writeFile(file, bytes);
  }
  return { target, file, size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
}

/** Builds the release module (build/filter.wasm) and the debug module beside it. */
export async function buildFilter(root: string): Promise<BuiltModule[]> {
  await mkdir(path.join(root, "build"), { recursive: true });
  const release = await compileModule(root, FILTER_ENTRY, "release");
  const debug = await compileModule(root, FILTER_ENTRY, "debug");
  return [release, debug];
}
