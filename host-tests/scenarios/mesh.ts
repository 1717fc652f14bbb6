// A Knative revision in an Istio mesh, as plain models around harness proxies that run the real
// filter: the ingress gateway, the activator (both probing modes, its throttler's capacity queue),
// the revision's pods (sidecar + queue-proxy + user container), the autoscaler's scrapes, the
// kubelet's probes and Prometheus. Each model records the ground truth of what it did (truth.ts).

import type { HeaderList, NodeIdentity, Plugin, SharedData, StatStore, StreamEnd } from "../harness/index.js";
import { FILTER_METRIC_LABELS } from "../../tools/deploy/filter-contract.js";
import {
  activatorProbe,
  autoscalerScrape,
  INGRESS_GATEWAY_IDENTITY,
  KNATIVE_SERVING_IDENTITY,
  kubeletProbe,
  prometheusScrape,
  QueueProxyPort,
  SERVING_PORTS,
  workloadIdentity,
} from "./knative.js";
import {
  clientReset,
  loadProxy,
  rateLimited,
  ResponseFlags,
  streamOptions,
  upstreamReset,
  upstreamTimeout,
  type EnvoyEnding,
  type Peer,
  type PropertyLayout,
} from "./proxy-adapter.js";
import type { Simulation } from "./simulation.js";
import type { RequestEnding, RequestTruth, TruthLog } from "./truth.js";

export const REVISION = {
  namespace: "demo",
  service: "hello",
  configuration: "hello",
  revision: "hello-00001",
} as const;
export const PLACE = { cluster: "east", region: "us-east1" } as const;
/** The revision pods' workload identity (Knative runs them as the namespace's default service account). */
export const REVISION_IDENTITY = workloadIdentity(REVISION.namespace, "default");

/** What the user container (or the client) does with one request. */
export type Behaviour =
  | { kind: "ok" }
  | { kind: "http5xx" }
  | { kind: "grpc-error"; grpcStatus: number }
  /** The container resets the stream before answering: Envoy answers 503 (UR). */
  | { kind: "upstream-reset" }
  /** The sidecar's route timeout passes first: Envoy answers 504 (UT). */
  | { kind: "route-timeout"; afterMs: number }
  /** The revision's timeoutSeconds passes: queue-proxy answers 504 itself. */
  | { kind: "revision-timeout"; afterMs: number }
  /** The container's own call to a dependency times out: it answers 504 (Gateway Timeout) itself. */
  | { kind: "workload-timeout"; afterMs: number }
  /** The client cancels (HTTP/2 RST_STREAM) before any response. */
  | { kind: "client-cancel"; afterMs: number }
  /** The sidecar's local rate limit refuses it before queue-proxy. */
  | { kind: "rate-limited" };

export const OK: Behaviour = { kind: "ok" };

/** One request as a hop hands it to the next. */
export interface Hop {
  headers: HeaderList;
  trailers?: HeaderList;
  behaviour: Behaviour;
  grpc: boolean;
  protocol: "HTTP/1.1" | "HTTP/2";
  truth: RequestTruth;
}

/** What comes back: headers (absent on a reset before any response), trailers and the stream end. */
export interface Answer {
  headers?: HeaderList;
  trailers?: HeaderList;
  end: StreamEnd;
  /** How it ended, for the truth (set by whoever ended it). */
  ending: RequestEnding;
  /** The upstream that answered, as the proxy that sent the request sees it (none: no connection). */
  server?: Server;
}

/** An upstream a proxy connected to: its address and its certificate's URI SAN (none: plaintext). */
export interface Server {
  address: string;
  identity?: string;
}

export type Reply = (answer: Answer) => void;

