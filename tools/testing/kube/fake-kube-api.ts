/**
 * Test support: a loopback HTTP server that speaks the part of the Kubernetes API kwt uses
 * (discovery, GET, and server-side apply PATCH with field ownership and conflicts) for Secrets,
 * ConfigMaps, Deployments and WasmPlugins; plus a kubeconfig writer pointing contexts at such servers.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import http from "node:http";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { afterEach, beforeEach } from "vitest";
import { parse, stringify } from "yaml";
import { closeServer, listenOn } from "../../../host-tests/harness/index.js";

interface Resource {
  groupVersion: string;
  kind: string;
  plural: string;
}

const RESOURCES: Resource[] = [
  { groupVersion: "v1", kind: "Secret", plural: "secrets" },
  { groupVersion: "v1", kind: "ConfigMap", plural: "configmaps" },
  { groupVersion: "apps/v1", kind: "Deployment", plural: "deployments" },
  { groupVersion: "extensions.istio.io/v1alpha1", kind: "WasmPlugin", plural: "wasmplugins" },
];

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType?: string;
}

/** An injected answer: a Status with this code, or no answer at all. */
export type Interception = { code: number; message: string; reason?: string } | "hang";

export interface FakeKubeApiOptions {
  /** The bearer token it accepts; anything else is 401. */
  token: string;
  /** false: extensions.istio.io is not served (Istio not installed). */
  servesIstio?: boolean;
  /** Milliseconds before each answer. */
  delayMs?: number;
  /** Shared across servers: how many requests are being answered at once, and the most seen. */
  inFlight?: { now: number; max: number };
}

type Json = Record<string, unknown>;

interface Stored {
  object: Json;
  /** The fields each manager owns. */
  managers: Map<string, Set<FieldPath>>;
}

