/**
 * What `npm run generate` writes from the configuration schema (deploy/filter-config.schema.json):
 * the filter's key names, defaults and ranges, and the configuration tables. Pure: text in, text out.
 */
import { FILTER_CONFIG_SCHEMA } from "../deploy/filter-config-schema.js";
import { screamingSnake } from "./metric-outputs.js";
import { utf8Table, utf8TableDeclarations } from "./utf8-table.js";

/** The parts of a schema node the generator reads. */
export interface SchemaNode {
  type?: string;
  title?: string;
  description?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  maxItems?: number;
  enum?: string[];
  items?: SchemaNode;
  allOf?: { minimum?: { $data?: string } }[];
  properties?: Record<string, SchemaNode>;
}

/** A configuration key, nested ones with their section. */
interface Key {
  /** The member name inside its object. */
  name: string;
  /** `tracing.minProbability`: how messages and tables name it. */
  field: string;
  node: SchemaNode;
}

function leafKeys(node: SchemaNode, prefix = ""): Key[] {
  return Object.entries(node.properties ?? {}).flatMap(([name, child]) =>
    child.type === "object"
      ? leafKeys(child, `${prefix}${name}.`)
      : [{ name, field: `${prefix}${name}`, node: child }],
  );
}

/** The field a `$data` lower bound points at, as a configuration field (`1/minProbability` -> sibling). */
function lowerBoundField(key: Key): string | undefined {
  const data = key.node.allOf?.find((rule) => rule.minimum?.$data)?.minimum?.$data;
  if (data === undefined) return undefined;
  const sibling = /^1\/(\w+)$/.exec(data)?.[1];
  if (sibling === undefined) throw new Error(`${key.field}: unsupported $data ${data}; expected 1/<sibling>`);
  const section = key.field.slice(0, key.field.length - key.name.length);
  return `${section}${sibling}`;
}

function problem(key: Key, what: string): Error {
  return new Error(`${FILTER_CONFIG_SCHEMA}: ${key.field}: ${what}`);
}

function range(key: Key): [number, number] {
  const { minimum, maximum } = key.node;
  if (minimum === undefined || maximum === undefined)
    throw problem(key, "a number needs minimum and maximum");
  return [minimum, maximum];
}

/** `tracing.minProbability` -> `TracingMinProbability`. */
const enumMember = (field: string): string =>
  field.replace(/(^|\.)(\w)/g, (_, _dot: string, c: string) => c.toUpperCase());

/** How config.ts reads a key: ConfigKind in the generated file, in this order. */
const KINDS = ["Bool", "Integer", "Number", "Text", "Choice", "Texts", "Ports", "Section"] as const;

function kindOf(key: Key): (typeof KINDS)[number] {
  const { node } = key;
  switch (node.type) {
    case "boolean":
      return "Bool";
    case "integer":
      return "Integer";
    case "number":
      return "Number";
    case "string":
      return node.enum ? "Choice" : "Text";
    case "array":
      if (node.items?.type === "string") return "Texts";
      if (node.items?.type === "integer") return "Ports";
      throw problem(key, `arrays of ${String(node.items?.type)} have no AssemblyScript reader`);
    default:
      throw problem(key, `type ${String(node.type)} has no AssemblyScript reader`);
  }
}

/** The values of one key in the AssemblyScript tables (numbers as f64, a bool as 0 or 1). */
interface KeyRow {
  low: number;
  high: number;
  fallback: number;
  text: string;
  expected: string;
}

function keyRow(key: Key): KeyRow {
  const { node } = key;
  const row: KeyRow = { low: 0, high: 0, fallback: 0, text: "", expected: "" };
  switch (node.type) {
    case "boolean":
      return { ...row, fallback: node.default === true ? 1 : 0 };
    case "integer":
    case "number": {
      const [low, high] = range(key);
      if (typeof node.default !== "number") throw problem(key, "a number key needs a numeric default");
      const bound = lowerBoundField(key);
      const expected =
        node.type === "number" ? `a number from ${low} to ${high}${bound ? `, at least ${bound}` : ""}` : "";
      return { ...row, low, high, fallback: node.default, expected };
    }
    case "string":
      return { ...row, text: typeof node.default === "string" ? node.default : "" };
    case "array": {
      if (node.maxItems === undefined) throw problem(key, "an array key needs maxItems");
      const items = Array.isArray(node.default) ? node.default : [];
      if (node.items?.type === "integer" && !items.every((item) => Number.isInteger(item)))
        throw problem(key, "an integer array's default must list integers");
      return { ...row, high: node.maxItems, text: items.join(",") };
    }
    default:
      throw problem(key, `type ${String(node.type)} has no AssemblyScript reader`);
  }
}

