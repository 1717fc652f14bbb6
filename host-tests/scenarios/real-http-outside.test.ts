// Issue 14 point 5 over real HTTP: the filter's internal names do not leave the mesh. Outbound
// sidecars and gateways (`kwt run` processes, two workers each) send requests to loopback servers
// standing for a host outside the mesh and for in-mesh destinations, each recording the headers it
// got: that record is the truth. The filter decides from the route's cluster (`--upstream-cluster`,
// xds.cluster_name / cluster_name), a sidecar without one from `:authority`; the ingress gateway's
// public `:authority` does not matter, and its stamps reach the activator and the revision pod.

import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import type http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeServer } from "../harness/index.js";
import {
  ENVOY_BY_LAYOUT,
  hostPort,
  KWT,
  settledTexts,
  startKwt,
  stopKwt,
  WASM,
  type RunningKwt,
} from "../support/kwt-run.js";
import {
  ConfigDir,
  gatewayFlags,
  outboundSidecarFlags,
  RecordingServer,
  revisionSidecarFlags,
  startActivator,
  type ReceivedRequest,
} from "../support/real-http.js";
import { exchange, HttpActivator, queueProxy, REQUEST_ID_HEADER } from "./http-activator.js";
import { KNATIVE_SERVING_IDENTITY } from "./knative.js";
import { measureFilter } from "./measure.js";
import { REVISION } from "./mesh.js";
import { TruthLog } from "./truth.js";

/** Istio's cluster for a ServiceEntry host outside the mesh. */
const OUTSIDE_CLUSTER = "outbound|443||api.example.com";
/** Istio's cluster for an in-mesh Kubernetes service. */
const IN_MESH_CLUSTER = "outbound|80||hello.default.svc.cluster.local";
/** The route of Knative's ingress to the revision (its endpoints are the activator's while it is in the path). */
const REVISION_CLUSTER = `outbound|80||${REVISION.revision}.${REVISION.namespace}.svc.cluster.local`;
const PUBLIC_HOST = `${REVISION.service}.${REVISION.namespace}.example.com`;
const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_TRACEPARENT = `00-${TRACE_ID}-b7ad6b7169203331-01`;
const OWN_MEMBER = "kwt=east;us-east1";
const INGRESS_USERS = 5;
/** Past the 1024 pairs a serialized header map may hold (the sidecars allow them with --max-headers). */
const MANY_HEADERS = 1_100;
const EAST = ["--cluster", "east", "--region", "us-east1"];

/** What a workload sends that the filter knows: its stamps, other x-kwt-* and our tracestate member. */
const WORKLOAD_HEADERS = {
  "x-kwt-entry": String(Date.now() - 1_000),
  "x-kwt-custom": "internal",
  traceparent: CLIENT_TRACEPARENT,
  tracestate: "kwt=west;us-west1,vendor=1",
};

/** The filter's stamps and our member in a map the filter cannot read, among the client's own headers. */
const UNREADABLE = {
  ...Object.fromEntries(Array.from({ length: MANY_HEADERS }, (_, i) => [`x-c-${i}`, "v"])),
  "x-kwt-entry": WORKLOAD_HEADERS["x-kwt-entry"],
  "x-kwt-hop": "1;c=east;r=us-east1;t=1",
  traceparent: CLIENT_TRACEPARENT,
  tracestate: WORKLOAD_HEADERS.tracestate,
};

/** The filter's own headers among those a server received. */
function internalNames(request: ReceivedRequest | undefined): string[] {
  return Object.keys(request?.headers ?? {}).filter((name) => name.startsWith("x-kwt-"));
}

