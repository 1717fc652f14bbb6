// Scale from zero (both activator modes, with and without the activator's sidecar), scale-up with
// the activator in the path, and proxy mode under steady load: first each scenario's own ground
// truth, then the filter's numbers against it.

import { describe, expect, it } from "vitest";
import { FILTER_WASM } from "../filter-tracing/setup.js";
import { expectTruthCount } from "../support/known-wrong.js";
import { measureFilter } from "./measure.js";
import { playScenario } from "../support/scenario-run.js";
import { Activator } from "./mesh.js";
import { PROPERTY_LAYOUTS } from "./proxy-adapter.js";
import { proxyModeSteady, scaleFromZero, scaleUp, type ScenarioRun } from "./scenarios.js";
import type { RequestTruth } from "./truth.js";

function users(run: () => ScenarioRun): RequestTruth[] {
  return run().truth.of("user");
}

/** Each cold start's wait in the gateway's access log is the truth's, to the millisecond. */
function expectExactWaits(run: () => ScenarioRun): void {
  const ascending = (a: number, b: number) => a - b;
  const truth = users(run).flatMap((r) => (r.coldStartMs === undefined ? [] : [r.coldStartMs]));
  expect([...run().mesh.gatewayColdStartWaits].sort(ascending)).toEqual(truth.sort(ascending));
}

function probesAtPods(run: () => ScenarioRun): RequestTruth[] {
  return run()
    .truth.of("activator-probe")
    .filter((p) => p.pod !== undefined);
}

