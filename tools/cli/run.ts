import { readFile } from "node:fs/promises";
import path from "node:path";
import {
  booleanFlag,
  integerFlag,
  noPositionals,
  parseArgs,
  repeatableFlag,
  stringFlag,
  UsageError,
  type FlagSpec,
  type ParsedArgs,
} from "./args.js";
import { EXIT_FAILURE, EXIT_OK, InputError, projectRoot, type Command } from "./command.js";
import {
  AccessLogFormat,
  checkLoopbackUrl,
  DEFAULT_ENVOY_VERSION,
  DEFAULT_REQUEST_HEADER_LIMITS,
  DEFAULT_WORKERS,
  EnvoyProcess,
  envoyMinorVersion,
  FormatError,
  HarnessProxy,
  type AdminAnswer,
  type HostPort,
  type ListenerPluginOptions,
  type LogRecord,
  ModuleRefusedError,
  type NodeIdentity,
  parseUpstreamUrl,
  Plugin,
  type PluginOptions,
  type PortListener,
  type ProxyOptions,
  propertyLayoutOf,
  type PropertyLayout,
  type RequestHeaderLimits,
  StatStore,
  type StreamOptions,
  type TrafficDirection,
} from "../../host-tests/harness/index.js";

const USAGE = `Usage: kwt run --listen HOST:PORT --upstream URL [options]

Runs the filter in the harness as one Envoy proxy: an HTTP listener whose requests go through the
filter to the upstream, and an admin listener with /stats/prometheus and /ready. Chain several
(the upstream of one is the listener of the next) to model a gateway and sidecars in clusters.
Port 0 picks a free port; the addresses actually bound are printed. Stops on SIGINT/SIGTERM.
A configuration the module rejects (on_configure returning false) does not stop it: like Envoy
with no accepted filter configuration (Istio's ECDS), it answers every request 500, empty body,
response flag NFCF, without calling the module.

With --outbound-listen it is one pod's sidecar: --listen is the inbound listener (to the app) and
--outbound-listen the outbound one (the app's calls out), each with its own plugin configuration
and root context in the same worker VMs (module globals, shared data and stats shared), one admin.

Configuration updates (as Istio's ECDS pushes one): SIGHUP or POST /kwt/reload on the admin port
re-reads --config and --outbound-config. A changed configuration makes a new root context in each
worker VM; the old one finishes its open streams, then gets proxy_on_done (and proxy_on_delete once
it is done: the filter first sends its pending spans). A configuration the module rejects leaves the
one in force. What happened is printed on stderr, one line per listener, and is the admin's answer
(200; 400 when a file cannot be read or is not JSON, and then nothing changes).

Options:
  --listen HOST:PORT        where clients connect (required)
  --upstream URL            where requests go, http://host:port (required)
  --admin HOST:PORT         admin listener: /stats/prometheus, /ready, POST /kwt/reload
  --config FILE             plugin configuration, a JSON file (WasmPlugin pluginConfig); default: none
  --wasm FILE               the .wasm module; default build/filter.wasm
  --direction DIR           listener direction: inbound (default) or outbound
  --outbound-listen HOST:PORT
                            a sidecar's outbound listener, beside --listen (then inbound), in the
                            same VMs: where the app's calls out arrive
  --outbound-upstream URL   where --outbound-listen's requests go, http://host:port (required with it)
  --outbound-config FILE    the outbound listener's plugin configuration (JSON); default: none
  --outbound-upstream-identity SPIFFE_ID
                            the outbound upstream presents this URI SAN (a pod in the mesh, whose
                            pod stamps the filter then trusts)
  --gateway                 run as an Istio gateway (node type router) instead of a sidecar
  --cluster ID              node metadata CLUSTER_ID
  --region NAME             node locality region
  --zone NAME               node locality zone
  --namespace NS            node metadata NAMESPACE
  --workload NAME           node metadata WORKLOAD_NAME
  --label KEY=VALUE         a pod label (node metadata LABELS); repeatable
  --http-cluster NAME=URL   an Envoy cluster proxy_http_call may target (e.g. otel-collector=
                            http://127.0.0.1:4318); loopback http only; repeatable
  --root-id ID              plugin_root_id (WasmPlugin pluginName); default kwt
  --envoy VERSION           the Envoy version modelled, 1.MINOR[.PATCH] from 1.28; default 1.33. Sets
                            the property layout (up to 1.29 node.* and listener_direction only,
                            1.30-1.32 those and xds.*, from 1.33 xds.* only), the stream ends
                            (response.code_details, flags) and the access-log order
  --workers N               Envoy worker threads, each with its own VM, 1 to 64; default 2, as
                            Istio runs
  --extra-stat-tags A,B     Istio extraStatTags for /stats/prometheus labels
  --mtls                    every downstream connection counts as mutual TLS (connection.mtls) with a
                            client certificate that is no mesh identity (outside clients of a gateway
                            with MUTUAL TLS)
  --peer-identity SPIFFE_ID the downstream presents this URI SAN over mTLS
                            (connection.uri_san_peer_certificate; implies --mtls)
  --upstream-identity SPIFFE_ID
                            --listen's upstream presents this URI SAN (upstream.uri_san_peer_certificate)
  --upstream-cluster NAME   the cluster --listen's route picked (xds.cluster_name, cluster_name up to
                            1.29), e.g. outbound|443||api.example.com for a host outside the mesh
                            or outbound|80||hello.default.svc.cluster.local; default none (a
                            sidecar then decides from :authority)
  --destination-port N      destination.port of requests to --listen, the port they were addressed
                            to (a sidecar's inbound app port: 8012 for a revision pod, or the filter
                            counts no invocations); default the listener's port
  --listen-port PORT=HOST:PORT
                            one more listener, standing for the pod's PORT: requests arriving on
                            HOST:PORT have destination.port PORT, as Envoy's inbound listener reads
                            each connection's original port (e.g. 9090=127.0.0.1:0 for the
                            autoscaler's scrapes, 9091=... for Prometheus's); same upstream and
                            filter; printed as 'listen-port PORT URL'; repeatable
  --fail-closed             answer 503 once the VM failed (FAIL_CLOSE); default fail open
  --upstream-timeout-ms N   route timeout; default 15000, as Envoy
  --max-headers N           max_headers_count: more request headers are answered 431 (DPE,
                            http1.too_many_headers) before the filter; default 100, as Envoy
                            (60 KiB of request headers stays the size limit)
  --stats-flush-interval-ms N
                            histograms show at /stats/prometheus only once a stats flush merged them,
                            every N ms (Istio: 5000); default: at once
  --access-log FORMAT       print one line per stream on stdout in Envoy's format, e.g.
                            '%RESPONSE_CODE% %RESPONSE_FLAGS% %FILTER_STATE(wasm.NAME:PLAIN)%';
                            operators: %FILTER_STATE(KEY:PLAIN)%, %RESPONSE_CODE%, %RESPONSE_FLAGS%,
                            %RESPONSE_CODE_DETAILS%, %DURATION%, %REQ(HEADER)%, %UPSTREAM_CLUSTER%,
                            %REQUEST_TX_DURATION%, %START_TIME% (Envoy's default, or
                            %START_TIME(%s%3f)% for epoch ms),
                            each with :N to truncate; before the filter's on_log up to --envoy 1.31,
                            after it from 1.32`;