const f64 = (value: number): string => (Number.isInteger(value) ? `${value}.0` : String(value));
const table = (name: string, type: string, doc: string, values: string[]): string[] => [
  `/** ${doc} */`,
  `export const ${name}: StaticArray<${type}> = [${values.join(", ")}];`,
];

/** A UTF-8 table of `texts` (assembly/utf8table.ts), read by `reader(key: ConfigKey)`. */
const textTable = (name: string, reader: string, doc: string, texts: string[]): string[] => [
  ...utf8TableDeclarations(name, utf8Table(texts)),
  `/** ${doc} */`,
  `export function ${reader}(key: ConfigKey): string {`,
  `  return tableText(${name}_BYTES, ${name}_ENDS, key);`,
  "}",
];

/** The ConfigKeys of an object's members (in the schema's order) as a static table. */
const keyList = (name: string, doc: string, keys: number[]): string[] => {
  if (keys.some((key) => key > 255)) {
    throw new Error(`configuration keys: ${name} lists a key past 255, which no longer fits its u8 index`);
  }
  return table(name, "u8", doc, keys.map(String));
};

/**
 * assembly/generated/config-keys.ts: every key's name, section, range and default, as constant
 * tables indexed by the ConfigKey enum (static data: nothing to build when the module starts);
 * texts as UTF-8 tables, decoded when a configuration is read.
 */
