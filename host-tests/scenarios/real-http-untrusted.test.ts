// Issue 14 point 6 over real HTTP: what an untrusted client's headers can do at the mesh edge and
// at the revision pod, through `kwt run` processes with two workers each. A header map past the
// 1024 pairs a serialized map may hold (the proxies allow them with --max-headers; Envoy's 60 KiB
// size limit still holds) is untrusted, so a forged stamp in it does not reach the upstream;
// several forged headers are all stripped; an outside client's sampled traceparent is kept or
// re-decided at the gateway (`tracing.edgeSampling`). The truth is what the upstreams received.

import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import type http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseExposition, total, type Sample } from "../../tools/demo/exposition.js";
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
import { ConfigDir, gatewayFlags, RecordingServer, revisionSidecarFlags } from "../support/real-http.js";
import { exchange } from "./http-activator.js";
import { KNATIVE_SERVING_IDENTITY } from "./knative.js";

/** Past the 1024 pairs a serialized header map may hold: the filter cannot read the map. */
const MANY_HEADERS = 1_100;
const MAX_HEADERS = 1_200;
const FORGED_NAMES = 50;
const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const CLIENT_PARENT = "b7ad6b7169203331";
const SAMPLED_BY_CLIENT = `00-${TRACE_ID}-${CLIENT_PARENT}-01`;
const HOUR_OLD_ENTRY = String(Date.now() - 3_600_000);
const FORGED_HOP = "1;c=evil;r=evil;t=1";
const OWN_HOP = /^1;c=east;r=us-east1;t=\d{13}$/;
/** A well-formed hop stamp from another cluster, which a readable map from a mesh peer would be trusted with. */
const WEST_HOP = `1;c=west;r=us-west1;t=${Date.now()}`;
/** East's proxies, which take more request headers than Envoy's default 100. */
const LIMITS = ["--cluster", "east", "--region", "us-east1", "--max-headers", String(MAX_HEADERS)];
/** A sampler that samples nothing itself: probability 0. */
const NEVER_SAMPLES = { targetSampledPerSecond: 0, minProbability: 0, maxProbability: 0 };

/** `count` headers of the client's own, each `valueLength` bytes long. */
function filler(count: number, valueLength = 1): Record<string, string> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`x-c-${i}`, "v".repeat(valueLength)]));
}

/** Forged stamps and K-Proxy-Request, as an outside client would try them. */
const FORGED = { "x-kwt-entry": HOUR_OLD_ENTRY, "x-kwt-hop": FORGED_HOP, "k-proxy-request": "activator" };

