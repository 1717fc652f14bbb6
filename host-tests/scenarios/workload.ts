// A workload calling out through its outbound sidecar: to a Knative revision by any of its names
// (through the mesh to a pod), or to hosts outside the mesh (ServiceEntry or passthrough), whose
// answers the mesh cannot vouch for.

import type { HeaderList, Plugin } from "../harness/index.js";
import { FILTER_METRIC_LABELS } from "../../tools/deploy/filter-contract.js";
import { workloadIdentity } from "./knative.js";
import { OK, PLACE, REVISION, type Answer, type Mesh } from "./mesh.js";
import { loadProxy, streamOptions } from "./proxy-adapter.js";
import type { RequestTruth } from "./truth.js";

const CALLER = { namespace: "shop", workload: "checkout", serviceAccount: "checkout" } as const;

/** A host outside the mesh: its answer, as it sends it (it may carry any header). */
export interface ExternalHost {
  name: string;
  address: string;
  /** The cluster Istio routes it to: `outbound|<port>||<host>` for a ServiceEntry, else PassthroughCluster. */
  cluster: string;
  responseHeaders: HeaderList;
}

export class Workload {
  private nextPort = 45_000;

  private constructor(
    private readonly mesh: Mesh,
    readonly sidecar: Plugin,
  ) {}

  static async start(mesh: Mesh): Promise<Workload> {
    const sidecar = await loadProxy({
      wasm: mesh.options.wasm,
      layout: mesh.options.layout,
      direction: "outbound",
      node: {
        proxyType: "sidecar",
        podName: "checkout-6f7d-abcde",
        cluster: PLACE.cluster,
        region: PLACE.region,
        namespace: CALLER.namespace,
        workloadName: CALLER.workload,
      },
      pluginConfig: {},
      workers: mesh.workers,
      extraStatTags: FILTER_METRIC_LABELS,
      startMs: mesh.sim.wallMs,
    });
    mesh.sim.attach(sidecar);
    return new Workload(mesh, sidecar);
  }

  private request(
    authority: string,
    cluster: string,
  ): {
    headers: HeaderList;
    truth: RequestTruth;
    stream: ReturnType<Plugin["createStream"]>;
  } {
    const stream = this.sidecar.createStream(
      streamOptions({
        // The workload's own connection to its sidecar: plaintext over loopback.
        peer: { address: `127.0.0.6:${this.nextPort++}`, mtls: false },
        destination: "10.0.7.1:80",
        protocol: "HTTP/1.1",
        upstreamCluster: cluster,
      }),
    );
    const headers = stream.onRequestHeaders(
      [
        [":method", "GET"],
        [":path", "/"],
        [":authority", authority],
        ["user-agent", "checkout/1.0"],
      ],
      true,
    ).headers;
    return { headers, truth: this.mesh.truth.begin("user", this.mesh.sim.nowMs), stream };
  }

  /** Calls the revision by `name` (`hello`, `hello.demo`, `hello.demo.svc.cluster.local`). */
  callRevision(name: string): void {
    // Istio's outbound cluster of the revision's service, whichever name the caller used.
    const { headers, truth, stream } = this.request(
      name,
      `outbound|80||${REVISION.service}.${REVISION.namespace}.svc.cluster.local`,
    );
    const peer = {
      address: `10.0.7.1:${this.nextPort++}`,
      mtls: true,
      identity: workloadIdentity(CALLER.namespace, CALLER.serviceAccount),
    };
    const hop = { headers, behaviour: OK, grpc: false, protocol: "HTTP/1.1" as const, truth };
    const back = (answer: Answer): void => {
      if (answer.server !== undefined) stream.connectUpstream(answer.server.address, answer.server.identity);
      if (answer.headers !== undefined) stream.onResponseHeaders(answer.headers, true);
      stream.end(answer.end);
      truth.ending = answer.ending;
    };
    this.mesh.route(hop, back, peer);
  }

  /** Calls a host outside the mesh; its answer comes back after `latencyMs`. */
  callExternal(host: ExternalHost, latencyMs: number): void {
    const { truth, stream } = this.request(host.name, host.cluster);
    truth.kind = "outbound-call";
    this.mesh.sim.after(latencyMs, () => {
      // A ServiceEntry or passthrough host: no mesh certificate.
      stream.connectUpstream(host.address);
      stream.onResponseHeaders([[":status", "200"], ...host.responseHeaders], true);
      stream.end({ responseCode: 200, responseCodeDetails: "via_upstream" });
      truth.ending = { code: 200, timeout: false, localReply: false };
    });
  }
}
