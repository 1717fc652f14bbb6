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
// A pod's sidecar has a listener per pod port: queue-proxy's serving port 8012 (user traffic and the
// activator's probes), 9090 (the autoscaler's scrapes) and 9091 (Prometheus's), so each request
// reaches the filter with the destination.port it was addressed to.

import http from "node:http";
import {
  closeServer,
  HarnessProxy,
  type HostPort,
  listenOn,
  type NodeIdentity,
  Plugin,
  type PluginOptions,
  type ProxyOptions,
  StatStore,
} from "../../host-tests/harness/index.js";
import {
  exchange,
  HttpActivator,
  queueProxy,
  REQUEST_ID_HEADER,
  scrapePod,
  send,
} from "../../host-tests/scenarios/http-activator.js";
import {
  KNATIVE_SERVING_IDENTITY,
  QueueProxyPort,
  workloadIdentity,
} from "../../host-tests/scenarios/knative.js";
import { TruthLog } from "../../host-tests/scenarios/truth.js";
import { FILTER_METRIC_LABELS } from "../deploy/filter-contract.js";
import { EAST, REVISION, WEST } from "./scenario.js";

const LOOPBACK = "127.0.0.1";
const ANY_PORT: HostPort = { host: LOOPBACK, port: 0 };
/** The pod's metrics ports, each a listener of its sidecar besides the serving port's. */
const METRICS_PORTS = [QueueProxyPort.autoscalerMetrics, QueueProxyPort.userMetrics] as const;
/** The activator's mesh identity, and the revision pods' (the namespace's default service account). */
const ACTIVATOR_IDENTITY = KNATIVE_SERVING_IDENTITY;
const REVISION_IDENTITY = workloadIdentity(REVISION.namespace, "default");

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

/** How long the app takes on APP_PATHS.slow: long enough that a second pod is ready before it answers. */
const SLOW_MS = 1_500;
/** Requests one pod takes at once (the revision's containerConcurrency); the activator queues the rest. */
export const CONTAINER_CONCURRENCY = 2;
const MAX_PODS = 2;

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
  /** The east ingress gateway's access-log format (access-log.ts); none without it. */
  gatewayAccessLogFormat?: string;
}

function url(address: HostPort): string {
  return `http://${address.host}:${address.port}`;
}

async function startProxy(
  name: string,
  options: Omit<PluginOptions, "extraStatTags">,
  upstream: string,
  mtls: boolean,
  ports?: Pick<ProxyOptions, "identity" | "portListeners">,
): Promise<MeshProxy> {
  const stats = new StatStore({ extraStatTags: [...FILTER_METRIC_LABELS] });
  const proxy = await HarnessProxy.start({
    loadPlugin: () => Plugin.load({ ...options, extraStatTags: [...FILTER_METRIC_LABELS] }, stats),
    stats,
    listen: ANY_PORT,
    upstream,
    admin: ANY_PORT,
    mtls,
    ...ports,
  });
  return { name, proxy, stats };
}

function node(place: { cluster: string; region: string }, extra: NodeIdentity): NodeIdentity {
  return { cluster: place.cluster, region: place.region, ...extra };
}

export { send };

/** The revision pod's queue-proxy and user container; records what reached them. */
function startApp(
  pod: string,
  truth: TruthLog,
  resets: Set<number>,
): Promise<{ server: http.Server; address: HostPort }> {
  const server = http.createServer((request, response) => {
    const invoked = queueProxy(request, response, pod, truth);
    if (invoked === "answered") return;
    switch ((request.url ?? "/").split("?")[0]) {
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
        if (invoked !== undefined) resets.add(invoked.id);
        request.socket.destroy();
        return;
      default:
        response.writeHead(200, { "content-type": "text/plain" }).end(`hello from ${REVISION.revision}\n`);
    }
  });
  return listenOn(server, ANY_PORT).then((address) => ({ server, address }));
}

