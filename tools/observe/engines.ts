/**
 * The real engines Debian packages, run on 127.0.0.1 with temporary storage: Prometheus (agent mode
 * and remote-write receiver), VictoriaMetrics single-node, vmagent, vmalert and Alertmanager. Each
 * process gets a free port and its own temporary directory, removed again by stop().
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "./ports.js";

export const ENGINE_BINARIES = {
  prometheus: "/usr/bin/prometheus",
  victoriaMetrics: "/usr/bin/victoria-metrics",
  vmagent: "/usr/bin/vmagent",
  vmalert: "/usr/bin/vmalert",
  alertmanager: "/usr/bin/prometheus-alertmanager",
} as const;

export type CentralEngine = "prometheus" | "victoria-metrics";

/** The binaries one central store's pipeline needs. */
export function binariesFor(store: CentralEngine): string[] {
  return store === "prometheus"
    ? [ENGINE_BINARIES.prometheus, ENGINE_BINARIES.alertmanager]
    : [
        ENGINE_BINARIES.victoriaMetrics,
        ENGINE_BINARIES.vmagent,
        ENGINE_BINARIES.vmalert,
        ENGINE_BINARIES.alertmanager,
      ];
}

export function missingBinaries(store: CentralEngine): string[] {
  return binariesFor(store).filter((binary) => !existsSync(binary));
}

export const CENTRAL_ENGINES: readonly CentralEngine[] = ["prometheus", "victoria-metrics"];

/**
 * How a real-engine test runs for `store`: without its binaries it is skipped locally (its title
 * names them) and fails under CI, where they must be installed.
 */
export function realEngineTest(
  store: CentralEngine,
  title: string,
): { missing: string[]; skip: boolean; title: string } {
  const missing = missingBinaries(store);
  const skip = missing.length > 0 && !process.env.CI;
  return {
    missing,
    skip,
    title: skip ? `skipped: ${missing.join(", ")} not installed; ${INSTALL_HINT}` : title,
  };
}

/** Polls `probe` until it returns a value; throws naming `what` (and the last error) after the timeout. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  pollMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await delay(pollMs);
  }
  throw new Error(`${what} within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ""}`);
}

export const INSTALL_HINT =
  "install them with: sudo apt-get install prometheus victoria-metrics prometheus-alertmanager " +
  "(Debian/Ubuntu; victoria-metrics brings vmagent and vmalert)";

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;
const POLL_MS = 200;
const PORT_ATTEMPTS = 3;
const LOG_TAIL_CHARACTERS = 20_000;

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface EngineSpec {
  /** For messages: `prometheus agent east`, `vmalert`, ... */
  name: string;
  binary: string;
  /** Files to write into the engine's directory before it starts (name → text). */
  files?: Record<string, string>;
  /** The command line for a directory and a port. */
  args(directory: string, port: number): string[];
  /** The path that answers 200 once the engine is ready. */
  readyPath: string;
}

export class Engine {
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly directory: string,
    readonly port: number,
    private readonly log: () => string,
  ) {
    this.exit = new Promise((resolve) => child.once("exit", () => resolve()));
    void this.exit.then(() => (this.exited = true));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Starts the engine and resolves once its ready path answers; rejects with its log if it does not. */
  static async start(spec: EngineSpec): Promise<Engine> {
    const directory = mkdtempSync(path.join(os.tmpdir(), `kwt-${spec.name.replace(/[^a-z0-9]+/gi, "-")}-`));
    for (const [name, text] of Object.entries(spec.files ?? {}))
      writeFileSync(path.join(directory, name), text);
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
      const engine = Engine.spawn(spec, directory, await freePort());
      try {
        await engine.waitUntilReady(spec.readyPath);
        return engine;
      } catch (error) {
        lastError = error as Error;
        await engine.kill();
        // Another process took the port between freePort() and the bind: try a new one.
        if (!/address already in use/.test(lastError.message)) break;
      }
    }
    rmSync(directory, { recursive: true, force: true });
    throw lastError ?? new Error(`${spec.name} did not start`);
  }

  private static spawn(spec: EngineSpec, directory: string, port: number): Engine {
    const child = spawn(spec.binary, spec.args(directory, port), {
      stdio: ["ignore", "pipe", "pipe"],
      cwd: directory,
    });
    let log = "";
    const keep = (chunk: Buffer): void => {
      log = (log + chunk.toString("utf8")).slice(-LOG_TAIL_CHARACTERS);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    child.on("error", (error) => keep(Buffer.from(`${error.message}\n`)));
    return new Engine(spec.name, child, directory, port, () => log);
  }

  /** The tail of the engine's output, for failure messages. */
  output(): string {
    return this.log();
  }

  private async waitUntilReady(readyPath: string): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`${this.name} exited during start:\n${this.output()}`);
      try {
        const response = await fetch(`${this.url}${readyPath}`, { signal: AbortSignal.timeout(1_000) });
        if (response.ok) return;
      } catch {
        // Not listening yet.
      }
      await delay(POLL_MS);
    }
    throw new Error(`${this.name} was not ready within ${START_TIMEOUT_MS} ms:\n${this.output()}`);
  }

  private async kill(): Promise<void> {
    if (this.exited) return;
    this.child.kill("SIGTERM");
    const stopped = await Promise.race([
      this.exit.then(() => true),
      delay(STOP_TIMEOUT_MS).then(() => false),
    ]);
    if (!stopped) {
      this.child.kill("SIGKILL");
      await this.exit;
    }
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.directory, { recursive: true, force: true });
  }
}

/** One element of an instant query's vector result. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export class QueryError extends Error {}

/** An instant query against a Prometheus-compatible API root (Prometheus, VictoriaMetrics). */
export async function instantQuery(apiRoot: string, expr: string): Promise<Sample[]> {
  const response = await fetch(`${apiRoot}/api/v1/query?query=${encodeURIComponent(expr)}`, {
    signal: AbortSignal.timeout(10_000),
  });
  const body = (await response.json()) as {
    status: string;
    data?: { resultType: string; result: unknown };
    error?: string;
    errorType?: string;
  };
  if (body.status !== "success" || !body.data) {
    throw new QueryError(`${body.errorType ?? "error"}: ${body.error ?? `HTTP ${response.status}`}: ${expr}`);
  }
  if (body.data.resultType === "scalar") return [{ metric: {}, value: body.data.result as [number, string] }];
  if (body.data.resultType !== "vector") {
    throw new QueryError(`expected an instant vector, got a ${body.data.resultType}: ${expr}`);
  }
  return body.data.result as Sample[];
}
