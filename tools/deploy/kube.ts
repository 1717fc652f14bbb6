/**
 * Kubernetes access for deploy, status and doctor: one client per kubeconfig context, failures
 * turned into sentences a person can act on, and bounded, time-limited work across clusters.
 */
import { existsSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import {
  ApiException,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
} from "@kubernetes/client-node";

/** Field manager of every server-side apply kwt makes. */
export const FIELD_MANAGER = "kwt";

/**
 * A failure already phrased for the person running kwt. `cluster`: nothing can be read from this
 * cluster (unreachable, credentials refused); `object`: this one request failed, others may not.
 */
export class ClusterError extends Error {
  constructor(
    message: string,
    readonly scope: "cluster" | "object" = "object",
  ) {
    super(message);
  }
}

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string };
}

/** A live object's identity at the moment it was read: delete removes exactly that one. */
export interface LiveIdentity {
  uid: string;
  resourceVersion: string;
}

/** The largest answer kwt reads from a raw GET (a sidecar's merged metrics are well below). */
const MAX_RAW_BYTES = 8 * 1024 * 1024;

/**
 * The kubeconfig files kubectl would read: the existing entries of $KUBECONFIG (joined by the path
 * delimiter; kubectl skips missing ones), else ~/.kube/config.
 */
export function kubeconfigFiles(env: NodeJS.ProcessEnv = process.env, home: string = os.homedir()): string[] {
  if (env.KUBECONFIG) {
    return env.KUBECONFIG.split(path.delimiter).filter((file) => file !== "" && existsSync(file));
  }
  const fallback = path.join(home, ".kube", "config");
  return existsSync(fallback) ? [fallback] : [];
}

/** The user's kubeconfig as kubectl would read it (see kubeconfigFiles); the first file's current context wins. */
export function loadKubeConfig(
  env: NodeJS.ProcessEnv = process.env,
  home: string = os.homedir(),
): KubeConfig {
  const files = kubeconfigFiles(env, home);
  if (files.length === 0) {
    throw new ClusterError(
      env.KUBECONFIG
        ? `no kubeconfig: none of the files in KUBECONFIG=${env.KUBECONFIG} exists; point KUBECONFIG at your kubeconfig file(s)`
        : "no kubeconfig: KUBECONFIG is not set and ~/.kube/config does not exist; point KUBECONFIG at your kubeconfig file(s)",
    );
  }
  const config = new KubeConfig();
  for (const [index, file] of files.entries()) {
    try {
      if (index === 0) config.loadFromFile(file);
      else {
        const next = new KubeConfig();
        next.loadFromFile(file);
        config.mergeConfig(next, true);
      }
    } catch (error) {
      throw new ClusterError(`cannot read the kubeconfig ${file}: ${(error as Error).message}`);
    }
  }
  return config;
}

function kubeconfigSource(): string {
  return process.env.KUBECONFIG ? `KUBECONFIG=${process.env.KUBECONFIG}` : "~/.kube/config";
}

function statusOf(error: ApiException<unknown>): {
  message: string;
  causes: { field?: string; message?: string }[];
} {
  const body: unknown = error.body;
  let status: unknown = body;
  if (typeof body === "string") {
    try {
      status = JSON.parse(body);
    } catch {
      return { message: body.trim().slice(0, 300), causes: [] };
    }
  }
  const record = (status ?? {}) as { message?: unknown; details?: { causes?: unknown } };
  const causes = Array.isArray(record.details?.causes)
    ? (record.details.causes as { field?: string; message?: string }[])
    : [];
  return { message: typeof record.message === "string" ? record.message : "", causes };
}

/** Exposes the client's (cached) discovery so a missing API reads as such, not as a failed request. */
class DiscoveringObjectApi extends KubernetesObjectApi {
  async serves(apiVersion: string, kind: string): Promise<boolean> {
    return (await this.resource(apiVersion, kind)) !== undefined;
  }
}

function describeObject(object: ObjectRef): string {
  return `${object.kind} ${object.metadata.namespace}/${object.metadata.name}`;
}

function permissionTo(verb: string, object: ObjectRef): string {
  return `${verb} ${object.kind} objects in namespace ${object.metadata.namespace}`;
}

/** One context's API server. Every method throws ClusterError with a sentence naming what to do. */
export class ClusterClient {
  private readonly api: DiscoveringObjectApi;
  private readonly config: KubeConfig;
  readonly server: string;

