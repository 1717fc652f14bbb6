import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { SHIPPED_SCHEMAS, stripDescriptions, strippedSchemaText } from "./istio-schema-source.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const sharedSchemas = path.resolve(root, "../shared/schemas/istio");

describe("deploy/istio-schemas", () => {
  it("removes description keywords but keeps a field named description", () => {
    const schema = {
      description: "drop",
      properties: {
        description: { type: "string", description: "drop" },
        url: { description: "drop", type: "string" },
      },
      items: [{ description: "drop", enum: ["a"] }],
    };
    expect(stripDescriptions(schema)).toEqual({
      properties: { description: { type: "string" }, url: { type: "string" } },
      items: [{ enum: ["a"] }],
    });
  });

  it.each(SHIPPED_SCHEMAS)("$file names its origin and has no descriptions", ({ file, tag, source }) => {
    const shipped = readFileSync(path.join(root, "deploy/istio-schemas", file), "utf8");
    expect(shipped.split("\n")[0]).toBe(`# From istio/istio tag ${tag}, ${source} (Apache License 2.0).`);
    expect(shipped).not.toMatch(/^\s*description:/m);
  });

  // The shared copy of Istio's CRDs lives beside the checkout on the project's machines.
  it.skipIf(!existsSync(sharedSchemas)).each(SHIPPED_SCHEMAS)(
    "$file is exactly what strip-schemas makes from the source",
    ({ file, tag, source }) => {
      const expected = strippedSchemaText(readFileSync(path.join(sharedSchemas, file), "utf8"), tag, source);
      expect(readFileSync(path.join(root, "deploy/istio-schemas", file), "utf8")).toBe(expected);
    },
  );
});