const FLAGS: FlagSpec = {
  listen: "string",
  upstream: "string",
  admin: "string",
  config: "string",
  wasm: "string",
  direction: "string",
  "outbound-listen": "string",
  "outbound-upstream": "string",
  "outbound-config": "string",
  "outbound-upstream-identity": "string",
  gateway: "boolean",
  cluster: "string",
  region: "string",
  zone: "string",
  namespace: "string",
  workload: "string",
  label: "repeatable",
  "http-cluster": "repeatable",
  "root-id": "string",
  envoy: "string",
  workers: "string",
  "extra-stat-tags": "string",
  mtls: "boolean",
  "peer-identity": "string",
  "upstream-identity": "string",
  "upstream-cluster": "string",
  "destination-port": "string",
  "listen-port": "repeatable",
  "fail-closed": "boolean",
  "upstream-timeout-ms": "string",
  "max-headers": "string",
  "stats-flush-interval-ms": "string",
  "access-log": "string",
};

/** Everything `kwt run` will do, decided from the command line alone. */
export interface RunPlan {
  listen: HostPort;
  /** --listen-port: more listeners, each standing for one port of the pod. */
  portListeners: PortListener[];
  upstream: string;
  admin: HostPort | undefined;
  configFile: string | undefined;
  wasmFile: string;
  direction: TrafficDirection;
  /** --outbound-listen: the sidecar's outbound listener, a second plugin in the same VMs. */
  outbound: OutboundListenerPlan | undefined;
  /** The Envoy version given with --envoy (default 1.33) and the property layout it has. */
  envoy: string;
  propertyLayout: PropertyLayout;
  node: NodeIdentity;
  httpClusters: Record<string, string>;
  rootId: string | undefined;
  workers: number;
  extraStatTags: string[];
  mtls: boolean;
  identity: ConnectionIdentity;
  failOpen: boolean;
  upstreamTimeoutMs: number;
  requestHeaderLimits: RequestHeaderLimits;
  statsFlushIntervalMs: number | undefined;
  accessLogFormat: string | undefined;
}

