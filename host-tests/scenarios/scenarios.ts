// The scenarios: traffic a Knative revision pod really sees, each played on the manual clock
// through harness proxies running the real filter, each with the ground truth of what happened.

import { measureFilter, type FilterMeasurement } from "./measure.js";
import { Mesh, userRequest, type Behaviour, type MeshOptions } from "./mesh.js";
import type { PropertyLayout } from "./proxy-adapter.js";
import { Simulation } from "./simulation.js";
import { TruthLog } from "./truth.js";
import { Workload, type ExternalHost } from "./workload.js";

export interface ScenarioBase {
  wasm: Uint8Array;
  layout: PropertyLayout;
  /** Worker VMs per proxy. Default 2. */
  workers?: number;
}

export interface ScenarioRun {
  sim: Simulation;
  truth: TruthLog;
  mesh: Mesh;
  /** What the filter reported, summed over every proxy (gateway, sidecars, callers). */
  measured(): FilterMeasurement;
  close(): void;
}

async function begin(
  base: ScenarioBase,
  options: Omit<MeshOptions, "wasm" | "layout" | "workers">,
): Promise<{ sim: Simulation; truth: TruthLog; mesh: Mesh }> {
  const sim = new Simulation();
  const truth = new TruthLog();
  const mesh = await Mesh.start(sim, truth, {
    wasm: base.wasm,
    layout: base.layout,
    workers: base.workers,
    ...options,
  });
  return { sim, truth, mesh };
}

function finish(
  parts: { sim: Simulation; truth: TruthLog; mesh: Mesh },
  extra: Array<() => string> = [],
): ScenarioRun {
  return {
    ...parts,
    measured: () => measureFilter([...parts.mesh.expositions(), ...extra.map((read) => read())]),
    close: () => parts.mesh.close(),
  };
}

/** `count` user requests through the gateway from `fromMs`, `gapMs` apart. */
function sendUsers(
  parts: { sim: Simulation; truth: TruthLog; mesh: Mesh },
  fromMs: number,
  count: number,
  gapMs: number,
  behaviour?: Behaviour,
): void {
  for (let i = 0; i < count; i++) {
    parts.sim.at(fromMs + i * gapMs, () =>
      parts.mesh.gateway.send(userRequest(parts.truth, parts.sim.nowMs, { behaviour })),
    );
  }
}

export interface ScaleFromZeroOptions extends ScenarioBase {
  activatorMode: "pod-ip" | "mesh";
  /** Requests arriving while the revision is at zero. Default 50: more than the filter's 20 per VM on each of two workers. */
  burst?: number;
  /** Requests after the pod is ready, still through the activator (target-burst-capacity). Default 10. */
  after?: number;
  activatorSidecar?: boolean;
}

/**
 * Scale from zero: a burst arrives at a revision with no pod; the activator holds it, a pod starts,
 * the activator learns it is ready (by its mode) and forwards the held requests; later requests
 * still go through the activator, as target-burst-capacity keeps it in the path.
 */
export async function scaleFromZero(options: ScaleFromZeroOptions): Promise<ScenarioRun> {
  const parts = await begin(options, {
    activatorMode: options.activatorMode,
    activatorSidecar: options.activatorSidecar,
  });
  parts.mesh.activatorInPath = true;
  sendUsers(parts, 0, options.burst ?? 50, 3);
  sendUsers(parts, 4_000, options.after ?? 10, 100);
  await parts.sim.run(8_000);
  return finish(parts);
}

export interface ScaleUpOptions extends ScenarioBase {
  activatorMode: "pod-ip" | "mesh";
  /** Pods after the scale-up. Default 3. */
  to?: number;
}

/**
 * Scale-up 1 -> N with the activator in the path: a warm pod (containerConcurrency 2, 500 ms per
 * request) gets a burst it cannot take; the activator queues the excess for capacity, the
 * autoscaler adds pods, and the queued requests are served by the old and the new pods.
 */
export async function scaleUp(options: ScaleUpOptions): Promise<ScenarioRun> {
  const parts = await begin(options, {
    activatorMode: options.activatorMode,
    containerConcurrency: 2,
    serviceTimeMs: 500,
  });
  parts.mesh.activatorInPath = true;
  parts.mesh.scaleTo(1);
  // Light traffic while the first pod warms up past the filter's cold-start window.
  sendUsers(parts, 2_000, 60, 2_500);
  sendUsers(parts, 160_000, 40, 50);
  parts.sim.at(160_500, () => parts.mesh.scaleTo(options.to ?? 3));
  await parts.sim.run(175_000);
  return finish(parts);
}

