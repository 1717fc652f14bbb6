// `kwt run` processes (dist/kwt.js) for the host tests that chain real proxies over HTTP: start one
// on free loopback ports, read the addresses it prints, stop it.

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import type { HostPort } from "../harness/index.js";
import { REVISION } from "../scenarios/mesh.js";
import { FILTER_METRIC_LABELS } from "../../tools/deploy/filter-contract.js";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const KWT = path.join(ROOT, "dist/kwt.js");
export const WASM = path.join(ROOT, "build/filter.wasm");

/** Any free loopback port, for the servers a test runs around the proxies. */
export const LOOPBACK: HostPort = { host: "127.0.0.1", port: 0 };

/** `kwt run` flags: two workers, as Istio runs, and every filter label in /stats/prometheus. */
export const TWO_WORKERS_ALL_LABELS = ["--workers", "2", "--extra-stat-tags", FILTER_METRIC_LABELS.join(",")];
/** TWO_WORKERS_ALL_LABELS's worker count: one VM and one root context per plugin each. */
export const WORKERS = 2;

/** One Envoy version per property layout (`--envoy`): node.* only, node.* and xds.*, xds.* only. */
export const ENVOY_BY_LAYOUT = [
  ["legacy", "1.28"],
  ["legacy-and-xds", "1.30"],
  ["xds", "1.33"],
] as const;

export interface RunningKwt {
  child: ChildProcessWithoutNullStreams;
  listen: string;
  /** The --listen-port listeners' URLs, by the pod port each stands for. */
  listenPorts: ReadonlyMap<number, string>;
  /** --outbound-listen's URL, when given. */
  outboundListen: string | undefined;
  admin: string;
  stdout: () => string;
  stderr: () => string;
}

/**
 * Starts `kwt run` and resolves with the addresses it prints; `started` collects the child for
 * cleanup. `listen` is a free port by default; give one to restart a proxy where it was.
 */
export function startKwt(
  args: string[],
  started: ChildProcessWithoutNullStreams[],
  listen = "127.0.0.1:0",
): Promise<RunningKwt> {
  const child = spawn(process.execPath, [KWT, "run", "--listen", listen, "--admin", "127.0.0.1:0", ...args], {
    cwd: ROOT,
  });
  started.push(child);
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`kwt run printed no addresses in 20 s; stderr:\n${stderr}`)),
      20_000,
    );
    // "close", not "exit": only then has everything the child wrote to stderr been read.
    child.on("close", (code) => reject(new Error(`kwt run exited with ${code}; stderr:\n${stderr}`)));
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const listen = /^listen (\S+)$/m.exec(stdout)?.[1];
      const admin = /^admin (\S+)$/m.exec(stdout)?.[1];
      if (listen && admin && /^upstream /m.test(stdout)) {
        clearTimeout(timer);
        const listenPorts = new Map(
          [...stdout.matchAll(/^listen-port (\d+) (\S+)$/gm)].map((line) => [Number(line[1]), line[2]!]),
        );
        const outboundListen = /^outbound-listen (\S+)$/m.exec(stdout)?.[1];
        resolve({
          child,
          listen,
          admin,
          listenPorts,
          outboundListen,
          stdout: () => stdout,
          stderr: () => stderr,
        });
      }
    });
  });
}

/**
 * SIGTERM, then SIGKILL after 10 s; resolves with the exit code once the child's output has all
 * been read ("close": at "exit" its last stderr lines may still be in the pipe).
 */
export function stopKwt(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  const ended = child.exitCode !== null || child.signalCode !== null;
  if (ended && child.stdout.closed && child.stderr.closed) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill("SIGTERM");
  });
}

/** The node metadata of the revision's pods: namespace, workload and the Knative revision labels. */
export function revisionPodFlags(): string[] {
  return [
    "--namespace",
    REVISION.namespace,
    "--workload",
    `${REVISION.revision}-deployment`,
    "--label",
    `serving.knative.dev/revision=${REVISION.revision}`,
    "--label",
    `serving.knative.dev/service=${REVISION.service}`,
    "--label",
    `serving.knative.dev/configuration=${REVISION.configuration}`,
  ];
}

/** A printed listener URL (http://host:port) as the address to connect to. */
export function hostPort(listen: string): HostPort {
  const url = new URL(listen);
  return { host: url.hostname, port: Number(url.port) };
}

/** The --listen-port listeners of a `kwt run` as addresses, by pod port (for scrapePod). */
export function listenPortAddresses(proxy: RunningKwt): Map<number, HostPort> {
  return new Map([...proxy.listenPorts].map(([port, listen]) => [port, hostPort(listen)]));
}

/** Reads the admin ports until two reads agree (a stream ends just after its reply is sent). */
export async function settledTexts(proxies: RunningKwt[]): Promise<string[]> {
  let previous = "";
  for (let attempt = 0; attempt < 40; attempt++) {
    const texts = await Promise.all(
      proxies.map(async (p) => (await fetch(`${p.admin}/stats/prometheus`)).text()),
    );
    if (JSON.stringify(texts) === previous) return texts;
    previous = JSON.stringify(texts);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("the proxies' stats kept changing");
}

/** A configuration update of a running `kwt run` (POST /kwt/reload): its answer, one line per listener. */
export async function reloadKwt(proxy: RunningKwt): Promise<{ status: number; body: string }> {
  const response = await fetch(`${proxy.admin}/kwt/reload`, { method: "POST" });
  return { status: response.status, body: await response.text() };
}