/** A sidecar's outbound listener: the app connects in plaintext, the upstream is a mesh pod. */
export interface OutboundListenerPlan {
  listen: HostPort;
  upstream: string;
  configFile: string | undefined;
  upstreamIdentity: string | undefined;
}

/** Who the peers are, where requests were addressed and routed, the same for every connection. */
export type ConnectionIdentity = Pick<
  StreamOptions,
  "peerIdentity" | "upstreamIdentity" | "destinationPort" | "upstreamCluster"
>;

/** A SPIFFE id as Istio writes it in certificates: spiffe://<trust domain>/<path>. */
function spiffeId(flag: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!/^spiffe:\/\/[^/\s]+\/\S+$/.test(value)) {
    throw new UsageError(
      `--${flag} must be a SPIFFE id spiffe://TRUST_DOMAIN/PATH (e.g. spiffe://cluster.local/ns/default/sa/app), got '${value}'`,
    );
  }
  return value;
}

function parseConnectionIdentity(args: ParsedArgs): ConnectionIdentity {
  const identity: ConnectionIdentity = {};
  const peerIdentity = spiffeId("peer-identity", stringFlag(args, "peer-identity"));
  const upstreamIdentity = spiffeId("upstream-identity", stringFlag(args, "upstream-identity"));
  const destinationPort = integerFlag(args, "destination-port", 1, 65535);
  const upstreamCluster = stringFlag(args, "upstream-cluster");
  if (upstreamCluster !== undefined && !/^\S+$/.test(upstreamCluster)) {
    throw new UsageError(
      `--upstream-cluster must be an Envoy cluster name without spaces (e.g. outbound|443||api.example.com), got '${upstreamCluster}'`,
    );
  }
  if (peerIdentity !== undefined) identity.peerIdentity = peerIdentity;
  if (upstreamIdentity !== undefined) identity.upstreamIdentity = upstreamIdentity;
  if (destinationPort !== undefined) identity.destinationPort = destinationPort;
  if (upstreamCluster !== undefined) identity.upstreamCluster = upstreamCluster;
  return identity;
}

