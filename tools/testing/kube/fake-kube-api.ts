/**
 * Test support: a loopback HTTP server that speaks the part of the Kubernetes API kwt uses
 * (discovery, GET, server-side apply PATCH with field ownership, conflicts and `dryRun=All`, an
 * admission webhook that may deny, DELETE with preconditions, managedFields) for Secrets,
 * ConfigMaps, Deployments, WasmPlugins and Pods, pod lists with label and phase selectors, and the
 * pod proxy to a sidecar's metrics; plus a kubeconfig writer pointing contexts at such servers.
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
  { groupVersion: "v1", kind: "Pod", plural: "pods" },
];

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType?: string;
  /** The status code it was answered with (unset while unanswered). */
  status?: number;
}

/** What an admission webhook decides about an object about to be stored: a denial's message, or undefined. */
export type Admission = (object: Record<string, unknown>, request: RecordedRequest) => string | undefined;

/** The webhook name in denials, as Istio's validating webhook is called. */
export const ADMISSION_WEBHOOK = "validation.istio.io";

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
  /** How each manager last wrote: `Apply` (server-side apply) or `Update` (create, edit, replace). */
  operations: Map<string, "Apply" | "Update">;
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

/** Owned leaf paths in the API server's FieldsV1 form: `{"f:spec": {"f:url": {}}}`. */
function fieldsV1(fields: Set<FieldPath>): Json {
  const tree: Json = {};
  for (const field of fields) {
    let node = tree;
    for (const key of keysOf(field)) {
      const name = `f:${key}`;
      if (!isRecord(node[name])) node[name] = {};
      node = node[name] as Json;
    }
  }
  return tree;
}

/** Equality-based label selectors (`a=b,c`, `c` meaning the label exists), as kwt sends them. */
function matchesLabels(object: Json, selector: string | null): boolean {
  if (!selector) return true;
  const labels = ((object.metadata as Json).labels ?? {}) as Record<string, string>;
  return selector.split(",").every((term) => {
    const [key, value] = term.split("=") as [string, string | undefined];
    return value === undefined ? key in labels : labels[key] === value;
  });
}

