// Issue 14 point 3 over real HTTP: forged label values cannot push a revision out of its own
// series. An in-mesh caller (a trusted mesh identity in another namespace) sends 700 hop stamps
// with invented clusters and regions through knative-local-gateway and the activator into the
// revision pod, then the revision answers a real 503; the same through the caller's own outbound
// sidecar into a pod whose configuration lists the known clusters and regions; and an upstream
// outside the mesh answers the ingress gateway 2,000 invented pod stamps, while one with a mesh
// identity naming 40 revisions meets the series cap, the last resort. Every proxy is a
// `kwt run` process with two workers; the truth is what the app and the upstreams received and
// answered, the filter's numbers come from the admins' /stats/prometheus.

import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseExposition, sumBy, total, type Sample } from "../../tools/demo/exposition.js";
import { closeServer } from "../harness/index.js";
import {
  ENVOY_BY_LAYOUT,
  hostPort,
  KWT,
  settledTexts,
  startKwt,
  stopKwt,
  WASM,
  WORKERS,
  type RunningKwt,
} from "../support/kwt-run.js";
import {
  ConfigDir,
  fanOut,
  gatewayFlags,
  outboundSidecarFlags,
  RecordingServer,
  revisionSidecarFlags,
  startActivator,
} from "../support/real-http.js";
import { exchange, HttpActivator, queueProxy, REQUEST_ID_HEADER } from "./http-activator.js";
import { KNATIVE_SERVING_IDENTITY, workloadIdentity } from "./knative.js";
import { measureFilter } from "./measure.js";
import { REVISION } from "./mesh.js";
import { TruthLog } from "./truth.js";

const FORGED_HOPS = 700;
/** Hops through the caller's sidecar into the pod that lists the known clusters and regions. */
const LISTED_HOPS = 100;
const FORGED_POD_STAMPS = 2_000;
/** The smallest maxSeries, and revisions named by a trusted upstream past it on each of the two VMs. */
const MAX_SERIES = 16;
const CAPPED_REVISIONS = 40;
const CONCURRENCY = 8;
/** The default maxSourceLabelValues: distinct source clusters (regions) each root context keeps. */
const SOURCE_VALUES_PER_ROOT = 32;
const FOLDED = "_other";
/** A workload in another namespace: a mesh identity the filter trusts, with no business inventing clusters. */
const CALLER_IDENTITY = workloadIdentity("shop", "checkout");
/** The Istio cluster of the revision's service, as the route names it. */
const REVISION_CLUSTER = `outbound|80||${REVISION.revision}.${REVISION.namespace}.svc.cluster.local`;
const EAST = ["--cluster", "east", "--region", "us-east1"];

/** queue-proxy and the user container: probes answered by queue-proxy, `/fail` a real 503. */
function revisionApp(truth: TruthLog): RecordingServer {
  return new RecordingServer((request, response) => {
    if (queueProxy(request, response, `${REVISION.revision}-deployment-1`, truth) === "answered") return;
    const status = request.url?.startsWith("/fail") ? 503 : 200;
    response.writeHead(status, { "content-type": "text/plain" }).end(`${status}\n`);
  });
}

/** The hop stamp's cluster and region as the app received it (the truth of what crossed the chain). */
function receivedHop(headers: Record<string, unknown>): { cluster: string; region: string } | undefined {
  const match = /^1;c=([^;]+);r=([^;]+);t=\d+$/.exec(String(headers["x-kwt-hop"] ?? ""));
  return match ? { cluster: match[1]!, region: match[2]! } : undefined;
}

/** The values `label` takes in the series of `metric` whose value is not 0. */
function labelValues(samples: Sample[], metric: string, label: string): Set<string> {
  return new Set(
    [...sumBy(samples, metric, [label]).values()].filter((g) => g.value > 0).map((g) => g.labels[label]!),
  );
}

/** The revision's own labels on the pod's series. */
const REVISION_LABELS = {
  namespace_name: REVISION.namespace,
  service_name: REVISION.service,
  revision_name: REVISION.revision,
  destination_cluster: "east",
};

/** No label set went to the overflow series, and the cap's counter never moved. */
function expectNoOverflow(samples: Sample[]): void {
  expect(samples.filter((s) => Object.values(s.labels).includes("overflow"))).toEqual([]);
  expect(total(samples, "kwt_series_overflow_total")).toBe(0);
}