describe.skipIf(!existsSync(KWT) || !existsSync(WASM)).each(ENVOY_BY_LAYOUT)(
  "untrusted headers over real HTTP on the %s layout (Envoy %s), two workers per proxy",
  (_layout, envoy) => {
    const children: ChildProcessWithoutNullStreams[] = [];
    const configs = new ConfigDir();
    const upstream = new RecordingServer();
    const app = new RecordingServer();
    let gateway: RunningKwt;
    let resampling: RunningKwt;
    let pod: RunningKwt;
    const statuses = new Map<string, number>();
    let podStamp: http.IncomingHttpHeaders[string];
    let atGateway: Sample[];
    let atResampling: Sample[];
    let atPod: Sample[];

    beforeAll(async () => {
      const [upstreamUrl, appUrl] = await Promise.all([upstream.start(), app.start()]);
      const resample = configs.file("resample", { tracing: { ...NEVER_SAMPLES, edgeSampling: "resample" } });
      const edge = (extra: string[]): string[] => gatewayFlags(upstreamUrl, envoy, [...LIMITS, ...extra]);
      [gateway, resampling, pod] = await Promise.all([
        startKwt(edge([]), children),
        startKwt(edge(["--config", resample]), children),
        // The revision pod's sidecar; even its mesh peer (the activator) cannot be read past 1024 headers.
        startKwt(revisionSidecarFlags(appUrl, envoy, KNATIVE_SERVING_IDENTITY, LIMITS), children),
      ]);
      const send = async (proxy: RunningKwt, path: string, headers: Record<string, string>) => {
        const answer = await exchange(hostPort(proxy.listen), path, headers);
        statuses.set(path, answer.status);
        return answer;
      };
      await send(gateway, "/many", { ...filler(MANY_HEADERS), ...FORGED });
      await send(gateway, "/too-large", { ...filler(MANY_HEADERS, 60), ...FORGED });
      const forgedNames = filler(FORGED_NAMES);
      const several = Object.fromEntries(
        Object.entries(forgedNames).map(([name, v]) => [`x-kwt-${name}`, v]),
      );
      await send(gateway, "/several", {
        ...several,
        ...FORGED,
        "x-kwt-pod": "1;cs=1;w=1;c=a;r=b;n=c;s=d;v=e",
      });
      await send(gateway, "/keep", { traceparent: SAMPLED_BY_CLIENT });
      await send(resampling, "/resample", { traceparent: SAMPLED_BY_CLIENT });
      podStamp = (await send(pod, "/pod/many", { ...filler(MANY_HEADERS), ...FORGED, "x-kwt-hop": WEST_HOP }))
        .headers?.["x-kwt-pod"];
      [atGateway, atResampling, atPod] = (await settledTexts([gateway, resampling, pod])).map((text) =>
        parseExposition(text),
      ) as [Sample[], Sample[], Sample[]];
    }, 60_000);

    afterAll(async () => {
      await Promise.all(children.map(stopKwt));
      await Promise.all([upstream.close(), app.close()]);
      configs.remove();
    });

    it(`gateway, ${MANY_HEADERS} headers from an outside client: the forged stamps do not reach the upstream, counted untrusted once`, () => {
      expect(statuses.get("/many")).toBe(200);
      const got = upstream.only("/many");
      // The map really was past 1024 pairs, and went on whole but for the filter's headers.
      expect(Object.keys(got.headers).filter((name) => name.startsWith("x-c-"))).toHaveLength(MANY_HEADERS);
      expect(got.headers["x-kwt-entry"]).not.toBe(HOUR_OLD_ENTRY);
      expect(Number(got.headers["x-kwt-entry"])).toBeGreaterThan(Date.now() - 60_000);
      expect(got.headers["x-kwt-hop"]).toMatch(OWN_HOP);
      expect(got.headers["k-proxy-request"]).toBeUndefined();
      // Only the unreadable map is counted at the gateway; stripping readable forgeries is not.
      expect(total(atGateway, "kwt_stamps_rejected_total", { reason: "untrusted" })).toBe(1);
    });

    it("gateway: Envoy's 60 KiB header limit still holds under --max-headers (431, nothing sent on)", () => {
      expect(statuses.get("/too-large")).toBe(431);
      expect(upstream.under("/too-large")).toEqual([]);
    });

    it(`gateway, ${FORGED_NAMES} forged x-kwt-* headers and a pod stamp: the upstream receives none of them`, () => {
      expect(statuses.get("/several")).toBe(200);
      const got = upstream.only("/several");
      const internal = Object.keys(got.headers).filter((name) => name.startsWith("x-kwt-"));
      expect(internal.sort()).toEqual(["x-kwt-entry", "x-kwt-hop"]);
      expect(got.headers["x-kwt-entry"]).not.toBe(HOUR_OLD_ENTRY);
      expect(got.headers["x-kwt-hop"]).toMatch(OWN_HOP);
      expect(got.headers["k-proxy-request"]).toBeUndefined();
    });

    it("edgeSampling keep (default): the outside client's sampled traceparent reaches the upstream as it came", () => {
      expect(upstream.only("/keep").headers.traceparent).toBe(SAMPLED_BY_CLIENT);
    });

    it("edgeSampling resample: the same trace, a new parent id and the sampler's flags (00), not a trace the filter started", () => {
      const traceparent = String(upstream.only("/resample").headers.traceparent);
      expect(traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-00$`));
      expect(traceparent).not.toContain(CLIENT_PARENT);
      expect(total(atResampling, "kwt_traces_started_total")).toBe(0);
    });

    it(`revision pod, ${MANY_HEADERS} headers from its mesh peer: stamps removed, counted untrusted, not reported through the activator`, () => {
      expect(statuses.get("/pod/many")).toBe(200);
      const got = app.only("/pod/many");
      expect(Object.keys(got.headers).filter((name) => name.startsWith("x-c-"))).toHaveLength(MANY_HEADERS);
      expect(got.headers["x-kwt-entry"]).toBeUndefined();
      expect(got.headers["x-kwt-hop"]).toBeUndefined();
      expect(total(atPod, "kwt_stamps_rejected_total", { reason: "untrusted" })).toBe(1);
      expect(total(atPod, "mesh_cross_cluster_requests_total")).toBe(0);
      expect(total(atPod, "knative_invocations_total", { source_cluster: "" })).toBe(1);
      // No edge can take it for a cold start: the pod does not say it came through the activator.
      expect(podStamp).toMatch(/^1;cs=0;w=;.*;a=0;rd=\d+$/);
    });
  },
);