/** --envoy's layout; the version must also be one whose stream ends the harness knows (1.28+). */
function checkedPropertyLayout(envoy: string): PropertyLayout {
  try {
    const layout = propertyLayoutOf(envoy);
    envoyMinorVersion(envoy);
    return layout;
  } catch (error) {
    throw new UsageError(`--envoy: ${(error as Error).message}`);
  }
}

function checkedAccessLogFormat(format: string | undefined): string | undefined {
  if (format === undefined) return undefined;
  try {
    AccessLogFormat.parse(format);
  } catch (error) {
    if (error instanceof FormatError) throw new UsageError(`--access-log: ${error.message}`);
    throw error;
  }
  return format;
}

/** HOST:PORT with an IPv4 address or name, or [IPv6]:PORT; port 0 means any free port. */
export function parseHostPort(flag: string, text: string): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  const host = match?.[1] ?? match?.[2];
  if (!match || host === undefined || port > 65535) {
    throw new UsageError(`--${flag} must be HOST:PORT (port 0 to 65535, [IPv6]:PORT), got '${text}'`);
  }
  return { host, port };
}

function oneOf<T extends string>(
  flag: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`--${flag} must be one of ${allowed.join(", ")}, got '${value}'`);
}

function required(flag: string, value: string | undefined): string {
  if (value === undefined) throw new UsageError(`--${flag} is required`);
  return value;
}

/** Repeated --flag KEY=VALUE as a record; an empty key or a key given twice is an error. */
export function parseKeyValues(flag: string, values: string[]): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf("=");
    if (eq <= 0) throw new UsageError(`--${flag} must be KEY=VALUE with a non-empty key, got '${value}'`);
    const key = value.slice(0, eq);
    if (key in entries) throw new UsageError(`--${flag} ${key} given twice`);
    entries[key] = value.slice(eq + 1);
  }
  return entries;
}

/**
 * Repeated --listen-port PORT=HOST:PORT. A port given twice, or the one --destination-port already
 * gives --listen, would have two listeners for one pod port: an error.
 */
export function parsePortListeners(values: string[], destinationPort: number | undefined): PortListener[] {
  const listeners: PortListener[] = [];
  for (const value of values) {
    const match = /^(\d{1,5})=(.+)$/.exec(value);
    const port = Number(match?.[1]);
    if (!match || port < 1 || port > 65535) {
      throw new UsageError(
        `--listen-port must be PORT=HOST:PORT with the pod's port 1 to 65535 (e.g. 9090=127.0.0.1:0), got '${value}'`,
      );
    }
    if (port === destinationPort) {
      throw new UsageError(
        `--listen-port ${port}: requests to --listen already have destination.port ${port} (--destination-port); give each pod port one listener`,
      );
    }
    if (listeners.some((listener) => listener.destinationPort === port)) {
      throw new UsageError(`--listen-port ${port} given twice; give each pod port one listener`);
    }
    listeners.push({ destinationPort: port, listen: parseHostPort("listen-port", match[2]!) });
  }
  return listeners;
}

/** A required upstream flag's URL, checked as the proxy will use it. */
function upstreamFlag(args: ParsedArgs, flag: string): string {
  const upstream = required(flag, stringFlag(args, flag));
  try {
    parseUpstreamUrl(upstream);
  } catch (error) {
    throw new UsageError(`--${flag}: ${(error as Error).message}`);
  }
  return upstream;
}

const OUTBOUND_ONLY_FLAGS = ["outbound-upstream", "outbound-config", "outbound-upstream-identity"];

/**
 * --outbound-listen and its companions. A sidecar has one inbound and one outbound listener, so
 * --listen must then be the inbound one, and a gateway (one direction) has none.
 */