  constructor(
    base: KubeConfig,
    readonly context: string,
  ) {
    if (!base.getContextObject(context)) {
      const known = base.getContexts().map((entry) => entry.name);
      throw new ClusterError(
        `context "${context}" is not in the kubeconfig (${kubeconfigSource()}; it has ${known.length ? known.join(", ") : "no contexts"}); check the clusters file or 'kubectl config get-contexts'`,
      );
    }
    // A KubeConfig authenticates each request with its *current* context, so each cluster needs its
    // own: switching one shared config would send requests to the wrong cluster when run concurrently.
    const config = (this.config = new KubeConfig());
    config.loadFromOptions({
      // The client library refuses http:// unless TLS verification is off; over plain HTTP (as
      // kubectl proxy serves) there is nothing to verify, and kubectl talks to it as it is.
      clusters: base
        .getClusters()
        .map((cluster) =>
          cluster.server.startsWith("http:") ? { ...cluster, skipTLSVerify: true } : cluster,
        ),
      users: base.getUsers(),
      contexts: base.getContexts(),
      currentContext: context,
    });
    this.server = config.getCurrentCluster()?.server ?? "(no server)";
    try {
      this.api = config.makeApiClient(DiscoveringObjectApi);
    } catch (error) {
      throw new ClusterError(`context "${context}": ${(error as Error).message}`);
    }
  }

  /**
   * Gets the context's credentials before any request, so a failing exec credential plugin (or
   * auth provider) is reported as such, not as an unreachable API server.
   */
  async authenticate(): Promise<void> {
    try {
      await this.config.applyToFetchOptions({});
    } catch (error) {
      const user = this.config.getCurrentUser();
      const plugin = user?.exec
        ? ` (exec plugin '${String((user.exec as { command?: unknown }).command)}')`
        : "";
      const code = (error as NodeJS.ErrnoException).code;
      const reason = code === "ENOENT" ? "not found on PATH" : (error as Error).message.trim() || "it failed";
      throw new ClusterError(
        `context "${this.context}": getting the credentials of user "${user?.name ?? "?"}"${plugin} failed: ${reason}; run it yourself to see why, or log in again`,
        "cluster",
      );
    }
  }

  /** `permission` completes "needs RBAC permission to ..." for a 403. */
  private explain(error: unknown, doing: string, permission: string, what: string): ClusterError {
    if (error instanceof ClusterError) return error;
    if (!(error instanceof ApiException)) {
      const reason = error instanceof Error ? error.message : String(error);
      return new ClusterError(
        `${doing}: cannot reach the API server at ${this.server}: ${reason}`,
        "cluster",
      );
    }
    const { message, causes } = statusOf(error);
    const said = message ? `: ${message}` : "";
    switch (error.code) {
      case 401:
        return new ClusterError(
          `${doing}: unauthorized (401): the API server at ${this.server} rejected the credentials of context "${this.context}"; log in again or renew the token, then rerun`,
          "cluster",
        );
      case 403:
        return new ClusterError(
          `${doing}: forbidden (403)${said}; the user of context "${this.context}" needs RBAC permission to ${permission}`,
        );
      case 409: {
        const fields = causes
          .map((cause) => `${cause.field ?? "?"} (${cause.message ?? "conflict"})`)
          .join("; ");
        return new ClusterError(
          `${doing}: conflict (409): another field manager owns ${fields || "fields of " + what}; rerun with --force to take them over for kwt, or change them back`,
        );
      }
      // 422: the CRD's schema (or a CEL rule) said no; 400: an admission webhook denied it.
      case 400:
      case 422:
        return new ClusterError(`${doing}: the API server refused ${what} (${error.code})${said}`);
      default:
        return error.code >= 500
          ? new ClusterError(
              `${doing}: the API server failed (${error.code})${said}; rerun when it is healthy`,
            )
          : new ClusterError(`${doing}: HTTP ${error.code}${said}`);
    }
  }

  /** Fails with a clear sentence when the cluster does not serve the kind (e.g. Istio missing). */
  async ensureServed(object: ObjectRef): Promise<void> {
    let served = false;
    try {
      served = await this.api.serves(object.apiVersion, object.kind);
    } catch (error) {
      if (!(error instanceof ApiException && error.code === 404)) {
        throw this.explain(
          error,
          `discovering ${object.apiVersion}`,
          "read API discovery (a ClusterRole such as system:discovery)",
          describeObject(object),
        );
      }
    }
    if (!served) {
      const hint = object.apiVersion.includes("istio.io") ? " Is Istio installed in this cluster?" : "";
      throw new ClusterError(
        `the API server at ${this.server} does not serve ${object.apiVersion} ${object.kind}.${hint}`,
      );
    }
  }

  /** The live object, or undefined when there is none. */
  async read(object: ObjectRef): Promise<KubernetesObject | undefined> {
    await this.ensureServed(object);
    try {
      return await this.api.read({ ...object, metadata: { ...object.metadata } });
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return undefined;
      throw this.explain(
        error,
        `reading ${describeObject(object)}`,
        permissionTo("get", object),
        describeObject(object),
      );
    }
  }

