// The multi-cluster configuration renderers: keep list, discovery swap, places, queue sizing,
// central endpoints, Alertmanager routing (with amtool), and the engines' own config checks.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { metricNamesIn } from "../dashboards/promql.js";
import { parseClustersFile } from "../deploy/clusters-file.js";
import {
  AgentConfigError,
  placesOf,
  prometheusAgentConfig,
  vmagentScrapeConfig,
  type AgentOptions,
} from "./agents.js";
import { alertmanagerConfig } from "./alertmanager.js";
import { remoteWriteEndpoint } from "./central.js";
import { sizeQueue } from "./queue.js";
import { paneExpressions, scrapeConfig, scrapeJobs } from "./scrape.js";

const CLUSTERS = `image: oci://registry.example.com/kwt:1.0.0
clusters:
  - { name: east, context: e, region: us-east1 }
  - { name: west, context: w, region: europe-west1 }
`;

const AGENT: AgentOptions = {
  place: { cluster: "east", region: "us-east1" },
  central: { kind: "victoria-metrics", baseUrl: "http://127.0.0.1:8428" },
  queue: { podsPerCluster: 10, seriesPerPod: 100, scrapeIntervalSeconds: 30 },
};

describe("the keep list", () => {
  const [proxies, istiod] = scrapeJobs();

  it("keeps every metric the dashboard, the alerts and the recording rules read, each at its endpoint", () => {
    const read = new Set(paneExpressions().flatMap(metricNamesIn));
    expect([...(proxies?.keep ?? []), ...(istiod?.keep ?? [])].sort()).toEqual([...read].sort());
    expect(istiod?.keep.every((name) => name.startsWith("pilot_"))).toBe(true);
    expect(proxies?.keep.some((name) => name.startsWith("pilot_"))).toBe(false);
  });

  it("keeps histogram buckets and the counts the rules read, not whole families", () => {
    expect(proxies?.keep).toContain("knative_cold_start_duration_milliseconds_bucket");
    expect(proxies?.keep).toContain("knative_cold_start_duration_milliseconds_count");
    expect(proxies?.keep).not.toContain("knative_cold_start_duration_milliseconds_sum");
  });
});

describe("the agents' scrape configuration", () => {
  it("differs between Kubernetes and static targets only in the discovery block", () => {
    for (const job of scrapeJobs()) {
      const shipped = scrapeConfig(job);
      const swapped = scrapeConfig(job, [{ address: "127.0.0.1:1", pod: "p", namespace: "n" }]);
      const { kubernetes_sd_configs: sd, relabel_configs: relabel, ...rest } = shipped;
      expect(sd).toEqual([{ role: "pod" }]);
      expect(relabel).toBeDefined();
      const { static_configs: targets, ...swappedRest } = swapped;
      expect(swappedRest).toEqual(rest);
      expect(targets).toEqual([{ targets: ["127.0.0.1:1"], labels: { pod: "p", namespace: "n" } }]);
    }
  });

  it("labels every series with the cluster and region of the clusters file", () => {
    const places = placesOf(parseClustersFile(CLUSTERS, "clusters.yaml"), "clusters.yaml");
    expect(places).toEqual([
      { cluster: "east", region: "us-east1" },
      { cluster: "west", region: "europe-west1" },
    ]);
    const config = prometheusAgentConfig({ ...AGENT, place: places[1] as (typeof places)[number] });
    expect((config.global as { external_labels: unknown }).external_labels).toEqual(places[1]);
  });

  it("names each cluster without a region", () => {
    const file = parseClustersFile(CLUSTERS.replace(", region: europe-west1", ""), "clusters.yaml");
    expect(() => placesOf(file, "clusters.yaml")).toThrow(AgentConfigError);
    expect(() => placesOf(file, "clusters.yaml")).toThrow(/clusters\[1\]\.region missing/);
  });
});

