// Two `kwt run` processes (dist/kwt.js) in a chain, as a gateway in one cluster in front of a
// revision pod's sidecar in another, with build/filter.wasm, forwarding real HTTP to a loopback app.

import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FILTER_METRIC_LABELS } from "../../tools/deploy/filter-contract.js";
import { seriesLines } from "../support/prometheus-text.js";
import { OUT_PTR, OUT_SIZE, ProxyModule } from "../harness-core/wat.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const KWT = path.join(ROOT, "dist/kwt.js");
const WASM = path.join(ROOT, "build/filter.wasm");
const STAT_TAGS = FILTER_METRIC_LABELS.join(",");

interface RunningKwt {
  child: ChildProcessWithoutNullStreams;
  listen: string;
  admin: string;
  stdout: () => string;
  stderr: () => string;
}

const children: ChildProcessWithoutNullStreams[] = [];

/** Starts `kwt run` and resolves with the addresses it prints. */
function startKwt(args: string[]): Promise<RunningKwt> {
  const child = spawn(
    process.execPath,
    [KWT, "run", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", ...args],
    {
      cwd: ROOT,
    },
  );
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`kwt run printed no addresses in 20 s; stderr:\n${stderr}`)),
      20_000,
    );
    child.on("exit", (code) => reject(new Error(`kwt run exited with ${code}; stderr:\n${stderr}`)));
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const listen = /^listen (\S+)$/m.exec(stdout)?.[1];
      const admin = /^admin (\S+)$/m.exec(stdout)?.[1];
      if (listen && admin && /^upstream /m.test(stdout)) {
        clearTimeout(timer);
        resolve({ child, listen, admin, stdout: () => stdout, stderr: () => stderr });
      }
    });
  });
}

function stop(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    child.kill("SIGTERM");
  });
}

async function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: await response.text() };
}

let app: http.Server;
let appUrl: string;
const appRequests: Array<{ url: string; headers: http.IncomingHttpHeaders }> = [];

beforeAll(async () => {
  for (const file of [KWT, WASM]) {
    if (!existsSync(file))
      throw new Error(`${path.relative(ROOT, file)} is missing: run 'npm run build' first`);
  }
  app = http.createServer((request, response) => {
    appRequests.push({ url: request.url ?? "", headers: request.headers });
    response.writeHead(200, { "content-type": "text/plain" });
    response.end("hello from the revision");
  });
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
  appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await Promise.all(children.map(stop));
  await new Promise<void>((resolve) => {
    app.close(() => resolve());
    app.closeAllConnections();
  });
});