export interface MeshOptions {
  wasm: Uint8Array;
  layout: PropertyLayout;
  /** Worker threads (one VM each) of every proxy. Default 2, as Envoy with --concurrency 2. */
  workers?: number;
  /** Plugin configuration of the revision pods' sidecars. */
  podConfig?: Record<string, unknown>;
  activatorMode: "pod-ip" | "mesh";
  /** The activator's namespace is sidecar-injected: it reaches pods over mTLS with its mesh identity. */
  activatorSidecar?: boolean;
  /** Requests one pod takes at once (containerConcurrency); 0: unlimited. */
  containerConcurrency?: number;
  /** From pod creation to its sidecar (and so the filter's VMs) running. Default 600 ms. */
  sidecarStartMs?: number;
  /** From pod creation to queue-proxy answering ready. Default 1200 ms. */
  podReadyMs?: number;
  /** From queue-proxy ready to Kubernetes listing the pod as a ready endpoint. Default 300 ms. */
  endpointLagMs?: number;
  /** The user container's time per request. Default 20 ms. */
  serviceTimeMs?: number;
  /** The autoscaler scrapes each ready pod's :9090 this often; 0: never. Default 1000 ms. */
  autoscalerScrapeMs?: number;
  /** The kubelet's readiness probes reach Envoy (Istio's probe rewrite off), this often; 0: never. */
  kubeletProbeMs?: number;
  prometheus?: PrometheusOptions;
}

export interface PrometheusOptions {
  /** scrape_interval. */
  intervalMs: number;
  /** From the pod's creation to Prometheus's service discovery listing it. */
  discoveryDelayMs: number;
}

/** A Prometheus scrape of a pod's Envoy stats (`:15090/stats/prometheus`, not through the filter). */
export interface EnvoyScrape {
  pod: string;
  atMs: number;
  text: string;
}

/** The gateway's connections to pods: mTLS with its mesh identity. */
const GATEWAY_PEER: Peer = { address: "10.0.8.1:41000", mtls: true, identity: INGRESS_GATEWAY_IDENTITY };

const CONNECTION_REFUSED: Answer = {
  end: {
    responseCode: 503,
    responseFlags: ResponseFlags.UpstreamConnectionFailure,
    responseCodeDetails: "upstream_reset_before_response_started{connection_failure}",
  },
  headers: [[":status", "503"]],
  ending: { code: 503, timeout: false, localReply: true },
};

function header(headers: HeaderList, name: string): string | undefined {
  return headers.find(([key]) => key === name)?.[1];
}

function without(headers: HeaderList, names: readonly string[]): HeaderList {
  return headers.filter(([name]) => !names.includes(name));
}

function fromEnvoy(ending: EnvoyEnding, truth: RequestEnding): Answer {
  return { headers: ending.headers, end: ending.end, ending: truth };
}

function revisionNode(podName: string): NodeIdentity {
  return {
    proxyType: "sidecar",
    podName,
    cluster: PLACE.cluster,
    region: PLACE.region,
    namespace: REVISION.namespace,
    workloadName: `${REVISION.revision}-deployment`,
    labels: {
      "serving.knative.dev/revision": REVISION.revision,
      "serving.knative.dev/service": REVISION.service,
      "serving.knative.dev/configuration": REVISION.configuration,
    },
  };
}

/** One revision pod: its sidecar running the filter, queue-proxy and the user container. */
export class Pod {
  sidecar: Plugin | undefined;
  /** Every sidecar this pod ran (a VM reload keeps the store, an Envoy restart starts a new one). */
  readonly sidecars: Plugin[] = [];
  readonly readyAtMs: number;
  readonly sidecarUpAtMs: number;

  constructor(
    private readonly mesh: Mesh,
    readonly name: string,
    readonly ip: string,
    readonly createdAtMs: number,
  ) {
    this.sidecarUpAtMs = createdAtMs + mesh.sidecarStartMs;
    this.readyAtMs = createdAtMs + mesh.podReadyMs;
  }

  get ready(): boolean {
    return this.mesh.sim.nowMs >= this.readyAtMs;
  }

  /** Listed by Kubernetes as a ready endpoint of the revision's services. */
  get endpointReady(): boolean {
    return this.mesh.sim.nowMs >= this.readyAtMs + this.mesh.endpointLagMs;
  }

  /**
   * Starts (or restarts) the sidecar: a new module on the same Envoy keeps its stats store and its
   * shared data (`keep`); absent, a new Envoy.
   */
  async startSidecar(keep: { stats: StatStore; sharedData: SharedData } | undefined): Promise<void> {
    if (this.sidecar !== undefined) {
      this.mesh.sim.detach(this.sidecar);
      this.sidecar.close();
    }
    const plugin = await loadProxy({
      wasm: this.mesh.options.wasm,
      layout: this.mesh.options.layout,
      direction: "inbound",
      node: revisionNode(this.name),
      pluginConfig: this.mesh.options.podConfig ?? {},
      workers: this.mesh.workers,
      extraStatTags: FILTER_METRIC_LABELS,
      startMs: this.mesh.sim.wallMs,
      stats: keep?.stats,
      sharedData: keep?.sharedData,
    });
    this.mesh.sim.attach(plugin);
    this.sidecar = plugin;
    this.sidecars.push(plugin);
  }

