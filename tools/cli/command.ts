import type { FlagSpec } from "./args.js";
import { existsSync, readFileSync } from "node:fs";
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

/** kwt's version: the checkout's package.json version. */
export function kwtVersion(): string {
  const manifest = JSON.parse(readFileSync(path.join(projectRoot(), "package.json"), "utf8")) as {
    version?: unknown;
  };
  return typeof manifest.version === "string" ? manifest.version : "unknown";
}

/** One `kwt <name>` command: `run` returns the process exit code. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Every flag it takes (also what shell completion offers). */
  flags: FlagSpec;
  run(argv: string[]): Promise<number>;
}

/** Exit codes scripts can rely on, the same in every command (docs/cli.md). */
export const EXIT_OK = 0;
/** The input (a file, a module, a cluster, a registry) failed; the message says what to do. */
export const EXIT_FAILURE = 1;
/** The command line itself is wrong. */
export const EXIT_USAGE = 2;

/** A file or value kwt was given that cannot be used (unreadable, not JSON, ...): exit 1, not 2. */
export class InputError extends Error {}
