import path from "node:path";
import { noPositionals, parseArgs } from "./args.js";
import { buildFilter } from "../build/filter.js";
import { EXIT_OK, projectRoot, type Command } from "./command.js";

export const buildCommand: Command = {
  name: "build",
  summary: "compile build/filter.wasm (release) and build/filter.debug.wasm; print size and sha256",
  usage:
    "Usage: kwt build\n\nCompiles the release module to build/filter.wasm and a debug build beside it,\nthen prints each file's size and sha256. Same sources, same bytes.",
  flags: {},
  async run(argv) {
    noPositionals(parseArgs(argv, this.flags));
    const root = projectRoot();
    for (const built of await buildFilter(root)) {
      console.log(
        `${built.target.padEnd(7)} ${path.relative(root, built.file)}  ${built.size} bytes  sha256:${built.sha256}`,
      );
    }
    return EXIT_OK;
  },
};
