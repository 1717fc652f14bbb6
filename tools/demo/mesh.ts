// The demo's mesh on loopback, every proxy a harness proxy running build/filter.wasm:
//
//   client -> east gateway -> revision service (activator stand-in) -> east revision pod sidecar -> app
//   client -> west workload's outbound sidecar --------------------------------^ (cross-cluster, mTLS)
//
// The revision starts at zero: the first requests make the activator stand-in "scale up" (wait,
// then start the pod's sidecar, whose VM is therefore fresh), probe the pod until it answers, and
// forward the held requests with K-Proxy-Request: activator. Afterwards the revision service
// routes straight to the pod, or through the activator when told to (proxy mode); when more
// requests come through the activator than the pods take at once (containerConcurrency), it queues
// them and a second pod starts (a scale-up). Every stand-in records the ground truth of what it
// did (host-tests/scenarios/truth.ts), so the summary can show it next to what the filter measured.

import http from "node:http";
import {
  closeServer,
  HarnessProxy,
  type HeaderList,
  type HostPort,
  listenOn,
  type NodeIdentity,
  Plugin,
  type PluginOptions,
  StatStore,
} from "../../host-tests/harness/index.js";
import { activatorProbe, autoscalerScrape, QueueProxyPort } from "../../host-tests/scenarios/knative.js";
import { TruthLog, type RequestTruth } from "../../host-tests/scenarios/truth.js";
import { FILTER_METRIC_LABELS } from "../deploy/filter-contract.js";
import { EAST, REVISION, WEST } from "./scenario.js";

const LOOPBACK = "127.0.0.1";
const ANY_PORT: HostPort = { host: LOOPBACK, port: 0 };

/** The app answers by path, standing in for a Knative user container behind queue-proxy. */
export const APP_PATHS = {
  ok: "/",
  slow: "/slow",
  http5xx: "/fail",
  grpcError: "/grpc-fail",
  reset: "/reset",
} as const;

/** How the revision service routes a request: straight to the pod, or through the activator. */
export const ROUTE_HEADER = "x-demo-route";
/** Which of the truth log's requests this is (the stand-ins record what happened to it). */
const REQUEST_ID_HEADER = "x-demo-request";

/** How long the app takes on APP_PATHS.slow: long enough that a second pod is ready before it answers. */
const SLOW_MS = 1_500;
/** Requests one pod takes at once (the revision's containerConcurrency); the activator queues the rest. */
export const CONTAINER_CONCURRENCY = 2;
const MAX_PODS = 2;

/** Plain request headers from a Knative header list (pseudo-headers dropped) and its path. */
function wire(headers: HeaderList): { path: string; headers: Record<string, string> } {
  const plain = Object.fromEntries(headers.filter(([name]) => !name.startsWith(":")));
  return { path: headers.find(([name]) => name === ":path")?.[1] ?? "/", headers: plain };
}

export interface MeshProxy {
  name: string;
  proxy: HarnessProxy;
  stats: StatStore;
}

export interface MeshOptions {
  wasm: Uint8Array;
  coldStartDelayMs: number;
  /** How long a pod added by a scale-up takes to start. Default 300 ms. */
  scaleUpDelayMs?: number;
  podConfig: Record<string, unknown>;
}

function url(address: HostPort): string {
  return `http://${address.host}:${address.port}`;
}

async function startProxy(
  name: string,
  options: Omit<PluginOptions, "extraStatTags">,
  upstream: string,
  mtls: boolean,
): Promise<MeshProxy> {
  const stats = new StatStore({ extraStatTags: [...FILTER_METRIC_LABELS] });
  const proxy = await HarnessProxy.start({
    loadPlugin: () => Plugin.load({ ...options, extraStatTags: [...FILTER_METRIC_LABELS] }, stats),
    stats,
    listen: ANY_PORT,
    upstream,
    admin: ANY_PORT,
    mtls,
  });
  return { name, proxy, stats };
}

function node(place: { cluster: string; region: string }, extra: NodeIdentity): NodeIdentity {
  return { cluster: place.cluster, region: place.region, ...extra };
}

