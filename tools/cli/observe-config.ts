import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { DEFAULT_RUNBOOK_BASE } from "../dashboards/alerts.js";
import { ClustersFileError, readClustersFile } from "../deploy/clusters-file.js";
import { AgentConfigError } from "../observe/agents.js";
import { DEFAULT_WEBHOOK_URL } from "../observe/alertmanager.js";
import { DEFAULT_BUNDLE_OPTIONS, observeBundle } from "../observe/bundle.js";
import { CENTRAL_STORES, isCentralKind } from "../observe/central.js";
import { integerFlag, parseArgs, stringFlag, UsageError } from "./args.js";
import { EXIT_FAILURE, EXIT_OK, type Command } from "./command.js";

const DEFAULTS = DEFAULT_BUNDLE_OPTIONS.queue;

const USAGE = `Usage: kwt observe-config --clusters FILE --out DIR [options]

Writes the multi-cluster metrics path for the clusters in FILE (the file kwt deploy reads) into DIR:
  agents/<cluster>/prometheus-agent.yml   Prometheus in agent mode (--enable-feature=agent)
  agents/<cluster>/vmagent-scrape.yml     vmagent's -promscrape.config (the same scrape jobs)
  agents/<cluster>/vmagent.flags          vmagent's flags: remote write, cluster/region labels, queues
  central/kwt-rules.yaml                  alert and recording rules, evaluated once centrally
  central/prometheus.yml, .flags          central Prometheus with its remote-write receiver
  central/victoria-metrics.flags          VictoriaMetrics single-node
  central/vmalert.flags                   vmalert evaluating the rules against VictoriaMetrics
  alertmanager/alertmanager.yml           routes by cluster, then severity (critical pages)
Each agent labels its series cluster=<name> and region=<region> from the file (every cluster needs
its region), and keeps only the metrics the dashboard and the rules read.

Options:
  --central KIND          where agents write: ${Object.keys(CENTRAL_STORES).join(", ")}
                          (default ${DEFAULT_BUNDLE_OPTIONS.central.kind})
  --central-url URL       the store's base URL (default per kind, e.g. ${CENTRAL_STORES["victoria-metrics"].defaultBaseUrl})
  --tenant ID             tenant for vm-cluster (path), thanos-receive and mimir (header)
  --pods N                pods with a sidecar or gateway per cluster (default ${DEFAULTS.podsPerCluster})
  --series-per-pod N      series one pod keeps (default ${DEFAULTS.seriesPerPod}; kwt demo --observe --once measures it)
  --scrape-interval S     seconds between scrapes (default ${DEFAULTS.scrapeIntervalSeconds})
  --runbook-base URL      the rules' runbook_url base (default ${DEFAULT_RUNBOOK_BASE})
  --webhook-url URL       Alertmanager receivers' URL; {cluster} and {severity} (page|ticket) are
                          replaced (default ${DEFAULT_WEBHOOK_URL})`;

function requiredFlag(value: string | undefined, name: string): string {
  if (value === undefined || value === "") throw new UsageError(`--${name} is required`);
  return value;
}

export const observeConfigCommand: Command = {
  name: "observe-config",
  summary:
    "write per-cluster agent, central store, rule and Alertmanager configurations from a clusters file",
  usage: USAGE,
  flags: {
    clusters: "string",
    out: "string",
    central: "string",
    "central-url": "string",
    tenant: "string",
    pods: "string",
    "series-per-pod": "string",
    "scrape-interval": "string",
    "runbook-base": "string",
    "webhook-url": "string",
  },
  async run(argv) {
    const args = parseArgs(argv, this.flags);
    const clustersPath = requiredFlag(stringFlag(args, "clusters"), "clusters");
    const out = requiredFlag(stringFlag(args, "out"), "out");
    const kind = stringFlag(args, "central") ?? DEFAULT_BUNDLE_OPTIONS.central.kind;
    if (!isCentralKind(kind)) {
      throw new UsageError(`--central must be one of ${Object.keys(CENTRAL_STORES).join(", ")}, got ${kind}`);
    }
    const tenant = stringFlag(args, "tenant");
    const options = {
      central: {
        kind,
        baseUrl: stringFlag(args, "central-url") ?? CENTRAL_STORES[kind].defaultBaseUrl,
        ...(tenant !== undefined && { tenant }),
      },
      queue: {
        podsPerCluster: integerFlag(args, "pods", 1, 1_000_000) ?? DEFAULTS.podsPerCluster,
        seriesPerPod: integerFlag(args, "series-per-pod", 1, 1_000_000) ?? DEFAULTS.seriesPerPod,
        scrapeIntervalSeconds:
          integerFlag(args, "scrape-interval", 1, 3600) ?? DEFAULTS.scrapeIntervalSeconds,
      },
      runbookBase: stringFlag(args, "runbook-base") ?? DEFAULT_RUNBOOK_BASE,
      webhookUrl: stringFlag(args, "webhook-url") ?? DEFAULT_WEBHOOK_URL,
    };
    let files;
    try {
      files = observeBundle(readClustersFile(clustersPath), clustersPath, options);
    } catch (error) {
      if (error instanceof ClustersFileError || error instanceof AgentConfigError) {
        console.error(`kwt observe-config: ${error.message}`);
        return EXIT_FAILURE;
      }
      throw error;
    }
    for (const file of files) {
      const target = path.join(out, file.path);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, file.text);
      console.log(`wrote ${target}`);
    }
    return EXIT_OK;
  },
};