/** Proxy mode under steady load: a warm pod, the activator in the path, no one ever held. */
export async function proxyModeSteady(options: ScenarioBase): Promise<ScenarioRun> {
  const parts = await begin(options, { activatorMode: "pod-ip" });
  parts.mesh.activatorInPath = true;
  parts.mesh.scaleTo(1);
  sendUsers(parts, 130_000, 150, 200);
  await parts.sim.run(162_000);
  return finish(parts);
}

/**
 * The traffic that is not invocations: the autoscaler's scrapes of :9090 every second, Prometheus
 * on :9091, kubelet probes (Istio's probe rewrite off), activator probes of new pods, and
 * net-istio's ingress probes through the gateway; next to a few user requests.
 */
export async function scrapesAndProbes(options: ScenarioBase): Promise<ScenarioRun> {
  const parts = await begin(options, {
    activatorMode: "pod-ip",
    kubeletProbeMs: 1_000,
    prometheus: { intervalMs: 5_000, discoveryDelayMs: 2_000 },
  });
  parts.mesh.scaleTo(2);
  for (const atMs of [3_000, 3_200, 3_400]) {
    parts.sim.at(atMs, () => parts.mesh.gateway.send(ingressProbeRequest(parts)));
  }
  sendUsers(parts, 10_000, 5, 1_000);
  await parts.sim.run(30_000);
  return finish(parts);
}

function ingressProbeRequest(parts: { sim: Simulation; truth: TruthLog }) {
  const hop = userRequest(parts.truth, parts.sim.nowMs, {
    headers: [
      ["k-network-probe", "probe"],
      ["k-network-hash", "override"],
    ],
  });
  hop.truth.kind = "ingress-probe";
  hop.headers = hop.headers.map(([name, value]) =>
    name === "user-agent" ? [name, "Knative-Ingress-Probe"] : [name, value],
  );
  return hop;
}

export interface VmReloadOptions extends ScenarioBase {
  /** "module": a new module image, same Envoy (stats and shared data kept); "envoy-restart": a new Envoy (both reset). */
  reload: "module" | "envoy-restart";
}

/** A VM reload on a warm pod while activator-proxied traffic flows: nobody is held. */
export async function vmReload(options: VmReloadOptions): Promise<ScenarioRun> {
  const parts = await begin(options, { activatorMode: "pod-ip", autoscalerScrapeMs: 0 });
  parts.mesh.activatorInPath = true;
  parts.mesh.scaleTo(1);
  sendUsers(parts, 130_000, 60, 500);
  parts.sim.at(145_000, async () => {
    const pod = parts.mesh.pods[0]!;
    const sidecar = pod.sidecar!;
    await pod.startSidecar(
      options.reload === "module" ? { stats: sidecar.stats, sharedData: sidecar.sharedData } : undefined,
    );
  });
  await parts.sim.run(170_000);
  return finish(parts);
}

/** The gRPC calls of grpcEndings, in the order sent, with what each one does. */
export const GRPC_CALLS: ReadonlyArray<Behaviour> = [
  { kind: "ok" },
  { kind: "ok" },
  { kind: "ok" },
  { kind: "grpc-error", grpcStatus: 5 },
  { kind: "grpc-error", grpcStatus: 14 },
  { kind: "client-cancel", afterMs: 5 },
  { kind: "client-cancel", afterMs: 40 },
  { kind: "upstream-reset" },
  { kind: "upstream-reset" },
  { kind: "route-timeout", afterMs: 3_000 },
  { kind: "revision-timeout", afterMs: 2_000 },
  { kind: "rate-limited" },
];

/**
 * Plain HTTP/1 calls of httpEndings: an answer, three timeouts (Envoy's route timeout,
 * queue-proxy's at the revision's timeoutSeconds, the container's own 504) and the sidecar's
 * rate-limit reply.
 */
export const HTTP_CALLS: ReadonlyArray<Behaviour> = [
  { kind: "ok" },
  { kind: "route-timeout", afterMs: 3_000 },
  { kind: "revision-timeout", afterMs: 2_000 },
  { kind: "workload-timeout", afterMs: 1_000 },
  { kind: "rate-limited" },
];