  /** A connection to this pod's `port` from `peer`; what the sidecar and queue-proxy make of the request. */
  receive(hop: Hop, port: number, peer: Peer, reply: Reply): void {
    const sidecar = this.sidecar;
    if (sidecar === undefined) {
      reply(CONNECTION_REFUSED);
      return;
    }
    const { truth } = hop;
    const stream = sidecar.createStream(
      streamOptions({ peer, destination: `${this.ip}:${port}`, protocol: hop.protocol }),
    );
    const forwarded = stream.onRequestHeaders(hop.headers, hop.trailers === undefined).headers;
    if (hop.trailers !== undefined) stream.onRequestTrailers(hop.trailers);
    truth.pod = this.name;
    truth.port = port;
    const answer = (delayMs: number, result: Answer): void => {
      this.mesh.sim.after(delayMs, () => {
        let headers = result.headers;
        if (headers !== undefined) {
          headers = stream.onResponseHeaders(headers, result.trailers === undefined).headers;
          if (result.trailers !== undefined) stream.onResponseTrailers(result.trailers);
        }
        stream.end(result.end);
        reply({ ...result, headers, server: { address: `${this.ip}:${port}`, identity: REVISION_IDENTITY } });
      });
    };
    const ok = (status: number, body: string): Answer => ({
      headers: [
        [":status", String(status)],
        ["content-type", "text/plain"],
        ["content-length", String(body.length)],
      ],
      end: { responseCode: status, responseCodeDetails: "via_upstream" },
      ending: { code: status, timeout: false, localReply: false },
    });

    const behaviour = hop.behaviour;
    if (behaviour.kind === "rate-limited") {
      answer(
        0,
        fromEnvoy(rateLimited(hop.grpc), { code: hop.grpc ? 200 : 429, timeout: false, localReply: true }),
      );
      return;
    }
    // Past the sidecar's own filters the router picks the pod's own address (plaintext in the pod).
    stream.connectUpstream(`${this.ip}:${port}`);
    if (port === QueueProxyPort.autoscalerMetrics || port === QueueProxyPort.userMetrics) {
      answer(2, ok(200, "metrics"));
      return;
    }
    if (
      header(forwarded, "k-network-probe") === "queue" ||
      header(forwarded, "k-kubelet-probe") !== undefined
    ) {
      answer(1, this.ready ? ok(200, "queue") : ok(503, "not ready"));
      return;
    }
    if (header(forwarded, "k-network-probe") !== undefined) {
      answer(1, ok(200, "probe"));
      return;
    }
    if (!SERVING_PORTS.has(port)) throw new Error(`pod ${this.name}: nothing listens on port ${port}`);
    truth.invocation = true;
    truth.beforeServingPodReady ||= truth.sentAtMs < this.readyAtMs;
    const serviceMs = this.mesh.serviceTimeMs;
    switch (behaviour.kind) {
      case "ok":
      case "grpc-error": {
        const grpcStatus = behaviour.kind === "grpc-error" ? behaviour.grpcStatus : 0;
        if (!hop.grpc) {
          answer(serviceMs, ok(200, `hello from ${this.name}`));
          return;
        }
        answer(serviceMs, {
          headers: [
            [":status", "200"],
            ["content-type", "application/grpc"],
          ],
          trailers: [["grpc-status", String(grpcStatus)]],
          end: { responseCode: 200, responseCodeDetails: "via_upstream", grpcStatus },
          ending: { code: 200, grpcStatus, timeout: false, localReply: false },
        });
        return;
      }
      case "http5xx":
        answer(serviceMs, ok(500, "boom"));
        return;
      case "upstream-reset": {
        const ending = upstreamReset(this.mesh.options.layout, hop.grpc);
        answer(
          serviceMs,
          fromEnvoy(ending, {
            code: ending.end.responseCode,
            resetBy: "upstream",
            timeout: false,
            localReply: true,
          }),
        );
        return;
      }
      case "route-timeout": {
        const ending = upstreamTimeout(this.mesh.options.layout, hop.grpc);
        answer(
          behaviour.afterMs,
          fromEnvoy(ending, { code: ending.end.responseCode, timeout: true, localReply: true }),
        );
        return;
      }
      case "revision-timeout":
      case "workload-timeout": {
        // queue-proxy's timeout handler or the container: an upstream 504 as far as Envoy knows.
        const body = behaviour.kind === "revision-timeout" ? "request timeout" : "upstream request timeout";
        answer(behaviour.afterMs, {
          ...ok(504, body),
          ending: { code: 504, timeout: true, localReply: false },
        });
        return;
      }
      case "client-cancel":
        answer(
          behaviour.afterMs,
          fromEnvoy(clientReset(this.mesh.options.layout, hop.grpc), {
            resetBy: "client",
            timeout: false,
            localReply: false,
          }),
        );
        return;
    }
  }
}

