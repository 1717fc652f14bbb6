// The named subset over real HTTP: scale from zero through a chain of `kwt run` processes (the
// ingress gateway, then the activator model, then the revision pod's sidecar started on demand
// with two workers, then queue-proxy and the app), with the autoscaler's and Prometheus's scrapes,
// each on the sidecar's listener for its own pod port (9090, 9091). The truth comes
// from the activator and queue-proxy models; the filter's numbers from the proxies' admin ports.

import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeServer, listenOn, type HostPort } from "../harness/index.js";
import {
  ENVOY_BY_LAYOUT,
  LOOPBACK,
  TWO_WORKERS_ALL_LABELS,
  hostPort,
  KWT,
  listenPortAddresses,
  settledTexts,
  startKwt,
  stopKwt,
  WASM,
  type RunningKwt,
} from "../support/kwt-run.js";
import { exchange, HttpActivator, queueProxy, REQUEST_ID_HEADER, scrapePod } from "./http-activator.js";
import { METRICS_PORT_LISTENERS, revisionSidecarFlags } from "../support/real-http.js";
import { KNATIVE_SERVING_IDENTITY } from "./knative.js";
import { measureFilter, type FilterMeasurement } from "./measure.js";
import { REVISION } from "./mesh.js";
import { TruthLog, type RequestTruth, type TruthSummary } from "./truth.js";

const BURST = 25;
const AFTER = 5;
const AFTER_RESTART = 5;
const SCRAPE_ROUNDS = 2;
/** From the pod's app starting to queue-proxy answering its probe 200. */
const QUEUE_PROXY_READY_MS = 300;

/**
 * Envoy's own record of each request at a proxy, by truth id: when it arrived (%START_TIME%,
 * milliseconds since the epoch) and how long until its last byte went upstream
 * (%REQUEST_TX_DURATION%); at the gateway also the two fields a cold start sets.
 */
const PASSAGE_LOG_FORMAT = `%REQ(${REQUEST_ID_HEADER})% %START_TIME(%s%3f)% %REQUEST_TX_DURATION%`;
const GATEWAY_LOG_FORMAT = `${PASSAGE_LOG_FORMAT} %FILTER_STATE(wasm.kwt_cold_start:PLAIN)% %FILTER_STATE(wasm.kwt_cold_start_wait_ms:PLAIN)%`;
/**
 * The filter stamps the entry while the gateway holds the request and reads the arrival while the
 * pod's sidecar does; the wait and each bound meet three figures cut to whole milliseconds.
 */
const ROUNDING_MS = 3;
/**
 * Each wait is within this of its truth, beyond the rounding: of the passage the access logs
 * record (in about one run in ten on a loaded machine a wait falls a few milliseconds short of it),
 * and of the bounds the activator's hold and the client's send to queue-proxy's receipt give.
 */
const WAIT_TOLERANCE_MS = 5;

/** One request's passage through a proxy: from its arrival to its last byte sent upstream. */
interface Passage {
  arrivedAtMs: number;
  sentUpstreamAtMs: number;
  coldStartWaitMs?: number;
}

/** Access-log lines by truth id (probes and scrapes carry none). */
function passages(stdout: string): Map<number, Passage> {
  const byId = new Map<number, Passage>();
  for (const match of stdout.matchAll(/^(\d+) (\d+) (\d+)(?: (\S+) (\S+))?$/gm)) {
    const arrivedAtMs = Number(match[2]);
    const passage: Passage = { arrivedAtMs, sentUpstreamAtMs: arrivedAtMs + Number(match[3]) };
    if (match[4] === "1") passage.coldStartWaitMs = Number(match[5]);
    byId.set(Number(match[1]), passage);
  }
  return byId;
}

