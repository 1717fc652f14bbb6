// The traffic at a pod that is not invocations (autoscaler and Prometheus scrapes, kubelet,
// activator and ingress probes), and a new pod that Prometheus sees only after its first requests.

import { describe, expect, it } from "vitest";
import { FILTER_WASM } from "../filter-tracing/setup.js";
import { expectTruthCount } from "../support/known-wrong.js";
import { playScenario } from "../support/scenario-run.js";
import { measureFilter, valuesOverScrapes } from "./measure.js";
import type { RequestKind } from "./truth.js";
import { PROPERTY_LAYOUTS } from "./proxy-adapter.js";
import { newPodDiscovery, scrapesAndProbes } from "./scenarios.js";

function spacing(times: number[]): number[] {
  return times.slice(1).map((t, i) => t - times[i]!);
}

describe.each(PROPERTY_LAYOUTS)("Envoy %s layout", (layout) => {
  describe("scrapes and probes next to five user requests, two pods", () => {
    const run = playScenario(() => scrapesAndProbes({ wasm: FILTER_WASM, layout }));

    it("truth: each pod is scraped on :9090 every second and :9091 every 5 s, probed by kubelet every second", () => {
      for (const pod of run().mesh.pods) {
        const at = (kind: RequestKind) =>
          run()
            .truth.of(kind)
            .filter((r) => r.pod === pod.name)
            .map((r) => r.sentAtMs);
        const autoscaler = at("autoscaler-scrape");
        expect(autoscaler[0]).toBe(pod.readyAtMs + run().mesh.endpointLagMs);
        expect(new Set(spacing(autoscaler))).toEqual(new Set([1_000]));
        const prometheus = at("prometheus-scrape");
        expect(prometheus[0]).toBe(pod.createdAtMs + 2_000);
        expect(new Set(spacing(prometheus))).toEqual(new Set([5_000]));
        expect(new Set(spacing(at("kubelet-probe")))).toEqual(new Set([1_000]));
        expect(at("activator-probe").length).toBeGreaterThan(0);
      }
      expect(
        run()
          .truth.of("ingress-probe")
          .every((r) => r.pod !== undefined && !r.invocation),
      ).toBe(true);
      const ports = new Set(
        run()
          .truth.requests.filter((r) => r.kind.endsWith("-scrape"))
          .map((r) => r.port),
      );
      expect(ports).toEqual(new Set([9090, 9091]));
      expect(
        run()
          .truth.requests.filter((r) => r.invocation)
          .map((r) => r.kind),
      ).toEqual(Array(5).fill("user"));
    });

    it("filter vs truth: probes and scrapes are left out of the invocations", () => {
      const truth = run().truth.summary();
      const filter = run().measured();
      expect(truth.probes).toBe(
        run().truth.requests.filter((r) => r.kind.endsWith("-probe") && r.pod).length,
      );
      expect(truth.scrapes).toBe(70);
      // 5 user requests; the 58 autoscaler scrapes of :9090 and 12 Prometheus scrapes of :9091 are
      // not on a serving port.
      expectTruthCount(run(), "invocations");
      expect(filter.clientLatency).toEqual({ cold: 0, warm: 5 });
    });
  });

  describe("a new pod seen by Prometheus only after it served its first requests", () => {
    const run = playScenario(() => newPodDiscovery({ wasm: FILTER_WASM, layout, burst: 5 }));

    it("truth: the cold starts all happened before Prometheus first scraped the pod", () => {
      const cold = run()
        .truth.of("user")
        .filter((r) => r.coldStartMs !== undefined);
      expect(cold).toHaveLength(5);
      const firstScrape = run().mesh.scrapes[0]!;
      expect(firstScrape.atMs).toBe(run().mesh.pods[0]!.createdAtMs + 5_000);
      expect(Math.max(...cold.map((r) => r.sentAtMs + r.coldStartMs!))).toBeLessThan(firstScrape.atMs);
      expect(spacing(run().mesh.scrapes.map((s) => s.atMs))).toEqual([15_000, 15_000, 15_000]);
    });

    it("the new pod's scrapes carry no cold-start series: the long-lived gateway counts them", () => {
      const values = valuesOverScrapes(run().mesh.scrapes, "knative_cold_starts_total");
      expect(values.map((v) => v.value)).toEqual([0, 0, 0, 0]);
      const atGateway = measureFilter([run().mesh.gateway.plugin.stats.prometheusText()]);
      expect({ truth: run().truth.summary().coldStarts, gateway: atGateway.coldStarts }).toEqual({
        truth: 5,
        gateway: 5,
      });
      expect(run().measured().coldStarts).toBe(5);
    });
  });
});
