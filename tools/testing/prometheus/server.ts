/**
 * A real Prometheus (Debian's /usr/bin/prometheus) on 127.0.0.1 for tests: scrapes given targets,
 * optionally loads rule files, answers PromQL through its HTTP API. Bounded in time; stop() ends
 * the process and removes its temporary storage.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { stringify } from "yaml";
import { freePort } from "../free-port.js";

export const PROMETHEUS_BINARY = "/usr/bin/prometheus";

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

/** One element of an instant query's vector result. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export class PrometheusQueryError extends Error {}

const START_TIMEOUT_MS = 20_000;
const POLL_MS = 200;
const STOP_TIMEOUT_MS = 5_000;
const PORT_ATTEMPTS = 3;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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

export class PrometheusServer {
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(
    private readonly process: ChildProcess,
    private readonly directory: string,
    readonly url: string,
    private readonly output: () => string,
  ) {
    this.exit = new Promise((resolve) => process.once("exit", () => resolve()));
    void this.exit.then(() => (this.exited = true));
  }

  /** Starts Prometheus and resolves once it is ready; rejects with its log if it is not. */
  static async start(options: PrometheusOptions): Promise<PrometheusServer> {
    const directory = mkdtempSync(path.join(os.tmpdir(), "kwt-prometheus-"));
    const configFile = path.join(directory, "prometheus.yml");
    writeFileSync(configFile, prometheusConfig(options));
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      const port = await freePort();
      const server = PrometheusServer.spawn(directory, configFile, port);
      try {
        await server.waitUntilReady(START_TIMEOUT_MS);
        return server;
      } catch (error) {
        lastError = error as Error;
        await server.kill();
        // Another process took the port between freePort() and the bind: try a new one.
        if (!/address already in use/.test(lastError.message)) break;
      }
    }
    rmSync(directory, { recursive: true, force: true });
    throw lastError ?? new Error("prometheus did not start");
  }

  private static spawn(directory: string, configFile: string, port: number) {
    const child = spawn(
      PROMETHEUS_BINARY,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${path.join(directory, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let log = "";
    const keep = (chunk: Buffer): void => {
      // Only the tail matters for a failure message; keep memory bounded.
      log = (log + chunk.toString("utf8")).slice(-20_000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    return new PrometheusServer(child, directory, `http://127.0.0.1:${port}`, () => log);
  }

  private async waitUntilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`prometheus exited during start:\n${this.output()}`);
      try {
        const response = await fetch(`${this.url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
        if (response.ok) return;
      } catch {
        // Not listening yet.
      }
      await delay(POLL_MS);
    }
    throw new Error(`prometheus was not ready within ${timeoutMs} ms:\n${this.output()}`);
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
      throw new PrometheusQueryError(
        `${body.errorType ?? "error"}: ${body.error ?? `HTTP ${response.status}`}`,
      );
    }
    return body.data;
  }

  /** An instant query now; throws PrometheusQueryError with Prometheus' message when it does not parse. */
  async query(expr: string): Promise<Sample[]> {
    const data = (await this.api(`/api/v1/query?query=${encodeURIComponent(expr)}`)) as {
      resultType: string;
      result: unknown;
    };
    if (data.resultType === "scalar") {
      return [{ metric: {}, value: data.result as [number, string] }];
    }
    if (data.resultType !== "vector") {
      throw new PrometheusQueryError(`expected an instant vector, got a ${data.resultType}: ${expr}`);
    }
    return data.result as Sample[];
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

  private async kill(): Promise<void> {
    if (!this.exited) {
      this.process.kill("SIGTERM");
      const stopped = await Promise.race([
        this.exit.then(() => true),
        delay(STOP_TIMEOUT_MS).then(() => false),
      ]);
      if (!stopped) {
        this.process.kill("SIGKILL");
        await this.exit;
      }
    }
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.directory, { recursive: true, force: true });
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
