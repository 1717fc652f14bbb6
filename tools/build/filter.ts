import { createHash } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";

export interface BuiltModule {
  target: "release" | "debug";
  file: string;
  size: number;
  sha256: string;
}

/** Compiles one asconfig.json target; returns where it went and what it hashes to. */
async function compileTarget(root: string, target: BuiltModule["target"]): Promise<BuiltModule> {
  const output: string[] = [];
  // Imported on demand: asc reads process.argv when loaded and is heavy; only `build` needs it.
  const { default: asc } = await import("assemblyscript/asc");
  const stream = { write: (chunk: string | Uint8Array) => output.push(String(chunk)) };
  const { error } = await asc.main(
    ["--config", path.join(root, "asconfig.json"), "--target", target, "--baseDir", root],
    { stdout: stream, stderr: stream },
  );
  if (error) {
    throw new Error(`AssemblyScript ${target} build failed:\n${output.join("")}${error.message}`);
  }
  const config = JSON.parse(await readFile(path.join(root, "asconfig.json"), "utf8")) as {
    targets: Record<string, { outFile: string }>;
  };
  const file = path.join(root, config.targets[target]!.outFile);
  const bytes = await readFile(file);
  return { target, file, size: bytes.length, sha256: createHash("sha256").update(bytes).digest("hex") };
}

/** Builds the release module (build/filter.wasm) and the debug module beside it. */
export async function buildFilter(root: string): Promise<BuiltModule[]> {
  await mkdir(path.join(root, "build"), { recursive: true });
  const release = await compileTarget(root, "release");
  const debug = await compileTarget(root, "debug");
  return [release, debug];
}
