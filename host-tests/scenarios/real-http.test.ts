// The named subset over real HTTP: scale from zero through a chain of `kwt run` processes (the
// ingress gateway, then the activator model, then the revision pod's sidecar started on demand
// with two workers, then queue-proxy and the app), with the autoscaler's scrapes. The truth comes
// from the activator and queue-proxy models; the filter's numbers from the proxies' admin ports.

import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeServer, listenOn, type HostPort } from "../harness/index.js";
import { FILTER_METRIC_LABELS } from "../../tools/deploy/filter-contract.js";
import { expectKnownWrong } from "../support/known-wrong.js";
import { KWT, startKwt, stopKwt, WASM, type RunningKwt } from "../support/kwt-run.js";
import { exchange, HttpActivator, queueProxy, REQUEST_ID_HEADER, send, wire } from "./http-activator.js";
import { autoscalerScrape, KNATIVE_SERVING_IDENTITY } from "./knative.js";
import { measureFilter, type FilterMeasurement } from "./measure.js";
import { REVISION } from "./mesh.js";
import { TruthLog, type TruthSummary } from "./truth.js";

const LOOPBACK: HostPort = { host: "127.0.0.1", port: 0 };
const BURST = 25;
const AFTER = 5;
const SCRAPE_ROUNDS = 2;
/** From the pod's app starting to queue-proxy answering its probe 200. */
const QUEUE_PROXY_READY_MS = 300;

const children: ChildProcessWithoutNullStreams[] = [];
const servers: http.Server[] = [];

function hostPort(listen: string): HostPort {
  const url = new URL(listen);
  return { host: url.hostname, port: Number(url.port) };
}

/** Reads the admin ports until two reads agree (a stream ends just after its reply is sent). */
async function settledTexts(proxies: RunningKwt[]): Promise<string[]> {
  let previous = "";
  for (let attempt = 0; attempt < 40; attempt++) {
    const texts = await Promise.all(
      proxies.map(async (p) => (await fetch(`${p.admin}/stats/prometheus`)).text()),
    );
    if (JSON.stringify(texts) === previous) return texts;
    previous = JSON.stringify(texts);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("the proxies' stats kept changing");
}

describe.skipIf(!existsSync(KWT) || !existsSync(WASM))(
  "over real HTTP: scale from zero through kwt run (gateway -> activator -> pod sidecar, two workers)",
  () => {
    const truth = new TruthLog();
    const pods: RunningKwt[] = [];
    let gateway: RunningKwt;
    let summary: TruthSummary;
    let filter: FilterMeasurement;

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
        const sidecar = await startKwt(
          [
            "--upstream",
            `http://${appAddress.host}:${appAddress.port}`,
            "--direction",
            "inbound",
            // The activator (with its sidecar) connects with its mesh identity.
            "--peer-identity",
            KNATIVE_SERVING_IDENTITY,
            "--destination-port",
            "8012",
            "--cluster",
            "east",
            "--region",
            "us-east1",
            "--namespace",
            REVISION.namespace,
            "--workload",
            `${REVISION.revision}-deployment`,
            "--label",
            `serving.knative.dev/revision=${REVISION.revision}`,
            "--label",
            `serving.knative.dev/service=${REVISION.service}`,
            "--label",
            `serving.knative.dev/configuration=${REVISION.configuration}`,
            "--extra-stat-tags",
            FILTER_METRIC_LABELS.join(","),
            "--workers",
            "2",
          ],
          children,
        );
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
          "--extra-stat-tags",
          FILTER_METRIC_LABELS.join(","),
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
        for (const pod of pods) {
          const address = hostPort(pod.listen);
          const scrape = wire(autoscalerScrape(`${address.host}:${address.port}`));
          await send(address, scrape.path, scrape.headers);
        }
      }
      summary = truth.summary();
      filter = measureFilter(await settledTexts([gateway, ...pods]));
    });

    afterAll(async () => {
      await Promise.all(children.map(stopKwt));
      await Promise.all(servers.map(closeServer));
    });

    it("truth: the burst was held until the pod's probe passed, the later requests only proxied", () => {
      const users = truth.of("user");
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
      expect(summary).toMatchObject({ coldStarts: BURST, activatorProxied: AFTER, scrapes: SCRAPE_ROUNDS });
    });

    it("filter vs truth", () => {
      // The later requests reach the fresh VMs among their first 20: counted as cold starts.
      expectKnownWrong(
        "cold starts",
        { truth: summary.coldStarts, filter: filter.coldStarts },
        { truth: BURST, filter: BURST + AFTER },
      );
      expectKnownWrong(
        "activator-proxied",
        { truth: summary.activatorProxied, filter: filter.activatorProxied },
        { truth: AFTER, filter: 0 },
      );
      expectKnownWrong(
        "invocations",
        { truth: summary.invocations, filter: filter.invocations },
        { truth: BURST + AFTER, filter: BURST + AFTER + SCRAPE_ROUNDS },
      );
      expect(filter.coldStartsUntimed).toBe(0);
      expect(filter.clientLatency).toEqual({ cold: BURST + AFTER, warm: 0 });
    });
  },
);
