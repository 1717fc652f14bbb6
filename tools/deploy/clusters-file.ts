/**
 * The clusters file: which kubeconfig contexts get the filter and with which per-cluster values.
 * Parsed and checked in full before anything else happens; every problem names its field.
 */
import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export type PullPolicy = "IfNotPresent" | "Always";

/** Where istiod and its mesh ConfigMap live (istiod-<revision> / istio-<revision> with a revision). */
export interface IstioInstall {
  namespace: string;
  revision?: string;
}

export interface PullSecretSettings {
  name: string;
  /** Environment variables holding the registry credentials; without them the Secret is only referenced. */
  usernameEnv?: string;
  passwordEnv?: string;
}

export interface ClusterEntry {
  /** The cluster id the filter reports (`cluster` in pluginConfig). */
  name: string;
  context: string;
  region?: string;
  config: JsonObject;
  namespace?: string;
  selector?: Record<string, string>;
  istio?: Partial<IstioInstall>;
  /** Position in the file, for messages (`clusters[2]`). */
  index: number;
}

export interface ClustersFile {
  image?: string;
  digest?: string;
  /** metadata.name of the WasmPlugin (and the prefix of nothing else). */
  name: string;
  namespace: string;
  selector?: Record<string, string>;
  imagePullPolicy: PullPolicy;
  priority?: number;
  pullSecret?: PullSecretSettings;
  istio: IstioInstall;
  config: JsonObject;
  clusters: ClusterEntry[];
}