function isRecord(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** A field path as the JSON text of its keys: label keys contain dots, so dotted paths would be ambiguous. */
type FieldPath = string;

const IDENTITY_FIELDS = new Set(
  [["apiVersion"], ["kind"], ["metadata", "name"], ["metadata", "namespace"]].map((keys) =>
    JSON.stringify(keys),
  ),
);

function keysOf(field: FieldPath): string[] {
  return JSON.parse(field) as string[];
}

/** How the API server prints a field path in a conflict: `.spec.sha256`. */
function displayPath(field: FieldPath): string {
  return keysOf(field)
    .map((key) => `.${key}`)
    .join("");
}

/** Leaf field paths of an applied configuration, the unit of ownership (lists are atomic). */
function leafPaths(value: unknown, prefix: string[] = []): FieldPath[] {
  if (!isRecord(value) || (prefix.length > 0 && Object.keys(value).length === 0)) {
    return prefix.length > 0 ? [JSON.stringify(prefix)] : [];
  }
  return Object.entries(value).flatMap(([key, child]) => leafPaths(child, [...prefix, key]));
}

function ownedFields(object: unknown): Set<FieldPath> {
  return new Set(leafPaths(object).filter((field) => !IDENTITY_FIELDS.has(field)));
}

function valueAt(object: unknown, field: FieldPath): unknown {
  return keysOf(field).reduce<unknown>((node, key) => (isRecord(node) ? node[key] : undefined), object);
}

function setAt(object: Json, field: FieldPath, value: unknown): void {
  const keys = keysOf(field);
  let node = object;
  for (const key of keys.slice(0, -1)) {
    if (!isRecord(node[key])) node[key] = {};
    node = node[key] as Json;
  }
  node[keys[keys.length - 1]!] = structuredClone(value);
}

function removeAt(object: Json, field: FieldPath): void {
  const keys = keysOf(field);
  const parents: Json[] = [object];
  for (const key of keys.slice(0, -1)) {
    const child = parents[parents.length - 1]![key];
    if (!isRecord(child)) return;
    parents.push(child);
  }
  delete parents[parents.length - 1]![keys[keys.length - 1]!];
  // Drop objects the removal left empty, as the API server does for applied maps.
  for (let depth = parents.length - 1; depth > 0; depth--) {
    if (Object.keys(parents[depth]!).length === 0) delete parents[depth - 1]![keys[depth - 1]!];
  }
}

function withoutServerFields(object: Json): Json {
  const copy = structuredClone(object);
  const metadata = copy.metadata as Json;
  for (const key of ["resourceVersion", "generation", "uid", "creationTimestamp"]) delete metadata[key];
  return copy;
}

export class FakeKubeApi {
  readonly requests: RecordedRequest[] = [];
  /** Set to answer matching requests with an error (or not at all) instead. */
  intercept?: (request: RecordedRequest) => Interception | undefined;
  private readonly objects = new Map<string, Stored>();
  private resourceVersion = 0;
  private server!: http.Server;
  url = "";

  private constructor(private readonly options: FakeKubeApiOptions) {}

  static async start(options: FakeKubeApiOptions): Promise<FakeKubeApi> {
    const api = new FakeKubeApi(options);
    api.server = http.createServer((request, response) => void api.handle(request, response));
    const { host, port } = await listenOn(api.server, { host: "127.0.0.1", port: 0 });
    api.url = `http://${host}:${port}`;
    return api;
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }

  private key(groupVersion: string, plural: string, namespace: string, name: string): string {
    return `${groupVersion}/${namespace}/${plural}/${name}`;
  }

  private resourceOf(apiVersion: string, kind: string): Resource {
    const resource = RESOURCES.find((entry) => entry.groupVersion === apiVersion && entry.kind === kind);
    if (!resource) throw new Error(`fake API does not know ${apiVersion} ${kind}`);
    return resource;
  }

  /** Puts an object in place as if `manager` had applied it. */
  seed(object: Json, manager = "kubectl"): void {
    const metadata = object.metadata as { name: string; namespace: string };
    const resource = this.resourceOf(String(object.apiVersion), String(object.kind));
    const stored: Json = structuredClone(object);
    Object.assign(stored.metadata as Json, {
      resourceVersion: String(++this.resourceVersion),
      generation: 1,
      uid: `uid-${this.resourceVersion}`,
    });
    const owned = ownedFields(object);
    this.objects.set(this.key(resource.groupVersion, resource.plural, metadata.namespace, metadata.name), {
      object: stored,
      managers: new Map([[manager, owned]]),
    });
  }

  /** The stored object, as a GET would return it. */
  stored(apiVersion: string, kind: string, namespace: string, name: string): Json | undefined {
    const resource = this.resourceOf(apiVersion, kind);
    return this.objects.get(this.key(resource.groupVersion, resource.plural, namespace, name))?.object;
  }

  /** Who owns which fields of a stored object (fields as `.spec.sha256`). */
  owners(apiVersion: string, kind: string, namespace: string, name: string): Record<string, string[]> {
    const resource = this.resourceOf(apiVersion, kind);
    const stored = this.objects.get(this.key(resource.groupVersion, resource.plural, namespace, name));
    return Object.fromEntries(
      [...(stored?.managers ?? [])].map(([manager, fields]) => [
        manager,
        [...fields].map(displayPath).sort(),
      ]),
    );
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://fake");
    const recorded: RecordedRequest = {
      method: request.method ?? "GET",
      path: url.pathname,
      query: url.searchParams,
      contentType: request.headers["content-type"],
    };
    this.requests.push(recorded);
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const inFlight = this.options.inFlight;
    if (inFlight) inFlight.max = Math.max(inFlight.max, ++inFlight.now);
    try {
      if (this.options.delayMs) await new Promise((resolve) => setTimeout(resolve, this.options.delayMs));
      const interception = this.intercept?.(recorded);
      if (interception === "hang") return;
      const [code, body] =
        request.headers.authorization !== `Bearer ${this.options.token}`
          ? this.status(401, "Unauthorized", "Unauthorized")
          : interception
            ? this.status(interception.code, interception.message, interception.reason ?? "Failure")
            : this.route(recorded, Buffer.concat(chunks).toString("utf8"));
      response.writeHead(code, { "content-type": "application/json" });
      response.end(JSON.stringify(body));
    } finally {
      if (inFlight) inFlight.now--;
    }
  }

  private status(code: number, message: string, reason: string, details?: Json): [number, Json] {
    return [
      code,
      { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, details, code },
    ];
  }

  private route(request: RecordedRequest, body: string): [number, Json] {
    const discovery = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))$/.exec(request.path);
    if (discovery && request.method === "GET") return this.discover(discovery[1] ?? discovery[2]!);
    const item = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))\/namespaces\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(
      request.path,
    );
    const groupVersion = item?.[1] ?? item?.[2];
    const resource = RESOURCES.find(
      (entry) => entry.groupVersion === groupVersion && entry.plural === item?.[4],
    );
    if (!item || !resource || !this.serves(resource.groupVersion))
      return this.status(404, "the server could not find the requested resource", "NotFound");
    const [namespace, name] = [item[3]!, item[5]!];
    const key = this.key(resource.groupVersion, resource.plural, namespace, name);
    if (request.method === "GET") {
      const stored = this.objects.get(key);
      return stored
        ? [200, stored.object]
        : this.status(404, `${resource.plural} "${name}" not found`, "NotFound");
    }
    if (request.method === "PATCH") return this.apply(request, body, resource, key, namespace, name);
    return this.status(405, `method ${request.method} not allowed`, "MethodNotAllowed");
  }

  private serves(groupVersion: string): boolean {
    return this.options.servesIstio !== false || !groupVersion.startsWith("extensions.istio.io/");
  }

  private discover(groupVersion: string): [number, Json] {
    const resources = RESOURCES.filter((entry) => entry.groupVersion === groupVersion);
    if (resources.length === 0 || !this.serves(groupVersion))
      return this.status(404, "the server could not find the requested resource", "NotFound");
    return [
      200,
      {
        kind: "APIResourceList",
        apiVersion: "v1",
        groupVersion,
        resources: resources.map((entry) => ({
          name: entry.plural,
          singularName: entry.kind.toLowerCase(),
          namespaced: true,
          kind: entry.kind,
          verbs: ["get", "list", "patch", "create", "update", "delete"],
        })),
      },
    ];
  }

  /** Server-side apply: ownership per field, conflicts unless forced, removal of fields a manager dropped. */
  private apply(
    request: RecordedRequest,
    body: string,
    resource: Resource,
    key: string,
    namespace: string,
    name: string,
  ): [number, Json] {
    if (request.contentType !== "application/apply-patch+yaml") {
      return this.status(
        415,
        `the body of the request was in an unknown format - accepted media types include: application/apply-patch+yaml`,
        "UnsupportedMediaType",
      );
    }
    const manager = request.query.get("fieldManager");
    if (!manager)
      return this.status(422, "PatchOptions.meta.k8s.io is invalid: fieldManager: Required value", "Invalid");
    const force = request.query.get("force") === "true";
    const applied: unknown = parse(body);
    const metadata = isRecord(applied) && isRecord(applied.metadata) ? applied.metadata : {};
    if (
      !isRecord(applied) ||
      applied.apiVersion !== resource.groupVersion ||
      applied.kind !== resource.kind ||
      metadata.name !== name ||
      (metadata.namespace ?? namespace) !== namespace
    ) {
      return this.status(400, "the applied object does not match the request URL", "BadRequest");
    }
    const fields = ownedFields(applied);
    const existing = this.objects.get(key);
    if (!existing) {
      const object: Json = structuredClone(applied);
      Object.assign(object.metadata as Json, {
        namespace,
        resourceVersion: String(++this.resourceVersion),
        generation: 1,
        uid: `uid-${this.resourceVersion}`,
        creationTimestamp: "2024-01-01T00:00:00Z",
      });
      this.objects.set(key, { object, managers: new Map([[manager, fields]]) });
      return [201, object];
    }
    const conflicts: Json[] = [];
    for (const field of fields) {
      for (const [other, owned] of existing.managers) {
        if (
          other !== manager &&
          owned.has(field) &&
          !isDeepStrictEqual(valueAt(existing.object, field), valueAt(applied, field))
        ) {
          conflicts.push({
            reason: "FieldManagerConflict",
            message: `conflict with "${other}"`,
            field: displayPath(field),
          });
        }
      }
    }
    if (conflicts.length > 0 && !force) {
      return this.status(409, `Apply failed with ${conflicts.length} conflict(s)`, "Conflict", {
        name,
        kind: resource.plural,
        causes: conflicts,
      });
    }
    const object = structuredClone(existing.object);
    const previous = existing.managers.get(manager) ?? new Set<string>();
    for (const field of previous) {
      const ownedElsewhere = [...existing.managers].some(
        ([other, owned]) => other !== manager && owned.has(field),
      );
      if (!fields.has(field) && !ownedElsewhere) removeAt(object, field);
    }
    for (const field of fields) {
      setAt(object, field, valueAt(applied, field));
      if (force) for (const [other, owned] of existing.managers) if (other !== manager) owned.delete(field);
    }
    existing.managers.set(manager, fields);
    if (!isDeepStrictEqual(withoutServerFields(object), withoutServerFields(existing.object))) {
      const meta = object.metadata as Json;
      meta.resourceVersion = String(++this.resourceVersion);
      if (!isDeepStrictEqual(object.spec, existing.object.spec))
        meta.generation = Number(meta.generation) + 1;
      existing.object = object;
    }
    return [200, existing.object];
  }
}