/** Sends `calls` in order, 100 ms apart, straight to a warm pod, and lets each one end. */
async function playEndings(
  options: ScenarioBase,
  calls: ReadonlyArray<Behaviour>,
  grpc: boolean,
): Promise<ScenarioRun> {
  const parts = await begin(options, { activatorMode: "pod-ip", autoscalerScrapeMs: 0 });
  parts.mesh.scaleTo(1);
  calls.forEach((behaviour, i) => {
    parts.sim.at(130_000 + i * 100, () =>
      parts.mesh.gateway.send(userRequest(parts.truth, parts.sim.nowMs, { grpc, behaviour })),
    );
  });
  await parts.sim.run(140_000);
  return finish(parts);
}

/** gRPC over HTTP/2 straight to a warm pod: every way a call can end. */
export function grpcEndings(options: ScenarioBase): Promise<ScenarioRun> {
  return playEndings(options, GRPC_CALLS, true);
}

/** Plain HTTP/1 straight to a warm pod: the timeouts and a local reply (HTTP_CALLS). */
export function httpEndings(options: ScenarioBase): Promise<ScenarioRun> {
  return playEndings(options, HTTP_CALLS, false);
}

/** The revision's names a workload in another namespace uses, and hosts outside the mesh. */
export const REVISION_NAMES = ["hello.demo", "hello.demo.svc", "hello.demo.svc.cluster.local"] as const;
export const EXTERNAL_HOSTS: readonly ExternalHost[] = [
  // A ServiceEntry host that answers with a header shaped like the filter's pod report.
  {
    name: "api.partner.example",
    address: "198.51.100.20:443",
    cluster: "outbound|443||api.partner.example",
    responseHeaders: [["x-kwt-pod", "1;cs=1;w=9000;c=east;r=us-east1;n=demo;s=hello;cf=hello;v=hello-00001"]],
  },
  // Passthrough: an IP the mesh knows nothing about.
  {
    name: "198.51.100.99:8080",
    address: "198.51.100.99:8080",
    cluster: "PassthroughCluster",
    responseHeaders: [["server", "nginx"]],
  },
];

/** A workload calling the revision by its names and hosts outside the mesh. */
export async function outboundCalls(options: ScenarioBase): Promise<ScenarioRun> {
  const parts = await begin(options, { activatorMode: "pod-ip", autoscalerScrapeMs: 0 });
  parts.mesh.scaleTo(1);
  const workload = await Workload.start(parts.mesh);
  REVISION_NAMES.forEach((name, i) => parts.sim.at(130_000 + i * 100, () => workload.callRevision(name)));
  EXTERNAL_HOSTS.forEach((host, i) => parts.sim.at(131_000 + i * 100, () => workload.callExternal(host, 30)));
  await parts.sim.run(135_000);
  return finish(parts, [() => workload.sidecar.stats.prometheusText()]);
}

/** How many of ingressWithClientCertificates's clients forge the filter's headers. */
export const FORGING_CLIENTS = 2;
export const HONEST_CLIENTS = 3;

/**
 * An ingress gateway with mutual TLS toward outside clients: they present certificates (not mesh
 * identities); some send an entry stamp an hour old and K-Proxy-Request, to a pod 30 s old.
 */
export async function ingressWithClientCertificates(options: ScenarioBase): Promise<ScenarioRun> {
  const parts = await begin(options, { activatorMode: "pod-ip", autoscalerScrapeMs: 0 });
  parts.mesh.scaleTo(1);
  for (let i = 0; i < HONEST_CLIENTS + FORGING_CLIENTS; i++) {
    parts.sim.at(30_000 + i * 100, () => {
      const forged =
        i < FORGING_CLIENTS
          ? ([
              ["x-kwt-entry", String(parts.sim.wallMs - 3_600_000)],
              ["k-proxy-request", "activator"],
            ] as Array<[string, string]>)
          : [];
      parts.mesh.gateway.send(userRequest(parts.truth, parts.sim.nowMs, { headers: forged }), undefined, {
        mtls: true,
      });
    });
  }
  await parts.sim.run(35_000);
  return finish(parts);
}

/**
 * A new pod seen by Prometheus only after it served its first requests: scale from zero with a
 * burst, then Prometheus discovers the pod 5 s after creation and scrapes every 15 s.
 */
export async function newPodDiscovery(options: ScenarioBase & { burst?: number }): Promise<ScenarioRun> {
  const parts = await begin(options, {
    activatorMode: "pod-ip",
    prometheus: { intervalMs: 15_000, discoveryDelayMs: 5_000 },
  });
  sendUsers(parts, 0, options.burst ?? 5, 10);
  sendUsers(parts, 20_000, 5, 2_000);
  await parts.sim.run(60_000);
  return finish(parts);
}
