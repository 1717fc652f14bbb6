import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The checkout kwt runs from, found upwards from this file (bundled in dist/ or as source in tools/cli/). */
export function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, "asconfig.json"))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error("cannot find the project checkout (asconfig.json) above kwt");
    dir = parent;
  }
  return dir;
}

/** One `kwt <name>` command: `run` returns the process exit code. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

/** Exit codes scripts can rely on. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
