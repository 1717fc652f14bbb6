/**
 * The whole multi-cluster metrics path on loopback: one agent per cluster (the shipped scrape
 * configuration, only discovery swapped for static targets), the central store, rule evaluation
 * once for all clusters, Alertmanager delivering to a webhook receiver. Used by `kwt demo --observe`
 * and by the real-engine test, with either central store:
 *
 * - "prometheus": Prometheus agents → Prometheus with its remote-write receiver, evaluating the rules;
 * - "victoria-metrics": vmagents → VictoriaMetrics single-node, vmalert evaluating the rules.
 */
import { stringify } from "yaml";
import { DEFAULT_RUNBOOK_BASE, type RuleProfile } from "../dashboards/alerts.js";
import {
  prometheusAgentConfig,
  vmagentFlags,
  vmagentScrapeConfig,
  type AgentOptions,
  type Place,
} from "./agents.js";
import { alertmanagerConfig } from "./alertmanager.js";
import { renderCentralRules } from "./bundle.js";
import {
  CENTRAL_PROMETHEUS_FLAGS,
  centralPrometheusConfig,
  victoriaMetricsFlags,
  vmalertFlags,
} from "./central.js";
import { ENGINE_BINARIES, Engine, instantQuery, type CentralEngine, type Sample } from "./engines.js";
import type { ScrapeJobName, StaticTarget } from "./scrape.js";
import { WebhookReceiver, type DeliveredAlert } from "./webhook.js";

export interface ObservedCluster {
  place: Place;
  targets: Partial<Record<ScrapeJobName, StaticTarget[]>>;
  /** For the queue sizing comment only: how many pods the cluster has. */
  pods: number;
}

export interface PipelineOptions {
  store: CentralEngine;
  clusters: ObservedCluster[];
  profile: RuleProfile;
  /** Scrape and rule evaluation interval (both), seconds. */
  intervalSeconds: number;
}

const RULES_FILE = "kwt-rules.yaml";
const CONFIG_FILE = "config.yml";
/** Alertmanager timings for loopback runs: deliver a new group after a second. */
const FAST_TIMING = { groupWaitSeconds: 1, groupIntervalSeconds: 1, repeatIntervalSeconds: 3600 };

export class ObservePipeline {
  private constructor(
    readonly store: CentralEngine,
    /** The Prometheus API root the dashboard and queries use. */
    readonly queryUrl: string,
    private readonly engines: Engine[],
    readonly webhook: WebhookReceiver,
  ) {}

  static async start(options: PipelineOptions): Promise<ObservePipeline> {
    const webhook = await WebhookReceiver.start();
    const engines: Engine[] = [];
    try {
      const alertmanager = await Engine.start({
        name: "alertmanager",
        binary: ENGINE_BINARIES.alertmanager,
        files: {
          [CONFIG_FILE]: stringify(
            alertmanagerConfig({
              places: options.clusters.map((cluster) => cluster.place),
              webhookUrl: webhook.urlTemplate,
              ...FAST_TIMING,
            }),
          ),
        },
        args: (directory, port) => [
          `--config.file=${directory}/${CONFIG_FILE}`,
          `--storage.path=${directory}/data`,
          `--web.listen-address=127.0.0.1:${port}`,
          // A single instance: no gossip port for high availability.
          "--cluster.listen-address=",
          "--log.level=warn",
        ],
        readyPath: "/-/ready",
      });
      engines.push(alertmanager);
      const rules = renderCentralRules(options.profile, DEFAULT_RUNBOOK_BASE);
      const interval = `${options.intervalSeconds}s`;
      const evaluator = {
        rulesFile: RULES_FILE,
        alertmanager: alertmanager.address,
        evaluationInterval: interval,
      };
      const central =
        options.store === "prometheus"
          ? await Engine.start({
              name: "central prometheus",
              binary: ENGINE_BINARIES.prometheus,
              files: { [RULES_FILE]: rules, [CONFIG_FILE]: stringify(centralPrometheusConfig(evaluator)) },
              args: (directory, port) => [
                `--config.file=${directory}/${CONFIG_FILE}`,
                `--storage.tsdb.path=${directory}/data`,
                `--web.listen-address=127.0.0.1:${port}`,
                ...CENTRAL_PROMETHEUS_FLAGS,
                "--log.level=warn",
              ],
              readyPath: "/-/ready",
            })
          : await Engine.start({
              name: "victoria-metrics",
              binary: ENGINE_BINARIES.victoriaMetrics,
              args: (directory, port) => [
                ...victoriaMetricsFlags({
                  dataPath: `${directory}/data`,
                  listen: `127.0.0.1:${port}`,
                  retention: "1d",
                }),
                // Queries see samples at once (default: only those older than 30 s).
                "-search.latencyOffset=0s",
                "-loggerLevel=ERROR",
              ],
              readyPath: "/health",
            });
      engines.push(central);
      if (options.store === "victoria-metrics") {
        engines.push(
          await Engine.start({
            name: "vmalert",
            binary: ENGINE_BINARIES.vmalert,
            files: { [RULES_FILE]: rules },
            args: (directory, port) => [
              ...vmalertFlags({
                ...evaluator,
                rulesFile: `${directory}/${RULES_FILE}`,
                victoriaMetricsUrl: central.url,
                listen: `127.0.0.1:${port}`,
              }),
              // Recording rule results reach the store within a second (default 5 s).
              `-remoteWrite.flushInterval=${interval}`,
              "-loggerLevel=ERROR",
            ],
            readyPath: "/health",
          }),
        );
      }
      for (const cluster of options.clusters) {
        engines.push(await startAgent(options, cluster, central));
      }
      return new ObservePipeline(options.store, central.url, engines, webhook);
    } catch (error) {
      await Promise.all(engines.map((engine) => engine.stop()));
      await webhook.close();
      throw error;
    }
  }