describe.skipIf(!existsSync(KWT) || !existsSync(WASM)).each(ENVOY_BY_LAYOUT)(
  "over real HTTP on the %s layout (Envoy %s): scale from zero through kwt run (gateway -> activator -> pod sidecar, two workers)",
  (_layout, envoy) => {
    const children: ChildProcessWithoutNullStreams[] = [];
    const servers: http.Server[] = [];
    const truth = new TruthLog();
    const pods: RunningKwt[] = [];
    let podArgs: string[] = [];
    let gateway: RunningKwt;
    let summary: TruthSummary;
    let filter: FilterMeasurement;
    /** After the pod's Envoy restarted: the requests sent since, and the filter's numbers. */
    let restarted: { users: RequestTruth[]; atGateway: FilterMeasurement; atPod: FilterMeasurement };

    beforeAll(async () => {
      const startPod = async (): Promise<HostPort> => {
        const name = `${REVISION.revision}-deployment-${pods.length + 1}`;
        const readyAt = Date.now() + QUEUE_PROXY_READY_MS;
        const app = http.createServer((request, response) => {
          if (queueProxy(request, response, name, truth, () => Date.now() >= readyAt) === "answered") return;
          response.writeHead(200, { "content-type": "text/plain" }).end("hello\n");
        });
        servers.push(app);
        const appAddress = await listenOn(app, LOOPBACK);
        // The activator (with its sidecar) connects with its mesh identity.
        podArgs = revisionSidecarFlags(
          `http://${appAddress.host}:${appAddress.port}`,
          envoy,
          KNATIVE_SERVING_IDENTITY,
          [
            ...METRICS_PORT_LISTENERS,
            "--cluster",
            "east",
            "--region",
            "us-east1",
            "--access-log",
            PASSAGE_LOG_FORMAT,
          ],
        );
        const sidecar = await startKwt(podArgs, children);
        pods.push(sidecar);
        return hostPort(sidecar.listen);
      };
      const activator = new HttpActivator({
        startPod,
        truth,
        delays: { coldStartMs: 200, scaleUpMs: 200 },
        containerConcurrency: 0,
        maxPods: 1,
      });
      servers.push(activator.server);
      const activatorAddress = await listenOn(activator.server, LOOPBACK);
      gateway = await startKwt(
        [
          "--upstream",
          `http://${activatorAddress.host}:${activatorAddress.port}`,
          "--gateway",
          "--envoy",
          envoy,
          "--access-log",
          GATEWAY_LOG_FORMAT,
          "--direction",
          "outbound",
          // Its upstream, the activator, answers with its mesh identity.
          "--upstream-identity",
          KNATIVE_SERVING_IDENTITY,
          "--cluster",
          "east",
          "--region",
          "us-east1",
          "--namespace",
          "istio-system",
          ...TWO_WORKERS_ALL_LABELS,
        ],
        children,
      );
      const target = hostPort(gateway.listen);
      const user = async () => {
        const request = truth.begin("user", Date.now());
        const answer = await exchange(target, "/", { [REQUEST_ID_HEADER]: String(request.id) });
        request.ending = { code: answer.status, timeout: false, localReply: false };
      };
      await Promise.all(Array.from({ length: BURST }, user));
      for (let i = 0; i < AFTER; i++) await user();
      for (let round = 0; round < SCRAPE_ROUNDS; round++) {
        for (const pod of pods) await scrapePod(listenPortAddresses(pod));
      }
      summary = truth.summary();
      filter = measureFilter(await settledTexts([gateway, ...pods]));

      // The pod's Envoy restarts where it listened (a new filter image restarts every VM); the pod
      // stays ready, so the activator keeps sending it requests that nobody waits for.
      const old = pods[0]!;
      await stopKwt(old.child);
      const pod = await startKwt(podArgs, children, new URL(old.listen).host);
      const sentBefore = truth.of("user").length;
      for (let i = 0; i < AFTER_RESTART; i++) await user();
      restarted = {
        users: truth.of("user").slice(sentBefore),
        atGateway: measureFilter(await settledTexts([gateway])),
        atPod: measureFilter(await settledTexts([pod])),
      };
    });

    afterAll(async () => {
      await Promise.all(children.map(stopKwt));
      await Promise.all(servers.map(closeServer));
    });

    it("after the pod's Envoy restarted: no cold start, every request proxied and one invocation each", () => {
      expect(restarted.users.map((r) => r.ending?.code)).toEqual(Array(AFTER_RESTART).fill(200));
      expect(
        restarted.users.every((r) => r.viaActivator && r.invocation && r.coldStartMs === undefined),
      ).toBe(true);
      expect(restarted.atGateway.coldStarts).toBe(summary.coldStarts);
      expect(restarted.atGateway.activatorProxied).toBe(summary.activatorProxied + restarted.users.length);
      expect(restarted.atPod.invocations).toBe(restarted.users.length);
      expect(restarted.atPod.coldStarts).toBe(0);
    });

    it("truth: the burst was held until the pod's probe passed, the later requests only proxied", () => {
      const users = truth.of("user").slice(0, BURST + AFTER);
      expect(users.map((r) => r.ending?.code)).toEqual(Array(BURST + AFTER).fill(200));
      expect(users.slice(0, BURST).every((r) => r.coldStartMs !== undefined && r.coldStartMs >= 200)).toBe(
        true,
      );
      expect(users.slice(BURST).some((r) => r.coldStartMs !== undefined)).toBe(false);
      expect(
        users.every((r) => r.viaActivator && r.invocation && r.pod === `${REVISION.revision}-deployment-1`),
      ).toBe(true);
      const probes = truth.of("activator-probe");
      expect(probes.at(-1)?.ending?.code).toBe(200);
      expect(probes.slice(0, -1).every((p) => p.ending?.code === 503)).toBe(true);
      expect(summary).toMatchObject({
        coldStarts: BURST,
        activatorProxied: AFTER,
        scrapes: 2 * SCRAPE_ROUNDS,
      });
    });

    it("filter vs truth: the gateway counts the held burst as cold starts, each wait as long as the request's way from the gateway to the pod", () => {
      expect(filter.coldStarts).toBe(summary.coldStarts);
      expect(filter.activatorProxied).toBe(summary.activatorProxied);
      const atGateway = passages(gateway.stdout());
      const atPod = passages(pods.map((pod) => pod.stdout()).join("\n"));
      const cold = truth.of("user").filter((r) => r.coldStartMs !== undefined);
      const timed = [...atGateway].filter(([, line]) => line.coldStartWaitMs !== undefined).map(([id]) => id);
      expect(timed.sort((a, b) => a - b)).toEqual(cold.map((r) => r.id).sort((a, b) => a - b));
      const overruns: number[] = [];
      for (const request of cold) {
        const gatewayPassage = atGateway.get(request.id)!;
        const podPassage = atPod.get(request.id);
        expect(podPassage, `request ${request.id} in the pod's access log`).toBeDefined();
        const measured = gatewayPassage.coldStartWaitMs!;
        // The truth, from Envoy's records: the request left the gateway after it arrived there
        // and reached the pod's sidecar before it left it; the stamps lie inside those passages.
        const shortest = podPassage!.arrivedAtMs - gatewayPassage.sentUpstreamAtMs;
        const longest = podPassage!.sentUpstreamAtMs - gatewayPassage.arrivedAtMs;
        const what = `request ${request.id}: ${measured} ms for ${shortest}..${longest} (Envoy ${envoy})`;
        expect(measured, what).toBeGreaterThanOrEqual(shortest - ROUNDING_MS - WAIT_TOLERANCE_MS);
        expect(measured, what).toBeLessThanOrEqual(longest + ROUNDING_MS + WAIT_TOLERANCE_MS);
        overruns.push(Math.abs(measured - (podPassage!.arrivedAtMs - gatewayPassage.arrivedAtMs)));
        // And it covers the activator's hold, without the client's own way to the gateway.
        const outer = request.reachedContainerMs! - request.sentAtMs;
        expect(measured, what).toBeGreaterThanOrEqual(request.coldStartMs! - WAIT_TOLERANCE_MS);
        expect(measured, what).toBeLessThanOrEqual(outer + WAIT_TOLERANCE_MS);
      }
      // From arrival to arrival, off by the proxies' own time before the filter ran: mostly none.
      overruns.sort((a, b) => a - b);
      expect(overruns[Math.floor(overruns.length / 2)]).toBeLessThanOrEqual(WAIT_TOLERANCE_MS);
      // The scrapes arrive for :9090 and :9091, not a serving port.
      expect(summary.invocations).toBe(BURST + AFTER);
      expect(filter.invocations).toBe(summary.invocations);
      expect(filter.clientLatency).toEqual({ cold: BURST, warm: AFTER });
    });
  },
);