/** The revision pod's queue-proxy and user container; records what reached them. */
function startApp(
  pod: string,
  truth: TruthLog,
  resets: Set<number>,
): Promise<{ server: http.Server; address: HostPort }> {
  const server = http.createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (request.headers["k-network-probe"] === "queue") {
      // queue-proxy answers the activator's readiness probe itself.
      Object.assign(truth.begin("activator-probe", Date.now()), {
        pod,
        port: QueueProxyPort.http1,
        ending: ok(200),
      });
      response.writeHead(200, { "content-type": "text/plain" }).end("queue");
      return;
    }
    if (path === "/metrics" && request.headers.accept === "application/protobuf") {
      // The autoscaler's scrape (port 9090 in a real pod; here the sidecar has one listener).
      Object.assign(truth.begin("autoscaler-scrape", Date.now()), {
        pod,
        port: QueueProxyPort.autoscalerMetrics,
        ending: ok(200),
      });
      response.writeHead(200, { "content-type": "application/protobuf" }).end();
      return;
    }
    const id = Number(request.headers[REQUEST_ID_HEADER]);
    const invoked = truth.get(id);
    if (invoked !== undefined) Object.assign(invoked, { invocation: true, pod, port: QueueProxyPort.http1 });
    switch (path) {
      case APP_PATHS.slow:
        setTimeout(() => response.writeHead(200, { "content-type": "text/plain" }).end("slow\n"), SLOW_MS);
        return;
      case APP_PATHS.http5xx:
        response.writeHead(500, { "content-type": "text/plain" }).end("boom\n");
        return;
      case APP_PATHS.grpcError:
        // A trailers-only gRPC reply: HTTP 200 carrying grpc-status 14 (UNAVAILABLE).
        response.writeHead(200, { "content-type": "application/grpc", "grpc-status": "14" }).end();
        return;
      case APP_PATHS.reset:
        resets.add(id);
        request.socket.destroy();
        return;
      default:
        response.writeHead(200, { "content-type": "text/plain" }).end(`hello from ${REVISION.revision}\n`);
    }
  });
  return listenOn(server, ANY_PORT).then((address) => ({ server, address }));
}

function ok(code: number) {
  return { code, timeout: false, localReply: false };
}

/** Sends one request, reads the answer to its end and resolves with its status (-1: no connection). */
export async function send(
  target: HostPort,
  path: string,
  headers: Record<string, string> = {},
): Promise<number> {
  return (await exchange(target, path, headers)).status;
}

/** One request; resolves with its status (-1: no connection) and the response's grpc-status. */
function exchange(
  target: HostPort,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; grpcStatus?: number }> {
  return new Promise((resolve) => {
    const request = http.request(
      { host: target.host, port: target.port, path, method: "GET", headers, agent: false },
      (response) => {
        // Drained: 'end' (the whole answer arrived, the proxy's stream is over) fires only once read.
        response.resume();
        const grpc = response.headers["grpc-status"];
        const grpcStatus = typeof grpc === "string" ? Number(grpc) : undefined;
        response.on("end", () => resolve({ status: response.statusCode ?? -1, grpcStatus }));
        response.on("error", () => resolve({ status: -1 }));
      },
    );
    request.on("error", () => resolve({ status: -1 }));
    request.end();
  });
}

/** Forwards a request as-is (plus extra headers) to the target and pipes the answer back. */
function forward(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  target: HostPort,
  extraHeaders: Record<string, string>,
  done: () => void = () => undefined,
): void {
  response.once("close", done);
  const headers = { ...request.headers, ...extraHeaders };
  delete headers[ROUTE_HEADER];
  const upstream = http.request(
    {
      host: target.host,
      port: target.port,
      path: request.url,
      method: request.method,
      headers,
      agent: false,
    },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    },
  );
  upstream.on("error", () => {
    if (!response.headersSent) response.writeHead(502, { "content-type": "text/plain" });
    response.end("activator: proxy error\n");
  });
  request.pipe(upstream);
}

interface DemoPod {
  address: HostPort;
  inFlight: number;
  ready: boolean;
}

interface Waiting {
  request: http.IncomingMessage;
  response: http.ServerResponse;
  arrivedMs: number;
  /** Held because the revision had no ready pod (a cold start), or waiting for capacity. */
  reason: "no-ready-pod" | "capacity";
  truth: RequestTruth | undefined;
}