export class ClustersFileError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: ${problems.length === 1 ? problems[0] : `\n  ${problems.join("\n  ")}`}`);
  }
}

/** Label values as the filter accepts them (docs/filter.md): [A-Za-z0-9_.:/-], at most 63. */
const LABEL_VALUE = /^[A-Za-z0-9_.:/-]{1,63}$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const TOP_LEVEL_FIELDS = [
  "image",
  "digest",
  "name",
  "namespace",
  "selector",
  "imagePullPolicy",
  "priority",
  "pullSecret",
  "istio",
  "config",
  "clusters",
];
const CLUSTER_FIELDS = ["name", "context", "region", "config", "namespace", "selector", "istio"];

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Reads fields of one mapping, recording each problem with its path. */
class FieldReader {
  constructor(
    private readonly problems: string[],
    private readonly record: Record<string, unknown>,
    private readonly path: string,
    allowed: string[],
  ) {
    for (const key of Object.keys(record)) {
      if (!allowed.includes(key))
        problems.push(`${this.at(key)}: unknown field; expected one of ${allowed.join(", ")}`);
    }
  }

  at(key: string): string {
    return this.path === "" ? key : `${this.path}.${key}`;
  }

  problem(key: string, message: string): void {
    this.problems.push(`${this.at(key)}: ${message}`);
  }

  string(key: string, pattern?: RegExp, expected?: string): string | undefined {
    const value = this.record[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string" || value === "")
      this.problem(key, `must be a non-empty string, got ${JSON.stringify(value)}`);
    else if (pattern && !pattern.test(value))
      this.problem(key, `${JSON.stringify(value)} is not ${expected}`);
    else return value;
    return undefined;
  }

  requiredString(key: string, pattern?: RegExp, expected?: string): string | undefined {
    if (this.record[key] === undefined || this.record[key] === null) this.problem(key, "required");
    return this.string(key, pattern, expected);
  }

  mapping(key: string): Record<string, unknown> | undefined {
    const value = this.record[key];
    if (value === undefined || value === null) return undefined;
    if (!isRecord(value)) this.problem(key, `must be a mapping, got ${JSON.stringify(value)}`);
    else return value;
    return undefined;
  }

  nested(key: string, allowed: string[]): FieldReader | undefined {
    const value = this.mapping(key);
    return value ? new FieldReader(this.problems, value, this.at(key), allowed) : undefined;
  }

  config(key: string): JsonObject {
    return (this.mapping(key) as JsonObject | undefined) ?? {};
  }

  selector(key: string): Record<string, string> | undefined {
    const selector = this.nested(key, ["matchLabels"]);
    const labels = selector?.mapping("matchLabels");
    if (!selector) return undefined;
    if (!labels || Object.keys(labels).length === 0) {
      selector.problem(
        "matchLabels",
        "required: at least one label (leave selector out to select every workload)",
      );
      return undefined;
    }
    const wrong = Object.entries(labels).filter(([, value]) => typeof value !== "string");
    for (const [label] of wrong)
      this.problems.push(`${selector.at("matchLabels")}.${label}: must be a string (quote it)`);
    return wrong.length === 0 ? (labels as Record<string, string>) : undefined;
  }

  istio(key: string): Partial<IstioInstall> | undefined {
    const istio = this.nested(key, ["namespace", "revision"]);
    if (!istio) return undefined;
    const namespace = istio.string("namespace", DNS_LABEL, "a namespace name");
    const revision = istio.string("revision", DNS_LABEL, "a revision name (as in istiod-<revision>)");
    return { ...(namespace && { namespace }), ...(revision && { revision }) };
  }
}

function readCluster(problems: string[], value: unknown, index: number): ClusterEntry | undefined {
  const path = `clusters[${index}]`;
  if (!isRecord(value)) {
    problems.push(`${path}: must be a mapping with name and context`);
    return undefined;
  }
  const fields = new FieldReader(problems, value, path, CLUSTER_FIELDS);
  const labelValue = "a label value ([A-Za-z0-9_.:/-], at most 63 characters)";
  const name = fields.requiredString("name", LABEL_VALUE, labelValue);
  const context = fields.requiredString("context");
  const region = fields.string("region", LABEL_VALUE, labelValue);
  const config = fields.config("config");
  for (const owned of ["cluster", "region"]) {
    if (config[owned] !== undefined) {
      fields.problem(
        `config.${owned}`,
        `kwt sets it from ${path}.${owned === "cluster" ? "name" : "region"}; remove it`,
      );
    }
  }
  const namespace = fields.string("namespace", DNS_LABEL, "a namespace name");
  const selector = fields.selector("selector");
  const istio = fields.istio("istio");
  if (name === undefined || context === undefined) return undefined;
  return { name, context, region, config, namespace, selector, istio, index };
}

function duplicates(clusters: ClusterEntry[], key: "name" | "context", problems: string[]): void {
  const first = new Map<string, number>();
  for (const cluster of clusters) {
    const earlier = first.get(cluster[key]);
    if (earlier === undefined) first.set(cluster[key], cluster.index);
    else {
      problems.push(
        `clusters[${cluster.index}].${key}: ${JSON.stringify(cluster[key])} is already used by clusters[${earlier}]; each cluster once`,
      );
    }
  }
}

/** Parses and checks a clusters file's text; throws ClustersFileError listing every problem. */
export function parseClustersFile(text: string, source: string): ClustersFile {
  const document = parseDocument(text);
  if (document.errors.length > 0) {
    throw new ClustersFileError(
      source,
      document.errors.map((error) => `invalid YAML: ${error.message}`),
    );
  }
  const root: unknown = document.toJS();
  if (!isRecord(root))
    throw new ClustersFileError(source, [
      "must be a mapping with image and clusters (see deploy/clusters.example.yaml)",
    ]);
  const problems: string[] = [];
  const fields = new FieldReader(problems, root, "", TOP_LEVEL_FIELDS);
  const image = fields.string("image");
  const digest = fields.string("digest");
  const name = fields.string("name", DNS_SUBDOMAIN, "a resource name (DNS-1123 subdomain)") ?? "kwt";
  const namespace = fields.string("namespace", DNS_LABEL, "a namespace name") ?? "istio-system";
  const selector = fields.selector("selector");
  const pullPolicy = fields.string("imagePullPolicy", /^(IfNotPresent|Always)$/, "IfNotPresent or Always");
  const priority = root.priority;
  if (priority !== undefined && !(Number.isInteger(priority) && Math.abs(priority as number) < 2 ** 31)) {
    fields.problem("priority", `must be a 32-bit integer, got ${JSON.stringify(priority)}`);
  }
  let pullSecret: PullSecretSettings | undefined;
  const secretFields = fields.nested("pullSecret", ["name", "usernameEnv", "passwordEnv"]);
  if (secretFields) {
    const secretName = secretFields.requiredString(
      "name",
      DNS_SUBDOMAIN,
      "a Secret name (DNS-1123 subdomain)",
    );
    const usernameEnv = secretFields.string("usernameEnv", ENV_NAME, "an environment variable name");
    const passwordEnv = secretFields.string("passwordEnv", ENV_NAME, "an environment variable name");
    if ((usernameEnv === undefined) !== (passwordEnv === undefined)) {
      secretFields.problem(
        usernameEnv === undefined ? "usernameEnv" : "passwordEnv",
        "give usernameEnv and passwordEnv together, or neither",
      );
    }
    if (secretName) pullSecret = { name: secretName, usernameEnv, passwordEnv };
  }
  const istio = { namespace: "istio-system", ...fields.istio("istio") };
  const config = fields.config("config");
  for (const owned of ["cluster", "region"]) {
    if (config[owned] !== undefined)
      fields.problem(
        `config.${owned}`,
        `kwt sets it per cluster (clusters[].${owned === "cluster" ? "name" : "region"}); remove it`,
      );
  }
  const clusterValues = root.clusters;
  const clusters: ClusterEntry[] = [];
  if (!Array.isArray(clusterValues) || clusterValues.length === 0) {
    fields.problem("clusters", "required: a list with at least one cluster (name, context)");
  } else {
    clusterValues.forEach((value, index) => {
      const cluster = readCluster(problems, value, index);
      if (cluster) clusters.push(cluster);
    });
    duplicates(clusters, "name", problems);
    duplicates(clusters, "context", problems);
  }
  if (problems.length > 0) throw new ClustersFileError(source, problems);
  return {
    image,
    digest,
    name,
    namespace,
    selector,
    imagePullPolicy: (pullPolicy as PullPolicy | undefined) ?? "IfNotPresent",
    priority: priority as number | undefined,
    pullSecret,
    istio,
    config,
    clusters,
  };
}

/** The clusters named by --cluster (all when none), and a problem for each name the file lacks. */
export function selectClusters(
  file: ClustersFile,
  only: string[],
): { clusters: ClusterEntry[]; problems: string[] } {
  const known = file.clusters.map((cluster) => cluster.name);
  const problems = only
    .filter((name) => !known.includes(name))
    .map((name) => `--cluster ${name}: no such cluster in the clusters file (it has ${known.join(", ")})`);
  const clusters =
    only.length === 0 ? file.clusters : file.clusters.filter((cluster) => only.includes(cluster.name));
  return { clusters, problems };
}

/** Where istiod runs for this cluster: the file's istio settings with the cluster's over them. */
export function istioInstallOf(file: ClustersFile, cluster: ClusterEntry): IstioInstall {
  return { ...file.istio, ...cluster.istio };
}

export function readClustersFile(file: string): ClustersFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (error as Error).message;
    throw new ClustersFileError(file, [
      `cannot read the clusters file: ${reason} (see deploy/clusters.example.yaml)`,
    ]);
  }
  return parseClustersFile(text, file);
}
