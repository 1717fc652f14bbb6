// How streams end (gRPC over HTTP/2: cancellations, resets, timeouts, local replies) and a VM
// reload on a warm pod while traffic flows.

import { describe, expect, it } from "vitest";
import { FILTER_WASM } from "../filter-tracing/setup.js";
import { expectTruthCount } from "../support/known-wrong.js";
import { playScenario } from "../support/scenario-run.js";
import { PROPERTY_LAYOUTS } from "./proxy-adapter.js";
import { GRPC_CALLS, HTTP_CALLS, grpcEndings, httpEndings, vmReload } from "./scenarios.js";

describe.each(PROPERTY_LAYOUTS)("Envoy %s layout", (layout) => {
  describe("gRPC over HTTP/2 to a warm pod, every way a call ends", () => {
    const run = playScenario(() => grpcEndings({ wasm: FILTER_WASM, layout }));

    it("truth: each call ended as its behaviour says, on the h2c port", () => {
      const calls = run().truth.of("user");
      expect(calls).toHaveLength(GRPC_CALLS.length);
      const endings = calls.map((call, i) => ({
        kind: GRPC_CALLS[i]!.kind,
        ...call.ending,
        port: call.port,
      }));
      expect(endings).toEqual([
        { kind: "ok", code: 200, grpcStatus: 0, timeout: false, localReply: false, port: 8013 },
        { kind: "ok", code: 200, grpcStatus: 0, timeout: false, localReply: false, port: 8013 },
        { kind: "ok", code: 200, grpcStatus: 0, timeout: false, localReply: false, port: 8013 },
        { kind: "grpc-error", code: 200, grpcStatus: 5, timeout: false, localReply: false, port: 8013 },
        { kind: "grpc-error", code: 200, grpcStatus: 14, timeout: false, localReply: false, port: 8013 },
        { kind: "client-cancel", resetBy: "client", timeout: false, localReply: false, port: 8013 },
        { kind: "client-cancel", resetBy: "client", timeout: false, localReply: false, port: 8013 },
        // Envoy's local reply to a gRPC request is a trailers-only HTTP 200.
        {
          kind: "upstream-reset",
          code: 200,
          resetBy: "upstream",
          timeout: false,
          localReply: true,
          port: 8013,
        },
        {
          kind: "upstream-reset",
          code: 200,
          resetBy: "upstream",
          timeout: false,
          localReply: true,
          port: 8013,
        },
        { kind: "route-timeout", code: 200, timeout: true, localReply: true, port: 8013 },
        { kind: "revision-timeout", code: 504, timeout: true, localReply: false, port: 8013 },
        { kind: "rate-limited", code: 200, timeout: false, localReply: true, port: 8013 },
      ]);
      // The rate-limited call never reached queue-proxy; every other one reached the container.
      expect(calls.map((c) => c.invocation)).toEqual(GRPC_CALLS.map((b) => b.kind !== "rate-limited"));
    });

    it("filter vs truth: every ending agrees, and only calls that reached the container are invocations", () => {
      const truth = run().truth.summary();
      const filter = run().measured();
      expect(filter.errorsByKind.downstream_reset).toBe(truth.endings.clientReset);
      expect(filter.errorsByKind.upstream_reset).toBe(truth.endings.upstreamReset);
      expect(filter.errorsByKind.grpc).toBe(2);
      // The sidecar's rate-limit reply is still an error, though not an invocation.
      expect(filter.errorsByKind.local_reply).toBe(truth.endings.localReply);
      expectTruthCount(run(), "invocations");
      expect(truth.invocations).toBe(GRPC_CALLS.length - 1);
      // Envoy's route timeout and queue-proxy's 504 to a gRPC call (the revision's timeoutSeconds).
      expect(filter.errorsByKind.timeout).toBe(truth.endings.timeout);
      expect(truth.endings.timeout).toBe(2);
      expect(filter.errorsByKind.http_5xx ?? 0).toBe(0);
    });
  });

  describe("plain HTTP/1 to a warm pod: three timeouts and a rate-limit reply", () => {
    const run = playScenario(() => httpEndings({ wasm: FILTER_WASM, layout }));

    it("truth: Envoy's 504 and 429 are its own replies; queue-proxy's and the container's 504 reached the container", () => {
      const calls = run().truth.of("user");
      expect(calls).toHaveLength(HTTP_CALLS.length);
      expect(
        calls.map((call, i) => ({ kind: HTTP_CALLS[i]!.kind, ...call.ending, port: call.port })),
      ).toEqual([
        { kind: "ok", code: 200, timeout: false, localReply: false, port: 8012 },
        { kind: "route-timeout", code: 504, timeout: true, localReply: true, port: 8012 },
        { kind: "revision-timeout", code: 504, timeout: true, localReply: false, port: 8012 },
        { kind: "workload-timeout", code: 504, timeout: true, localReply: false, port: 8012 },
        { kind: "rate-limited", code: 429, timeout: false, localReply: true, port: 8012 },
      ]);
      expect(calls.map((c) => c.invocation)).toEqual([true, true, true, true, false]);
    });

    it("filter vs truth: the refusal is no invocation; every 504 is a timeout", () => {
      const truth = run().truth.summary();
      const filter = run().measured();
      expectTruthCount(run(), "invocations");
      expect(truth.invocations).toBe(HTTP_CALLS.length - 1);
      expect(filter.errorsByKind.local_reply).toBe(truth.endings.localReply);
      expect(truth.endings.timeout).toBe(3);
      expect(filter.errorsByKind.timeout).toBe(truth.endings.timeout);
      expect(filter.errorsByKind.http_5xx ?? 0).toBe(0);
    });
  });

  describe.each(["module", "envoy-restart"] as const)(
    "a VM reload (%s) on a warm pod while traffic flows",
    (reload) => {
      const run = playScenario(() => vmReload({ wasm: FILTER_WASM, layout, reload }));

      it("truth: one pod, ready long before, served every request through the activator; nobody waited", () => {
        const pod = run().mesh.pods[0]!;
        const users = run().truth.of("user");
        expect(users).toHaveLength(60);
        expect(users.every((r) => r.pod === pod.name && r.viaActivator && !r.beforeServingPodReady)).toBe(
          true,
        );
        expect(users.some((r) => r.coldStartMs !== undefined || r.queueWaitMs !== undefined)).toBe(false);
        expect(pod.sidecars).toHaveLength(2);
        const sameStore = pod.sidecars[0]!.stats === pod.sidecars[1]!.stats;
        expect(sameStore).toBe(reload === "module");
        expect(users.filter((r) => r.sentAtMs >= 145_000)).toHaveLength(30);
      });

      it("filter vs truth: the reloaded VMs take no activator traffic for cold starts", () => {
        const truth = run().truth.summary();
        const filter = run().measured();
        expect(filter.invocations).toBe(truth.invocations);
        // A new module finds the pod's ready time in shared data; a new Envoy makes its first
        // request the ready time, and the gateway's era of the revision covers it either way.
        expectTruthCount(run(), "coldStarts");
        expectTruthCount(run(), "activatorProxied");
        expect(filter.clientLatency).toEqual({ cold: 0, warm: 60 });
      });
    },
  );
});
