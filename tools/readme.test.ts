// The README is the user's reference: its configuration table, extraStatTags line and command list
// must say what the code does.

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { FILTER_METRIC_LABELS } from "./deploy/filter-contract.js";

const root = path.resolve(import.meta.dirname, "..");
const readme = readFileSync(path.join(root, "README.md"), "utf8");

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  default?: unknown;
}

/** Every leaf key of the filter's configuration schema, nested ones as `parent.child`. */
function schemaKeys(node: SchemaNode, prefix = ""): string[] {
  return Object.entries(node.properties ?? {}).flatMap(([key, child]) =>
    child.properties ? schemaKeys(child, `${prefix}${key}.`) : [`${prefix}${key}`],
  );
}

/** The backquoted first cell of each row of the first table after `heading`. */
function firstColumn(heading: string): string[] {
  const lines = readme.slice(readme.indexOf(heading)).split("\n");
  const header = lines.findIndex((line) => line.startsWith("|"));
  const rows = lines.slice(header + 2);
  const end = rows.findIndex((line) => !line.startsWith("|"));
  return rows
    .slice(0, end)
    .map((row) => /^\| `([^`]+)`/.exec(row)?.[1])
    .filter((key): key is string => key !== undefined);
}

describe("README", () => {
  it("documents exactly the configuration keys the filter's schema accepts", () => {
    const schema = JSON.parse(
      readFileSync(path.join(root, "deploy/filter-config.schema.json"), "utf8"),
    ) as SchemaNode;
    expect(firstColumn("### Configuration (`WasmPlugin.pluginConfig`)").sort()).toEqual(
      schemaKeys(schema).sort(),
    );
  });

  it("lists the exact extraStatTags every metric label needs", () => {
    expect(readme).toContain(`\n${FILTER_METRIC_LABELS.join(",")}\n`);
  });

  it("has a command table that matches kwt --help, in the same order", () => {
    const stdout = execFileSync(process.execPath, [path.join(root, "dist/kwt.js"), "--help"], {
      encoding: "utf8",
    });
    const commands = [...stdout.matchAll(/^ {2}([a-z-]+) {2}/gm)].map((match) => match[1]);
    expect(commands.length).toBeGreaterThan(5);
    const table = [...readme.slice(readme.indexOf("\n## kwt\n")).matchAll(/^\| `kwt ([a-z-]+)/gm)].map(
      (match) => match[1],
    );
    expect(table).toEqual(commands);
  });
});