  /**
   * Server-side apply as field manager kwt; `force` takes over fields other managers own. With
   * `dryRun` the API server runs everything (defaulting, its CRD schema, admission webhooks) and
   * answers with the object as it would be, storing nothing.
   */
  async apply(object: ObjectRef, force: boolean, dryRun = false): Promise<KubernetesObject> {
    const doing = `${dryRun ? "dry-run applying" : "applying"} ${describeObject(object)}`;
    try {
      return await this.api.patch(
        structuredClone(object),
        undefined,
        dryRun ? "All" : undefined,
        FIELD_MANAGER,
        force,
        PatchStrategy.ServerSideApply,
      );
    } catch (error) {
      throw this.explain(error, doing, permissionTo("patch", object), describeObject(object));
    }
  }

  /**
   * Deletes the object read as `identity`; false when it is already gone. The precondition makes
   * the API server refuse (409) if the object was replaced or changed since it was read.
   */
  async delete(object: ObjectRef, identity: LiveIdentity): Promise<boolean> {
    try {
      await this.api.delete(
        { ...object, metadata: { ...object.metadata } },
        undefined,
        undefined,
        undefined,
        undefined,
        "Background",
        { preconditions: { uid: identity.uid, resourceVersion: identity.resourceVersion } },
      );
      return true;
    } catch (error) {
      if (error instanceof ApiException && error.code === 404) return false;
      if (error instanceof ApiException && error.code === 409) {
        throw new ClusterError(
          `deleting ${describeObject(object)}: it changed since kwt read it (409); rerun to check it again`,
        );
      }
      throw this.explain(
        error,
        `deleting ${describeObject(object)}`,
        permissionTo("delete", object),
        describeObject(object),
      );
    }
  }

  /**
   * GET of an API path kwt has no typed call for (pod lists, the pod proxy), authenticated as the
   * context's user; the body as text. `permission` completes "needs RBAC permission to ..." for a 403.
   */
  async getRaw(
    apiPath: string,
    query: Record<string, string>,
    doing: string,
    permission: string,
  ): Promise<string> {
    // Appended, not resolved: a server URL may have a path (API gateways, Rancher) to keep.
    const url = new URL(`${this.server.replace(/\/+$/, "")}${apiPath}`);
    for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
    const options: https.RequestOptions = { method: "GET", headers: { accept: "application/json, */*" } };
    try {
      await this.config.applyToHTTPSOptions(options);
      const { status, headers, body } = await rawRequest(url, options);
      if (status >= 400) throw new ApiException(status, `HTTP ${status}`, body, headers);
      return body;
    } catch (error) {
      throw this.explain(error, doing, permission, apiPath);
    }
  }
}

function rawRequest(
  url: URL,
  options: https.RequestOptions,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const transport = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(url, options, (response) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RAW_BYTES) request.destroy(new Error(`answer larger than ${MAX_RAW_BYTES} bytes`));
        else chunks.push(chunk);
      });
      response.on("end", () =>
        resolve({
          status: response.statusCode ?? 0,
          headers: Object.fromEntries(
            Object.entries(response.headers).map(([key, value]) => [key, String(value)]),
          ),
          body: Buffer.concat(chunks).toString("utf8"),
        }),
      );
      response.on("error", reject);
    });
    request.on("error", reject);
    request.end();
  });
}

export interface ClusterTarget {
  cluster: string;
  context: string;
}

export interface ClusterOutcome<T extends ClusterTarget, R> {
  target: T;
  result?: R;
  /** Why this cluster failed; the others are unaffected. */
  error?: string;
}

export interface RunOptions {
  kubeConfig: KubeConfig;
  /** Clusters worked on at once. */
  concurrency: number;
  /** Time one cluster may take in all. */
  timeoutMs: number;
  /** Called as each cluster finishes (progress). */
  onDone?: (outcome: ClusterOutcome<ClusterTarget, unknown>, finished: number, total: number) => void;
}

function withDeadline<R>(work: Promise<R>, timeoutMs: number, message: string): Promise<R> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ClusterError(message)), timeoutMs);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Runs `work` for every target, at most `concurrency` at a time, each within the time limit. A
 * failure is that cluster's outcome and never stops the others. Outcomes come in target order.
 */
export async function runOnClusters<T extends ClusterTarget, R>(
  targets: T[],
  options: RunOptions,
  work: (client: ClusterClient, target: T) => Promise<R>,
): Promise<ClusterOutcome<T, R>[]> {
  let finished = 0;
  return mapWithConcurrency(targets, options.concurrency, async (target) => {
    let outcome: ClusterOutcome<T, R>;
    try {
      const client = new ClusterClient(options.kubeConfig, target.context);
      const seconds = options.timeoutMs / 1000;
      const result = await withDeadline(
        client.authenticate().then(() => work(client, target)),
        options.timeoutMs,
        `no answer from ${client.server} within ${seconds}s (--timeout); is the cluster reachable?`,
      );
      outcome = { target, result };
    } catch (error) {
      outcome = {
        target,
        error: error instanceof ClusterError ? error.message : `unexpected: ${String(error)}`,
      };
    }
    options.onDone?.(outcome, ++finished, targets.length);
    return outcome;
  });
}

/** `work` for every item, at most `limit` at once; results in item order. */
export async function mapWithConcurrency<T, R>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
