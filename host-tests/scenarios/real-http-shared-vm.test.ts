// Issue 13 point 5 over real HTTP, on each property layout: one revision pod's sidecar (`kwt run
// --outbound-listen`, two workers) hosts the inbound root (callers from other clusters -> app, span
// export to a loopback collector) and the outbound root (the app's calls to other revisions,
// `maxSeries` 16, a sampler target far below the traffic) in the same VMs, and the inbound
// configuration is updated (POST /kwt/reload, as an ECDS push) while requests are in flight. The
// world records what it received: the app each request and the traceparent it carried, the called
// revisions the sampled flag of each trace the outbound root started, the collector every span.
// The filter's numbers come from the sidecar's one admin.

import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeServer, listenOn, type HostPort } from "../harness/index.js";
import { parseExposition, sumBy, total, type Sample } from "../../tools/demo/exposition.js";
import { CollectorStandIn } from "../filter-tracing/collector.js";
import {
  ENVOY_BY_LAYOUT,
  hostPort,
  KWT,
  LOOPBACK,
  reloadKwt,
  revisionPodFlags,
  settledTexts,
  startKwt,
  stopKwt,
  TWO_WORKERS_ALL_LABELS,
  WASM,
  WORKERS,
  type RunningKwt,
} from "../support/kwt-run.js";
import { ConfigDir, fanOut } from "../support/real-http.js";
import { send } from "./http-activator.js";
import { QueueProxyPort } from "./knative.js";

/** Callers in this many other clusters send the hop stamps: the inbound root's label sets. */
const CALLER_CLUSTERS = 20;
/** Requests into the pod before the update, and as many during and after it. */
const REQUESTS_PER_PHASE = 40;
/** Requests of the second phase answered before the update is sent; the rest run across it. */
const ANSWERED_BEFORE_UPDATE = 10;
const IN_FLIGHT = 4;
/** Sampled requests whose spans are queued on a root when the collector starts refusing exports. */
const REFUSED_SPANS = 4;
/** Each request into the pod makes the app call one of this many revisions: the outbound root's label sets. */
const CALLED_REVISIONS = REQUESTS_PER_PHASE;
const OUTBOUND_MAX_SERIES = 16;
const OUTBOUND_TARGET_PER_SECOND = 0.01;
const OUTBOUND_MIN_PROBABILITY = 0.1;
const OUTBOUND_TICK_MS = 1000;
/** Before the update no tick comes before the test ends: only proxy_on_done can send those spans. */
const INBOUND_TICK_MS_BEFORE = 60_000;
const INBOUND_TICK_MS_AFTER = 200;
const CALLER_IDENTITY = "spiffe://cluster.local/ns/default/sa/caller";
const CALLED_IDENTITY = "spiffe://cluster.local/ns/default/sa/called";
const POD_CLUSTER = "west";
/** The metrics the inbound root records for a request from another cluster. */
const INBOUND_METRICS = [
  "knative_invocations_total",
  "mesh_cross_cluster_requests_total",
  "mesh_cross_cluster_hop_duration_milliseconds_count",
];
const OUTBOUND_LATENCY = "knative_request_duration_milliseconds_count";

/** What the caller sent into the pod and what the app behind the inbound root received. */
interface InboundRequest {
  index: number;
  callerCluster: string;
  traceId: string;
  sampled: boolean;
  /**
   * The first phase, all answered before the update; the second, sent before, during and after it;
   * the requests whose spans the collector refuses when their root is replaced; or those from new
   * callers after an update of the outbound root alone.
   */
  phase: "before-update" | "across-update" | "refused-export" | "after-outbound-update";
  status?: number;
  /** The traceparent the app received (the filter's span id is its parent id). */
  receivedTraceparent?: string;
}

/** A call of the app through its outbound sidecar, as the called revision received it. */
interface CalledRequest {
  revision: string;
  traceparent: string | undefined;
  atMs: number;
}

function inboundConfig(tickPeriodMs: number): Record<string, unknown> {
  return { tickPeriodMs, spanExport: { enabled: true } };
}

/** The outbound root's bounds are far below the inbound root's defaults (2000 series, 32 source clusters). */
function outboundConfig(tickPeriodMs: number): Record<string, unknown> {
  return {
    maxSeries: OUTBOUND_MAX_SERIES,
    maxSourceLabelValues: 1,
    tickPeriodMs,
    tracing: {
      targetSampledPerSecond: OUTBOUND_TARGET_PER_SECOND,
      minProbability: OUTBOUND_MIN_PROBABILITY,
    },
  };
}