interface Waiting {
  hop: Hop;
  reply: Reply;
  arrivedMs: number;
  /** Held because the revision had no ready pod (cold start), or waiting for capacity. */
  reason: "no-ready-pod" | "capacity";
}

/**
 * The activator: holds requests while the revision has no ready pod (asking for one), queues them
 * while every ready pod is at its containerConcurrency, forwards them with K-Proxy-Request.
 * Readiness by mode (pkg/activator/net/revision_backends.go): "pod-ip" probes each pod IP every
 * 200 ms until healthy; "mesh" probes the private service until one probe passes, then takes
 * Kubernetes' ready endpoints without probing pods added later.
 */
export class Activator {
  private readonly waiting: Waiting[] = [];
  private readonly healthy = new Set<Pod>();
  private readonly inFlight = new Map<Pod, number>();
  private privateServiceHealthy = false;
  private probing = false;
  private nextPort = 40_000;
  static readonly PROBE_PERIOD_MS = 200;

  constructor(private readonly mesh: Mesh) {}

  /** Pods the activator sends to now. */
  backends(): Pod[] {
    const pods = this.mesh.pods;
    if (this.mesh.options.activatorMode === "pod-ip") return pods.filter((p) => this.healthy.has(p));
    return this.privateServiceHealthy ? pods.filter((p) => p.endpointReady) : [];
  }

  private peer(): Peer {
    const sidecar = this.mesh.options.activatorSidecar ?? true;
    return {
      address: `10.0.9.1:${this.nextPort++}`,
      mtls: sidecar,
      identity: sidecar ? KNATIVE_SERVING_IDENTITY : undefined,
    };
  }

  handle(hop: Hop, replyFromPod: Reply): void {
    hop.truth.viaActivator = true;
    // The caller's upstream is the activator: its own identity, or none without a sidecar.
    const server = this.peer();
    const reply: Reply = (answer) => replyFromPod({ ...answer, server });
    const arrived: Waiting = { hop, reply, arrivedMs: this.mesh.sim.nowMs, reason: "capacity" };
    if (this.backends().length === 0) {
      arrived.reason = "no-ready-pod";
      this.waiting.push(arrived);
      this.mesh.activate();
      this.watch();
      return;
    }
    this.waiting.push(arrived);
    this.drain();
  }

  /** Starts the probe loop of the current mode if it is not running. */
  watch(): void {
    if (this.probing) return;
    this.probing = true;
    const sim = this.mesh.sim;
    sim.every(Activator.PROBE_PERIOD_MS, sim.nowMs, Number.POSITIVE_INFINITY, () => {
      const more = this.mesh.options.activatorMode === "pod-ip" ? this.probePods() : this.probeService();
      if (!more) this.probing = false;
      return more;
    });
  }

  /** One round of pod-IP probes; true while some pod is not yet known healthy. */
  private probePods(): boolean {
    const unhealthy = this.mesh.pods.filter((p) => !this.healthy.has(p));
    for (const pod of unhealthy) {
      this.probe(pod, `${pod.ip}:${QueueProxyPort.http1}`, (passed) => {
        if (!passed) return;
        this.healthy.add(pod);
        this.drain();
      });
    }
    return unhealthy.length > 0 || this.mesh.pods.length === 0;
  }