function parseOutboundListener(args: ParsedArgs): OutboundListenerPlan | undefined {
  const listen = stringFlag(args, "outbound-listen");
  if (listen === undefined) {
    const stray = OUTBOUND_ONLY_FLAGS.find((flag) => stringFlag(args, flag) !== undefined);
    if (stray !== undefined) throw new UsageError(`--${stray} needs --outbound-listen HOST:PORT`);
    return undefined;
  }
  if (booleanFlag(args, "gateway")) {
    throw new UsageError(
      "--outbound-listen is a sidecar's second listener; a gateway (--gateway) has one direction",
    );
  }
  if (stringFlag(args, "direction") === "outbound") {
    throw new UsageError(
      "--outbound-listen makes --listen the sidecar's inbound listener; drop --direction outbound",
    );
  }
  return {
    listen: parseHostPort("outbound-listen", listen),
    upstream: upstreamFlag(args, "outbound-upstream"),
    configFile: stringFlag(args, "outbound-config"),
    upstreamIdentity: spiffeId("outbound-upstream-identity", stringFlag(args, "outbound-upstream-identity")),
  };
}

/** The command line as a plan; `root` is the checkout that holds build/filter.wasm. */
export function parseRunArgs(argv: string[], root: string): RunPlan {
  const args = parseArgs(argv, FLAGS);
  noPositionals(args);
  const upstream = upstreamFlag(args, "upstream");
  const admin = stringFlag(args, "admin");
  const extraStatTags = (stringFlag(args, "extra-stat-tags") ?? "")
    .split(",")
    .map((tag) => tag.trim())
    .filter((tag) => tag !== "");
  for (const tag of extraStatTags) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(tag)) {
      throw new UsageError(`--extra-stat-tags: '${tag}' is not a tag name ([A-Za-z_][A-Za-z0-9_]*)`);
    }
  }
  const node: NodeIdentity = {
    proxyType: booleanFlag(args, "gateway") ? "router" : "sidecar",
    cluster: stringFlag(args, "cluster"),
    region: stringFlag(args, "region"),
    zone: stringFlag(args, "zone"),
    namespace: stringFlag(args, "namespace"),
    workloadName: stringFlag(args, "workload"),
    labels: parseKeyValues("label", repeatableFlag(args, "label")),
  };
  const httpClusters = parseKeyValues("http-cluster", repeatableFlag(args, "http-cluster"));
  for (const [name, url] of Object.entries(httpClusters)) {
    try {
      checkLoopbackUrl(name, url);
    } catch (error) {
      throw new UsageError(`--http-cluster: ${(error as Error).message}`);
    }
  }
  const wasmFlag = stringFlag(args, "wasm");
  const envoy = stringFlag(args, "envoy") ?? DEFAULT_ENVOY_VERSION;
  const identity = parseConnectionIdentity(args);
  return {
    listen: parseHostPort("listen", required("listen", stringFlag(args, "listen"))),
    portListeners: parsePortListeners(repeatableFlag(args, "listen-port"), identity.destinationPort),
    upstream,
    admin: admin === undefined ? undefined : parseHostPort("admin", admin),
    configFile: stringFlag(args, "config"),
    wasmFile: wasmFlag ?? path.join(root, "build", "filter.wasm"),
    direction: oneOf("direction", stringFlag(args, "direction"), ["inbound", "outbound"] as const, "inbound"),
    outbound: parseOutboundListener(args),
    envoy,
    propertyLayout: checkedPropertyLayout(envoy),
    node,
    httpClusters,
    rootId: stringFlag(args, "root-id"),
    workers: integerFlag(args, "workers", 1, 64) ?? DEFAULT_WORKERS,
    extraStatTags,
    mtls: booleanFlag(args, "mtls"),
    identity,
    failOpen: !booleanFlag(args, "fail-closed"),
    upstreamTimeoutMs: integerFlag(args, "upstream-timeout-ms", 1, 3_600_000) ?? 15_000,
    requestHeaderLimits: {
      ...DEFAULT_REQUEST_HEADER_LIMITS,
      maxCount: integerFlag(args, "max-headers", 1, 10_000) ?? DEFAULT_REQUEST_HEADER_LIMITS.maxCount,
    },
    statsFlushIntervalMs: integerFlag(args, "stats-flush-interval-ms", 1, 3_600_000),
    accessLogFormat: checkedAccessLogFormat(stringFlag(args, "access-log")),
  };
}

