// The demo's mesh on loopback, every proxy a harness proxy running build/filter.wasm:
//
//   client -> east gateway -> revision service (activator stand-in) -> east revision pod sidecar -> app
//   client -> west workload's outbound sidecar --------------------------------^ (cross-cluster, mTLS)
//
// The revision starts at zero: the first requests make the activator stand-in "scale up" (wait,
// then start the pod's sidecar, whose VM is therefore fresh), probe the pod until it answers, and
// forward the held requests with K-Proxy-Request: activator. Afterwards the revision service
// routes straight to the pod, or through the activator when told to (proxy mode).

import http from "node:http";
import {
  closeServer,
  HarnessProxy,
  type HostPort,
  listenOn,
  type NodeIdentity,
  Plugin,
  type PluginOptions,
  StatStore,
  type StreamOptions,
} from "../../host-tests/harness/index.js";
import { FILTER_METRIC_LABELS } from "../deploy/filter-contract.js";
import { EAST, REVISION, WEST } from "./scenario.js";

const LOOPBACK = "127.0.0.1";
const ANY_PORT: HostPort = { host: LOOPBACK, port: 0 };
/** queue-proxy's HTTP/1 serving port: where requests to a revision pod are addressed. */
const QUEUE_PROXY_PORT = 8012;

/** The app answers by path, standing in for a Knative user container behind queue-proxy. */
export const APP_PATHS = { ok: "/", http5xx: "/fail", grpcError: "/grpc-fail", reset: "/reset" } as const;

/** How the revision service routes a request: straight to the pod, or through the activator. */
export const ROUTE_HEADER = "x-demo-route";

export interface MeshProxy {
  name: string;
  proxy: HarnessProxy;
  stats: StatStore;
}

export interface MeshOptions {
  wasm: Uint8Array;
  coldStartDelayMs: number;
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
  identity?: Pick<StreamOptions, "destinationPort">,
): Promise<MeshProxy> {
  const stats = new StatStore({ extraStatTags: [...FILTER_METRIC_LABELS] });
  const proxy = await HarnessProxy.start({
    loadPlugin: () => Plugin.load({ ...options, extraStatTags: [...FILTER_METRIC_LABELS] }, stats),
    stats,
    listen: ANY_PORT,
    upstream,
    admin: ANY_PORT,
    mtls,
    identity,
  });
  return { name, proxy, stats };
}

function node(place: { cluster: string; region: string }, extra: NodeIdentity): NodeIdentity {
  return { cluster: place.cluster, region: place.region, ...extra };
}

function startApp(): Promise<{ server: http.Server; address: HostPort }> {
  const server = http.createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (request.headers["k-network-probe"] === "queue") {
      // queue-proxy answers the activator's readiness probe itself.
      response.writeHead(200, { "content-type": "text/plain" }).end("queue");
      return;
    }
    switch (path) {
      case APP_PATHS.http5xx:
        response.writeHead(500, { "content-type": "text/plain" }).end("boom\n");
        return;
      case APP_PATHS.grpcError:
        // A trailers-only gRPC reply: HTTP 200 carrying grpc-status 14 (UNAVAILABLE).
        response.writeHead(200, { "content-type": "application/grpc", "grpc-status": "14" }).end();
        return;
      case APP_PATHS.reset:
        request.socket.destroy();
        return;
      default:
        response.writeHead(200, { "content-type": "text/plain" }).end(`hello from ${REVISION.revision}\n`);
    }
  });
  return listenOn(server, ANY_PORT).then((address) => ({ server, address }));
}

/** Sends one request, reads the answer to its end and resolves with its status (-1: no connection). */
export function send(target: HostPort, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve) => {
    const request = http.request(
      { host: target.host, port: target.port, path, method: "GET", headers, agent: false },
      (response) => {
        // Drained: 'end' (the whole answer arrived, the proxy's stream is over) fires only once read.
        response.resume();
        response.on("end", () => resolve(response.statusCode ?? -1));
        response.on("error", () => resolve(-1));
      },
    );
    request.on("error", () => resolve(-1));
    request.end();
  });
}

