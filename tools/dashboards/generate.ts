/**
 * Writes the generated monitoring files: the Grafana dashboard and both forms of the alert rules.
 * Tests check the committed files equal this output, so run it after changing the generators:
 *
 *   npx vite-node tools/dashboards/generate.ts
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { GENERATED_FILES } from "./generated-files.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
for (const file of GENERATED_FILES) {
  mkdirSync(path.dirname(path.join(root, file.path)), { recursive: true });
  writeFileSync(path.join(root, file.path), file.render());
  console.log(`wrote ${file.path}`);
}