function calledRevision(index: number): string {
  return `svc-${index % CALLED_REVISIONS}`;
}

/** The pod stamp a called revision's own sidecar would put on its answer (warm, not through the activator). */
function podStampOf(service: string, readyMs: number): string {
  return `1;cs=0;w=;c=east;r=east-1;n=default;s=${service};cf=${service};v=${service}-00001;a=0;rd=${readyMs}`;
}

function sampledFlag(traceparent: string | undefined): boolean | undefined {
  const flags = traceparent?.split("-")[3];
  return flags === undefined ? undefined : (parseInt(flags, 16) & 1) === 1;
}

function isOverflow(sample: Sample): boolean {
  const values = Object.values(sample.labels);
  return values.length > 0 && values.every((value) => value === "overflow");
}

function byLabel(samples: Sample[], name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const { labels, value } of sumBy(samples, name, [label]).values()) out.set(labels[label]!, value);
  return out;
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of items) out.set(key(item), (out.get(key(item)) ?? 0) + 1);
  return out;
}

/** Polls until `condition` holds or `timeoutMs` passed; the assertions then say what is missing. */
async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}

describe.skipIf(!existsSync(KWT) || !existsSync(WASM)).each(ENVOY_BY_LAYOUT)(
  "over real HTTP on the %s layout (Envoy %s): a sidecar's inbound and outbound roots in the same two worker VMs, updated during traffic",
  (_layout, envoy) => {
    const children: ChildProcessWithoutNullStreams[] = [];
    const servers: http.Server[] = [];
    const configDir = new ConfigDir();
    const writeInbound = (config: Record<string, unknown> | string): string =>
      configDir.file("inbound", config);
    const writeOutbound = (config: Record<string, unknown>): string => configDir.file("outbound", config);
    let inboundFile: string;
    const inbound: InboundRequest[] = [];
    const called: CalledRequest[] = [];
    let collector: CollectorStandIn;
    let sidecar: RunningKwt;
    let outboundTarget: HostPort | undefined;
    let beforeUpdate: Sample[];
    let afterUpdate: Sample[];
    let update: { status: number; body: string };

    async function callIntoPod(
      index: number,
      phase: InboundRequest["phase"],
      callerCluster = `caller-${index % CALLER_CLUSTERS}`,
    ): Promise<void> {
      const request: InboundRequest = {
        index,
        callerCluster,
        traceId: randomBytes(16).toString("hex"),
        sampled: index % 2 === 0,
        phase,
      };
      inbound.push(request);
      const parentId = randomBytes(8).toString("hex");
      request.status = await send(hostPort(sidecar.listen), `/call/${index}`, {
        host: "hello.default.svc.cluster.local",
        // As the caller's own sidecar in its cluster stamps the hop.
        "x-kwt-hop": `1;c=${request.callerCluster};r=${request.callerCluster}-1;t=${Date.now()}`,
        traceparent: `00-${request.traceId}-${parentId}-${request.sampled ? "01" : "00"}`,
      });
    }

    beforeAll(async () => {
      collector = await CollectorStandIn.start();
      const readyMs = Date.now() - 60_000;
      const revisions = http.createServer((request, response) => {
        const service = (request.headers.host ?? "").split(".")[0]!;
        const traceparent = request.headers.traceparent;
        called.push({
          revision: service,
          traceparent: typeof traceparent === "string" ? traceparent : undefined,
          atMs: Date.now(),
        });
        response.writeHead(200, { "x-kwt-pod": podStampOf(service, readyMs), "content-type": "text/plain" });
        response.end("called\n");
      });
      // The app: each request makes one call out through its sidecar's outbound listener, with no
      // trace context of its own (an app without a tracer), then answers.
      const app = http.createServer((request, response) => {
        const index = Number(/^\/call\/(\d+)$/.exec(request.url ?? "")?.[1]);
        const record = inbound.find((candidate) => candidate.index === index);
        if (record !== undefined) {
          const traceparent = request.headers.traceparent;
          record.receivedTraceparent = typeof traceparent === "string" ? traceparent : undefined;
        }
        request.resume();
        void send(outboundTarget!, "/", { host: `${calledRevision(index)}.default.svc.cluster.local` }).then(
          (status) => response.writeHead(status === 200 ? 200 : 502).end(`call answered ${status}\n`),
        );
      });
      servers.push(revisions, app);
      const [revisionsAddress, appAddress] = await Promise.all([
        listenOn(revisions, LOOPBACK),
        listenOn(app, LOOPBACK),
      ]);
      inboundFile = writeInbound(inboundConfig(INBOUND_TICK_MS_BEFORE));
      sidecar = await startKwt(
        [
          "--upstream",
          `http://${appAddress.host}:${appAddress.port}`,
          "--config",
          inboundFile,
          "--outbound-listen",
          "127.0.0.1:0",
          "--outbound-upstream",
          `http://${revisionsAddress.host}:${revisionsAddress.port}`,
          "--outbound-config",
          writeOutbound(outboundConfig(OUTBOUND_TICK_MS)),
          "--outbound-upstream-identity",
          CALLED_IDENTITY,
          "--envoy",
          envoy,
          "--peer-identity",
          CALLER_IDENTITY,
          "--destination-port",
          String(QueueProxyPort.http1),
          "--cluster",
          POD_CLUSTER,
          "--region",
          `${POD_CLUSTER}-1`,
          "--http-cluster",
          `otel-collector=${collector.url}`,
          ...revisionPodFlags(),
          ...TWO_WORKERS_ALL_LABELS,
        ],
        children,
      );
      outboundTarget = hostPort(sidecar.outboundListen!);

      for (let i = 0; i < REQUESTS_PER_PHASE; i++) await callIntoPod(i, "before-update");
      beforeUpdate = parseExposition((await settledTexts([sidecar]))[0]!);

      // The second phase: IN_FLIGHT requests at a time; the update is sent while some are open.
      writeInbound(inboundConfig(INBOUND_TICK_MS_AFTER));
      let answered = 0;
      let updating: Promise<{ status: number; body: string }> | undefined;
      await fanOut(REQUESTS_PER_PHASE, IN_FLIGHT, async (i) => {
        await callIntoPod(REQUESTS_PER_PHASE + i, "across-update");
        if (++answered === ANSWERED_BEFORE_UPDATE) updating = reloadKwt(sidecar);
      });
      update = await updating!;

      const sampledSpans = inbound.filter((request) => request.sampled).length;
      await waitUntil(
        () => collector.requests.flatMap((request) => request.spans).length >= sampledSpans,
        10_000,
      );
      // Every outbound root ticks at least once after the last call, on calls it saw.
      const lastCallMs = Math.max(...called.map((call) => call.atMs));
      await new Promise((resolve) => setTimeout(resolve, lastCallMs + OUTBOUND_TICK_MS + 200 - Date.now()));
      afterUpdate = parseExposition((await settledTexts([sidecar]))[0]!);
    }, 90_000);

    afterAll(async () => {
      await Promise.all(children.map(stopKwt));
      await Promise.all(servers.map(closeServer));
      await collector?.close();
      configDir.remove();
    });

    it("truth: every request reached the app, every app call reached its revision, and the update replaced only the inbound roots", () => {
      expect(inbound.map((request) => request.status)).toEqual(
        Array<number>(2 * REQUESTS_PER_PHASE).fill(200),
      );
      expect(inbound.every((request) => request.receivedTraceparent !== undefined)).toBe(true);
      expect(called).toHaveLength(2 * REQUESTS_PER_PHASE);
      expect(update.status).toBe(200);
      // The outbound plugin loaded first: root context 1 in each VM, the inbound one 2.
      expect(update.body).toMatch(
        /^reload outbound: configuration unchanged; the root contexts stay\nreload inbound: new root contexts \d+,\d+ \(one per worker VM\) replace 2,2, which get proxy_on_done once their open streams end\n$/,
      );
      expect(sidecar.stderr()).toContain("kwt run: reload inbound: new root contexts");
    });

    it("keeps the inbound root's series out of the outbound root's maxSeries: every caller cluster counted as the app saw it", () => {
      const truth = countBy(inbound, (request) => request.callerCluster);
      expect(truth.size).toBe(CALLER_CLUSTERS);
      for (const metric of INBOUND_METRICS) {
        expect(afterUpdate.filter((sample) => sample.name === metric && isOverflow(sample))).toEqual([]);
      }
      expect(byLabel(afterUpdate, "knative_invocations_total", "source_cluster")).toEqual(truth);
      const pairs = byLabel(afterUpdate, "mesh_cross_cluster_requests_total", "source_cluster");
      expect(pairs).toEqual(truth);
    });

    it(`caps the outbound root at its own maxSeries (${OUTBOUND_MAX_SERIES} label sets per root context): the rest of its calls in overflow`, () => {
      const latency = afterUpdate.filter((sample) => sample.name === OUTBOUND_LATENCY);
      const overflow = latency.filter(isOverflow);
      const byRevision = byLabel(
        latency.filter((sample) => !isOverflow(sample)),
        OUTBOUND_LATENCY,
        "service_name",
      );
      const truth = countBy(called, (call) => call.revision);
      expect(truth.size).toBe(CALLED_REVISIONS);
      // Each worker's root keeps its own first 16: more than one root's cap, fewer than every revision.
      expect(byRevision.size).toBeGreaterThan(OUTBOUND_MAX_SERIES);
      expect(byRevision.size).toBeLessThanOrEqual(OUTBOUND_MAX_SERIES * WORKERS);
      for (const [revision, count] of byRevision) expect(count).toBeLessThanOrEqual(truth.get(revision)!);
      const overflowCount = overflow.reduce((sum, sample) => sum + sample.value, 0);
      expect(overflowCount).toBeGreaterThan(0);
      expect([...byRevision.values()].reduce((sum, count) => sum + count, 0) + overflowCount).toBe(
        called.length,
      );
      // Every recording sent to overflow was one of the outbound root's.
      expect(total(afterUpdate, "kwt_series_overflow_total")).toBe(overflowCount);
    });

    it("reports each position's samplers apart, per worker, across the update: the outbound floor, not the idle inbound 1.0", () => {
      const sampled = called.filter((call) => sampledFlag(call.traceparent) === true).length;
      expect(called.every((call) => sampledFlag(call.traceparent) !== undefined)).toBe(true);
      // The outbound root started every trace the revisions received, with its sampler's decision.
      expect(total(afterUpdate, "kwt_traces_started_total", { sampled: "true" })).toBe(sampled);
      expect(total(afterUpdate, "kwt_traces_started_total", { sampled: "false" })).toBe(
        called.length - sampled,
      );
      expect(sampled).toBeLessThan(called.length / 2);
      // The calls per worker and second far exceed target / floor, so each outbound sampler sits at the floor.
      const spanMs = Math.max(...called.map((c) => c.atMs)) - Math.min(...called.map((c) => c.atMs));
      const perWorkerRate = called.length / WORKERS / (Math.max(spanMs, 1) / 1000);
      expect(OUTBOUND_TARGET_PER_SECOND / perWorkerRate).toBeLessThan(OUTBOUND_MIN_PROBABILITY);
      for (const samples of [beforeUpdate, afterUpdate]) {
        expect(total(samples, "kwt_samplers", { position: "outbound" })).toBe(WORKERS);
        // The update's old inbound roots took their share out; the new ones put theirs in.
        expect(total(samples, "kwt_samplers", { position: "inbound" })).toBe(WORKERS);
        // Inbound roots only continue the callers' traces: their samplers never decide, at maxProbability 1.
        expect(total(samples, "kwt_sampling_probability", { position: "inbound" })).toBe(WORKERS * 1_000_000);
      }
      expect(total(afterUpdate, "kwt_sampling_probability", { position: "outbound" })).toBe(
        WORKERS * OUTBOUND_MIN_PROBABILITY * 1_000_000,
      );
    });

    it("sends every span of a sampled request, those queued on the replaced roots included, or counts it dropped", () => {
      const spans = collector.requests.flatMap((request) => request.spans);
      const sampled = inbound.filter((request) => request.sampled);
      const dropped = total(afterUpdate, "kwt_spans_dropped_total");
      // The filter's span on this hop is the parent of the request the app received.
      const spanOf = (request: InboundRequest): string =>
        `${request.traceId}-${request.receivedTraceparent!.split("-")[2]}`;
      const expected = sampled.map(spanOf);
      const received = spans.map((span) => `${span.traceId}-${span.spanId}`);
      expect(new Set(received).size).toBe(received.length);
      for (const span of received) expect(expected).toContain(span);
      expect(received.length + dropped).toBe(sampled.length);
      expect(total(afterUpdate, "kwt_spans_exported_total")).toBe(received.length);
      // Queued before the update, with no tick due for a minute: only the old roots' on_done could send them.
      expect(total(beforeUpdate, "kwt_spans_exported_total")).toBe(0);
      const queuedOnOldRoots = sampled.filter((request) => request.phase === "before-update");
      for (const request of queuedOnOldRoots) expect(received).toContain(spanOf(request));
      // With a collector that answers 200, nothing had to be dropped.
      expect(dropped).toBe(0);
    });

    it("counts as dropped the queued spans of a replaced root whose last export the collector refuses", async () => {
      writeInbound(inboundConfig(INBOUND_TICK_MS_BEFORE));
      expect((await reloadKwt(sidecar)).status).toBe(200);
      const first = inbound.length;
      for (let i = 0; i < REFUSED_SPANS; i++) await callIntoPod(first + 2 * i, "refused-export");
      const droppedBefore = total(afterUpdate, "kwt_spans_dropped_total", { reason: "export_failed" });
      const exportedBefore = total(afterUpdate, "kwt_spans_exported_total");
      const answeredBefore = collector.requests.length;
      collector.status = 503;
      writeInbound(inboundConfig(INBOUND_TICK_MS_AFTER));
      expect((await reloadKwt(sidecar)).status).toBe(200);
      const read = async (): Promise<Sample[]> => parseExposition((await settledTexts([sidecar]))[0]!);
      let samples = await read();
      const deadline = Date.now() + 10_000;
      while (
        total(samples, "kwt_spans_dropped_total") < droppedBefore + REFUSED_SPANS &&
        Date.now() < deadline
      ) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        samples = await read();
      }
      collector.status = 200;
      const sampled = inbound.slice(first).filter((request) => request.sampled);
      expect(sampled).toHaveLength(REFUSED_SPANS);
      // The collector saw the attempt and refused it: every one of those spans is counted as dropped.
      const refused = collector.requests.slice(answeredBefore).flatMap((request) => request.spans);
      expect(refused.map((span) => span.traceId).sort()).toEqual(
        sampled.map((request) => request.traceId).sort(),
      );
      expect(total(samples, "kwt_spans_dropped_total", { reason: "export_failed" })).toBe(
        droppedBefore + REFUSED_SPANS,
      );
      expect(total(samples, "kwt_spans_exported_total")).toBe(exportedBefore);
    });

    it("keeps the inbound root's maxSourceLabelValues when only the outbound root (bound 1) is updated", async () => {
      writeOutbound(outboundConfig(OUTBOUND_TICK_MS + 1));
      const answer = await reloadKwt(sidecar);
      expect(answer.body).toMatch(
        /^reload outbound: new root contexts \d+,\d+ \(one per worker VM\) replace 1,1, [^\n]*\nreload inbound: configuration unchanged; the root contexts stay\n$/,
      );
      const first = inbound.length;
      const callers = ["newcomer-0", "newcomer-1", "newcomer-2", "newcomer-3"];
      // Odd indexes: unsampled, so no span is added to the accounting above.
      for (const [i, caller] of callers.entries()) {
        await callIntoPod(first + 2 * i + 1, "after-outbound-update", caller);
      }
      const samples = parseExposition((await settledTexts([sidecar]))[0]!);
      const invocations = byLabel(samples, "knative_invocations_total", "source_cluster");
      const truth = countBy(inbound, (request) => request.callerCluster);
      for (const caller of callers)
        expect([caller, invocations.get(caller)]).toEqual([caller, truth.get(caller)]);
      expect(invocations.has("_other")).toBe(false);
    });

    it("answers a configuration update it cannot read with 400 and changes nothing", async () => {
      writeInbound("{ not json");
      const refused = await reloadKwt(sidecar);
      expect(refused.status).toBe(400);
      expect(refused.body).toContain(`--config ${inboundFile}: not JSON`);
      expect(refused.body).toContain("nothing changed");
      const get = await fetch(`${sidecar.admin}/kwt/reload`);
      expect(get.status).toBe(405);
      writeInbound(inboundConfig(INBOUND_TICK_MS_AFTER));
      expect((await reloadKwt(sidecar)).body).toBe(
        "reload outbound: configuration unchanged; the root contexts stay\nreload inbound: configuration unchanged; the root contexts stay\n",
      );
    });
  },
);