describe.skipIf(!existsSync(KWT) || !existsSync(WASM)).each(ENVOY_BY_LAYOUT)(
  "forged label values over real HTTP on the %s layout (Envoy %s), two workers per proxy",
  (_layout, envoy) => {
    const children: ChildProcessWithoutNullStreams[] = [];
    const truth = new TruthLog();
    const app = revisionApp(truth);
    const listedApp = revisionApp(truth);
    const outsideUpstream = new RecordingServer((_request, response) => {
      const i = outsideUpstream.received.length;
      // Every answer names another revision, cluster and region: each would be a new label set.
      const stamp = `1;cs=1;w=5;c=c-${i};r=r-${i};n=ns-${i};s=s-${i};cf=cf-${i};v=v-${i};a=1;rd=${Date.now()};t=${Date.now()}`;
      response.writeHead(200, { "x-kwt-pod": stamp }).end("ok\n");
    });
    const meshUpstream = new RecordingServer((_request, response) => {
      const i = meshUpstream.received.length;
      // A workload with a mesh identity answering as a warm pod of another revision each time.
      const stamp = `1;cs=0;w=;c=west;r=us-west1;n=${REVISION.namespace};s=s-${i};cf=s-${i};v=s-${i}-00001;a=0;rd=1700000000000`;
      response.writeHead(200, { "x-kwt-pod": stamp }).end("ok\n");
    });
    const configs = new ConfigDir();
    let capped: RunningKwt;
    let atCapped: Sample[];
    let activator: HttpActivator;
    let pod: RunningKwt;
    let localGateway: RunningKwt;
    let listedPod: RunningKwt;
    let callerSidecar: RunningKwt;
    let ingress: RunningKwt;
    const answers = { viaGateway: [] as number[], viaSidecar: [] as number[], fromOutside: [] as number[] };
    let podStampsToClients = 0;
    let atPod: Sample[];
    let atListedPod: Sample[];
    let atIngress: Sample[];
    let atLocalGateway: Sample[];
    let localGatewayText: string;

    beforeAll(async () => {
      const [appUrl, listedAppUrl, outsideUrl, meshUrl] = await Promise.all([
        app.start(),
        listedApp.start(),
        outsideUpstream.start(),
        meshUpstream.start(),
      ]);
      const known = configs.file("known", { knownClusters: ["west"], knownRegions: ["us-west1"] });
      const smallCap = configs.file("cap", { maxSeries: MAX_SERIES });
      [pod, listedPod, ingress, capped] = await Promise.all([
        // Behind the activator: its peer is the activator's identity.
        startKwt(revisionSidecarFlags(appUrl, envoy, KNATIVE_SERVING_IDENTITY, EAST), children),
        // Called straight from the caller's sidecar (mesh mode), with the clusters and regions listed.
        startKwt(
          revisionSidecarFlags(listedAppUrl, envoy, CALLER_IDENTITY, [...EAST, "--config", known]),
          children,
        ),
        // The ingress gateway's public port; its upstream answers without a mesh identity.
        startKwt(gatewayFlags(outsideUrl, envoy, ["--cluster", "west", "--region", "us-west1"]), children),
        // Its upstream has a mesh identity: only the series cap bounds the revisions it names.
        startKwt(
          gatewayFlags(meshUrl, envoy, [
            "--upstream-identity",
            workloadIdentity("shop", "inventory"),
            "--config",
            smallCap,
          ]),
          children,
        ),
      ]);
      let activatorUrl: string;
      ({ activator, url: activatorUrl } = await startActivator(pod, truth));
      // Neither proxy in front of the caller knows its region, so neither can stamp a hop of its own:
      // the caller's stamp goes on as it came, from a mesh identity the next proxy trusts.
      [localGateway, callerSidecar] = await Promise.all([
        startKwt(
          gatewayFlags(activatorUrl, envoy, [
            "--cluster",
            "west",
            // knative-local-gateway: the mesh-facing port, an in-mesh caller.
            "--peer-identity",
            CALLER_IDENTITY,
            "--destination-port",
            "8081",
            "--upstream-identity",
            KNATIVE_SERVING_IDENTITY,
            "--upstream-cluster",
            REVISION_CLUSTER,
          ]),
          children,
        ),
        startKwt(
          outboundSidecarFlags(listedPod.listen, envoy, "shop", [
            "--workload",
            "checkout",
            "--cluster",
            "west",
            "--upstream-cluster",
            REVISION_CLUSTER,
          ]),
          children,
        ),
      ]);

      const viaGateway = hostPort(localGateway.listen);
      const user = async (path: string, headers: Record<string, string>): Promise<void> => {
        const request = truth.begin("user", Date.now());
        const answer = await exchange(viaGateway, path, {
          ...headers,
          [REQUEST_ID_HEADER]: String(request.id),
        });
        request.ending = { code: answer.status, timeout: false, localReply: false };
        answers.viaGateway.push(answer.status);
      };
      // The first request starts the pod; the burst then finds it ready (an entry racing the pod's
      // readiness is held by the edge's clock, not by the activator's).
      await user("/warm", {});
      await fanOut(FORGED_HOPS, CONCURRENCY, (i) =>
        user(`/forged/${i}`, { "x-kwt-hop": `1;c=forged-${i};r=region-${i};t=${Date.now()}` }),
      );
      await user("/fail", {});

      // Half invent a region of the known cluster, half a cluster in the known region; one is real.
      const viaSidecar = hostPort(callerSidecar.listen);
      await fanOut(LISTED_HOPS, CONCURRENCY, async (i) => {
        const place = i % 2 === 0 ? `c=west;r=region-${i}` : `c=forged-${i};r=us-west1`;
        const hop = `1;${place};t=${Date.now()}`;
        answers.viaSidecar.push((await exchange(viaSidecar, `/forged/${i}`, { "x-kwt-hop": hop })).status);
      });
      const real = `1;c=west;r=us-west1;t=${Date.now()}`;
      answers.viaSidecar.push((await exchange(viaSidecar, "/real", { "x-kwt-hop": real })).status);
      answers.viaSidecar.push((await exchange(viaSidecar, "/fail", {})).status);

      const toIngress = hostPort(ingress.listen);
      await fanOut(FORGED_POD_STAMPS, CONCURRENCY, async () => {
        const answer = await exchange(toIngress, "/", {});
        answers.fromOutside.push(answer.status);
        if (answer.headers?.["x-kwt-pod"] !== undefined) podStampsToClients++;
      });

      const toCapped = hostPort(capped.listen);
      await fanOut(CAPPED_REVISIONS, CONCURRENCY, async () => {
        expect((await exchange(toCapped, "/", {})).status).toBe(200);
      });
      atCapped = parseExposition((await settledTexts([capped]))[0]!);

      const texts = await settledTexts([pod, listedPod, ingress, localGateway]);
      [atPod, atListedPod, atIngress, atLocalGateway] = texts.map((text) => parseExposition(text)) as [
        Sample[],
        Sample[],
        Sample[],
        Sample[],
      ];
      localGatewayText = texts[3]!;
    }, 120_000);

    afterAll(async () => {
      await Promise.all(children.map(stopKwt));
      await Promise.all([
        app.close(),
        listedApp.close(),
        outsideUpstream.close(),
        meshUpstream.close(),
        closeServer(activator.server),
      ]);
      configs.remove();
    });

    it("truth: every forged hop reached the app as the caller sent it, and the revision answered one 503", () => {
      expect(answers.viaGateway).toEqual([...Array<number>(FORGED_HOPS + 1).fill(200), 503]);
      const forged = app.under("/forged/").map((r) => receivedHop(r.headers)?.cluster);
      expect(new Set(forged).size).toBe(FORGED_HOPS);
      expect(forged.every((cluster) => cluster?.startsWith("forged-"))).toBe(true);
      expect(app.under("/fail")).toHaveLength(1);
    });

    it("the revision's real 503 lands in its own series, not in overflow", () => {
      expect(
        total(atPod, "knative_errors_total", {
          ...REVISION_LABELS,
          source_cluster: "",
          response_code_class: "5xx",
          error_kind: "http_5xx",
        }),
      ).toBe(1);
      expect(total(atPod, "knative_invocations_total", REVISION_LABELS)).toBe(invocations(app));
      expectNoOverflow(atPod);
    });

    it(`keeps the first ${SOURCE_VALUES_PER_ROOT} source clusters and regions per root context (one per VM) and folds the rest into ${FOLDED}`, () => {
      const sent = new Set(app.under("/forged/").map((r) => receivedHop(r.headers)!.cluster));
      const clusters = labelValues(atPod, "knative_invocations_total", "source_cluster");
      const admitted = [...clusters].filter((value) => value !== FOLDED && value !== "");
      expect(admitted).toHaveLength(WORKERS * SOURCE_VALUES_PER_ROOT);
      expect(admitted.every((value) => sent.has(value))).toBe(true);
      expect(clusters).toEqual(new Set([...admitted, FOLDED, ""]));
      expect(total(atPod, "knative_invocations_total", { source_cluster: FOLDED })).toBe(
        FORGED_HOPS - WORKERS * SOURCE_VALUES_PER_ROOT,
      );
      const regions = labelValues(atPod, "mesh_cross_cluster_requests_total", "source_region");
      expect(regions.size).toBe(WORKERS * SOURCE_VALUES_PER_ROOT + 1);
      expect(regions.has(FOLDED)).toBe(true);
      expect(total(atPod, "mesh_cross_cluster_requests_total")).toBe(FORGED_HOPS);
    });

    it("the gateway in front still tells the held answers from the proxied ones, for the revision", () => {
      const summary = truth.summary();
      expect(summary.coldStarts + summary.activatorProxied).toBe(FORGED_HOPS + 2);
      const filter = measureFilter([localGatewayText]);
      expect({ coldStarts: filter.coldStarts, activatorProxied: filter.activatorProxied }).toEqual({
        coldStarts: summary.coldStarts,
        activatorProxied: summary.activatorProxied,
      });
      const revision = { revision_name: REVISION.revision };
      expect(total(atLocalGateway, "knative_activator_proxied_total", revision)).toBe(
        summary.activatorProxied,
      );
      expectNoOverflow(atLocalGateway);
    });

    it("with knownClusters and knownRegions set, refuses every other value and keeps the real hop's series", () => {
      expect(answers.viaSidecar).toEqual([...Array<number>(LISTED_HOPS + 1).fill(200), 503]);
      const hops = listedApp.under("/forged/").map((r) => receivedHop(r.headers)!);
      const unknownRegion = hops.filter((hop) => hop.cluster === "west").length;
      expect(unknownRegion).toBe(LISTED_HOPS / 2);
      expect(total(atListedPod, "kwt_stamps_rejected_total", { reason: "unknown_region" })).toBe(
        unknownRegion,
      );
      expect(total(atListedPod, "kwt_stamps_rejected_total", { reason: "unknown_cluster" })).toBe(
        hops.length - unknownRegion,
      );
      expect([
        ...sumBy(atListedPod, "mesh_cross_cluster_requests_total", [
          "source_cluster",
          "source_region",
        ]).values(),
      ]).toEqual([{ labels: { source_cluster: "west", source_region: "us-west1" }, value: 1 }]);
      expect(labelValues(atListedPod, "knative_invocations_total", "source_cluster")).toEqual(
        new Set(["", "west"]),
      );
      expect(
        total(atListedPod, "knative_errors_total", {
          ...REVISION_LABELS,
          source_cluster: "",
          error_kind: "http_5xx",
        }),
      ).toBe(1);
      expectNoOverflow(atListedPod);
    });

    it(`${FORGED_POD_STAMPS} pod stamps from an upstream outside the mesh plant no series at the ingress gateway`, () => {
      expect(answers.fromOutside).toEqual(Array<number>(FORGED_POD_STAMPS).fill(200));
      expect(outsideUpstream.received).toHaveLength(FORGED_POD_STAMPS);
      // Stripped on the way to the client, and recorded nowhere.
      expect(podStampsToClients).toBe(0);
      const revisionSeries = atIngress.filter((s) => s.name.startsWith("knative_") && s.value > 0);
      expect(revisionSeries).toEqual([]);
      expect(total(atIngress, "kwt_stamps_rejected_total", { reason: "untrusted" })).toBe(FORGED_POD_STAMPS);
      expectNoOverflow(atIngress);
    });

    it(`the series cap stays the last resort: past maxSeries ${MAX_SERIES} per root, answers go to overflow, counted`, () => {
      const sent = new Set(meshUpstream.received.map((_, i) => `s-${i}-00001`));
      expect(sent.size).toBe(CAPPED_REVISIONS);
      const metric = "knative_request_duration_milliseconds_count";
      const kept = [...labelValues(atCapped, metric, "revision_name")].filter((name) => name !== "overflow");
      expect(kept).toHaveLength(WORKERS * MAX_SERIES);
      expect(kept.every((name) => sent.has(name))).toBe(true);
      const overflowed = CAPPED_REVISIONS - WORKERS * MAX_SERIES;
      expect(total(atCapped, metric, { revision_name: "overflow" })).toBe(overflowed);
      expect(total(atCapped, "kwt_series_overflow_total")).toBe(overflowed);
    });
  },
);

/** The requests the user container got: all but the activator's probes, which queue-proxy answers. */
function invocations(server: RecordingServer): number {
  return server.received.filter((r) => r.headers["k-network-probe"] === undefined).length;
}