  /** Name and URL of every engine started, for the demo's listing. */
  urls(): Array<{ name: string; url: string }> {
    return this.engines.map((engine) => ({ name: engine.name, url: engine.url }));
  }

  /** The engine named `name` (for its own metrics: the agents' bytes sent). */
  engine(name: string): Engine | undefined {
    return this.engines.find((engine) => engine.name === name);
  }

  query(expr: string): Promise<Sample[]> {
    return instantQuery(this.queryUrl, expr);
  }

  delivered(): DeliveredAlert[] {
    return this.webhook.delivered;
  }

  async stop(): Promise<void> {
    // Agents first, so they do not retry against a store that is gone.
    await Promise.all([...this.engines].reverse().map((engine) => engine.stop()));
    await this.webhook.close();
  }
}

export function agentName(place: Place): string {
  return `agent ${place.cluster}`;
}

function startAgent(options: PipelineOptions, cluster: ObservedCluster, central: Engine): Promise<Engine> {
  const agent: AgentOptions = {
    place: cluster.place,
    central: { kind: options.store, baseUrl: central.url },
    queue: {
      podsPerCluster: cluster.pods,
      seriesPerPod: 200,
      scrapeIntervalSeconds: options.intervalSeconds,
    },
    scrapeTimeoutSeconds: options.intervalSeconds,
    staticTargets: cluster.targets,
  };
  if (options.store === "prometheus") {
    return Engine.start({
      name: agentName(cluster.place),
      binary: ENGINE_BINARIES.prometheus,
      files: { [CONFIG_FILE]: stringify(prometheusAgentConfig(agent), { aliasDuplicateObjects: false }) },
      args: (directory, port) => [
        "--enable-feature=agent",
        `--config.file=${directory}/${CONFIG_FILE}`,
        `--storage.agent.path=${directory}/data`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      readyPath: "/-/ready",
    });
  }
  return Engine.start({
    name: agentName(cluster.place),
    binary: ENGINE_BINARIES.vmagent,
    files: { [CONFIG_FILE]: stringify(vmagentScrapeConfig(agent), { aliasDuplicateObjects: false }) },
    args: (directory, port) => [
      ...vmagentFlags({
        ...agent,
        scrapeConfigFile: `${directory}/${CONFIG_FILE}`,
        bufferPath: `${directory}/buffer`,
      }),
      `-httpListenAddr=127.0.0.1:${port}`,
      "-loggerLevel=ERROR",
    ],
    readyPath: "/health",
  });
}
