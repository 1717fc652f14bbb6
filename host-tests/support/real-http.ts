// What the real-HTTP chains of `kwt run` processes share beside ./kwt-run.ts: the command lines of the mesh's proxies, the activator model in front of a pod, loopback servers
// that record what reached them (the ground truth of what crossed a proxy), plugin configuration
// files, and a bounded fan-out of requests.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { closeServer, listenOn, type HostPort } from "../harness/index.js";
import { HttpActivator } from "../scenarios/http-activator.js";
import { QueueProxyPort } from "../scenarios/knative.js";
import type { TruthLog } from "../scenarios/truth.js";
import { hostPort, LOOPBACK, revisionPodFlags, TWO_WORKERS_ALL_LABELS, type RunningKwt } from "./kwt-run.js";

function proxyFlags(upstream: string, envoy: string, direction: string, extra: string[]): string[] {
  return [
    "--upstream",
    upstream,
    "--envoy",
    envoy,
    "--direction",
    direction,
    ...TWO_WORKERS_ALL_LABELS,
    ...extra,
  ];
}

/** `kwt run` flags of an Istio gateway (a router's outbound listener, in istio-system) in front of `upstream`. */
export function gatewayFlags(upstream: string, envoy: string, extra: string[] = []): string[] {
  return outboundSidecarFlags(upstream, envoy, "istio-system", ["--gateway", ...extra]);
}

/** `kwt run` flags of a workload's outbound sidecar in `namespace`. */
export function outboundSidecarFlags(
  upstream: string,
  envoy: string,
  namespace: string,
  extra: string[] = [],
): string[] {
  return proxyFlags(upstream, envoy, "outbound", ["--namespace", namespace, ...extra]);
}

/**
 * `kwt run` flags of the revision pod's sidecar: inbound to queue-proxy's serving port, with the
 * revision's node metadata, its downstream presenting the mesh identity `peer`.
 */
export function revisionSidecarFlags(
  upstream: string,
  envoy: string,
  peer: string,
  extra: string[] = [],
): string[] {
  return proxyFlags(upstream, envoy, "inbound", [
    "--peer-identity",
    peer,
    "--destination-port",
    String(QueueProxyPort.http1),
    ...revisionPodFlags(),
    ...extra,
  ]);
}

/** `--listen-port` listeners for the pod's metrics ports: the autoscaler's :9090, Prometheus's :9091. */
export const METRICS_PORT_LISTENERS = [
  "--listen-port",
  `${QueueProxyPort.autoscalerMetrics}=127.0.0.1:0`,
  "--listen-port",
  `${QueueProxyPort.userMetrics}=127.0.0.1:0`,
];

/** The activator model in front of a pod already running (`pod`, its sidecar), without delays. */
export async function startActivator(
  pod: RunningKwt,
  truth: TruthLog,
): Promise<{ activator: HttpActivator; url: string }> {
  const activator = new HttpActivator({
    startPod: () => Promise.resolve(hostPort(pod.listen)),
    truth,
    delays: { coldStartMs: 0, scaleUpMs: 0 },
    containerConcurrency: 0,
    maxPods: 1,
  });
  const address = await listenOn(activator.server, LOOPBACK);
  return { activator, url: `http://${address.host}:${address.port}` };
}

/** What one request brought to a recording server. */
export interface ReceivedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
}

type Answer = (request: http.IncomingMessage, response: http.ServerResponse) => void;

const answerOk: Answer = (_request, response) => {
  response.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
};

/**
 * A loopback HTTP server (an app, a host outside the mesh) that records the path and headers of
 * every request it gets, then answers with `answer` (200 by default). Envoy's 60 KiB header limit
 * is the proxies' to enforce: this server takes up to 1 MiB.
 */
export class RecordingServer {
  readonly received: ReceivedRequest[] = [];
  readonly server: http.Server;

  constructor(answer: Answer = answerOk) {
    this.server = http.createServer({ maxHeaderSize: 1024 * 1024 }, (request, response) => {
      this.received.push({ path: request.url ?? "/", headers: request.headers });
      answer(request, response);
    });
    this.server.maxHeadersCount = 0;
  }

  /** Listens on a free loopback port; resolves with its URL, as `--upstream` takes it. */
  async start(): Promise<string> {
    const address: HostPort = await listenOn(this.server, LOOPBACK);
    return `http://${address.host}:${address.port}`;
  }

  /** The one request whose path starts with `prefix`; an error when there is none or more. */
  only(prefix: string): ReceivedRequest {
    const found = this.under(prefix);
    if (found.length !== 1) throw new Error(`expected one request under ${prefix}, got ${found.length}`);
    return found[0]!;
  }

  /** The requests whose path starts with `prefix`, in arrival order. */
  under(prefix: string): ReceivedRequest[] {
    return this.received.filter((request) => request.path.startsWith(prefix));
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}

/** A temporary directory for `--config` files; `remove()` deletes it and what it holds. */
export class ConfigDir {
  private readonly dir = mkdtempSync(path.join(os.tmpdir(), "kwt-real-http-"));

  /**
   * Writes `config` (a WasmPlugin pluginConfig) as JSON, or a text as it is, and returns the file's
   * path; the same name again rewrites the file.
   */
  file(name: string, config: Record<string, unknown> | string): string {
    const file = path.join(this.dir, `${name}.json`);
    writeFileSync(file, typeof config === "string" ? config : JSON.stringify(config));
    return file;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Runs `send(i)` for every i below `count`, at most `concurrency` at once, in order of i. */
export async function fanOut(
  count: number,
  concurrency: number,
  send: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) await send(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}