/** Forwards a request as-is (plus extra headers) to the target and pipes the answer back. */
function forward(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  target: HostPort,
  extraHeaders: Record<string, string>,
): void {
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

/**
 * The revision's public service with the activator in front while the revision is at zero.
 * Holds requests until the pod is ready; probes it like the activator does (K-Network-Probe: queue).
 */
class RevisionService {
  private pod: Promise<HostPort> | undefined;
  private ready = false;
  readonly server: http.Server;

  constructor(private readonly scaleUp: () => Promise<HostPort>) {
    this.server = http.createServer((request, response) => this.route(request, response));
  }

  get podAddress(): Promise<HostPort> | undefined {
    return this.pod;
  }

  private route(request: http.IncomingMessage, response: http.ServerResponse): void {
    // While the revision is at zero or scaling up, the activator holds the request; afterwards the
    // route goes straight to the pod unless the scenario asks for the activator (proxy mode).
    const throughActivator = !this.ready || request.headers[ROUTE_HEADER] === "activator";
    this.pod ??= this.scaleUp().then(async (address) => {
      await waitUntilReady(address);
      this.ready = true;
      return address;
    });
    void this.pod.then((address) =>
      forward(request, response, address, throughActivator ? { "k-proxy-request": "activator" } : {}),
    );
  }
}

const READY_PROBE_ATTEMPTS = 50;
const READY_PROBE_INTERVAL_MS = 200;

async function waitUntilReady(pod: HostPort): Promise<void> {
  let lastAnswer = "none";
  for (let attempt = 0; attempt < READY_PROBE_ATTEMPTS; attempt++) {
    const status = await send(pod, "/healthz", {
      "k-network-probe": "queue",
      "user-agent": "Knative-Activator-Probe",
    });
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
    readonly proxies: MeshProxy[],
    private readonly servers: http.Server[],
    private readonly revisionService: RevisionService,
    readonly eastGateway: HostPort,
    private readonly startWest: () => Promise<MeshProxy>,
  ) {}

  static async start(options: MeshOptions): Promise<DemoMesh> {
    const app = await startApp();
    const proxies: MeshProxy[] = [];
    const servers = [app.server];

    const revisionLabels = {
      "serving.knative.dev/revision": REVISION.revision,
      "serving.knative.dev/service": REVISION.service,
      "serving.knative.dev/configuration": REVISION.configuration,
    };
    const scaleUp = async (): Promise<HostPort> => {
      await new Promise((resolve) => setTimeout(resolve, options.coldStartDelayMs));
      const pod = await startProxy(
        "east revision pod (inbound sidecar)",
        {
          wasm: options.wasm,
          pluginConfig: JSON.stringify(options.podConfig),
          direction: "inbound",
          node: node(EAST, {
            proxyType: "sidecar",
            namespace: REVISION.namespace,
            workloadName: `${REVISION.revision}-deployment`,
            labels: revisionLabels,
          }),
        },
        url(app.address),
        true,
        // A revision pod's sidecar sees requests addressed to queue-proxy's serving port.
        { destinationPort: QUEUE_PROXY_PORT },
      );
      proxies.push(pod);
      return pod.proxy.listenAddress;
    };
    const revisionService = new RevisionService(scaleUp);
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

    // West's caller reaches the pod directly (over the east-west gateway in a real mesh), so it
    // can only start once the pod exists.
    const startWest = async (): Promise<MeshProxy> => {
      const pod = await revisionService.podAddress;
      if (!pod) throw new Error("demo: the revision pod is not running yet");
      const west = await startProxy(
        "west workload (outbound sidecar)",
        {
          wasm: options.wasm,
          pluginConfig: "{}",
          direction: "outbound",
          node: node(WEST, { proxyType: "sidecar", namespace: "shop", workloadName: "checkout" }),
        },
        url(pod),
        false,
      );
      proxies.push(west);
      return west;
    };
    return new DemoMesh(proxies, servers, revisionService, gateway.proxy.listenAddress, startWest);
  }

  westCaller(): Promise<MeshProxy> {
    return this.startWest();
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
