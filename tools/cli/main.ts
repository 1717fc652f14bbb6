import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { buildFilter } from "../build/filter.js";

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

const USAGE = `kwt: build, package, push and deploy the knative-wasm-telemetry filter

Usage: kwt <command> [options]

Commands:
  build     compile build/filter.wasm (release) and build/filter.debug.wasm; print size and sha256

Run 'kwt <command> --help' for a command's options.`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === "--help" || command === "-h") {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  switch (command) {
    case "build": {
      if (rest.includes("--help")) {
        console.log("Usage: kwt build\n\nCompiles the release and debug modules into build/.");
        return 0;
      }
      const root = projectRoot();
      for (const built of await buildFilter(root)) {
        console.log(
          `${built.target.padEnd(7)} ${path.relative(root, built.file)}  ${built.size} bytes  sha256:${built.sha256}`,
        );
      }
      return 0;
    }
    default:
      console.error(`kwt: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}