/**
 * The revision's public service with the activator in front while the revision is at zero (or
 * when the request asks for it). The activator holds requests until a pod is ready, probing it as
 * the activator does (K-Network-Probe: queue), sends each pod at most CONTAINER_CONCURRENCY at
 * once, and queues the rest; a queue the pods cannot take starts another pod (a scale-up).
 */
class RevisionService {
  readonly pods: DemoPod[] = [];
  private readonly waiting: Waiting[] = [];
  private starting = false;
  readonly server: http.Server;

  constructor(
    private readonly startPod: () => Promise<HostPort>,
    private readonly truth: TruthLog,
    private readonly delays: { coldStartMs: number; scaleUpMs: number },
  ) {
    this.server = http.createServer((request, response) => this.route(request, response));
  }

  private route(request: http.IncomingMessage, response: http.ServerResponse): void {
    const truth = this.truth.get(Number(request.headers[REQUEST_ID_HEADER]));
    const ready = this.pods.filter((pod) => pod.ready);
    if (ready.length > 0 && request.headers[ROUTE_HEADER] !== "activator") {
      forward(request, response, ready[0]!.address, {});
      return;
    }
    if (truth !== undefined) truth.viaActivator = true;
    const reason = ready.length === 0 ? "no-ready-pod" : "capacity";
    this.waiting.push({ request, response, arrivedMs: Date.now(), reason, truth });
    this.drain();
    if (this.pods.length === 0) this.addPod(this.delays.coldStartMs);
    else if (this.waiting.length > 0 && reason === "capacity") this.addPod(this.delays.scaleUpMs);
  }

  /** The autoscaler adds a pod: it starts after `delayMs`, then turns ready once its probe passes. */
  private addPod(delayMs: number): void {
    if (this.starting || this.pods.length >= MAX_PODS) return;
    this.starting = true;
    void (async () => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      const pod: DemoPod = { address: await this.startPod(), inFlight: 0, ready: false };
      this.pods.push(pod);
      await waitUntilReady(pod.address);
      pod.ready = true;
      this.starting = false;
      this.drain();
    })();
  }

  private drain(): void {
    for (;;) {
      const next = this.waiting[0];
      const pod = this.pods
        .filter((p) => p.ready && p.inFlight < CONTAINER_CONCURRENCY)
        .sort((a, b) => a.inFlight - b.inFlight)[0];
      if (next === undefined || pod === undefined) return;
      this.waiting.shift();
      const waitedMs = Date.now() - next.arrivedMs;
      if (next.truth !== undefined) {
        if (next.reason === "no-ready-pod") next.truth.coldStartMs = waitedMs;
        else if (waitedMs > 0) next.truth.queueWaitMs = waitedMs;
      }
      pod.inFlight++;
      forward(next.request, next.response, pod.address, { "k-proxy-request": "activator" }, () => {
        pod.inFlight--;
        this.drain();
      });
    }
  }
}

const READY_PROBE_ATTEMPTS = 50;
const READY_PROBE_INTERVAL_MS = 200;

async function waitUntilReady(pod: HostPort): Promise<void> {
  let lastAnswer = "none";
  for (let attempt = 0; attempt < READY_PROBE_ATTEMPTS; attempt++) {
    const probe = wire(activatorProbe(`${pod.host}:${pod.port}`));
    const status = await send(pod, probe.path, probe.headers);
    if (status === 200) return;
    lastAnswer = status === -1 ? "no connection" : `HTTP ${status}`;
    await new Promise((resolve) => setTimeout(resolve, READY_PROBE_INTERVAL_MS));
  }
  throw new Error(
    `demo: the revision pod at ${pod.host}:${pod.port} did not answer its readiness probe (/healthz) ` +
      `with 200 in ${READY_PROBE_ATTEMPTS} tries ${READY_PROBE_INTERVAL_MS} ms apart; last answer: ${lastAnswer}`,
  );
}

export class DemoMesh {
  private constructor(
    /** What really happened to every request the demo sent, as its stand-ins saw it. */
    readonly truth: TruthLog,
    /** Requests the app reset (how they ended: the upstream reset them). */
    private readonly resets: Set<number>,
    readonly proxies: MeshProxy[],
    private readonly servers: http.Server[],
    private readonly revisionService: RevisionService,
    readonly eastGateway: HostPort,
    private readonly startWest: () => Promise<MeshProxy>,
  ) {}

