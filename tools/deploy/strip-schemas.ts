/**
 * Makes deploy/istio-schemas/ from the Istio CRDs in a source folder (the shared copy of istio/istio's
 * generated CRD bundle): every `description` removed, a header naming where the file came from.
 *
 * Usage: npx vite-node tools/deploy/strip-schemas.ts [SOURCE_DIR] [DEST_DIR]
 * (defaults: ../shared/schemas/istio beside the checkout, deploy/istio-schemas).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SHIPPED_SCHEMAS, strippedSchemaText } from "./istio-schema-source.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const [sourceArg, destArg] = process.argv.slice(2);
const sourceDir = sourceArg ?? path.resolve(root, "../shared/schemas/istio");
const destDir = destArg ?? path.join(root, "deploy/istio-schemas");
mkdirSync(destDir, { recursive: true });
for (const schema of SHIPPED_SCHEMAS) {
  const text = readFileSync(path.join(sourceDir, schema.file), "utf8");
  writeFileSync(path.join(destDir, schema.file), strippedSchemaText(text, schema.tag, schema.source));
  console.log(`wrote ${path.join(destDir, schema.file)}`);
}