/** A plugin configuration file's text, checked to be JSON ("" when there is none); `flag` names it in errors. */
async function readPluginConfig(flag: string, file: string | undefined): Promise<string> {
  if (file === undefined) return "";
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new InputError(`--${flag} ${file}: cannot read it: ${(error as Error).message}`);
  }
  try {
    JSON.parse(text);
  } catch (error) {
    throw new InputError(`--${flag} ${file}: not JSON: ${(error as Error).message}`);
  }
  return text;
}

async function readModule(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new InputError(
      `--wasm ${file}: cannot read it (run 'kwt build' first?): ${(error as Error).message}`,
    );
  }
}

function url(address: HostPort): string {
  return `http://${address.host.includes(":") ? `[${address.host}]` : address.host}:${address.port}`;
}

/** Access log lines go to stdout after the address lines, as Envoy's /dev/stdout logger. */
function stdoutAccessLog(format: string): PluginOptions["accessLog"] {
  return { format, write: (line) => process.stdout.write(`${line}\n`) };
}

const LEVEL_NAMES = ["trace", "debug", "info", "warn", "error", "critical"];

function formatLog(record: LogRecord): string {
  return `[vm ${record.vm}] ${LEVEL_NAMES[record.level] ?? record.level}: ${record.message}`;
}

/** One listener of a running `kwt run`: its HTTP side, its plugin, and where its configuration comes from. */
export interface RunningListener {
  direction: TrafficDirection;
  proxy: HarnessProxy;
  plugin: Plugin;
  /** The flag naming the configuration file (--config, --outbound-config), for messages. */
  configFlag: string;
  configFile: string | undefined;
}

/** What a configuration update did to one listener's plugin. */
export type ReloadOutcome =
  | { direction: TrafficDirection; kind: "replaced"; before: number[]; after: number[] }
  | { direction: TrafficDirection; kind: "unchanged" }
  | { direction: TrafficDirection; kind: "rejected"; reason: string; configured: boolean };

/** One line per listener, as `kwt run` prints it and the admin answers it. */
export function describeReload(outcome: ReloadOutcome): string {
  const prefix = `reload ${outcome.direction}:`;
  switch (outcome.kind) {
    case "replaced":
      return (
        `${prefix} new root contexts ${outcome.after.join(",") || "none"} (one per worker VM) replace ` +
        `${outcome.before.join(",") || "none"}, which get proxy_on_done once their open streams end`
      );
    case "unchanged":
      return `${prefix} configuration unchanged; the root contexts stay`;
    case "rejected":
      return (
        `${prefix} the module rejected the configuration (${outcome.reason}); ` +
        (outcome.configured
          ? "the configuration in force stays"
          : "still no accepted configuration: every request is answered 500 with response flag NFCF")
      );
  }
}

/** An ECDS update of each listener's plugin from its configuration file, read again. */
async function reloadListeners(listeners: readonly RunningListener[]): Promise<ReloadOutcome[]> {
  // Every file is read before any plugin changes: an unreadable one changes nothing.
  const configs = await Promise.all(
    listeners.map((listener) => readPluginConfig(listener.configFlag, listener.configFile)),
  );
  const outcomes: ReloadOutcome[] = [];
  for (const [i, listener] of listeners.entries()) {
    const { direction, plugin } = listener;
    const before = plugin.rootContextIds;
    const rejection = await plugin.update({ pluginConfig: configs[i] });
    const after = plugin.rootContextIds;
    if (rejection !== undefined) {
      outcomes.push({
        direction,
        kind: "rejected",
        reason: rejection.message,
        configured: plugin.configured,
      });
    } else if (before.length > 0 && before.every((id, worker) => id === after[worker])) {
      outcomes.push({ direction, kind: "unchanged" });
    } else {
      outcomes.push({ direction, kind: "replaced", before, after });
    }
  }
  return outcomes;
}