  static async start(options: MeshOptions): Promise<DemoMesh> {
    const proxies: MeshProxy[] = [];
    const servers: http.Server[] = [];
    const truth = new TruthLog();
    const resets = new Set<number>();

    const revisionLabels = {
      "serving.knative.dev/revision": REVISION.revision,
      "serving.knative.dev/service": REVISION.service,
      "serving.knative.dev/configuration": REVISION.configuration,
    };
    const startPod = async (): Promise<HostPort> => {
      const index = proxies.filter((p) => p.name.startsWith("east revision pod")).length + 1;
      const podName = `${REVISION.revision}-deployment-${index}`;
      const app = await startApp(podName, truth, resets);
      servers.push(app.server);
      const pod = await startProxy(
        index === 1 ? "east revision pod (inbound sidecar)" : `east revision pod ${index} (inbound sidecar)`,
        {
          wasm: options.wasm,
          pluginConfig: JSON.stringify(options.podConfig),
          direction: "inbound",
          node: node(EAST, {
            proxyType: "sidecar",
            podName,
            namespace: REVISION.namespace,
            workloadName: `${REVISION.revision}-deployment`,
            labels: revisionLabels,
          }),
        },
        url(app.address),
        true,
      );
      proxies.push(pod);
      return pod.proxy.listenAddress;
    };
    const revisionService = new RevisionService(startPod, truth, {
      coldStartMs: options.coldStartDelayMs,
      scaleUpMs: options.scaleUpDelayMs ?? 300,
    });
    const revisionAddress = await listenOn(revisionService.server, ANY_PORT);
    servers.push(revisionService.server);

    const gateway = await startProxy(
      "east ingress gateway",
      {
        wasm: options.wasm,
        pluginConfig: "{}",
        direction: "outbound",
        node: node(EAST, {
          proxyType: "router",
          namespace: "istio-system",
          workloadName: "istio-ingressgateway",
        }),
      },
      url(revisionAddress),
      false,
    );
    proxies.push(gateway);

    // West's caller reaches the first pod directly (over the east-west gateway in a real mesh), so
    // it can only start once the pod exists.
    const startWest = async (): Promise<MeshProxy> => {
      const pod = revisionService.pods[0];
      if (!pod) throw new Error("demo: the revision pod is not running yet");
      const west = await startProxy(
        "west workload (outbound sidecar)",
        {
          wasm: options.wasm,
          pluginConfig: "{}",
          direction: "outbound",
          node: node(WEST, { proxyType: "sidecar", namespace: "shop", workloadName: "checkout" }),
        },
        url(pod.address),
        false,
      );
      proxies.push(west);
      return west;
    };
    return new DemoMesh(
      truth,
      resets,
      proxies,
      servers,
      revisionService,
      gateway.proxy.listenAddress,
      startWest,
    );
  }

  westCaller(): Promise<MeshProxy> {
    return this.startWest();
  }

  /** A user request for the revision, recorded in the truth log; resolves with its status. */
  async sendUser(target: HostPort, path: string, headers: Record<string, string> = {}): Promise<number> {
    const truth = this.truth.begin("user", Date.now());
    const answer = await exchange(target, path, { ...headers, [REQUEST_ID_HEADER]: String(truth.id) });
    const reset = this.resets.has(truth.id);
    truth.ending = {
      code: answer.status === -1 ? undefined : answer.status,
      grpcStatus: answer.grpcStatus,
      resetBy: reset ? "upstream" : undefined,
      timeout: false,
      // A reset upstream leaves Envoy to answer the client itself.
      localReply: reset,
    };
    return answer.status;
  }

  /** One round of the autoscaler's scrapes: each pod's queue-proxy metrics through its sidecar. */
  async autoscalerScrapes(): Promise<void> {
    await Promise.all(
      this.revisionService.pods.map((pod) => {
        const scrape = wire(autoscalerScrape(`${pod.address.host}:${pod.address.port}`));
        return send(pod.address, scrape.path, scrape.headers);
      }),
    );
  }

  adminUrls(): Array<{ name: string; url: string }> {
    return this.proxies.map((p) => ({
      name: p.name,
      url: `${url(p.proxy.adminAddress ?? ANY_PORT)}/stats/prometheus`,
    }));
  }

  async close(): Promise<void> {
    await Promise.all([...this.proxies.map((p) => p.proxy.close()), ...this.servers.map(closeServer)]);
  }
}