describe.skipIf(!existsSync(KWT) || !existsSync(WASM)).each(ENVOY_BY_LAYOUT)(
  "what leaves the mesh over real HTTP on the %s layout (Envoy %s), two workers per proxy",
  (_layout, envoy) => {
    const children: ChildProcessWithoutNullStreams[] = [];
    const configs = new ConfigDir();
    const truth = new TruthLog();
    const outsideHost = new RecordingServer();
    const inMesh = new RecordingServer();
    const app = new RecordingServer((request, response) => {
      if (queueProxy(request, response, `${REVISION.revision}-deployment-1`, truth) === "answered") return;
      response.writeHead(200, { "content-type": "text/plain" }).end("hello\n");
    });
    let activator: HttpActivator;
    let ingress: RunningKwt;
    let pod: RunningKwt;
    const toClients: Array<http.IncomingHttpHeaders | undefined> = [];

    beforeAll(async () => {
      const [outsideUrl, inMeshUrl, appUrl] = await Promise.all([
        outsideHost.start(),
        inMesh.start(),
        app.start(),
      ]);
      const remove = configs.file("remove", { tracing: { outsideContext: "remove" } });
      const manyHeaders = ["--max-headers", String(MANY_HEADERS + 100)];
      const sidecar = (upstream: string, extra: string[]): string[] =>
        outboundSidecarFlags(upstream, envoy, "default", [...EAST, ...extra]);
      const gateway = (upstream: string, extra: string[]): string[] =>
        gatewayFlags(upstream, envoy, [...EAST, ...extra]);
      pod = await startKwt(revisionSidecarFlags(appUrl, envoy, KNATIVE_SERVING_IDENTITY, EAST), children);
      let activatorUrl: string;
      ({ activator, url: activatorUrl } = await startActivator(pod, truth));
      const [toOutside, toOutsideRemoving, toInMesh, byAuthority, toOutsideFromEdge] = await Promise.all([
        startKwt(sidecar(outsideUrl, ["--upstream-cluster", OUTSIDE_CLUSTER, ...manyHeaders]), children),
        startKwt(
          sidecar(outsideUrl, ["--upstream-cluster", OUTSIDE_CLUSTER, "--config", remove, ...manyHeaders]),
          children,
        ),
        startKwt(sidecar(inMeshUrl, ["--upstream-cluster", IN_MESH_CLUSTER]), children),
        // No cluster name: the sidecar falls back to :authority.
        startKwt(sidecar(inMeshUrl, []), children),
        startKwt(gateway(outsideUrl, ["--upstream-cluster", OUTSIDE_CLUSTER]), children),
      ]);
      ingress = await startKwt(
        gateway(activatorUrl, [
          "--upstream-cluster",
          REVISION_CLUSTER,
          "--upstream-identity",
          KNATIVE_SERVING_IDENTITY,
        ]),
        children,
      );

      const send = async (proxy: RunningKwt, path: string, headers: Record<string, string>) => {
        const answer = await exchange(hostPort(proxy.listen), path, headers);
        expect(answer.status, path).toBe(200);
      };
      // A single-label name, in the mesh by :authority alone: the route's cluster decides.
      const shortName = { host: "api" };
      await send(toOutside, "/sidecar/workload", { ...WORKLOAD_HEADERS, ...shortName });
      await send(toOutside, "/sidecar/new-trace", shortName);
      await send(toOutsideRemoving, "/sidecar/remove", { ...WORKLOAD_HEADERS, ...shortName });
      await send(toOutside, "/sidecar/unreadable-propagate", { ...UNREADABLE, ...shortName });
      await send(toOutsideRemoving, "/sidecar/unreadable-remove", { ...UNREADABLE, ...shortName });
      await send(toOutsideFromEdge, "/gateway/outside", { ...WORKLOAD_HEADERS, host: "api.example.com" });
      await send(toInMesh, "/in-mesh/new-trace", {});
      await send(toInMesh, "/in-mesh/workload", WORKLOAD_HEADERS);
      await send(byAuthority, "/authority/short", { host: "hello" });
      await send(byAuthority, "/authority/service", { host: "hello.default.svc.cluster.local:80" });
      await send(byAuthority, "/authority/public", { host: "api.example.com" });
      for (let i = 0; i < INGRESS_USERS; i++) {
        const request = truth.begin("user", Date.now());
        const answer = await exchange(hostPort(ingress.listen), `/ingress/${i}`, {
          host: PUBLIC_HOST,
          [REQUEST_ID_HEADER]: String(request.id),
        });
        request.ending = { code: answer.status, timeout: false, localReply: false };
        toClients.push(answer.headers);
      }
    }, 60_000);

    afterAll(async () => {
      await Promise.all(children.map(stopKwt));
      await Promise.all([outsideHost.close(), inMesh.close(), app.close(), closeServer(activator.server)]);
      configs.remove();
    });

    it("outbound sidecar to an outside host: no x-kwt-* headers, traceparent as it came, tracestate without our member", () => {
      const got = outsideHost.only("/sidecar/workload");
      expect(internalNames(got)).toEqual([]);
      expect(got.headers.traceparent).toBe(CLIENT_TRACEPARENT);
      expect(got.headers.tracestate).toBe("vendor=1");
    });

    it("outbound sidecar to an outside host: a new trace carries a traceparent and no tracestate", () => {
      const got = outsideHost.only("/sidecar/new-trace");
      expect(internalNames(got)).toEqual([]);
      expect(got.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3]$/);
      expect(got.headers.tracestate).toBeUndefined();
    });

    it("tracing.outsideContext remove: the outside host gets no trace context at all", () => {
      const got = outsideHost.only("/sidecar/remove");
      expect(internalNames(got)).toEqual([]);
      expect(got.headers.traceparent).toBeUndefined();
      expect(got.headers.tracestate).toBeUndefined();
    });

    it(`a map of ${MANY_HEADERS} headers the filter cannot read: its stamps and tracestate still stay in the mesh`, () => {
      const propagated = outsideHost.only("/sidecar/unreadable-propagate");
      const removed = outsideHost.only("/sidecar/unreadable-remove");
      for (const got of [propagated, removed]) {
        expect(Object.keys(got.headers).filter((name) => name.startsWith("x-c-"))).toHaveLength(MANY_HEADERS);
        expect(internalNames(got)).toEqual([]);
        // Unread, tracestate may hold our member: it goes.
        expect(got.headers.tracestate).toBeUndefined();
      }
      // Unread, the client's traceparent cannot be kept: a new trace, as a tracer would start one.
      expect(propagated.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3]$/);
      expect(removed.headers.traceparent).toBeUndefined();
    });

    it("gateway routed to an outside host: no x-kwt-* headers, the client's traceparent propagated", () => {
      const got = outsideHost.only("/gateway/outside");
      expect(internalNames(got)).toEqual([]);
      expect(got.headers.traceparent).toBe(CLIENT_TRACEPARENT);
      expect(got.headers.tracestate).toBe("vendor=1");
    });

    it(`an in-mesh destination in the same run (${IN_MESH_CLUSTER}) receives the stamps and our member`, () => {
      const fresh = inMesh.only("/in-mesh/new-trace");
      expect(fresh.headers["x-kwt-entry"]).toMatch(/^\d{13}$/);
      expect(fresh.headers["x-kwt-hop"]).toMatch(/^1;c=east;r=us-east1;t=\d{13}$/);
      expect(fresh.headers.tracestate).toBe(OWN_MEMBER);
      // The workload's own context and a valid entry it propagated pass as they came.
      const relayed = inMesh.only("/in-mesh/workload");
      expect(relayed.headers["x-kwt-entry"]).toBe(WORKLOAD_HEADERS["x-kwt-entry"]);
      expect(relayed.headers.traceparent).toBe(CLIENT_TRACEPARENT);
      expect(relayed.headers.tracestate).toBe(WORKLOAD_HEADERS.tracestate);
    });

    it("outbound sidecar without a cluster name: short and .svc names are in the mesh, a public name is not", () => {
      for (const path of ["/authority/short", "/authority/service"]) {
        expect(inMesh.only(path).headers["x-kwt-hop"], path).toMatch(/^1;c=east;r=us-east1;t=\d{13}$/);
      }
      expect(internalNames(inMesh.only("/authority/public"))).toEqual([]);
    });

    it("ingress gateway with the public :authority: the stamps reach the activator and the pod, the answers are measured", async () => {
      const reached = app.under("/ingress/");
      expect(reached).toHaveLength(INGRESS_USERS);
      for (const { headers } of reached) {
        expect(headers.host).toBe(PUBLIC_HOST);
        expect(headers["x-kwt-entry"]).toMatch(/^\d{13}$/);
        expect(headers["x-kwt-hop"]).toMatch(/^1;c=east;r=us-east1;t=\d{13}$/);
        expect(headers["k-proxy-request"]).toBe("activator");
      }
      // The pod stamp came back through the activator, was read and stripped at the gateway.
      expect(toClients.map((headers) => headers?.["x-kwt-pod"])).toEqual(
        Array<undefined>(INGRESS_USERS).fill(undefined),
      );
      const summary = truth.summary();
      const [text] = await settledTexts([ingress]);
      const filter = measureFilter([text!]);
      expect(summary.coldStarts + summary.activatorProxied).toBe(INGRESS_USERS);
      expect({ coldStarts: filter.coldStarts, activatorProxied: filter.activatorProxied }).toEqual({
        coldStarts: summary.coldStarts,
        activatorProxied: summary.activatorProxied,
      });
      expect(filter.clientLatency.cold + filter.clientLatency.warm).toBe(INGRESS_USERS);
    });
  },
);
