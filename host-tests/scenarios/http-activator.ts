// The activator and queue-proxy over real HTTP, for chains of real proxies (`kwt run` processes,
// the demo's harness proxies): the activator holds requests while the revision has no ready pod,
// probes each new pod as in pod-IP mode (K-Network-Probe: queue every 200 ms until it passes), sends
// each pod at most containerConcurrency requests at once and queues the rest, and asks for another
// pod when its queue grows; queue-proxy answers probes and the autoscaler's scrapes itself. Both
// record the ground truth (truth.ts) of the requests they handle, found by REQUEST_ID_HEADER.

import http from "node:http";
import type { HeaderList, HostPort } from "../harness/index.js";
import { activatorProbe, autoscalerScrape, prometheusScrape, QueueProxyPort } from "./knative.js";
import type { RequestTruth, TruthLog } from "./truth.js";

/** Which of the truth log's requests this is (the models record what happened to it). */
export const REQUEST_ID_HEADER = "x-scenario-request";

/** Plain request headers from a Knative header list (pseudo-headers dropped) and its path. */
export function wire(headers: HeaderList): { path: string; headers: Record<string, string> } {
  const plain = Object.fromEntries(headers.filter(([name]) => !name.startsWith(":")));
  return { path: headers.find(([name]) => name === ":path")?.[1] ?? "/", headers: plain };
}

/** Sends one request, reads the answer to its end and resolves with its status (-1: no connection). */
export async function send(
  target: HostPort,
  path: string,
  headers: Record<string, string> = {},
): Promise<number> {
  return (await exchange(target, path, headers)).status;
}

