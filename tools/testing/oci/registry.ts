/**
 * Real registries for tests: Debian's docker-registry (distribution 2.8) on 127.0.0.1, on a free
 * port, with storage in a temp dir, open, with htpasswd basic auth, or with token auth against
 * a loopback token service (./token-server.ts). Stopped and removed by `stop()`.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "../free-port.js";
import { repositoryScope, type Credentials } from "../../oci/auth.js";
import { packageModule } from "../../oci/layout.js";
import { pushImage } from "../../oci/push.js";
import { RegistryClient } from "../../oci/registry-client.js";

const run = promisify(execFile);

export interface RegistryAuth {
  htpasswd?: { username: string; password: string };
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
}

/** Serve HTTPS with this PEM certificate and key (the registry's own TLS). */
export interface RegistryTlsFiles {
  certificate: string;
  key: string;
}

export interface RunningRegistry {
  /** host:port, e.g. 127.0.0.1:40123. */
  host: string;
  storage: string;
  stop(): Promise<void>;
}

async function configText(
  dir: string,
  port: number,
  auth: RegistryAuth,
  tls: RegistryTlsFiles | undefined,
): Promise<string> {
  const lines = [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${JSON.stringify(path.join(dir, "storage"))}`,
    "http:",
    `  addr: 127.0.0.1:${port}`,
    ...(tls
      ? [
          "  tls:",
          `    certificate: ${JSON.stringify(tls.certificate)}`,
          `    key: ${JSON.stringify(tls.key)}`,
        ]
      : []),
  ];
  if (auth.htpasswd) {
    const { stdout } = await run("htpasswd", ["-Bbn", auth.htpasswd.username, auth.htpasswd.password]);
    const file = path.join(dir, "htpasswd");
    await writeFile(file, stdout);
    lines.push("auth:", "  htpasswd:", "    realm: kwt-test", `    path: ${JSON.stringify(file)}`);
  }
  if (auth.token) {
    const t = auth.token;
    lines.push(
      "auth:",
      "  token:",
      `    realm: ${JSON.stringify(t.realm)}`,
      `    service: ${JSON.stringify(t.service)}`,
      `    issuer: ${JSON.stringify(t.issuer)}`,
      `    rootcertbundle: ${JSON.stringify(t.rootCertBundle)}`,
    );
  }
  return lines.join("\n") + "\n";
}

async function waitUntilServing(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${stderr()}`);
    try {
      const response = await fetch(`${url}/v2/`);
      if (response.status === 200 || response.status === 401) return;
    } catch (error) {
      // not listening yet, or (HTTPS) listening with a certificate fetch does not trust: serving
      if (/certificate|self.signed/i.test(String((error as { cause?: unknown }).cause))) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`docker-registry did not answer on ${url} within 15 s: ${stderr()}`);
}

export async function startRegistry(
  auth: RegistryAuth = {},
  tls?: RegistryTlsFiles,
): Promise<RunningRegistry> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "kwt-registry-"));
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const configFile = path.join(dir, "config.yml");
    await writeFile(configFile, await configText(dir, port, auth, tls));
    const child = spawn("docker-registry", ["serve", configFile], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    };
    try {
      await waitUntilServing(`${tls ? "https" : "http"}://${host}`, child, () => stderr);
    } catch (error) {
      await stop();
      // Another process may have taken the port between freePort() and the registry's listen.
      if (attempt < 3 && /address already in use/.test(stderr)) continue;
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
    return {
      host,
      storage: path.join(dir, "storage"),
      async stop() {
        await stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
}

/**
 * Pushes a small Wasm module (its bytes vary with `variant`, so each variant has its own digest)
 * as `host/repository:tag`; returns the manifest digest.
 */
export async function pushTestModule(
  host: string,
  repository: string,
  tag: string,
  options: { variant?: number; credentials?: Credentials } = {},
): Promise<string> {
  // A custom section (id 0) named by one byte: a valid module whose bytes differ per variant.
  const module = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0, 2, 1, options.variant ?? 0]);
  const image = packageModule(module, "artifact", "test.wasm");
  const client = new RegistryClient(
    { registry: host, repository },
    { credentials: options.credentials, scopes: [repositoryScope(repository, ["pull", "push"])] },
  );
  return (await pushImage(client, image, tag)).digest;
}
