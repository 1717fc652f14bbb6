/** Writing an OCI image layout (the files from layoutFiles) to a directory. */
import { existsSync } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { LayoutFile } from "./layout.js";

/**
 * Writes `files` below `dir`. An existing layout is updated in place (blobs are content-addressed;
 * index.json is replaced, so it names only this image). Any other non-empty directory is refused
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