/** One request; resolves with its status (-1: no connection), the response's grpc-status and headers. */
export function exchange(
  target: HostPort,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; grpcStatus?: number; headers?: http.IncomingHttpHeaders }> {
  return new Promise((resolve) => {
    const request = http.request(
      { host: target.host, port: target.port, path, method: "GET", headers, agent: false },
      (response) => {
        // Drained: 'end' (the whole answer arrived, the proxy's stream is over) fires only once read.
        response.resume();
        const grpc = response.headers["grpc-status"];
        const grpcStatus = typeof grpc === "string" ? Number(grpc) : undefined;
        response.on("end", () =>
          resolve({ status: response.statusCode ?? -1, grpcStatus, headers: response.headers }),
        );
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
  dropHeaders: readonly string[] = [],
): void {
  const headers = { ...request.headers, ...extraHeaders };
  for (const name of dropHeaders) delete headers[name];
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
  // A client that went away cancels the proxied request too, as Go's reverse proxy does.
  response.once("close", () => {
    if (!response.writableFinished) upstream.destroy();
    done();
  });
  upstream.on("error", () => {
    if (!response.headersSent) response.writeHead(502, { "content-type": "text/plain" });
    response.end("activator: proxy error\n");
  });
  request.pipe(upstream);
}

export interface HttpPod {
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
  /** Still waiting once the activator's dispatch at arrival ran: it really queued. */
  queued: boolean;
  truth: RequestTruth | undefined;
}

export interface HttpActivatorOptions {
  /** Starts a pod (its sidecar and app) and resolves with the sidecar's address. */
  startPod: () => Promise<HostPort>;
  truth: TruthLog;
  /** How long the first pod takes to be created, and a pod added by a scale-up. */
  delays: { coldStartMs: number; scaleUpMs: number };
  /** Requests one pod takes at once (containerConcurrency); 0: unlimited. */
  containerConcurrency: number;
  maxPods: number;
  /** With ready pods, requests carrying this header (`activator`) still go through the activator; others go straight to the first pod. Absent: every request goes through the activator. */
  routeHeader?: string;
}

/**
 * The revision's public service with the activator in front: while the revision is at zero, and
 * for every request unless `routeHeader` routes it straight to a ready pod.
 */
export class HttpActivator {
  readonly pods: HttpPod[] = [];
  private readonly waiting: Waiting[] = [];
  private starting = false;
  readonly server: http.Server;

  constructor(private readonly options: HttpActivatorOptions) {
    this.server = http.createServer((request, response) => this.route(request, response));
  }

  private get dropHeaders(): string[] {
    return this.options.routeHeader === undefined ? [] : [this.options.routeHeader];
  }

  private route(request: http.IncomingMessage, response: http.ServerResponse): void {
    const truth = this.options.truth.get(Number(request.headers[REQUEST_ID_HEADER]));
    const ready = this.pods.filter((pod) => pod.ready);
    const { routeHeader } = this.options;
    if (ready.length > 0 && routeHeader !== undefined && request.headers[routeHeader] !== "activator") {
      forward(request, response, ready[0]!.address, {}, undefined, this.dropHeaders);
      return;
    }
    if (truth !== undefined) truth.viaActivator = true;
    const reason = ready.length === 0 ? "no-ready-pod" : "capacity";
    const entry: Waiting = { request, response, arrivedMs: Date.now(), reason, queued: false, truth };
    this.waiting.push(entry);
    this.drain();
    // Decided by whether it was dispatched at once, not by the clock: two reads of Date.now() a
    // microsecond apart can straddle a millisecond and make an instant dispatch look like a wait.
    entry.queued = this.waiting.includes(entry);
    if (this.pods.length === 0) this.addPod(this.options.delays.coldStartMs);
    else if (this.waiting.length > 0 && reason === "capacity") this.addPod(this.options.delays.scaleUpMs);
  }

  /** The autoscaler adds a pod: it starts after `delayMs`, then turns ready once its probe passes. */
  private addPod(delayMs: number): void {
    if (this.starting || this.pods.length >= this.options.maxPods) return;
    this.starting = true;
    void (async () => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      const pod: HttpPod = { address: await this.options.startPod(), inFlight: 0, ready: false };
      this.pods.push(pod);
      await waitUntilReady(pod.address);
      pod.ready = true;
      this.starting = false;
      this.drain();
    })();
  }

  private drain(): void {
    const limit = this.options.containerConcurrency;
    for (;;) {
      const next = this.waiting[0];
      const pod = this.pods
        .filter((p) => p.ready && (limit === 0 || p.inFlight < limit))
        .sort((a, b) => a.inFlight - b.inFlight)[0];
      if (next === undefined || pod === undefined) return;
      this.waiting.shift();
      const waitedMs = Date.now() - next.arrivedMs;
      if (next.truth !== undefined) {
        if (next.reason === "no-ready-pod") next.truth.coldStartMs = waitedMs;
        else if (next.queued) next.truth.queueWaitMs = waitedMs;
      }
      pod.inFlight++;
      const done = () => {
        pod.inFlight--;
        this.drain();
      };
      forward(
        next.request,
        next.response,
        pod.address,
        { "k-proxy-request": "activator" },
        done,
        this.dropHeaders,
      );
    }
  }
}

/**
 * One round of the scrapes a pod's queue-proxy gets through its sidecar: the autoscaler's of :9090
 * and Prometheus's of :9091, each sent to the sidecar's listener for that pod port (`listeners`).
 */
export async function scrapePod(listeners: ReadonlyMap<number, HostPort>): Promise<void> {
  for (const [port, scrape] of [
    [QueueProxyPort.autoscalerMetrics, autoscalerScrape],
    [QueueProxyPort.userMetrics, prometheusScrape],
  ] as const) {
    const address = listeners.get(port);
    if (address === undefined) throw new Error(`scrapePod: the sidecar has no listener for pod port ${port}`);
    const request = wire(scrape(`${address.host}:${address.port}`));
    await send(address, request.path, request.headers);
  }
}

const READY_PROBE_ATTEMPTS = 50;
const READY_PROBE_INTERVAL_MS = 200;

/** Probes the pod as the activator does until it answers 200 (pod-IP mode). */
export async function waitUntilReady(pod: HostPort): Promise<void> {
  let lastAnswer = "none";
  for (let attempt = 0; attempt < READY_PROBE_ATTEMPTS; attempt++) {
    const probe = wire(activatorProbe(`${pod.host}:${pod.port}`));
    const status = await send(pod, probe.path, probe.headers);
    if (status === 200) return;
    lastAnswer = status === -1 ? "no connection" : `HTTP ${status}`;
    await new Promise((resolve) => setTimeout(resolve, READY_PROBE_INTERVAL_MS));
  }
  throw new Error(
    `activator: the revision pod at ${pod.host}:${pod.port} did not answer its readiness probe (/healthz) ` +
      `with 200 in ${READY_PROBE_ATTEMPTS} tries ${READY_PROBE_INTERVAL_MS} ms apart; last answer: ${lastAnswer}`,
  );
}

/**
 * queue-proxy in front of a pod's user container: answers the activator's probe (ready or not), the
 * autoscaler's scrape and Prometheus's scrape itself and records them; any other request is the user container's, and
 * its truth entry (if it carries one) is marked an invocation of `pod`. Returns that entry, or
 * "answered" when queue-proxy answered itself.
 */
export function queueProxy(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  pod: string,
  truth: TruthLog,
  ready: () => boolean = () => true,
): RequestTruth | undefined | "answered" {
  const path = (request.url ?? "/").split("?")[0];
  const answer = (
    kind: "activator-probe" | "autoscaler-scrape" | "prometheus-scrape",
    port: number,
    status: number,
    body: string,
  ) => {
    Object.assign(truth.begin(kind, Date.now()), {
      pod,
      port,
      ending: { code: status, timeout: false, localReply: false },
    });
    response.writeHead(status, { "content-type": "text/plain" }).end(body);
    return "answered" as const;
  };
  if (request.headers["k-network-probe"] === "queue") {
    return ready()
      ? answer("activator-probe", QueueProxyPort.http1, 200, "queue")
      : answer("activator-probe", QueueProxyPort.http1, 503, "not ready");
  }
  // The scrapers address their own ports (the sidecar's --listen-port listeners), but every
  // listener forwards to this one server, so it tells the scrapes apart by their shape.
  if (path === "/metrics") {
    return request.headers.accept === "application/protobuf"
      ? answer("autoscaler-scrape", QueueProxyPort.autoscalerMetrics, 200, "")
      : answer("prometheus-scrape", QueueProxyPort.userMetrics, 200, "");
  }
  const invoked = truth.get(Number(request.headers[REQUEST_ID_HEADER]));
  if (invoked !== undefined) {
    Object.assign(invoked, {
      invocation: true,
      pod,
      port: QueueProxyPort.http1,
      reachedContainerMs: Date.now(),
    });
  }
  return invoked;
}