function matchesFields(object: Json, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(",").every((term) => {
    const [field, value] = term.split("=") as [string, string];
    return String(valueAt(object, JSON.stringify(field.split(".")))) === value;
  });
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
  /** Set to run a validating admission webhook on every write, dry runs included. */
  admission?: Admission;
  /** What the pod proxy answers, by `namespace/pod:port/path`: a body, or an error. */
  readonly podEndpoints = new Map<string, string | { code: number; message: string }>();
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
      operations: new Map([[manager, "Update"]]),
    });
  }

  /** The object as the API server shows it: with managedFields. */
  private present(stored: Stored): Json {
    const object = structuredClone(stored.object);
    (object.metadata as Json).managedFields = [...stored.managers].map(([manager, fields]) => ({
      manager,
      operation: stored.operations.get(manager) ?? "Update",
      apiVersion: object.apiVersion,
      fieldsType: "FieldsV1",
      fieldsV1: fieldsV1(fields),
    }));
    return object;
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
      const [code, body]: [number, Json | string] =
        request.headers.authorization !== `Bearer ${this.options.token}`
          ? this.status(401, "Unauthorized", "Unauthorized")
          : interception
            ? this.status(interception.code, interception.message, interception.reason ?? "Failure")
            : this.route(recorded, Buffer.concat(chunks).toString("utf8"));
      recorded.status = code;
      const text = typeof body === "string";
      response.writeHead(code, { "content-type": text ? "text/plain; version=0.0.4" : "application/json" });
      response.end(text ? body : JSON.stringify(body));
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

  private route(request: RecordedRequest, body: string): [number, Json | string] {
    const discovery = /^\/(?:api\/(v1)|apis\/([^/]+\/[^/]+))$/.exec(request.path);
    if (discovery && request.method === "GET") return this.discover(discovery[1] ?? discovery[2]!);
    const podList = /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?pods$/.exec(request.path);
    if (podList && request.method === "GET") return this.listPods(request, podList[1]);
    const proxy = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/proxy\/(.*)$/.exec(request.path);
    if (proxy && request.method === "GET")
      return this.proxyToPod(proxy[1]!, decodeURIComponent(proxy[2]!), proxy[3]!);
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
        ? [200, this.present(stored)]
        : this.status(404, `${resource.plural} "${name}" not found`, "NotFound");
    }
    if (request.method === "PATCH") return this.apply(request, body, resource, key, namespace, name);
    if (request.method === "DELETE") return this.delete(body, resource, key, name);
    return this.status(405, `method ${request.method} not allowed`, "MethodNotAllowed");
  }

  private listPods(request: RecordedRequest, namespace: string | undefined): [number, Json] {
    const limit = Number(request.query.get("limit") ?? "0");
    const pods = [...this.objects.values()]
      .map((stored) => stored.object)
      .filter(
        (object) =>
          object.kind === "Pod" &&
          (namespace === undefined || (object.metadata as Json).namespace === namespace) &&
          matchesLabels(object, request.query.get("labelSelector")) &&
          matchesFields(object, request.query.get("fieldSelector")),
      );
    const items = limit > 0 ? pods.slice(0, limit) : pods;
    return [
      200,
      {
        kind: "PodList",
        apiVersion: "v1",
        metadata: {
          resourceVersion: String(this.resourceVersion),
          ...(items.length < pods.length && { continue: "more" }),
        },
        items,
      },
    ];
  }

  private proxyToPod(namespace: string, podAndPort: string, rest: string): [number, Json | string] {
    const pod = podAndPort.split(":")[0]!;
    if (!this.objects.has(this.key("v1", "pods", namespace, pod)))
      return this.status(404, `pods "${pod}" not found`, "NotFound");
    const answer = this.podEndpoints.get(`${namespace}/${podAndPort}/${rest}`);
    if (answer === undefined)
      return this.status(
        503,
        `error trying to reach service: dial tcp ${podAndPort}: connect: connection refused`,
        "ServiceUnavailable",
      );
    if (typeof answer === "string") return [200, answer];
    return this.status(answer.code, answer.message, "Failure");
  }

  private delete(body: string, resource: Resource, key: string, name: string): [number, Json] {
    const stored = this.objects.get(key);
    if (!stored) return this.status(404, `${resource.plural} "${name}" not found`, "NotFound");
    const options = (body ? JSON.parse(body) : {}) as {
      preconditions?: { uid?: string; resourceVersion?: string };
    };
    const metadata = stored.object.metadata as Json;
    const { uid, resourceVersion } = options.preconditions ?? {};
    if (
      (uid !== undefined && uid !== metadata.uid) ||
      (resourceVersion !== undefined && resourceVersion !== metadata.resourceVersion)
    ) {
      return this.status(
        409,
        `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${String(metadata.uid)}`,
        "Conflict",
      );
    }
    this.objects.delete(key);
    return [
      200,
      {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Success",
        details: { name, kind: resource.plural, uid: metadata.uid },
      },
    ];
  }

  /** A denial from the admission webhook, as the API server relays it (400 when the webhook gives no code). */
  private admit(object: Json, request: RecordedRequest): [number, Json] | undefined {
    const denial = this.admission?.(object, request);
    if (denial === undefined) return undefined;
    return this.status(
      400,
      `admission webhook "${ADMISSION_WEBHOOK}" denied the request: ${denial}`,
      "BadRequest",
    );
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
    const dryRun = request.query.get("dryRun") === "All";
    const fields = ownedFields(applied);
    const existing = this.objects.get(key);
    if (!existing) {
      const object: Json = structuredClone(applied);
      // A dry run assigns no resourceVersion or uid: nothing is stored.
      Object.assign(object.metadata as Json, {
        namespace,
        ...(!dryRun && {
          resourceVersion: String(this.resourceVersion + 1),
          uid: `uid-${this.resourceVersion + 1}`,
        }),
        generation: 1,
        creationTimestamp: "2024-01-01T00:00:00Z",
      });
      const denied = this.admit(object, request);
      if (denied) return denied;
      const created: Stored = {
        object,
        managers: new Map([[manager, fields]]),
        operations: new Map([[manager, "Apply"]]),
      };
      if (!dryRun) {
        this.resourceVersion++;
        this.objects.set(key, created);
      }
      return [201, this.present(created)];
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
    // Worked out on a copy: a dry run, or a denial from admission, leaves the stored object alone.
    const next: Stored = {
      object: structuredClone(existing.object),
      managers: new Map([...existing.managers].map(([other, owned]) => [other, new Set(owned)])),
      operations: new Map(existing.operations),
    };
    const object = next.object;
    const previous = next.managers.get(manager) ?? new Set<string>();
    for (const field of previous) {
      const ownedElsewhere = [...next.managers].some(
        ([other, owned]) => other !== manager && owned.has(field),
      );
      if (!fields.has(field) && !ownedElsewhere) removeAt(object, field);
    }
    for (const field of fields) {
      setAt(object, field, valueAt(applied, field));
      if (force) for (const [other, owned] of next.managers) if (other !== manager) owned.delete(field);
    }
    next.managers.set(manager, fields);
    next.operations.set(manager, "Apply");
    const changed = !isDeepStrictEqual(withoutServerFields(object), withoutServerFields(existing.object));
    const denied = this.admit(object, request);
    if (denied) return denied;
    if (dryRun) return [200, this.present(next)];
    if (changed) {
      const meta = object.metadata as Json;
      meta.resourceVersion = String(++this.resourceVersion);
      if (!isDeepStrictEqual(object.spec, existing.object.spec))
        meta.generation = Number(meta.generation) + 1;
    } else next.object = existing.object;
    this.objects.set(key, next);
    return [200, this.present(next)];
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