/** Writes a kubeconfig file with one context per server (plain http, so TLS checks are off). */
export function writeKubeconfig(
  file: string,
  contexts: { context: string; server: string; token: string }[],
): void {
  const config = {
    apiVersion: "v1",
    kind: "Config",
    clusters: contexts.map(({ context, server }) => ({
      name: `cluster-${context}`,
      cluster: { server, "insecure-skip-tls-verify": true },
    })),
    users: contexts.map(({ context, token }) => ({ name: `user-${context}`, user: { token } })),
    contexts: contexts.map(({ context }) => ({
      name: context,
      context: { cluster: `cluster-${context}`, user: `user-${context}` },
    })),
    "current-context": contexts[0]?.context ?? "",
  };
  writeFileSync(file, stringify(config));
}

export interface FakeClusters {
  servers: Record<string, FakeKubeApi>;
  /** The KUBECONFIG value: two files joined by the path delimiter, as kubectl reads them. */
  kubeconfig: string;
  close(): Promise<void>;
}

/**
 * Starts one fake API server per name, with contexts `ctx-<name>` and tokens `token-<name>`
 * (`tokens` overrides what the kubeconfig sends, to provoke a 401). The contexts are split over
 * two kubeconfig files so that every test also exercises KUBECONFIG's file list.
 */
