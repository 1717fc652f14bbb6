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
  envoyMinorVersion,
  FormatError,
  HarnessProxy,
  type HostPort,
  type LogRecord,
  ModuleRefusedError,
  type NodeIdentity,
  parseUpstreamUrl,
  Plugin,
  type PluginOptions,
  type PortListener,
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

Options:
  --listen HOST:PORT        where clients connect (required)
  --upstream URL            where requests go, http://host:port (required)
  --admin HOST:PORT         admin listener: /stats/prometheus, /ready
  --config FILE             plugin configuration, a JSON file (WasmPlugin pluginConfig); default: none
  --wasm FILE               the .wasm module; default build/filter.wasm
  --direction DIR           listener direction: inbound (default) or outbound
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
                            the upstream presents this URI SAN (upstream.uri_san_peer_certificate)
  --upstream-cluster NAME   the cluster the route picked (xds.cluster_name, cluster_name up to
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
                            each with :N to truncate; before the filter's on_log up to --envoy 1.31,
                            after it from 1.32`;

const FLAGS: FlagSpec = {
  listen: "string",
  upstream: "string",
  admin: "string",
  config: "string",
  wasm: "string",
  direction: "string",
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

/** The command line as a plan; `root` is the checkout that holds build/filter.wasm. */
export function parseRunArgs(argv: string[], root: string): RunPlan {
  const args = parseArgs(argv, FLAGS);
  noPositionals(args);
  const upstream = required("upstream", stringFlag(args, "upstream"));
  try {
    parseUpstreamUrl(upstream);
  } catch (error) {
    throw new UsageError(`--upstream: ${(error as Error).message}`);
  }
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

/** The plugin configuration file's text, checked to be JSON ("" when there is none). */
async function readPluginConfig(file: string | undefined): Promise<string> {
  if (file === undefined) return "";
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new InputError(`--config ${file}: cannot read it: ${(error as Error).message}`);
  }
  try {
    JSON.parse(text);
  } catch (error) {
    throw new InputError(`--config ${file}: not JSON: ${(error as Error).message}`);
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

/** A started `kwt run`: its proxy and, once it loaded, the plugin (its VMs) behind it. */
export interface RunningProxy {
  proxy: HarnessProxy;
  plugin: Plugin | undefined;
}

/**
 * Starts the proxy a plan describes, reading its configuration and module. In-process callers
 * (tests that read the VMs) get the same proxy the command runs. Rejects with ModuleRefusedError
 * when the module does not load.
 */
export async function startRunProxy(plan: RunPlan): Promise<RunningProxy> {
  const [pluginConfig, wasm] = await Promise.all([
    readPluginConfig(plan.configFile),
    readModule(plan.wasmFile),
  ]);
  const stats = new StatStore({ extraStatTags: plan.extraStatTags });
  const running: { plugin: Plugin | undefined } = { plugin: undefined };
  const proxy = await HarnessProxy.start({
    loadPlugin: async () => {
      running.plugin = await Plugin.load(
        {
          wasm,
          pluginConfig,
          envoy: plan.envoy,
          propertyLayout: plan.propertyLayout,
          direction: plan.direction,
          node: plan.node,
          workers: plan.workers,
          failOpen: plan.failOpen,
          extraStatTags: plan.extraStatTags,
          upstreamClusters: plan.httpClusters,
          rootId: plan.rootId,
          statsFlushIntervalMs: plan.statsFlushIntervalMs,
          accessLog: plan.accessLogFormat === undefined ? undefined : stdoutAccessLog(plan.accessLogFormat),
        },
        stats,
      );
      return running.plugin;
    },
    stats,
    listen: plan.listen,
    portListeners: plan.portListeners,
    upstream: plan.upstream,
    admin: plan.admin,
    mtls: plan.mtls,
    identity: plan.identity,
    upstreamTimeoutMs: plan.upstreamTimeoutMs,
    envoy: plan.envoy,
    requestHeaderLimits: plan.requestHeaderLimits,
  });
  return { proxy, plugin: running.plugin };
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
    const { proxy, plugin: loaded } = running;
    console.log(`listen ${url(proxy.listenAddress)}`);
    for (const [port, address] of proxy.portAddresses) console.log(`listen-port ${port} ${url(address)}`);
    if (proxy.adminAddress) console.log(`admin ${url(proxy.adminAddress)}`);
    console.log(`upstream ${plan.upstream}`);
    let printed = 0;
    const printLogs = (): void => {
      const logs = loaded?.logs ?? [];
      for (const record of logs.slice(printed)) console.error(formatLog(record));
      printed = logs.length;
    };
    printLogs();
    if (loaded?.rejection !== undefined) {
      console.error(
        `kwt run: the configuration was rejected (${loaded.rejection.message}); as Envoy with no ` +
          "accepted filter configuration, every request is answered 500 with response flag NFCF",
      );
    }
    const logTimer = setInterval(printLogs, 200);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once("SIGINT", () => resolve("SIGINT"));
      process.once("SIGTERM", () => resolve("SIGTERM"));
    });
    clearInterval(logTimer);
    await proxy.close();
    printLogs();
    loaded?.close();
    console.error(`kwt run: stopped on ${signal}`);
    return EXIT_OK;
  },
};