export function renderAssemblyConfigKeys(schema: SchemaNode): string {
  const keys = leafKeys(schema);
  // config.ts checks a key's `$data` lower bound as soon as it has read the key, in schema order.
  keys.forEach((key, index) => {
    const bound = lowerBoundField(key);
    if (bound !== undefined && !keys.slice(0, index).some((earlier) => earlier.field === bound))
      throw problem(key, `its lower bound ${bound} must come before it (keys are read in schema order)`);
  });
  const rows = keys.map(keyRow);
  const sections = Object.entries(schema.properties ?? {}).filter(([, child]) => child.type === "object");
  const members = [
    ...keys.map((key) => `  ${enumMember(key.field)},`),
    ...sections.map(([name]) => `  /** The \`${name}\` section. */\n  ${enumMember(name)},`),
  ];
  const all = [
    ...keys.map((key) => ({ name: key.name, field: key.field })),
    ...sections.map(([name]) => ({ name, field: name })),
  ];
  // KEY_SECTION holds a ConfigKey in an i8.
  if (all.length > 127) {
    throw new Error(
      `${FILTER_CONFIG_SCHEMA}: ${all.length} keys and sections; KEY_SECTION's i8 holds at most 127`,
    );
  }
  const sectionOf = (field: string): number => {
    const path = field.split(".");
    if (path.length === 1) return -1;
    const section = sections.findIndex(([name]) => name === path[0]);
    if (path.length > 2 || section < 0)
      throw new Error(`${FILTER_CONFIG_SCHEMA}: ${field}: sections nest one level`);
    return keys.length + section;
  };
  // The ConfigKeys of an object's members, in the schema's order: `prefix` is the section's field.
  const memberKeys = (node: SchemaNode, prefix: string): number[] =>
    Object.keys(node.properties ?? {}).map((name) => {
      const index = all.findIndex((key) => key.field === prefix + name);
      if (index < 0)
        throw new Error(`${FILTER_CONFIG_SCHEMA}: ${prefix}${name} is neither a key nor a section`);
      return index;
    });
  return [
    `// Generated by \`npm run generate\` from ${FILTER_CONFIG_SCHEMA}: edit the schema, not this file.`,
    "// config.ts reads the keys of each object in a loop over these tables (string values are checked there).",
    "",
    'import { tableText } from "../utf8table";',
    "",
    "/** Every configuration key (then every section), indexing the tables below. */",
    `export enum ConfigKey {\n${members.join("\n")}\n}`,
    "",
    "/** The keys before the sections: the number of values a configuration has. */",
    `export const KEY_COUNT: i32 = ${keys.length};`,
    "",
    "/** How a key's value is read: a JSON type, with a check for strings and arrays of them. */",
    `export enum ConfigKind {\n${KINDS.map((kind) => `  ${kind},`).join("\n")}\n}`,
    "",
    ...textTable(
      "KEY_NAMES",
      "keyName",
      "The member name of each key in its object.",
      all.map((key) => key.name),
    ),
    ...table(
      "KEY_SECTION",
      "i8",
      "The section (a ConfigKey) holding each key, or -1 at the top level: messages name a key `<section>.<name>`.",
      all.map((key) => String(sectionOf(key.field))),
    ),
    ...table(
      "KEY_KIND",
      "u8",
      "Each key's ConfigKind (and each section's), as its value.",
      [...keys.map(kindOf), ...sections.map(() => "Section" as const)].map((kind) =>
        String(KINDS.indexOf(kind)),
      ),
    ),
    ...table(
      "KEY_LOW",
      "f64",
      "Integer and number keys: the lowest value.",
      rows.map((row) => f64(row.low)),
    ),
    ...table(
      "KEY_HIGH",
      "f64",
      "Integer and number keys: the highest value; array keys: the most items.",
      rows.map((row) => f64(row.high)),
    ),
    ...table(
      "KEY_DEFAULT",
      "f64",
      "Bool (0 or 1), integer and number keys: the default.",
      rows.map((row) => f64(row.fallback)),
    ),
    ...textTable(
      "KEY_DEFAULT_TEXT",
      "keyDefaultText",
      'String keys: the default ("" when it comes from the node); array keys: the default items, comma-separated.',
      rows.map((row) => row.text),
    ),
    ...textTable(
      "KEY_CHOICES",
      "keyChoices",
      "Choice keys: the names allowed, comma-separated, in the order of the value's enum in config.ts.",
      keys.map((key) => (kindOf(key) === "Choice" ? key.node.enum!.join(",") : "")),
    ),
    ...textTable(
      "KEY_EXPECTED",
      "keyExpected",
      "Number keys: what a message says is expected.",
      rows.map((row) => row.expected),
    ),
    "",
    ...keyList("TOP_LEVEL_KEYS", "The keys allowed at the top level.", memberKeys(schema, "")),
    ...sections.flatMap(([name, child]) =>
      keyList(
        `${screamingSnake(name)}_KEYS`,
        `The keys allowed in \`${name}\`.`,
        memberKeys(child, `${name}.`),
      ),
    ),
    "/** The keys allowed in section `section` (a ConfigKey; -1: the top level), in the schema's order. */",
    "export function memberKeys(section: i32): StaticArray<u8> {",
    ...sections.map(
      ([name]) => `  if (section == ConfigKey.${enumMember(name)}) return ${screamingSnake(name)}_KEYS;`,
    ),
    "  return TOP_LEVEL_KEYS;",
    "}",
    "",
  ].join("\n");
}

function typeCell(key: Key): string {
  const { node } = key;
  switch (node.type) {
    case "boolean":
      return "bool";
    case "integer":
    case "number": {
      const [low, high] = range(key);
      const bound = lowerBoundField(key);
      return `${node.type} ${low}..${high}${bound ? `, >= \`${bound}\`` : ""}`;
    }
    case "array":
      return `up to ${node.maxItems} ${node.title ?? "items"}`;
    default:
      if (node.enum) return node.enum.map((value) => `\`${value}\``).join(", ");
      return node.title ?? "string";
  }
}

const defaultCell = (node: SchemaNode): string =>
  node.default === undefined ? "" : `\`${JSON.stringify(node.default)}\``;

/** README.md and docs/filter.md: key, type, default, meaning. */
export function configTable(schema: SchemaNode): string[] {
  return [
    "| key | type | default | meaning |",
    "| --- | --- | --- | --- |",
    ...leafKeys(schema).map(
      (key) =>
        `| \`${key.field}\` | ${typeCell(key)} | ${defaultCell(key.node)} | ${key.node.description ?? ""} |`,
    ),
  ];
}