/** A started `kwt run`: its listeners, the Envoy process whose VMs they share, and its updates. */
export interface RunningProxy {
  /** --listen's proxy and plugin. */
  proxy: HarnessProxy;
  plugin: Plugin;
  /** --outbound-listen's, when given. */
  outbound: RunningListener | undefined;
  process: EnvoyProcess;
  /** Re-reads the configuration files and updates each listener's plugin; updates run one at a time. */
  reload(): Promise<ReloadOutcome[]>;
  /** Closes the listeners, then the plugins and their VMs. */
  close(): Promise<void>;
}

/** The admin's answer to POST /kwt/reload: what changed, or why nothing did. */
async function reloadAnswer(reload: () => Promise<ReloadOutcome[]>): Promise<AdminAnswer> {
  try {
    const lines = (await reload()).map(describeReload);
    for (const line of lines) console.error(`kwt run: ${line}`);
    return { status: 200, body: lines.map((line) => `${line}\n`).join("") };
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    console.error(`kwt run: reload: ${error.message}; nothing changed`);
    return { status: 400, body: `${error.message}; nothing changed\n` };
  }
}

/**
 * Starts the proxy a plan describes, reading its configurations and module: one Envoy process,
 * whose worker VMs host a root context for each listener's plugin. In-process callers (tests that
 * read the VMs) get the same proxy the command runs. Rejects with ModuleRefusedError when the
 * module does not load.
 */
export async function startRunProxy(plan: RunPlan): Promise<RunningProxy> {
  const [pluginConfig, outboundConfig, wasm] = await Promise.all([
    readPluginConfig("config", plan.configFile),
    readPluginConfig("outbound-config", plan.outbound?.configFile),
    readModule(plan.wasmFile),
  ]);
  const stats = new StatStore({ extraStatTags: plan.extraStatTags });
  const envoyProcess = new EnvoyProcess({
    workers: plan.workers,
    stats,
    extraStatTags: plan.extraStatTags,
    statsFlushIntervalMs: plan.statsFlushIntervalMs,
  });
  const pluginOptions = (direction: TrafficDirection, config: string): ListenerPluginOptions => ({
    wasm,
    pluginConfig: config,
    envoy: plan.envoy,
    propertyLayout: plan.propertyLayout,
    direction,
    node: plan.node,
    failOpen: plan.failOpen,
    upstreamClusters: plan.httpClusters,
    rootId: plan.rootId,
    accessLog: plan.accessLogFormat === undefined ? undefined : stdoutAccessLog(plan.accessLogFormat),
  });
  const listeners: RunningListener[] = [];
  let updates: Promise<unknown> = Promise.resolve();
  const reload = (): Promise<ReloadOutcome[]> => {
    const next = updates.then(() => reloadListeners(listeners));
    updates = next.catch(() => undefined);
    return next;
  };
  const close = async (): Promise<void> => {
    await Promise.all(listeners.map((listener) => listener.proxy.close()));
    for (const listener of listeners) listener.plugin.close();
    envoyProcess.close();
  };
  /** Loads the listener's plugin into the process, then opens its proxy. */
  const startListener = async (
    direction: TrafficDirection,
    config: string,
    configFlag: string,
    configFile: string | undefined,
    proxyOptions: Omit<
      ProxyOptions,
      "loadPlugin" | "stats" | "envoy" | "requestHeaderLimits" | "upstreamTimeoutMs"
    >,
  ): Promise<void> => {
    let plugin: Plugin | undefined;
    const proxy = await HarnessProxy.start({
      loadPlugin: async () =>
        (plugin = await Plugin.loadInto(envoyProcess, pluginOptions(direction, config))),
      stats,
      upstreamTimeoutMs: plan.upstreamTimeoutMs,
      envoy: plan.envoy,
      requestHeaderLimits: plan.requestHeaderLimits,
      ...proxyOptions,
    });
    listeners.push({ direction, proxy, plugin: plugin!, configFlag, configFile });
  };
  try {
    // The outbound listener first: once the admin (with the inbound one) answers /ready, both are open.
    if (plan.outbound !== undefined) {
      await startListener("outbound", outboundConfig, "outbound-config", plan.outbound.configFile, {
        listen: plan.outbound.listen,
        upstream: plan.outbound.upstream,
        // The app connects to its own sidecar in plaintext; the upstream is a pod in the mesh.
        identity: { upstreamIdentity: plan.outbound.upstreamIdentity },
      });
    }
    await startListener(plan.direction, pluginConfig, "config", plan.configFile, {
      listen: plan.listen,
      portListeners: plan.portListeners,
      upstream: plan.upstream,
      admin: plan.admin,
      reload: () => reloadAnswer(reload),
      mtls: plan.mtls,
      identity: plan.identity,
    });
  } catch (error) {
    await close();
    throw error;
  }
  const main = listeners[listeners.length - 1]!;
  return {
    proxy: main.proxy,
    plugin: main.plugin,
    outbound: plan.outbound === undefined ? undefined : listeners[0],
    process: envoyProcess,
    reload,
    close,
  };
}

