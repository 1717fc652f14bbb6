/**
 * `npm run generate`: writes every generated file (generated-files.ts) from the metric catalog
 * (deploy/filter-metrics.json), the configuration schema (deploy/filter-config.schema.json) and the
 * dashboard and alert generators (tools/dashboards/). Run it after changing any of them; a test
 * fails while a committed file differs from what this writes.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { GENERATED_FILES, ROOT, readSources } from "./generated-files.js";

const sources = readSources();
for (const file of GENERATED_FILES) {
  const target = path.join(ROOT, file.path);
  let current = "";
  try {
    current = readFileSync(target, "utf8");
  } catch {
    // A whole generated file that does not exist yet.
  }
  const text = await file.render(sources, current);
  if (text === current) continue;
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileSync(target, text);
  console.log(`wrote ${file.path}`);
}
