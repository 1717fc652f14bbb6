/**
 * Validates rendered manifests the way the Kubernetes API server would: WasmPlugins against Istio's
 * CRD schemas (structural OpenAPI v3 plus the CEL rules of cel-rules.ts) for every shipped Istio
 * release, object metadata and Secrets against Kubernetes' own rules.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { celRule } from "./cel-rules.js";
import { SHIPPED_SCHEMAS } from "./istio-schema-source.js";

/** The subset of OpenAPI v3 (plus Kubernetes extensions) that CRD structural schemas use. */
export interface SchemaNode {
  type?: "object" | "array" | "string" | "integer" | "number" | "boolean";
  format?: string;
  nullable?: boolean;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode | boolean;
  required?: string[];
  items?: SchemaNode;
  enum?: unknown[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  allOf?: SchemaNode[];
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-validations"?: { rule: string; message?: string }[];
  "x-kubernetes-list-type"?: "atomic" | "set" | "map";
  "x-kubernetes-list-map-keys"?: string[];
}

export interface IstioSchema {
  /** The Istio release the schema comes from, e.g. "1.20.8". */
  istio: string;
  schema: SchemaNode;
}

interface Violation {
  path: string;
  message: string;
}

const WASM_PLUGIN_CRD = "wasmplugins.extensions.istio.io";
export const WASM_PLUGIN_API_VERSION = "extensions.istio.io/v1alpha1";

/** Reads the WasmPlugin v1alpha1 schema out of a CustomResourceDefinition's YAML text. */
export function parseWasmPluginCrd(text: string, istio: string): IstioSchema {
  const crd: unknown = parse(text);
  const spec =
    isRecord(crd) && isRecord(crd.metadata) && crd.metadata.name === WASM_PLUGIN_CRD ? crd.spec : undefined;
  const versions = isRecord(spec) && Array.isArray(spec.versions) ? spec.versions : [];
  const v1alpha1: unknown = versions.find((version) => isRecord(version) && version.name === "v1alpha1");
  const schema =
    isRecord(v1alpha1) && isRecord(v1alpha1.schema) ? v1alpha1.schema.openAPIV3Schema : undefined;
  if (!isRecord(schema)) {
    throw new Error(`Istio ${istio} schema: not the ${WASM_PLUGIN_CRD} CRD with a v1alpha1 openAPIV3Schema`);
  }
  return { istio, schema: schema as SchemaNode };
}

/** The shipped schemas from `<projectRoot>/deploy/istio-schemas/`. */
export function loadIstioSchemas(root: string): IstioSchema[] {
  return SHIPPED_SCHEMAS.filter((shipped) => shipped.kind === "WasmPlugin").map((shipped) =>
    parseWasmPluginCrd(
      readFileSync(path.join(root, "deploy/istio-schemas", shipped.file), "utf8"),
      shipped.tag,
    ),
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function childPath(parent: string, key: string | number): string {
  if (typeof key === "number") return `${parent}[${key}]`;
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return parent === "" ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${JSON.stringify(value)}`;
}

function hasType(value: unknown, type: NonNullable<SchemaNode["type"]>): boolean {
  switch (type) {
    case "object":
      return isRecord(value);
    case "array":
      return Array.isArray(value);
    case "integer":
      return Number.isInteger(value);
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    default:
      return typeof value === type;
  }
}

/** Kubernetes counts string length in characters (runes), not UTF-16 units. */
function characterCount(text: string): number {
  return [...text].length;
}

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/**
 * Validates `value` against a structural schema; appends what is wrong to `out`. Branches of
 * anyOf/oneOf/allOf only add value checks (structural schemas declare fields outside them), so
 * they are validated with `declaresFields` false: no unknown-field check there.
 */
export function validateAgainstSchema(
  value: unknown,
  schema: SchemaNode,
  at: string,
  out: Violation[],
  declaresFields = true,
): void {
  if (value === null) {
    if (!schema.nullable) out.push({ path: at, message: "must not be null" });
    return;
  }
  if (schema["x-kubernetes-int-or-string"]) {
    if (!Number.isInteger(value) && typeof value !== "string") {
      out.push({ path: at, message: `must be an integer or a string, got ${describe(value)}` });
      return;
    }
  } else if (schema.type && !hasType(value, schema.type)) {
    const article = ["object", "array", "integer"].includes(schema.type) ? "an" : "a";
    out.push({ path: at, message: `must be ${article} ${schema.type}, got ${describe(value)}` });
    return;
  }
  const before = out.length;
  checkValue(value, schema, at, out);
  checkCombinators(value, schema, at, out);
  if (Array.isArray(value)) checkArray(value, schema, at, out);
  else if (isRecord(value)) checkObject(value, schema, at, out, declaresFields);
  // Like the API server, CEL rules run only on values that passed the schema.
  if (out.length === before) checkCelRules(value, schema, at, out);
}

function checkValue(value: unknown, schema: SchemaNode, at: string, out: Violation[]): void {
  if (schema.enum && !schema.enum.includes(value)) {
    out.push({ path: at, message: `must be one of ${schema.enum.join(", ")}; got ${describe(value)}` });
  }
  if (typeof value === "string") {
    const length = characterCount(value);
    if (schema.minLength !== undefined && length < schema.minLength) {
      out.push({ path: at, message: `must be at least ${schema.minLength} characters long` });
    }
    if (schema.maxLength !== undefined && length > schema.maxLength) {
      out.push({ path: at, message: `must be at most ${schema.maxLength} characters long, is ${length}` });
    }
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, "u").test(value)) {
      out.push({ path: at, message: `must match ${schema.pattern}; got ${JSON.stringify(value)}` });
    }
  }
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) {
      out.push({ path: at, message: `must be >= ${schema.minimum}; got ${value}` });
    }
    if (schema.maximum !== undefined && value > schema.maximum) {
      out.push({ path: at, message: `must be <= ${schema.maximum}; got ${value}` });
    }
    if (schema.format === "int32" && (value < INT32_MIN || value > INT32_MAX)) {
      out.push({ path: at, message: `must fit in a 32-bit integer; got ${value}` });
    }
  }
}

function passes(value: unknown, schema: SchemaNode, at: string): boolean {
  const out: Violation[] = [];
  validateAgainstSchema(value, schema, at, out, false);
  return out.length === 0;
}

function checkCombinators(value: unknown, schema: SchemaNode, at: string, out: Violation[]): void {
  for (const branch of schema.allOf ?? []) validateAgainstSchema(value, branch, at, out, false);
  if (schema.anyOf && !schema.anyOf.some((branch) => passes(value, branch, at))) {
    out.push({ path: at, message: "matches none of the allowed forms (anyOf)" });
  }
  if (schema.oneOf) {
    const matching = schema.oneOf.filter((branch) => passes(value, branch, at)).length;
    if (matching !== 1) {
      out.push({ path: at, message: `must match exactly one allowed form (oneOf), matches ${matching}` });
    }
  }
}

function checkArray(value: unknown[], schema: SchemaNode, at: string, out: Violation[]): void {
  if (schema.minItems !== undefined && value.length < schema.minItems) {
    out.push({ path: at, message: `must have at least ${schema.minItems} items` });
  }
  if (schema.maxItems !== undefined && value.length > schema.maxItems) {
    out.push({ path: at, message: `must have at most ${schema.maxItems} items, has ${value.length}` });
  }
  if (schema.items) {
    const items = schema.items;
    value.forEach((item, index) => validateAgainstSchema(item, items, childPath(at, index), out));
  }
  const listType = schema["x-kubernetes-list-type"];
  if (listType !== "map" && listType !== "set") return;
  const mapKeys = schema["x-kubernetes-list-map-keys"] ?? [];
  const seen = new Map<string, number>();
  value.forEach((item, index) => {
    const identity =
      listType === "map" && isRecord(item)
        ? mapKeys.map((key) => `${key}=${JSON.stringify(item[key])}`).join(", ")
        : JSON.stringify(item);
    const first = seen.get(identity);
    if (first === undefined) seen.set(identity, index);
    else
      out.push({ path: childPath(at, index), message: `duplicate entry (${identity}), same as [${first}]` });
  });
}

function checkObject(
  value: Record<string, unknown>,
  schema: SchemaNode,
  at: string,
  out: Violation[],
  declaresFields: boolean,
): void {
  const count = Object.keys(value).length;
  if (schema.minProperties !== undefined && count < schema.minProperties) {
    out.push({ path: at, message: `must have at least ${schema.minProperties} entries` });
  }
  if (schema.maxProperties !== undefined && count > schema.maxProperties) {
    out.push({ path: at, message: `must have at most ${schema.maxProperties} entries, has ${count}` });
  }
  for (const field of schema.required ?? []) {
    if (value[field] === undefined)
      out.push({ path: childPath(at, field), message: "required field is missing" });
  }
  for (const [key, child] of Object.entries(value)) {
    const fieldSchema = schema.properties?.[key];
    const extra = schema.additionalProperties;
    if (fieldSchema) validateAgainstSchema(child, fieldSchema, childPath(at, key), out);
    else if (typeof extra === "object") validateAgainstSchema(child, extra, childPath(at, key), out);
    else if (declaresFields && !schema["x-kubernetes-preserve-unknown-fields"] && extra !== true) {
      // The API server would prune it silently; for a manifest kwt writes that is always a mistake
      // (a typo, or a field this Istio release does not know).
      const known = Object.keys(schema.properties ?? {});
      out.push({
        path: childPath(at, key),
        message: `unknown field${known.length ? `; known fields here: ${known.join(", ")}` : ""}`,
      });
    }
  }
}

function checkCelRules(value: unknown, schema: SchemaNode, at: string, out: Violation[]): void {
  for (const { rule, message } of schema["x-kubernetes-validations"] ?? []) {
    const check = celRule(rule);
    if (!check) out.push({ path: at, message: `kwt cannot evaluate the CEL rule ${JSON.stringify(rule)}` });
    else if (!check(value)) out.push({ path: at, message: message ?? `fails the rule ${rule}` });
  }
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

function checkDnsName(value: unknown, at: string, kind: "label" | "subdomain", out: Violation[]): void {
  const [pattern, max] = kind === "label" ? [DNS_LABEL, 63] : [DNS_SUBDOMAIN, 253];
  if (typeof value !== "string" || value === "")
    out.push({ path: at, message: "required: a non-empty string" });
  else if (value.length > max || !pattern.test(value)) {
    out.push({
      path: at,
      message: `must be a DNS-1123 ${kind} (lower-case letters, digits, '-'${kind === "subdomain" ? ", '.'" : ""}; at most ${max}); got ${JSON.stringify(value)}`,
    });
  }
}

function checkLabels(labels: unknown, at: string, out: Violation[]): void {
  if (labels === undefined) return;
  if (!isRecord(labels)) {
    out.push({ path: at, message: `must be a map of strings, got ${describe(labels)}` });
    return;
  }
  for (const [key, value] of Object.entries(labels)) {
    const slash = key.lastIndexOf("/");
    const prefix = slash === -1 ? undefined : key.slice(0, slash);
    const name = key.slice(slash + 1);
    if (
      (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) ||
      name.length > 63 ||
      !LABEL_NAME.test(name)
    ) {
      out.push({
        path: childPath(at, key),
        message: "is not a valid label key ([prefix/]name, name at most 63 of [A-Za-z0-9_.-])",
      });
    }
    if (typeof value !== "string" || value.length > 63 || (value !== "" && !LABEL_NAME.test(value))) {
      out.push({
        path: childPath(at, key),
        message: `label value must be at most 63 of [A-Za-z0-9_.-]; got ${describe(value)}`,
      });
    }
  }
}

function checkMetadata(object: Record<string, unknown>, out: Violation[]): void {
  const metadata = object.metadata;
  if (!isRecord(metadata)) {
    out.push({ path: "metadata", message: "required: an object with name and namespace" });
    return;
  }
  checkDnsName(metadata.name, "metadata.name", "subdomain", out);
  checkDnsName(metadata.namespace, "metadata.namespace", "label", out);
  checkLabels(metadata.labels, "metadata.labels", out);
}

const SECRET_FIELDS = ["apiVersion", "kind", "metadata", "type", "data", "stringData", "immutable"];
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function checkSecret(object: Record<string, unknown>, out: Violation[]): void {
  for (const key of Object.keys(object)) {
    if (!SECRET_FIELDS.includes(key))
      out.push({ path: key, message: `unknown field; a Secret has ${SECRET_FIELDS.join(", ")}` });
  }
  const data = object.data ?? {};
  if (!isRecord(data)) {
    out.push({ path: "data", message: `must be a map of base64 strings, got ${describe(data)}` });
    return;
  }
  for (const [key, value] of Object.entries(data)) {
    if (!SECRET_KEY.test(key))
      out.push({ path: childPath("data", key), message: "key must consist of [-._a-zA-Z0-9]" });
    if (typeof value !== "string" || !BASE64.test(value)) {
      out.push({ path: childPath("data", key), message: "must be base64-encoded" });
    }
  }
  if (object.type === "kubernetes.io/dockerconfigjson") {
    const encoded = data[".dockerconfigjson"];
    if (typeof encoded !== "string") {
      out.push({
        path: 'data[".dockerconfigjson"]',
        message: "required for type kubernetes.io/dockerconfigjson",
      });
      return;
    }
    let config: unknown;
    try {
      config = JSON.parse(Buffer.from(encoded, "base64").toString("utf8"));
    } catch {
      config = undefined;
    }
    if (!isRecord(config) || !isRecord(config.auths)) {
      out.push({ path: 'data[".dockerconfigjson"]', message: 'must be a JSON object with "auths"' });
    }
  }
}

function format(violations: Violation[]): string[] {
  return violations.map((violation) => `${violation.path || "(object)"}: ${violation.message}`);
}

/**
 * Everything wrong with one manifest, each as `path: what is wrong`; a WasmPlugin problem names the
 * Istio releases whose schema rejects it. Empty when the API server would accept it.
 */
export function validateManifest(object: unknown, schemas: IstioSchema[]): string[] {
  if (!isRecord(object)) return ["(object): must be an object"];
  const common: Violation[] = [];
  checkMetadata(object, common);
  if (object.apiVersion === "v1" && object.kind === "Secret") {
    checkSecret(object, common);
    return format(common);
  }
  if (object.apiVersion !== WASM_PLUGIN_API_VERSION || object.kind !== "WasmPlugin") {
    return [
      `(object): kwt validates only v1 Secret and ${WASM_PLUGIN_API_VERSION} WasmPlugin, got ${String(object.apiVersion)} ${String(object.kind)}`,
    ];
  }
  const { apiVersion: _apiVersion, kind: _kind, metadata: _metadata, ...body } = object;
  // Group identical problems so one mistake reads once with every release that rejects it.
  const releasesByProblem = new Map<string, string[]>();
  for (const { istio, schema } of schemas) {
    const found: Violation[] = [];
    validateAgainstSchema(body, schema, "", found);
    for (const problem of format(found))
      releasesByProblem.set(problem, [...(releasesByProblem.get(problem) ?? []), istio]);
  }
  return [
    ...format(common),
    ...[...releasesByProblem].map(([problem, releases]) => `${problem} (Istio ${releases.join(", ")})`),
  ];
}