describe.each(PROPERTY_LAYOUTS)("Envoy %s layout", (layout) => {
  describe.each(["pod-ip", "mesh"] as const)(
    "scale from zero, activator in %s mode, 50 held, two workers",
    (mode) => {
      const run = playScenario(() =>
        scaleFromZero({ wasm: FILTER_WASM, layout, activatorMode: mode, burst: 50 }),
      );

      it("truth: every request sent before the activator had a ready pod was held, and only those", () => {
        const cold = users(run).filter((r) => r.coldStartMs !== undefined);
        expect(cold).toHaveLength(50);
        const releasedAt = new Set(cold.map((r) => r.sentAtMs + r.coldStartMs!));
        expect(releasedAt.size).toBe(1);
        const [released] = releasedAt;
        expect(users(run).filter((r) => r.sentAtMs < released!)).toEqual(cold);
        expect(cold.every((r) => r.beforeServingPodReady && r.viaActivator && r.invocation)).toBe(true);
        expect(users(run).some((r) => r.queueWaitMs !== undefined)).toBe(false);
        const pod = run().mesh.pods[0]!;
        expect(run().mesh.pods).toHaveLength(1);
        expect(released).toBeGreaterThanOrEqual(pod.readyAtMs);
      });

      it(`truth: the activator learns readiness as in ${mode} mode`, () => {
        const pod = run().mesh.pods[0]!;
        const probes = probesAtPods(run);
        const passed = probes.filter((p) => p.ending?.code === 200);
        if (mode === "pod-ip") {
          // Every 200 ms from the moment the sidecar accepts connections, until one passes.
          const times = probes.map((p) => p.sentAtMs);
          expect(times[0]).toBeGreaterThanOrEqual(pod.sidecarUpAtMs);
          expect(times.slice(1).map((t, i) => t - times[i]!)).toEqual(
            times.slice(1).map(() => Activator.PROBE_PERIOD_MS),
          );
          expect(passed).toEqual([probes.at(-1)]);
          expect(passed[0]!.sentAtMs - pod.readyAtMs).toBeLessThan(Activator.PROBE_PERIOD_MS);
        } else {
          // Once through the private service, after Kubernetes listed the pod as ready.
          expect(probes).toHaveLength(1);
          expect(passed).toHaveLength(1);
          expect(passed[0]!.sentAtMs).toBeGreaterThanOrEqual(pod.readyAtMs + run().mesh.endpointLagMs);
        }
        expect(probes.every((p) => !p.invocation && p.port === 8012)).toBe(true);
      });

      it("truth: the autoscaler scrapes the ready pod's :9090 every second, never an invocation", () => {
        const scrapes = run().truth.of("autoscaler-scrape");
        expect(scrapes.length).toBeGreaterThan(5);
        expect(scrapes.every((s) => s.port === 9090 && !s.invocation)).toBe(true);
        expect(scrapes.slice(1).every((s, i) => s.sentAtMs - scrapes[i]!.sentAtMs === 1_000)).toBe(true);
      });

      it("filter vs truth: every held request is a cold start with its exact wait, counted at the gateway", () => {
        const truth = run().truth.summary();
        const filter = run().measured();
        expect(truth).toMatchObject({ invocations: 60, coldStarts: 50, activatorProxied: 10, queueWaits: 0 });
        expectTruthCount(run(), "coldStarts");
        expectTruthCount(run(), "activatorProxied");
        expectExactWaits(run);
        expect(filter.clientLatency).toEqual({ cold: 50, warm: 10 });
        // The edge that owns the measurement counts them; the pod only its invocations.
        expect(measureFilter([run().mesh.gateway.plugin.stats.prometheusText()])).toMatchObject({
          coldStarts: 50,
          activatorProxied: 10,
          invocations: 0,
        });
        // The autoscaler's scrapes through the sidecar are not on a serving port.
        expectTruthCount(run(), "invocations");
      });
    },
  );

  describe("scale from zero, activator without a sidecar (plaintext under PERMISSIVE)", () => {
    const run = playScenario(() =>
      scaleFromZero({
        wasm: FILTER_WASM,
        layout,
        activatorMode: "pod-ip",
        activatorSidecar: false,
      }),
    );

    it("truth: the activator reached the pod in plaintext; held requests and their waits are known", () => {
      const cold = users(run).filter((r) => r.coldStartMs !== undefined);
      expect(cold).toHaveLength(50);
      expect(Math.min(...cold.map((r) => r.coldStartMs!))).toBeGreaterThan(1_000);
    });

    it("filter vs truth: without the activator's identity no cold start is claimed, every one is unverified", () => {
      const truth = run().truth.summary();
      const filter = run().measured();
      // Plaintext K-Proxy-Request proves nothing: counted as unverifiable, never as a cold start.
      expect(filter.coldStarts).toBe(0);
      expect(filter.activatorProxied).toBe(0);
      expect(filter.activatorUnverified).toBe(truth.coldStarts + truth.activatorProxied);
      expectTruthCount(run(), "invocations");
      // Each request twice untrusted: its entry stamp at the pod (from a peer without a mesh
      // identity), then its pod stamp at the gateway (relayed by an upstream without one), so the
      // gateway records no client-visible latency it cannot vouch for.
      expect(filter.stampsRejected).toBe(2 * truth.invocations);
      expect(filter.clientLatency).toEqual({ cold: 0, warm: 0 });
    });
  });

  describe.each(["pod-ip", "mesh"] as const)(
    "scale-up 1 -> 3 with the activator in the path (%s mode)",
    (mode) => {
      const run = playScenario(() => scaleUp({ wasm: FILTER_WASM, layout, activatorMode: mode, to: 3 }));

      it("truth: the burst beyond one pod's capacity waited for capacity, none was a cold start", () => {
        const queued = users(run).filter((r) => r.queueWaitMs !== undefined);
        expect(users(run).some((r) => r.coldStartMs !== undefined)).toBe(false);
        expect(queued.length).toBeGreaterThan(20);
        expect(queued.every((r) => r.sentAtMs >= 160_000)).toBe(true);
        const [first, ...added] = run().mesh.pods;
        const servedByNew = queued.filter((r) => added.some((p) => p.name === r.pod));
        expect(servedByNew.length).toBeGreaterThan(10);
        // Requests that entered the mesh before the new pod serving them was ready, served by it.
        const readyAt = new Map(run().mesh.pods.map((p) => [p.name, p.readyAtMs]));
        expect(queued.every((r) => r.beforeServingPodReady === r.sentAtMs < readyAt.get(r.pod!)!)).toBe(true);
        expect(servedByNew.filter((r) => r.beforeServingPodReady).length).toBeGreaterThan(10);
        expect(queued.some((r) => r.pod === first!.name)).toBe(true);
        // The 2-at-a-time limit of every pod held (the activator's throttler).
        expect(run().mesh.activator.queued).toBe(0);
      });

      it(`truth: in ${mode} mode the added pods are ${mode === "mesh" ? "never" : "each"} probed`, () => {
        const added = run()
          .mesh.pods.slice(1)
          .map((p) => p.name);
        const probed = new Set(probesAtPods(run).map((p) => p.pod));
        expect(added.every((name) => probed.has(name))).toBe(mode === "pod-ip");
        expect(added.some((name) => probed.has(name))).toBe(mode === "pod-ip");
      });

      it("filter vs truth: the waits for capacity at the new pods are no cold starts, but through the activator", () => {
        const truth = run().truth.summary();
        expect(truth).toMatchObject({ coldStarts: 0, invocations: 100, activatorProxied: 100 });
        expect(truth.queueWaits).toBeGreaterThan(20);
        // Held by the activator (entered before the new pod was ready), while the first pod was
        // ready: the gateway's era of the revision says so, over its two workers.
        expectTruthCount(run(), "coldStarts");
        expectTruthCount(run(), "activatorProxied");
        expect(run().measured().clientLatency.cold).toBe(0);
        // The 200 autoscaler scrapes of three pods are not on a serving port.
        expectTruthCount(run(), "invocations");
      });
    },
  );

  describe("proxy mode under steady load", () => {
    const run = playScenario(() => proxyModeSteady({ wasm: FILTER_WASM, layout }));

    it("truth: every request went through the activator to a pod ready for minutes; nobody waited", () => {
      expect(users(run)).toHaveLength(150);
      expect(users(run).every((r) => r.viaActivator && r.invocation && !r.beforeServingPodReady)).toBe(true);
      expect(users(run).some((r) => r.coldStartMs !== undefined || r.queueWaitMs !== undefined)).toBe(false);
    });

    it("filter vs truth: proxied, cold starts and invocations agree", () => {
      const truth = run().truth.summary();
      const filter = run().measured();
      expect(filter.activatorProxied).toBe(truth.activatorProxied);
      expect(filter.coldStarts).toBe(truth.coldStarts);
      expectTruthCount(run(), "invocations");
    });
  });
});
