/**
 * A real Prometheus (Debian's /usr/bin/prometheus) on 127.0.0.1 for tests: scrapes given targets,
 * optionally loads rule files, answers PromQL through its HTTP API. Bounded in time; stop() ends
 * the process and removes its temporary storage.
 */
import path from "node:path";
import { stringify } from "yaml";
import {
  delay,
  Engine,
  ENGINE_BINARIES,
  instantQuery,
  QueryError,
  type Sample,
} from "../../observe/engines.js";

export const PROMETHEUS_BINARY = ENGINE_BINARIES.prometheus;
export type { Sample };

export interface ScrapeTarget {
  job: string;
  /** host:port on loopback. */
  address: string;
  /** Default /metrics; Envoy and the harness serve /stats/prometheus. */
  metricsPath?: string;
  /** Target labels, as Kubernetes service discovery would add (instance is always set). */
  labels?: Record<string, string>;
}

export interface PrometheusOptions {
  targets: ScrapeTarget[];
  /** Rule files to load (absolute paths); Prometheus refuses to start if one does not parse. */
  ruleFiles?: string[];
}

export function prometheusConfig(options: PrometheusOptions): string {
  // Every second, so that tests see a few scrapes and rule evaluations within seconds.
  const interval = "1s";
  return stringify({
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: options.ruleFiles ?? [],
    scrape_configs: options.targets.map((target) => ({
      job_name: target.job,
      metrics_path: target.metricsPath ?? "/metrics",
      static_configs: [{ targets: [target.address], labels: target.labels ?? {} }],
    })),
  });
}

const POLL_MS = 200;
const CONFIG_FILE = "prometheus.yml";

export class PrometheusServer {
  private constructor(private readonly engine: Engine) {}

  get url(): string {
    return this.engine.url;
  }

  /** Starts Prometheus and resolves once it is ready; rejects with its log if it is not. */
  static async start(options: PrometheusOptions): Promise<PrometheusServer> {
    const engine = await Engine.start({
      name: "prometheus",
      binary: PROMETHEUS_BINARY,
      files: { [CONFIG_FILE]: prometheusConfig(options) },
      args: (directory, port) => [
        `--config.file=${path.join(directory, CONFIG_FILE)}`,
        `--storage.tsdb.path=${path.join(directory, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      readyPath: "/-/ready",
    });
    return new PrometheusServer(engine);
  }

  private async api(pathAndQuery: string): Promise<unknown> {
    const response = await fetch(`${this.url}${pathAndQuery}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await response.json()) as {
      status: string;
      data?: unknown;
      error?: string;
      errorType?: string;
    };
    if (body.status !== "success") {
      throw new QueryError(`${body.errorType ?? "error"}: ${body.error ?? `HTTP ${response.status}`}`);
    }
    return body.data;
  }

  /** An instant query now; throws QueryError with Prometheus' message when it does not parse. */
  query(expr: string): Promise<Sample[]> {
    return instantQuery(this.url, expr);
  }

  /** Waits until every target was scraped successfully at least `scrapes` times. */
  async waitForScrapes(scrapes: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let pending = "";
    while (Date.now() < deadline) {
      const data = (await this.api("/api/v1/targets?state=active")) as {
        activeTargets: Array<{ scrapePool: string; scrapeUrl: string; health: string; lastError: string }>;
      };
      // Every scrape writes one `up` sample: count them, and require the last one to be a success.
      const done = await this.query(`(count_over_time(up[1h]) >= ${scrapes}) and (up == 1)`);
      if (data.activeTargets.length > 0 && done.length === data.activeTargets.length) return;
      pending = data.activeTargets
        .map(
          (target) =>
            `${target.scrapeUrl}: ${target.health}${target.lastError ? ` (${target.lastError})` : ""}`,
        )
        .join("; ");
      await delay(POLL_MS);
    }
    throw new Error(`targets not scraped ${scrapes} times within ${timeoutMs} ms: ${pending}`);
  }

  /** Loaded rule groups with each rule's health and last error (empty when healthy). */
  private async ruleHealth(): Promise<
    Array<{ group: string; name: string; health: string; lastError: string }>
  > {
    const data = (await this.api("/api/v1/rules")) as {
      groups: Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string }> }>;
    };
    return data.groups.flatMap((group) =>
      group.rules.map((rule) => ({
        group: group.name,
        name: rule.name,
        health: rule.health,
        lastError: rule.lastError ?? "",
      })),
    );
  }

  /** Rule health once every loaded rule has been evaluated at least once (or the timeout passed). */
  async evaluatedRuleHealth(
    timeoutMs: number,
  ): Promise<Array<{ group: string; name: string; health: string; lastError: string }>> {
    const deadline = Date.now() + timeoutMs;
    let health = await this.ruleHealth();
    while (health.some((rule) => rule.health === "unknown") && Date.now() < deadline) {
      await delay(POLL_MS);
      health = await this.ruleHealth();
    }
    return health;
  }

  stop(): Promise<void> {
    return this.engine.stop();
  }
}

export interface ExpressionProblem {
  origin: string;
  expr: string;
  problem: string;
}

/**
 * Evaluates each expression now; reports those that fail to parse or evaluate, those that return no
 * series, and those whose series lack a label they must carry. A wrong metric or label name gives an
 * empty result or a missing label, never an error, so this is how such a typo shows.
 */
export async function findExpressionProblems(
  server: PrometheusServer,
  expressions: ReadonlyArray<{ origin: string; expr: string; labels?: readonly string[] }>,
): Promise<ExpressionProblem[]> {
  const problems: ExpressionProblem[] = [];
  for (const { origin, expr, labels = [] } of expressions) {
    try {
      const samples = await server.query(expr);
      const missing = labels.filter(
        (label) => !samples.some((sample) => (sample.metric[label] ?? "") !== ""),
      );
      if (samples.length === 0) problems.push({ origin, expr, problem: "no series" });
      else if (missing.length > 0)
        problems.push({ origin, expr, problem: `no series has label(s) ${missing.join(", ")}` });
    } catch (error) {
      problems.push({ origin, expr, problem: (error as Error).message });
    }
  }
  return problems;
}
