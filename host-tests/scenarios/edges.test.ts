// The mesh's edges: a workload calling the revision by its names and hosts outside the mesh, and
// an ingress gateway that requires client certificates from outside clients.

import { describe, expect, it } from "vitest";
import { FILTER_WASM } from "../filter-tracing/setup.js";
import { expectKnownWrong, expectTruthCount } from "../support/known-wrong.js";
import { playScenario } from "../support/scenario-run.js";
import { PROPERTY_LAYOUTS } from "./proxy-adapter.js";
import {
  EXTERNAL_HOSTS,
  FORGING_CLIENTS,
  HONEST_CLIENTS,
  ingressWithClientCertificates,
  outboundCalls,
  REVISION_NAMES,
} from "./scenarios.js";

describe.each(PROPERTY_LAYOUTS)("Envoy %s layout", (layout) => {
  describe("a workload calls the revision by three names and two hosts outside the mesh", () => {
    const run = playScenario(() => outboundCalls({ wasm: FILTER_WASM, layout }));

    it("truth: the three names reached the revision's pod, the outside hosts no pod", () => {
      const revisionCalls = run().truth.of("user");
      expect(revisionCalls).toHaveLength(REVISION_NAMES.length);
      expect(revisionCalls.every((r) => r.invocation && r.pod === run().mesh.pods[0]!.name)).toBe(true);
      const outside = run().truth.of("outbound-call");
      expect(outside).toHaveLength(EXTERNAL_HOSTS.length);
      expect(outside.every((r) => !r.invocation && r.pod === undefined && r.ending?.code === 200)).toBe(true);
    });

    it("filter vs truth: a pod report from outside the mesh is taken for a revision's latency", () => {
      const truth = run().truth.summary();
      const filter = run().measured();
      expect(filter.invocations).toBe(truth.invocations);
      // Its `cs=1` makes no cold start: only the edge decides, from `a` and `rd`, which it lacks.
      expect(filter.clientLatency.cold).toBe(truth.coldStarts);
      expectTruthCount(run(), "coldStarts");
      // The ServiceEntry host's x-kwt-pod header is read although the upstream has no mesh identity.
      expectKnownWrong(
        "client-visible latencies",
        { truth: truth.invocations, filter: filter.clientLatency.warm },
        { truth: REVISION_NAMES.length, filter: REVISION_NAMES.length + 1 },
      );
    });
  });

  describe("an ingress gateway with mutual TLS toward outside clients", () => {
    const run = playScenario(() => ingressWithClientCertificates({ wasm: FILTER_WASM, layout }));

    it("truth: every request went straight to a ready pod, none through the activator", () => {
      const users = run().truth.of("user");
      expect(users).toHaveLength(HONEST_CLIENTS + FORGING_CLIENTS);
      expect(users.every((r) => r.invocation && !r.viaActivator && r.coldStartMs === undefined)).toBe(true);
    });

    it("filter vs truth: headers from certificate-bearing outside clients are trusted like a mesh peer's", () => {
      const truth = run().truth.summary();
      const filter = run().measured();
      expect(filter.invocations).toBe(truth.invocations);
      // K-Proxy-Request and an hour-old x-kwt-entry pass the gateway, but the pod decides no cold
      // start and the gateway, not owning the measurement, decides none either.
      expectTruthCount(run(), "coldStarts");
      expectTruthCount(run(), "activatorProxied");
      // With a forged entry stamp kept, the gateway leaves the latency to a proxy that does not exist.
      expectKnownWrong(
        "client-visible latencies",
        { truth: truth.invocations, filter: filter.clientLatency.warm + filter.clientLatency.cold },
        { truth: 5, filter: 3 },
      );
    });
  });
});