  /** One probe of the private service; true until one passed (then never again). */
  private probeService(): boolean {
    if (this.privateServiceHealthy) return false;
    const target = this.mesh.pods.find((p) => p.endpointReady);
    // No ready endpoint: the ClusterIP has nowhere to send the probe; it reaches no pod.
    if (target === undefined) return true;
    this.probe(target, `${REVISION.revision}-private.${REVISION.namespace}`, (passed) => {
      if (!passed) return;
      this.privateServiceHealthy = true;
      this.drain();
    });
    return true;
  }

  private probe(pod: Pod, authority: string, done: (passed: boolean) => void): void {
    const truth = this.mesh.truth.begin("activator-probe", this.mesh.sim.nowMs);
    pod.receive(
      { headers: activatorProbe(authority), behaviour: OK, grpc: false, protocol: "HTTP/1.1", truth },
      QueueProxyPort.http1,
      this.peer(),
      (answer) => {
        truth.ending = answer.ending;
        done(answer.ending.code === 200);
      },
    );
  }

  private freeBackend(): Pod | undefined {
    const limit = this.mesh.containerConcurrency;
    let best: Pod | undefined;
    for (const pod of this.backends()) {
      const load = this.inFlight.get(pod) ?? 0;
      if (limit > 0 && load >= limit) continue;
      if (best === undefined || load < (this.inFlight.get(best) ?? 0)) best = pod;
    }
    return best;
  }

  private drain(): void {
    for (;;) {
      const next = this.waiting[0];
      if (next === undefined) return;
      const pod = this.freeBackend();
      if (pod === undefined) return;
      this.waiting.shift();
      this.forward(next, pod);
    }
  }

  private forward(waiting: Waiting, pod: Pod): void {
    const { hop } = waiting;
    const waitedMs = this.mesh.sim.nowMs - waiting.arrivedMs;
    if (waiting.reason === "no-ready-pod") hop.truth.coldStartMs = waitedMs;
    else if (waitedMs > 0) hop.truth.queueWaitMs = waitedMs;
    hop.truth.beforeServingPodReady = hop.truth.sentAtMs < pod.readyAtMs;
    this.inFlight.set(pod, (this.inFlight.get(pod) ?? 0) + 1);
    const host = header(hop.headers, ":authority") ?? "";
    const headers: HeaderList = [
      ...without(hop.headers, [":authority", "knative-serving-revision", "knative-serving-namespace"]),
      [":authority", `${pod.ip}:${QueueProxyPort.http1}`],
      ["k-original-host", host],
      ["k-proxy-request", "activator"],
    ];
    const port = hop.protocol === "HTTP/2" ? QueueProxyPort.h2c : QueueProxyPort.http1;
    pod.receive({ ...hop, headers }, port, this.peer(), (answer) => {
      this.inFlight.set(pod, (this.inFlight.get(pod) ?? 1) - 1);
      waiting.reply(answer);
      this.drain();
    });
  }

  /** Requests held or queued right now. */
  get queued(): number {
    return this.waiting.length;
  }
}

/** The ingress gateway (one Envoy for knative-ingress-gateway and knative-local-gateway). */
export class Gateway {
  private nextPort = 50_000;

  constructor(
    private readonly mesh: Mesh,
    readonly plugin: Plugin,
  ) {}

  /**
   * A client request through the gateway to the revision. `clientMtls`: the client presented a
   * certificate (an ingress gateway with mutual TLS toward outside clients, or a mesh caller).
   */
  send(
    hop: Hop,
    reply: Reply = () => undefined,
    client: { mtls: boolean; identity?: string } = { mtls: false },
  ): void {
    const stream = this.plugin.createStream(
      streamOptions({
        peer: { address: `203.0.113.7:${this.nextPort++}`, ...client },
        destination: "10.0.8.1:8443",
        protocol: hop.protocol,
      }),
    );
    let headers = stream.onRequestHeaders(hop.headers, hop.trailers === undefined).headers;
    if (hop.trailers !== undefined) stream.onRequestTrailers(hop.trailers);
    // net-istio's route sets these after the gateway's HTTP filters ran.
    headers = [
      ...headers,
      ["knative-serving-revision", REVISION.revision],
      ["knative-serving-namespace", REVISION.namespace],
    ];
    const back: Reply = (answer) => {
      if (answer.server !== undefined) stream.connectUpstream(answer.server.address, answer.server.identity);
      let out = answer.headers;
      if (out !== undefined) {
        out = stream.onResponseHeaders(out, answer.trailers === undefined).headers;
        if (answer.trailers !== undefined) stream.onResponseTrailers(answer.trailers);
      }
      stream.end(answer.end);
      hop.truth.ending = answer.ending;
      reply({ ...answer, headers: out });
    };
    this.mesh.route({ ...hop, headers }, back);
  }
}