describe("queue sizing", () => {
  it("derives shards, capacity and costs from pods, series and interval", () => {
    const sizing = sizeQueue({ podsPerCluster: 2000, seriesPerPod: 150, scrapeIntervalSeconds: 15 });
    expect(sizing.samplesPerSecond).toBe(20_000);
    expect(sizing.minShards).toBe(3);
    expect(sizing.maxShards).toBe(12);
    expect(sizing.capacity).toBe(3 * sizing.maxSamplesPerSend);
    expect(sizing.requestsPerSecond).toBe(10);
    expect(sizing.batchSendDeadlineSeconds).toBe(5);
    expect(
      sizeQueue({ podsPerCluster: 1, seriesPerPod: 1, scrapeIntervalSeconds: 1 }).batchSendDeadlineSeconds,
    ).toBe(1);
  });

  it("refuses inputs that are not positive, naming them", () => {
    expect(() => sizeQueue({ podsPerCluster: 0, seriesPerPod: 1, scrapeIntervalSeconds: 1 })).toThrow(
      /podsPerCluster/,
    );
  });
});

describe("central stores", () => {
  it("put the tenant where each store expects it", () => {
    expect(remoteWriteEndpoint({ kind: "mimir", baseUrl: "http://m", tenant: "team-a" })).toEqual({
      url: "http://m/api/v1/push",
      headers: { "X-Scope-OrgID": "team-a" },
    });
    expect(remoteWriteEndpoint({ kind: "thanos-receive", baseUrl: "http://t/" })).toEqual({
      url: "http://t/api/v1/receive",
      headers: { "THANOS-TENANT": "default-tenant" },
    });
    expect(remoteWriteEndpoint({ kind: "vm-cluster", baseUrl: "http://v", tenant: "7" })).toEqual({
      url: "http://v/insert/7/prometheus/api/v1/write",
      headers: {},
    });
  });
});

const scratch = mkdtempSync(path.join(os.tmpdir(), "kwt-observe-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(binary: string, args: string[]): { status: number | null; output: string; stdout: string } {
  const result = spawnSync(binary, args, { encoding: "utf8", timeout: 30_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}`, stdout: result.stdout };
}

describe.skipIf(!existsSync("/usr/bin/amtool"))("Alertmanager routing, with amtool", () => {
  const file = path.join(scratch, "alertmanager.yml");
  writeFileSync(
    file,
    stringify(
      alertmanagerConfig({
        places: [
          { cluster: "east", region: "us-east1" },
          { cluster: "west", region: "europe-west1" },
        ],
        webhookUrl: "http://127.0.0.1:1/{cluster}/{severity}",
        groupWaitSeconds: 30,
        groupIntervalSeconds: 300,
        repeatIntervalSeconds: 3600,
      }),
    ),
  );
  it.each([
    [["cluster=east", "severity=critical"], "kwt-east-page"],
    [["cluster=east", "severity=warning"], "kwt-east-ticket"],
    [["cluster=west", "severity=critical"], "kwt-west-page"],
    [["severity=critical"], "kwt-unknown-cluster-ticket"],
  ])("routes %j to %s", (labels, receiver) => {
    const { status, stdout } = run("/usr/bin/amtool", [
      "config",
      "routes",
      "test",
      `--config.file=${file}`,
      ...labels,
    ]);
    // amtool prints the receiver, then a notice about the local file it read.
    expect(stdout.split("\n")[0]).toBe(receiver);
    expect(status).toBe(0);
  });
});

describe("the engines accept the rendered agent configurations", () => {
  const staticAgent: AgentOptions = {
    ...AGENT,
    staticTargets: { "kwt-proxies": [{ address: "127.0.0.1:1", pod: "p", namespace: "n" }] },
  };

  it.skipIf(!existsSync("/usr/bin/vmagent"))(
    "vmagent -dryRun on the shipped (Kubernetes) scrape configuration",
    () => {
      const file = path.join(scratch, "vmagent.yml");
      writeFileSync(file, stringify(vmagentScrapeConfig(AGENT), { aliasDuplicateObjects: false }));
      const { status, output } = run("/usr/bin/vmagent", ["-dryRun", `-promscrape.config=${file}`]);
      expect(output).toContain("all the configs are ok");
      expect(status).toBe(0);
    },
  );

  // Debian's Prometheus is built without Kubernetes discovery, so it checks the static variant.
  it.skipIf(!existsSync("/usr/bin/promtool"))("promtool check config --agent", () => {
    const file = path.join(scratch, "agent.yml");
    writeFileSync(file, stringify(prometheusAgentConfig(staticAgent), { aliasDuplicateObjects: false }));
    const { status, output } = run("/usr/bin/promtool", ["check", "config", "--agent", file]);
    expect(output).toContain("SUCCESS");
    expect(status).toBe(0);
  });
});
