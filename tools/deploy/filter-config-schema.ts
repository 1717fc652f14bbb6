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

function describeError(error: ErrorObject): ConfigProblem {
  const at = dottedPath(error.instancePath);
  const params = error.params as Record<string, unknown>;
  const join = (child: unknown): string => (at === "" ? String(child) : `${at}.${String(child)}`);
  if (error.keyword === "additionalProperties" || error.keyword === "unevaluatedProperties") {
    const key = params.additionalProperty ?? params.unevaluatedProperty;
    return { path: join(key), message: "unknown key (the filter refuses configurations with unknown keys)" };
  }
  if (error.keyword === "required") return { path: join(params.missingProperty), message: "required" };
  if (error.keyword === "enum") {
    const allowed = (params.allowedValues as unknown[]).map((value) => JSON.stringify(value)).join(", ");
    return { path: at, message: `must be one of ${allowed}` };
  }
  return { path: at, message: error.message ?? `fails ${error.keyword}` };
}

/** Compiles the schema with the Ajv dialect its `$schema` names (draft-07 when it names none). */
export function compilePluginConfigSchema(schema: Record<string, unknown>): PluginConfigCheck {
  const dialect = String(schema.$schema ?? "");
  // $data: the filter's schema relates fields (tracing.maxProbability >= minProbability) that way.
  const options = { allErrors: true, strict: false, $data: true };
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