/** The gateway's access-log line: the two fields a cold start sets, tab-separated. */
const GATEWAY_LOG_FORMAT =
  "%FILTER_STATE(wasm.kwt_cold_start:PLAIN)%\t%FILTER_STATE(wasm.kwt_cold_start_wait_ms:PLAIN)%";

/** The mesh around one revision: gateway, activator, pods, autoscaler, kubelet and Prometheus. */
export class Mesh {
  readonly pods: Pod[] = [];
  /** The cold-start wait (ms) of each gateway access-log line that reports a cold start. */
  readonly gatewayColdStartWaits: number[] = [];
  readonly activator: Activator;
  readonly scrapes: EnvoyScrape[] = [];
  gateway!: Gateway;
  /** The activator is in the path although pods are ready (target-burst-capacity; proxy mode). */
  activatorInPath = false;
  private scaling = false;
  private nextDirect = 0;

  private constructor(
    readonly sim: Simulation,
    readonly truth: TruthLog,
    readonly options: MeshOptions,
  ) {
    this.activator = new Activator(this);
  }

  static async start(sim: Simulation, truth: TruthLog, options: MeshOptions): Promise<Mesh> {
    const mesh = new Mesh(sim, truth, options);
    const gateway = await loadProxy({
      wasm: options.wasm,
      layout: options.layout,
      direction: "outbound",
      node: {
        proxyType: "router",
        podName: "istio-ingressgateway-1",
        cluster: PLACE.cluster,
        region: PLACE.region,
        namespace: "istio-system",
        workloadName: "istio-ingressgateway",
      },
      pluginConfig: {},
      workers: mesh.workers,
      extraStatTags: FILTER_METRIC_LABELS,
      startMs: sim.wallMs,
      accessLog: {
        format: GATEWAY_LOG_FORMAT,
        write: (line) => {
          const [coldStart, waitMs] = line.split("\t");
          if (coldStart === "1") mesh.gatewayColdStartWaits.push(Number(waitMs));
        },
      },
    });
    sim.attach(gateway);
    mesh.gateway = new Gateway(mesh, gateway);
    return mesh;
  }

  get workers(): number {
    return this.options.workers ?? 2;
  }
  get sidecarStartMs(): number {
    return this.options.sidecarStartMs ?? 600;
  }
  get podReadyMs(): number {
    return this.options.podReadyMs ?? 1200;
  }
  get endpointLagMs(): number {
    return this.options.endpointLagMs ?? 300;
  }
  get serviceTimeMs(): number {
    return this.options.serviceTimeMs ?? 20;
  }
  get containerConcurrency(): number {
    return this.options.containerConcurrency ?? 0;
  }

  /** The revision's public service: the activator (at zero, or in proxy mode) or a ready pod. */
  route(hop: Hop, reply: Reply, from: Peer = GATEWAY_PEER): void {
    const ready = this.pods.filter((p) => p.endpointReady);
    if (this.activatorInPath || ready.length === 0) {
      this.activator.handle(hop, reply);
      return;
    }
    const pod = ready[this.nextDirect++ % ready.length]!;
    const port = hop.protocol === "HTTP/2" ? QueueProxyPort.h2c : QueueProxyPort.http1;
    pod.receive(hop, port, from, reply);
  }

  /** The activator asks the autoscaler for a pod (scale from zero). */
  activate(): void {
    if (this.pods.length > 0 || this.scaling) return;
    this.scaling = true;
    this.scaleTo(1);
  }