describe("kwt run chain: gateway (west) -> sidecar of a revision pod (east) -> app", () => {
  it("forwards real HTTP through both filters and serves /ready and /stats/prometheus on each", async () => {
    const sidecar = await startKwt([
      "--upstream",
      appUrl,
      "--direction",
      "inbound",
      "--mtls",
      "--destination-port",
      "8012",
      "--cluster",
      "east",
      "--region",
      "eu-1",
      "--namespace",
      "default",
      "--workload",
      "hello-00001-deployment",
      "--label",
      "serving.knative.dev/revision=hello-00001",
      "--label",
      "serving.knative.dev/service=hello",
      "--label",
      "serving.knative.dev/configuration=hello",
      "--extra-stat-tags",
      STAT_TAGS,
      "--workers",
      "2",
    ]);
    const gateway = await startKwt([
      "--upstream",
      sidecar.listen,
      "--gateway",
      "--direction",
      "outbound",
      "--cluster",
      "west",
      "--region",
      "us-1",
      "--namespace",
      "istio-system",
      "--extra-stat-tags",
      STAT_TAGS,
      "--envoy",
      "1.28",
    ]);

    for (let i = 0; i < 3; i++) {
      expect(await get(`${gateway.listen}/greet?n=${i}`)).toEqual({
        status: 200,
        body: "hello from the revision",
      });
    }
    expect(appRequests.map((request) => request.url)).toEqual(["/greet?n=0", "/greet?n=1", "/greet?n=2"]);
    // The gateway stamps the mesh entry time (docs/filter.md); it arrives through the sidecar.
    expect(appRequests[0]?.headers["x-kwt-entry"]).toMatch(/^\d{13}$/);

    for (const proxy of [gateway, sidecar]) {
      expect(await get(`${proxy.admin}/ready`)).toEqual({ status: 200, body: "LIVE\n" });
    }
    const sidecarStats = await get(`${sidecar.admin}/stats/prometheus`);
    expect(sidecarStats.status).toBe(200);
    expect(sidecarStats.body).toContain("# TYPE knative_invocations_total counter\n");
    const invocations = seriesLines(sidecarStats.body, "knative_invocations_total");
    expect(invocations).toHaveLength(1);
    expect(invocations[0]).toMatch(/ 3$/);
    expect(invocations[0]).toContain('revision_name="hello-00001"');
    expect(invocations[0]).toContain('destination_cluster="east"');
    expect(invocations[0]).toContain('response_code_class="2xx"');

    for (const proxy of [gateway, sidecar]) {
      const scrape = await get(`${proxy.admin}/stats/prometheus`);
      const check = spawnSync("promtool", ["check", "metrics"], {
        input: scrape.body,
        encoding: "utf8",
        timeout: 20_000,
      });
      // 0 or 3 (style lints such as "no help text"); 1 would be a parse error.
      expect([0, 3], `${check.stdout}${check.stderr}`).toContain(check.status);
    }

    expect(await Promise.all([stop(gateway.child), stop(sidecar.child)])).toEqual([0, 0]);
    expect(sidecar.stderr()).toContain("kwt run: stopped on SIGTERM");
  });

  it("answers 503 with the upstream-failure body when the next hop is down, and exits 2 on a bad flag", async () => {
    const lonely = await startKwt(["--upstream", "http://127.0.0.1:9"]);
    const response = await get(`${lonely.listen}/`);
    expect(response).toEqual({
      status: 503,
      body: "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
    });
    expect(await stop(lonely.child)).toBe(0);

    const bad = spawnSync(process.execPath, [KWT, "run", "--listen", "nowhere", "--upstream", appUrl], {
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain(
      "kwt run: --listen must be HOST:PORT (port 0 to 65535, [IPv6]:PORT), got 'nowhere'",
    );
  });
});

/**
 * Copies connection.uri_san_peer_certificate and upstream.uri_san_peer_certificate into filter
 * state (wasm.caller, wasm.callee) and logs destination.port, on each request.
 */
function identityModule(): Uint8Array {
  const module = new ProxyModule().use("env.proxy_get_property", "env.proxy_set_property");
  const copy = (property: string, name: string) => `
    (if (i32.eqz (call $proxy_get_property ${module.text(property)} (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
      (then (drop (call $proxy_set_property ${module.text(name)}
        (i32.load (i32.const ${OUT_PTR})) (i32.load (i32.const ${OUT_SIZE}))))))`;
  return module.build(`
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
    ${copy("connection\0uri_san_peer_certificate", "caller")}
    ${copy("upstream\0uri_san_peer_certificate", "callee")}
    (drop (call $proxy_get_property ${module.text("destination\0port")} (i32.const ${OUT_PTR}) (i32.const ${OUT_SIZE})))
    (call $say ${module.text("destination port")})
    (call $num (i32.load (i32.load (i32.const ${OUT_PTR}))))
    (i32.const 0))`);
}

describe("kwt run with identities, header limits and an access log (real HTTP)", () => {
  it("exposes the peer and upstream SANs and the destination port, answers 431 past --max-headers, logs each stream", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "kwt-run-identity-"));
    const wasm = path.join(dir, "identity.wasm");
    writeFileSync(wasm, identityModule());
    try {
      const sidecar = await startKwt([
        "--upstream",
        appUrl,
        "--wasm",
        wasm,
        "--peer-identity",
        "spiffe://cluster.local/ns/knative-serving/sa/activator",
        "--upstream-identity",
        "spiffe://cluster.local/ns/default/sa/hello",
        "--destination-port",
        "8012",
        "--max-headers",
        "150",
        "--envoy",
        "1.28",
        "--access-log",
        "%FILTER_STATE(wasm.caller:PLAIN)% %FILTER_STATE(wasm.callee:PLAIN):25% %RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %REQ(:PATH)%",
      ]);
      const many = (count: number) =>
        Object.fromEntries(Array.from({ length: count }, (_, i) => [`x-h-${i}`, "v"]));
      expect((await get(`${sidecar.listen}/ok`, many(120))).status).toBe(200);
      expect(await get(`${sidecar.listen}/big`, many(150))).toEqual({
        status: 431,
        body: "Request Header Fields Too Large",
      });
      await expect
        .poll(() =>
          sidecar
            .stdout()
            .split("\n")
            .filter((line) => / \/(ok|big)$/.test(line)),
        )
        .toEqual([
          "spiffe://cluster.local/ns/knative-serving/sa/activator spiffe://cluster.local/ns 200 - via_upstream /ok",
          "- - 431 DPE http1.too_many_headers /big",
        ]);
      // stderr is a pipe of its own: its lines may arrive after the access log's on stdout.
      await expect.poll(() => sidecar.stderr()).toContain("info: destination port\n[vm 0] info: 8012\n");
      expect(await stop(sidecar.child)).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
