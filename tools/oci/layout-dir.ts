/** Writing an OCI image layout (the files from layoutFiles) to a directory. */
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Descriptor, LayoutFile } from "./layout.js";

/** The manifests an existing layout's index.json lists (none when `dir` holds no layout yet). */
export async function readLayoutManifests(dir: string): Promise<Descriptor[]> {
  const file = path.join(dir, "index.json");
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  let index: { manifests?: unknown };
  try {
    index = JSON.parse(text) as { manifests?: unknown };
  } catch {
    throw new Error(`${file} is not JSON: fix or remove the layout, or choose another --out`);
  }
  return Array.isArray(index.manifests) ? (index.manifests as Descriptor[]) : [];
}

/**
 * Writes `files` below `dir`. An existing layout is updated in place (blobs are content-addressed;
 * index.json is replaced by the one in `files`, which layoutFiles builds from the old one). Any other non-empty directory is refused
 * rather than mixed with unrelated files.
 */
export async function writeLayout(dir: string, files: readonly LayoutFile[]): Promise<void> {
  if (existsSync(dir)) {
    const entries = await readdir(dir);
    if (entries.length > 0 && !entries.includes("oci-layout")) {
      throw new Error(
        `${dir} exists and is not an OCI image layout (no oci-layout file); choose an empty or new --out directory`,
      );
    }
  }
  for (const file of files) {
    const target = path.join(dir, file.path);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, file.content);
  }
}