  /** Adds pods until there are `count`; each starts its sidecar, then turns ready. */
  scaleTo(count: number): void {
    while (this.pods.length < count) {
      const index = this.pods.length;
      const pod = new Pod(
        this,
        `${REVISION.revision}-deployment-${index}`,
        `10.1.0.${index + 10}`,
        this.sim.nowMs,
      );
      this.pods.push(pod);
      this.sim.at(pod.sidecarUpAtMs, () => this.bringUp(pod));
    }
    this.activator.watch();
  }

  private async bringUp(pod: Pod): Promise<void> {
    await pod.startSidecar(undefined);
    const sim = this.sim;
    const forever = Number.POSITIVE_INFINITY;
    const peer = (identity: string | undefined): Peer => ({
      address: "10.0.9.2:43000",
      mtls: identity !== undefined,
      identity,
    });
    const autoscalerMs = this.options.autoscalerScrapeMs ?? 1000;
    if (autoscalerMs > 0) {
      // Knative's autoscaler scrapes only pods it counts as ready.
      sim.every(autoscalerMs, pod.readyAtMs + this.endpointLagMs, forever, () => {
        this.probeOrScrape(
          pod,
          "autoscaler-scrape",
          autoscalerScrape(`${pod.ip}:9090`),
          9090,
          peer(KNATIVE_SERVING_IDENTITY),
        );
      });
    }
    const kubeletMs = this.options.kubeletProbeMs ?? 0;
    if (kubeletMs > 0) {
      sim.every(kubeletMs, sim.nowMs, forever, () => {
        this.probeOrScrape(pod, "kubelet-probe", kubeletProbe(`${pod.ip}:8012`), 8012, peer(undefined));
      });
    }
    const prometheus = this.options.prometheus;
    if (prometheus !== undefined) {
      sim.every(prometheus.intervalMs, pod.createdAtMs + prometheus.discoveryDelayMs, forever, () => {
        this.scrapes.push({ pod: pod.name, atMs: sim.nowMs, text: pod.sidecar!.stats.prometheusText() });
        this.probeOrScrape(
          pod,
          "prometheus-scrape",
          prometheusScrape(`${pod.ip}:9091`),
          9091,
          peer(undefined),
        );
      });
    }
  }

  private probeOrScrape(
    pod: Pod,
    kind: "autoscaler-scrape" | "kubelet-probe" | "prometheus-scrape",
    headers: HeaderList,
    port: number,
    peer: Peer,
  ): void {
    const truth = this.truth.begin(kind, this.sim.nowMs);
    pod.receive(
      { headers, behaviour: OK, grpc: false, protocol: "HTTP/1.1", truth },
      port,
      peer,
      (answer) => {
        truth.ending = answer.ending;
      },
    );
  }

  /** Every proxy's Prometheus text now (gateway first, then every sidecar each pod ran). */
  expositions(): string[] {
    const stores = new Set<StatStore>([this.gateway.plugin.stats]);
    for (const pod of this.pods) for (const sidecar of pod.sidecars) stores.add(sidecar.stats);
    return [...stores].map((store) => store.prometheusText());
  }

  close(): void {
    this.gateway.plugin.close();
    for (const pod of this.pods) pod.sidecar?.close();
  }
}

/** A user request for the revision, as a client sends it to the gateway. */
export function userRequest(
  truth: TruthLog,
  nowMs: number,
  options: { path?: string; grpc?: boolean; behaviour?: Behaviour; headers?: HeaderList } = {},
): Hop {
  const grpc = options.grpc ?? false;
  const headers: HeaderList = [
    [":method", grpc ? "POST" : "GET"],
    [":path", options.path ?? (grpc ? "/hello.Greeter/SayHello" : "/")],
    [":authority", `${REVISION.service}.${REVISION.namespace}.example.com`],
    ["user-agent", grpc ? "grpc-go/1.62.0" : "curl/8.5.0"],
    ...(grpc
      ? ([
          ["content-type", "application/grpc"],
          ["te", "trailers"],
        ] as HeaderList)
      : []),
    ...(options.headers ?? []),
  ];
  return {
    headers,
    behaviour: options.behaviour ?? OK,
    grpc,
    protocol: grpc ? "HTTP/2" : "HTTP/1.1",
    truth: truth.begin("user", nowMs),
  };
}
