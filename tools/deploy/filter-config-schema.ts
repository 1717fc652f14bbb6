/** Checks a pluginConfig against the filter's JSON Schema (deploy/filter-config.schema.json). */
import { readFileSync } from "node:fs";
import path from "node:path";
import { Ajv, type ErrorObject } from "ajv";
import { Ajv2019 } from "ajv/dist/2019.js";
import { Ajv2020 } from "ajv/dist/2020.js";

export interface ConfigProblem {
  /** Dotted path inside pluginConfig, e.g. `tracing.minProbability` ("" for the whole object). */
  path: string;
  message: string;
}

export type PluginConfigCheck = (config: unknown) => ConfigProblem[];

export const FILTER_CONFIG_SCHEMA = "deploy/filter-config.schema.json";

function dottedPath(pointer: string): string {
  return pointer
    .split("/")
    .slice(1)
    .map((part) => part.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`))
    .join("")
    .replace(/^\./, "");
}

/** A value quoted back as the filter quotes it: JSON, long ones cut, containers elided. */
function quoteValue(value: unknown): string {
  if (Array.isArray(value)) return "[...]";
  if (value !== null && typeof value === "object") return "{...}";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 64 ? `${text.slice(0, 64)}...` : text;
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

type SchemaNode = Record<string, unknown>;

/**
 * "an integer from 1 to 3600", "a number >= tracing.minProbability (0.01)": what the schema node
 * accepts; a $data bound (a sibling field, as `1/minProbability`) is named with its value.
 */
function expectedRange(
  node: SchemaNode,
  keyword: string,
  params: Record<string, unknown>,
  at: string,
): string {
  const kind = node.type === "integer" ? "an integer" : "a number";
  const { minimum, maximum } = node;
  if (typeof minimum === "number" && typeof maximum === "number")
    return `${kind} from ${minimum} to ${maximum}`;
  const bound = node[keyword] as { $data?: unknown } | undefined;
  const limit = String(params.limit);
  if (typeof bound?.$data === "string") {
    const sibling = bound.$data.split("/").at(-1)!;
    const field = at.includes(".") ? `${at.slice(0, at.lastIndexOf("."))}.${sibling}` : sibling;
    return `${kind} ${String(params.comparison)} ${field} (${limit})`;
  }
  return `${kind} ${String(params.comparison)} ${limit}`;
}

/**
 * One schema violation in the filter's own wording (assembly/config.ts: `field: problem; expected
 * ...`), quoting the offending value, so kwt deploy and the proxy's log say the same thing.
 */
function describeError(error: ErrorObject): ConfigProblem {
  const at = dottedPath(error.instancePath);
  const params = error.params as Record<string, unknown>;
  const node = (error.parentSchema ?? {}) as SchemaNode;
  const join = (child: unknown): string => (at === "" ? String(child) : `${at}.${String(child)}`);
  const value = quoteValue(error.data);
  switch (error.keyword) {
    case "additionalProperties":
    case "unevaluatedProperties": {
      const key = params.additionalProperty ?? params.unevaluatedProperty;
      const known = Object.keys((node.properties as SchemaNode | undefined) ?? {});
      return {
        path: join(key),
        message: `unknown key; expected ${known.length ? `one of ${known.join(", ")}` : "no other keys"} (the filter refuses configurations with unknown keys)`,
      };
    }
    case "required":
      return { path: join(params.missingProperty), message: "required" };
    case "type":
      return { path: at, message: `${value} is ${typeOf(error.data)}; expected ${String(params.type)}` };
    case "enum": {
      const allowed = (params.allowedValues as unknown[]).map((entry) => JSON.stringify(entry)).join(", ");
      return { path: at, message: `${value} is not allowed; expected one of ${allowed}` };
    }
    case "minimum":
    case "maximum":
    case "exclusiveMinimum":
    case "exclusiveMaximum":
      return {
        path: at,
        message: `${value} is out of range; expected ${expectedRange(node, error.keyword, params, at)}`,
      };
    case "pattern":
    case "minLength":
    case "maxLength":
    case "format":
      return {
        path: at,
        message: `${value} is not allowed; expected ${typeof node.description === "string" ? `${String(error.message)} (${node.description.replace(/\.$/, "")})` : String(error.message)}`,
      };
    default:
      return { path: at, message: `${value}: ${error.message ?? `fails ${error.keyword}`}` };
  }
}

/** Compiles the schema with the Ajv dialect its `$schema` names (draft-07 when it names none). */
export function compilePluginConfigSchema(schema: Record<string, unknown>): PluginConfigCheck {
  const dialect = String(schema.$schema ?? "");
  // $data: the filter's schema relates fields (tracing.maxProbability >= minProbability) that way.
  // verbose: errors carry the offending value and the schema node, to quote them back.
  const options = { allErrors: true, strict: false, $data: true, verbose: true };
  const ajv = dialect.includes("2020-12")
    ? new Ajv2020(options)
    : dialect.includes("2019-09")
      ? new Ajv2019(options)
      : new Ajv(options);
  const validate = ajv.compile(schema);
  return (config) => (validate(config) ? [] : (validate.errors ?? []).map(describeError));
}

/**
 * The filter's schema from the checkout, or from $KWT_FILTER_CONFIG_SCHEMA (to try a schema that
 * is being changed, and for tests).
 */
export function loadPluginConfigSchema(
  root: string,
  env: Record<string, string | undefined> = process.env,
): PluginConfigCheck {
  const file = env.KWT_FILTER_CONFIG_SCHEMA || path.join(root, FILTER_CONFIG_SCHEMA);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new Error(`${file} is missing: kwt checks pluginConfig against the filter's JSON Schema`);
  }
  try {
    return compilePluginConfigSchema(JSON.parse(text) as Record<string, unknown>);
  } catch (error) {
    throw new Error(`${file} is not a usable JSON Schema: ${(error as Error).message}`);
  }
}
