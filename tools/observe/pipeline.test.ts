// The multi-cluster metrics path on the real engines, once per central store: two clusters' agents
// (the shipped scrape configuration, discovery swapped for static targets) remote-write to the
// central store, the test profile of the rules is evaluated there once, Alertmanager delivers to a
// loopback webhook. Every dashboard and rule expression must return series from both clusters with
// their cluster and region; a burst of slow cold starts in east must reach east's receiver; nothing
// may fire for west. Without the binaries it skips locally and fails under CI.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alertSpecs, TEST_PROFILE } from "../dashboards/alerts.js";
import { alertSignalExpressions, dashboardExpressions } from "../testing/prometheus/shipped-expressions.js";
import {
  addSlowColdStarts,
  startFixtureTargets,
  type FixtureTargets,
} from "../testing/prometheus/metrics-fixture.js";
import type { Place } from "./agents.js";
import { CENTRAL_ENGINES, INSTALL_HINT, realEngineTest, waitFor } from "./engines.js";
import { ObservePipeline, type ObservedCluster } from "./pipeline.js";
import { recordingRules } from "./recording.js";

const EAST: Place = { cluster: "east", region: "us-east1" };
const WEST: Place = { cluster: "west", region: "europe-west1" };
/** Scrapes and evaluations every second; a 10 s window holds enough remote-written samples. */
const INTERVAL_SECONDS = 1;
const DASHBOARD_WINDOW = "10s";
const DATA_TIMEOUT_MS = 30_000;
const DELIVERY_TIMEOUT_MS = 45_000;
/** One tick of quiet traffic a second: 10 cold starts per 10 s stay below the spike alert's 20. */
const TRAFFIC_TICK_MS = 1_000;
const SLOW_COLD_STARTS = 30;
const SLOW_COLD_START_MS = 20_000n;

function clusterOf(fixtures: FixtureTargets, place: Place): ObservedCluster {
  const static_ = (job: string) =>
    fixtures.targets
      .filter((target) => target.job === job)
      .map((target) => ({
        address: target.address,
        pod: target.labels?.pod ?? "",
        namespace: target.labels?.namespace ?? "",
      }));
  return {
    place,
    // The merged endpoint serves the sidecar's and istio-agent's metrics: both under the proxies job.
    targets: {
      "kwt-proxies": [...static_("sidecar"), ...static_("istio-agent")],
      "kwt-istiod": static_("istiod"),
    },
    pods: 2,
  };
}

describe.each(CENTRAL_ENGINES)("the %s central store", (store) => {
  const { missing, skip, title } = realEngineTest(store, "with agents, rules and Alertmanager");

  describe.skipIf(skip)(title, () => {
    let east: FixtureTargets;
    let west: FixtureTargets;
    let pipeline: ObservePipeline;

    beforeAll(async () => {
      if (missing.length > 0) throw new Error(`${missing.join(", ")} not installed; ${INSTALL_HINT}`);
      east = await startFixtureTargets({ steadyTrafficMs: TRAFFIC_TICK_MS });
      west = await startFixtureTargets({ steadyTrafficMs: TRAFFIC_TICK_MS });
      pipeline = await ObservePipeline.start({
        store,
        clusters: [clusterOf(east, EAST), clusterOf(west, WEST)],
        profile: TEST_PROFILE,
        intervalSeconds: INTERVAL_SECONDS,
      });
      // Both clusters' data, over more than a rate window, and the recording rules evaluated.
      await waitFor("both clusters' series over 10 s in the central store", DATA_TIMEOUT_MS, async () => {
        const spans = await pipeline.query(
          "count by (cluster) (count_over_time(knative_invocations_total[15s]) >= 8)",
        );
        return spans.length === 2 ? spans : undefined;
      });
      const [recording] = recordingRules(TEST_PROFILE);
      await waitFor("the recording rules' results from both clusters", DATA_TIMEOUT_MS, async () => {
        const recorded = await pipeline.query(`count by (cluster) (${recording?.record})`);
        return recorded.length === 2 ? recorded : undefined;
      });
    }, DATA_TIMEOUT_MS + 40_000);

    afterAll(async () => {
      await pipeline?.stop();
      await east?.close();
      await west?.close();
    });

    it("answers every dashboard, alert and recording rule expression with both clusters' series", async () => {
      const expressions = [
        ...dashboardExpressions(DASHBOARD_WINDOW),
        ...alertSignalExpressions(alertSpecs(TEST_PROFILE)),
        ...recordingRules(TEST_PROFILE).map((rule) => ({
          origin: `recorded ${rule.record}`,
          expr: rule.record,
        })),
      ];
      expect(expressions.length).toBeGreaterThan(50);
      const problems: string[] = [];
      for (const { origin, expr } of expressions) {
        const samples = await pipeline.query(expr);
        const clusters = [...new Set(samples.map((sample) => sample.metric.cluster ?? ""))].sort();
        const regions = new Map(samples.map((sample) => [sample.metric.cluster, sample.metric.region]));
        if (clusters.join() !== "east,west") problems.push(`${origin}: clusters [${clusters}] in ${expr}`);
        else if (regions.get("east") !== EAST.region || regions.get("west") !== WEST.region) {
          problems.push(`${origin}: regions ${JSON.stringify([...regions])}`);
        }
      }
      expect(problems).toEqual([]);
    });

    it(
      "delivers a cold-start alert for the cluster with slow cold starts, and none for the quiet one",
      async () => {
        expect(pipeline.delivered()).toEqual([]);
        addSlowColdStarts(east.stats, SLOW_COLD_STARTS, SLOW_COLD_START_MS);
        const slow = await waitFor("KwtColdStartSlow delivered", DELIVERY_TIMEOUT_MS, async () =>
          pipeline.delivered().find((alert) => alert.labels.alertname === "KwtColdStartSlow"),
        );
        expect(slow).toMatchObject({
          path: "/east/ticket",
          status: "firing",
          labels: {
            cluster: "east",
            region: "us-east1",
            severity: "warning",
            revision_name: "checkout-00001",
          },
        });
        expect(slow.annotations.summary).toBe(
          "Slow cold starts on shop/checkout-00001 (service checkout, cluster east)",
        );
        expect(slow.annotations.runbook_url).toMatch(/^https:\/\/.+#kwtcoldstartslow$/);
        const elsewhere = pipeline.delivered().filter((alert) => alert.labels.cluster !== "east");
        expect(elsewhere).toEqual([]);
        expect(await pipeline.query('ALERTS{cluster="west"}')).toEqual([]);
      },
      DELIVERY_TIMEOUT_MS + 5_000,
    );
  });
});