export class DemoMesh {
  private constructor(
    /** What really happened to every request the demo sent, as its stand-ins saw it. */
    readonly truth: TruthLog,
    /** Requests the app reset (how they ended: the upstream reset them). */
    private readonly resets: Set<number>,
    readonly proxies: MeshProxy[],
    private readonly servers: http.Server[],
    private readonly revisionService: HttpActivator,
    readonly eastGateway: HostPort,
    private readonly startWest: () => Promise<MeshProxy>,
    /** The east ingress gateway's access-log lines, one per stream. */
    readonly gatewayAccessLog: readonly string[],
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
    const gatewayAccessLog: string[] = [];
    const startPod = async (): Promise<HostPort> => {
      const index = proxies.filter((p) => p.name.startsWith("east revision pod")).length + 1;
      const podName = `${REVISION.revision}-deployment-${index}`;
      const app = await startApp(podName, truth, resets);
      servers.push(app.server);
      const pod = await startProxy(
        index === 1 ? "east revision pod (inbound sidecar)" : `east revision pod ${index} (inbound sidecar)`,
        {
          wasm: options.wasm,
          pluginConfig: "{}",
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
        // A revision pod's sidecar sees requests addressed to queue-proxy's serving port, from mesh
        // peers; the harness gives one identity per listener: the activator's, whose K-Proxy-Request
        // the filter believes only from it (the west caller is a mesh peer too).
        {
          identity: { destinationPort: QueueProxyPort.http1, peerIdentity: ACTIVATOR_IDENTITY },
          portListeners: METRICS_PORTS.map((port) => ({ listen: ANY_PORT, destinationPort: port })),
        },
      );
      proxies.push(pod);
      return pod.proxy.listenAddress;
    };
    const revisionService = new HttpActivator({
      startPod,
      truth,
      delays: { coldStartMs: options.coldStartDelayMs, scaleUpMs: options.scaleUpDelayMs ?? 300 },
      containerConcurrency: CONTAINER_CONCURRENCY,
      maxPods: MAX_PODS,
      routeHeader: ROUTE_HEADER,
    });
    const revisionAddress = await listenOn(revisionService.server, ANY_PORT);
    servers.push(revisionService.server);

    const gateway = await startProxy(
      "east ingress gateway",
      {
        wasm: options.wasm,
        pluginConfig: "{}",
        ...(options.gatewayAccessLogFormat !== undefined && {
          accessLog: { format: options.gatewayAccessLogFormat, write: (line) => gatewayAccessLog.push(line) },
        }),
        direction: "outbound",
        node: node(EAST, {
          proxyType: "router",
          namespace: "istio-system",
          workloadName: "istio-ingressgateway",
        }),
      },
      url(revisionAddress),
      false,
      // Its upstream, the revision's service, is the activator or a pod: mesh identities both.
      { identity: { upstreamIdentity: ACTIVATOR_IDENTITY } },
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
        // Istio's cluster of the revision's service: an in-mesh destination, whatever :authority says.
        {
          identity: {
            upstreamIdentity: REVISION_IDENTITY,
            upstreamCluster: `outbound|80||${REVISION.service}.${REVISION.namespace}.svc.cluster.local`,
          },
        },
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
      gatewayAccessLog,
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

  /**
   * One round of scrapes of each pod's queue-proxy through its sidecar: the autoscaler's of :9090
   * and Prometheus's of :9091, each on the sidecar's listener for that port.
   */
  async podScrapes(): Promise<void> {
    const sidecars = this.revisionService.pods.map((pod) => {
      const sidecar = this.proxies.find((p) => p.proxy.listenAddress.port === pod.address.port);
      if (sidecar === undefined) throw new Error(`demo: no sidecar listens at ${url(pod.address)}`);
      return sidecar.proxy;
    });
    await Promise.all(sidecars.map((sidecar) => scrapePod(sidecar.portAddresses)));
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
