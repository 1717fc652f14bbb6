// Memory per open stream over real HTTP: a `kwt run` ingress gateway (its command line, the proxy
// it starts, two worker VMs) holds thousands of loopback connections open, each request carrying a
// 60 KB tracestate of empty members, while the upstream keeps every answer back; then all answer.
// Run in process (startRunProxy, what the command starts) so the test can read the VMs' linear
// memory, which Envoy's admin does not show.

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRunArgs, startRunProxy, type RunningProxy } from "../../tools/cli/run.js";
import { FILTER_METRIC_LABELS } from "../../tools/deploy/filter-contract.js";
import { parseExposition, total } from "../../tools/demo/exposition.js";
import { ROOT, WASM } from "../support/kwt-run.js";

/** More than the 1,300 that trapped the VM before memory was bounded (issue 14), within 2 busy cores' time. */
const OPEN_STREAMS = 2_000;
/** Streams opened at once; the next batch starts once the upstream holds these (within a listen backlog). */
const BATCH = 250;
/** `" \t,"` 20,000 times: 60,000 bytes of empty list-members, within Envoy's 60 KiB of request headers. */
const EMPTY_MEMBERS = " \t,".repeat(20_000);
const REQUEST = Buffer.from(
  `GET / HTTP/1.1\r\nhost: hello.example.com\r\ntracestate: ${EMPTY_MEMBERS}\r\n\r\n`,
  "latin1",
);
const ANSWER = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
/** docs/filter.md's bound for open streams with such headers ("Memory per open stream"). */
const MEMORY_BOUND_BYTES = 8 * 1024 * 1024;
/** Each open stream holds four sockets in this process: client, gateway downstream and upstream, app. */
const FILES_PER_STREAM = 4;

function openFileLimit(): number {
  const text = execFileSync("sh", ["-c", "ulimit -n"], { encoding: "utf8" }).trim();
  return text === "unlimited" ? Number.POSITIVE_INFINITY : Number(text);
}

/** A raw socket server (cheaper than node:http for thousands of 60 KB heads) that holds each request until `answerAll`. */
class HoldingUpstream {
  readonly server = net.createServer((socket) => this.accept(socket));
  private readonly held: net.Socket[] = [];
  private readonly waiters: Array<{ count: number; resolve: () => void }> = [];
  private holding = true;
  received = 0;

  private accept(socket: net.Socket): void {
    let tail = "";
    socket.setEncoding("latin1");
    socket.on("error", () => undefined);
    socket.on("data", (chunk: string) => {
      tail = (tail + chunk).slice(-4);
      if (!tail.endsWith("\r\n\r\n")) return;
      this.received++;
      if (!this.holding) {
        socket.end(ANSWER);
        return;
      }
      this.held.push(socket);
      for (const waiter of this.waiters.filter((w) => this.held.length >= w.count)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    });
  }

  holdingAtLeast(count: number): Promise<void> {
    if (this.held.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  answerAll(): void {
    this.holding = false;
    for (const socket of this.held.splice(0)) socket.end(ANSWER);
  }
}

/** One request on its own connection; resolves with the answer's status line once its body arrived. */
function request(port: number): Promise<string> {
  return new Promise((resolve) => {
    let answer = "";
    const socket = net.connect(port, "127.0.0.1", () => socket.write(REQUEST));
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      answer += chunk;
      if (!answer.endsWith("\r\n\r\nok")) return;
      socket.destroy();
      resolve(answer.slice(0, answer.indexOf("\r\n")));
    });
    socket.on("error", (error) => resolve(`failed: ${error.message}`));
    socket.on("close", () => resolve(answer === "" ? "closed without an answer" : answer));
  });
}

function tracesStarted(gateway: RunningProxy): number {
  return total(parseExposition(gateway.plugin!.stats.prometheusText()), "kwt_traces_started_total");
}

describe.skipIf(!existsSync(WASM))(
  `over real HTTP: a kwt run gateway holding ${OPEN_STREAMS} open streams with 60 KB tracestate headers`,
  () => {
    const upstream = new HoldingUpstream();
    let gateway: RunningProxy;
    let answers: string[];
    let memoryWhileOpen: number[];
    let failedWhileOpen: boolean;

    beforeAll(async () => {
      const needed = OPEN_STREAMS * FILES_PER_STREAM + 1_000;
      if (openFileLimit() < needed) {
        throw new Error(
          `this test holds ${OPEN_STREAMS} streams open (${needed} open files); raise 'ulimit -n' to at least ${needed}`,
        );
      }
      await new Promise<void>((resolve) => upstream.server.listen(0, "127.0.0.1", resolve));
      const appPort = (upstream.server.address() as net.AddressInfo).port;
      const plan = parseRunArgs(
        [
          "--listen",
          "127.0.0.1:0",
          "--upstream",
          `http://127.0.0.1:${appPort}`,
          "--gateway",
          "--direction",
          "outbound",
          "--workers",
          "2",
          "--extra-stat-tags",
          FILTER_METRIC_LABELS.join(","),
          // The streams stay open longer than Envoy's default 15 s route timeout would let them.
          "--upstream-timeout-ms",
          "120000",
        ],
        ROOT,
      );
      gateway = await startRunProxy(plan);
      const port = gateway.proxy.listenAddress.port;
      const pending: Array<Promise<string>> = [];
      for (let opened = 0; opened < OPEN_STREAMS; opened += BATCH) {
        const batch = Math.min(BATCH, OPEN_STREAMS - opened);
        for (let i = 0; i < batch; i++) pending.push(request(port));
        await upstream.holdingAtLeast(opened + batch);
      }
      memoryWhileOpen = gateway.plugin!.linearMemoryBytes();
      failedWhileOpen = gateway.plugin!.failed;
      upstream.answerAll();
      answers = await Promise.all(pending);
    }, 120_000);

    afterAll(async () => {
      upstream.answerAll();
      await gateway?.close();
      await new Promise((resolve) => upstream.server.close(resolve));
    });

    it("held every stream open at once, past the filter, on both worker VMs, without a trap", () => {
      expect(upstream.received).toBe(OPEN_STREAMS);
      expect(memoryWhileOpen).toHaveLength(2);
      expect(failedWhileOpen).toBe(false);
    });

    it(`kept each VM's linear memory under ${MEMORY_BOUND_BYTES / 1024 / 1024} MiB while they were open and after`, () => {
      for (const bytes of memoryWhileOpen) expect(bytes).toBeLessThan(MEMORY_BOUND_BYTES);
      for (const bytes of gateway.plugin!.linearMemoryBytes()) expect(bytes).toBeLessThan(MEMORY_BOUND_BYTES);
    });

    it("answered every held stream, each through the filter, and keeps serving", async () => {
      expect(new Set(answers)).toEqual(new Set(["HTTP/1.1 200 OK"]));
      // Every stream ran the filter to its end: the gateway started a trace for each.
      expect(tracesStarted(gateway)).toBe(OPEN_STREAMS);
      expect(await request(gateway.proxy.listenAddress.port)).toBe("HTTP/1.1 200 OK");
      expect(tracesStarted(gateway)).toBe(OPEN_STREAMS + 1);
      expect(gateway.plugin!.failed).toBe(false);
    });
  },
);