export async function startFakeClusters(
  dir: string,
  names: string[],
  options: Omit<FakeKubeApiOptions, "token"> & {
    tokens?: Record<string, string>;
    withoutIstio?: string[];
  } = {},
): Promise<FakeClusters> {
  const started = await Promise.all(
    names.map((name) =>
      FakeKubeApi.start({
        ...options,
        token: `token-${name}`,
        servesIstio: !options.withoutIstio?.includes(name),
      }),
    ),
  );
  const servers = Object.fromEntries(names.map((name, index) => [name, started[index]!]));
  const contexts = names.map((name) => ({
    context: `ctx-${name}`,
    server: servers[name]!.url,
    token: options.tokens?.[name] ?? `token-${name}`,
  }));
  const files = [path.join(dir, "main.kubeconfig"), path.join(dir, "extra.kubeconfig")];
  const half = Math.ceil(contexts.length / 2);
  writeKubeconfig(files[0]!, contexts.slice(0, half));
  writeKubeconfig(files[1]!, contexts.slice(half));
  return {
    servers,
    kubeconfig: files.join(path.delimiter),
    close: async () => {
      await Promise.all(started.map((server) => server.close()));
    },
  };
}

/**
 * For a test file: fresh fake clusters (see startFakeClusters) before each test, KUBECONFIG
 * pointing at them, everything stopped and restored after it.
 */
export function useFakeClusters(names: string[]): { readonly clusters: FakeClusters } {
  const state: { clusters?: FakeClusters; dir?: string } = {};
  const previousKubeconfig = process.env.KUBECONFIG;
  beforeEach(async () => {
    state.dir = mkdtempSync(path.join(os.tmpdir(), "kwt-fake-clusters-"));
    state.clusters = await startFakeClusters(state.dir, names);
    process.env.KUBECONFIG = state.clusters.kubeconfig;
  });
  afterEach(async () => {
    await state.clusters?.close();
    rmSync(state.dir!, { recursive: true, force: true });
    process.env.KUBECONFIG = previousKubeconfig;
  });
  return {
    get clusters(): FakeClusters {
      if (!state.clusters) throw new Error("fake clusters exist only inside a test");
      return state.clusters;
    },
  };
}
