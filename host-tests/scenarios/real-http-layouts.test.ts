// What counts over real HTTP on each property layout, through a chain of `kwt run` processes with
// two workers each: the ingress gateway, the activator's own sidecar (a pod with no revision label)
// and the activator model, the revision pod's sidecar with a listener per pod port (8012 serving,
// 9090 autoscaler, 9091 Prometheus), then queue-proxy and the app. The autoscaler and Prometheus
// scrape on their ports, users go through the activator, and one client gives up mid-request.
// Issue 13 points 3 and 4; the truth comes from the models, the filter's numbers from the admins.

import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeServer, listenOn, type HostPort } from "../harness/index.js";
import {
  ENVOY_BY_LAYOUT,
  hostPort,
  KWT,
  listenPortAddresses,
  LOOPBACK,
  settledTexts,
  startKwt,
  stopKwt,
  TWO_WORKERS_ALL_LABELS,
  WASM,
  type RunningKwt,
} from "../support/kwt-run.js";
import {
  gatewayFlags,
  METRICS_PORT_LISTENERS,
  revisionSidecarFlags,
  startActivator,
} from "../support/real-http.js";
import { exchange, queueProxy, REQUEST_ID_HEADER, scrapePod } from "./http-activator.js";
import { INGRESS_GATEWAY_IDENTITY, KNATIVE_SERVING_IDENTITY, QueueProxyPort } from "./knative.js";
import { measureFilter, type FilterMeasurement } from "./measure.js";
import { REVISION } from "./mesh.js";
import { TruthLog, type TruthSummary } from "./truth.js";

const USERS = 6;
const SCRAPE_ROUNDS = 2;
/** The app never answers this path: the client gives up on it. */
const HANGING_PATH = "/hang";

describe.skipIf(!existsSync(KWT) || !existsSync(WASM)).each(ENVOY_BY_LAYOUT)(
  "over real HTTP on the %s layout (Envoy %s): gateway -> activator sidecar -> pod sidecar, two workers each",
  (_layout, envoy) => {
    const children: ChildProcessWithoutNullStreams[] = [];
    const servers: http.Server[] = [];
    const truth = new TruthLog();
    const abandoned = new Set<number>();
    let pod: RunningKwt;
    let activatorSidecar: RunningKwt;
    let gateway: RunningKwt;
    let summary: TruthSummary;
    let all: FilterMeasurement;
    let atPod: FilterMeasurement;
    let atActivator: FilterMeasurement;

    /** Sends a request the app holds, and closes the connection once the app has it. */
    async function giveUp(target: HostPort): Promise<void> {
      const request = truth.begin("user", Date.now());
      abandoned.add(request.id);
      const socket = net.connect(target.port, target.host, () =>
        socket.write(
          `GET ${HANGING_PATH} HTTP/1.1\r\nhost: ${REVISION.service}.example.com\r\n${REQUEST_ID_HEADER}: ${request.id}\r\n\r\n`,
        ),
      );
      socket.on("error", () => undefined);
      for (let attempt = 0; attempt < 100 && !request.invocation; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      socket.destroy();
      request.ending = { resetBy: "client", timeout: false, localReply: false };
    }

    beforeAll(async () => {
      const app = http.createServer((request, response) => {
        const invoked = queueProxy(request, response, `${REVISION.revision}-deployment-1`, truth);
        if (invoked === "answered") return;
        if (invoked !== undefined && abandoned.has(invoked.id)) return;
        response.writeHead(200, { "content-type": "text/plain" }).end("hello\n");
      });
      servers.push(app);
      const appAddress = await listenOn(app, LOOPBACK);
      pod = await startKwt(
        revisionSidecarFlags(
          `http://${appAddress.host}:${appAddress.port}`,
          envoy,
          KNATIVE_SERVING_IDENTITY,
          [...METRICS_PORT_LISTENERS],
        ),
        children,
      );
      const { activator, url: activatorUrl } = await startActivator(pod, truth);
      servers.push(activator.server);
      // The activator listens on 8012 too; its pod carries no revision label.
      activatorSidecar = await startKwt(
        [
          "--upstream",
          activatorUrl,
          "--envoy",
          envoy,
          "--direction",
          "inbound",
          "--peer-identity",
          INGRESS_GATEWAY_IDENTITY,
          "--destination-port",
          String(QueueProxyPort.http1),
          "--namespace",
          "knative-serving",
          "--workload",
          "activator",
          "--label",
          "app=activator",
          ...TWO_WORKERS_ALL_LABELS,
        ],
        children,
      );
      gateway = await startKwt(gatewayFlags(activatorSidecar.listen, envoy), children);
      const target = hostPort(gateway.listen);
      for (let i = 0; i < USERS; i++) {
        const request = truth.begin("user", Date.now());
        const answer = await exchange(target, "/", { [REQUEST_ID_HEADER]: String(request.id) });
        request.ending = { code: answer.status, timeout: false, localReply: false };
      }
      await giveUp(target);
      for (let round = 0; round < SCRAPE_ROUNDS; round++) await scrapePod(listenPortAddresses(pod));
      summary = truth.summary();
      const [gatewayText, activatorText, podText] = await settledTexts([gateway, activatorSidecar, pod]);
      all = measureFilter([gatewayText!, activatorText!, podText!]);
      atPod = measureFilter([podText!]);
      atActivator = measureFilter([activatorText!]);
    }, 60_000);

    afterAll(async () => {
      await Promise.all(children.map(stopKwt));
      await Promise.all(servers.map(closeServer));
    });

    it("truth: every user request and the abandoned one reached the container through the activator; the scrapes hit :9090 and :9091", () => {
      expect(truth.of("user").map((r) => r.ending?.code ?? r.ending?.resetBy)).toEqual([
        ...Array<number>(USERS).fill(200),
        "client",
      ]);
      expect(truth.of("user").every((r) => r.viaActivator && r.invocation)).toBe(true);
      expect(summary).toMatchObject({ invocations: USERS + 1, scrapes: 2 * SCRAPE_ROUNDS });
      expect(summary.endings.clientReset).toBe(1);
    });

    it("counts one invocation per request across the chain: none for the scrapes, none at the activator's sidecar", () => {
      expect(all.invocations).toBe(summary.invocations);
      expect(atActivator.invocations).toBe(0);
      expect(atPod.invocations).toBe(summary.invocations);
    });

    it("blames the client that gave up on the client, not on the workload", () => {
      expect(atPod.errorsByKind).toEqual({ downstream_reset: summary.endings.clientReset });
    });
  },
);
