#!/usr/bin/env node
import { main } from "./cli/main.js";

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`kwt: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
