// The mesh's edges: a workload calling the revision by its names and hosts outside the mesh, and
// an ingress gateway that requires client certificates from outside clients.

import { describe, expect, it } from "vitest";
import { FILTER_WASM } from "../filter-tracing/setup.js";
import { expectTruthCount } from "../support/known-wrong.js";
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

    it("filter vs truth: the pod report of a host outside the mesh is not believed", () => {
      const truth = run().truth.summary();
      const filter = run().measured();
      expect(filter.invocations).toBe(truth.invocations);
      expect(filter.clientLatency.warm).toBe(REVISION_NAMES.length);
      // The ServiceEntry host is outside the mesh (its route's cluster says so): the sidecar sends
      // it no entry stamp, owns no measurement there and never reads its x-kwt-pod header.
      expect(filter.clientLatency.cold).toBe(truth.coldStarts);
      expect(truth.coldStarts).toBe(0);
      expect(filter.stampsRejected).toBe(0);
    });
  });

  describe("an ingress gateway with mutual TLS toward outside clients", () => {
    const run = playScenario(() => ingressWithClientCertificates({ wasm: FILTER_WASM, layout }));

    it("truth: every request went straight to a ready pod, none through the activator", () => {
      const users = run().truth.of("user");
      expect(users).toHaveLength(HONEST_CLIENTS + FORGING_CLIENTS);
      expect(users.every((r) => r.invocation && !r.viaActivator && r.coldStartMs === undefined)).toBe(true);
    });

    it("filter vs truth: no outside client is trusted, whatever its certificate", () => {
      const truth = run().truth.summary();
      const filter = run().measured();
      expect(filter.invocations).toBe(truth.invocations);
      // K-Proxy-Request and the hour-old x-kwt-entry are stripped at the public listener.
      expectTruthCount(run(), "coldStarts");
      expect(filter.coldStartMeanMs).toBe(0);
      // The gateway owns every measurement: one client-visible latency per request, all warm.
      expect(filter.clientLatency).toEqual({ cold: 0, warm: truth.invocations });
      expect(truth.invocations).toBe(HONEST_CLIENTS + FORGING_CLIENTS);
    });
  });
});