export const runCommand: Command = {
  name: "run",
  summary: "run the filter as a local Envoy-like HTTP proxy with an admin port (/stats/prometheus)",
  usage: USAGE,
  flags: FLAGS,
  async run(argv) {
    const plan = parseRunArgs(argv, projectRoot());
    let running: RunningProxy;
    try {
      running = await startRunProxy(plan);
    } catch (error) {
      if (error instanceof ModuleRefusedError) {
        console.error(`kwt run: the plugin did not load: ${error.message}`);
        return EXIT_FAILURE;
      }
      throw error;
    }
    const { proxy, outbound } = running;
    console.log(`listen ${url(proxy.listenAddress)}`);
    for (const [port, address] of proxy.portAddresses) console.log(`listen-port ${port} ${url(address)}`);
    if (outbound !== undefined) console.log(`outbound-listen ${url(outbound.proxy.listenAddress)}`);
    if (proxy.adminAddress) console.log(`admin ${url(proxy.adminAddress)}`);
    if (plan.outbound !== undefined) console.log(`outbound-upstream ${plan.outbound.upstream}`);
    console.log(`upstream ${plan.upstream}`);
    const logs = running.process.logs;
    let printed = 0;
    const printLogs = (): void => {
      for (const record of logs.slice(printed)) console.error(formatLog(record));
      printed = logs.length;
    };
    printLogs();
    for (const listener of [running.outbound, { direction: plan.direction, plugin: running.plugin }]) {
      const rejection = listener?.plugin.rejection;
      if (listener === undefined || rejection === undefined) continue;
      const which = outbound === undefined ? "the" : `the ${listener.direction}`;
      console.error(
        `kwt run: ${which} configuration was rejected (${rejection.message}); as Envoy with no ` +
          "accepted filter configuration, every request is answered 500 with response flag NFCF",
      );
    }
    const logTimer = setInterval(printLogs, 200);
    const onHangup = (): void => {
      reloadAnswer(running.reload).catch((error: unknown) =>
        console.error(`kwt run: reload failed: ${(error as Error).message}`),
      );
    };
    process.on("SIGHUP", onHangup);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once("SIGINT", () => resolve("SIGINT"));
      process.once("SIGTERM", () => resolve("SIGTERM"));
    });
    process.off("SIGHUP", onHangup);
    clearInterval(logTimer);
    await running.close();
    printLogs();
    console.error(`kwt run: stopped on ${signal}`);
    return EXIT_OK;
  },
};
