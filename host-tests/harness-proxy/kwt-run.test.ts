// Two `kwt run` processes (dist/kwt.js) in a chain, as a gateway in one cluster in front of a
// revision pod's sidecar in another, with build/filter.wasm, forwarding real HTTP to a loopback app.

import { spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FILTER_METRIC_LABELS } from "../../tools/deploy/filter-contract.js";
import {
  KWT,
  ROOT,
  startKwt as startKwtProcess,
  stopKwt as stop,
  WASM,
  type RunningKwt,
} from "../support/kwt-run.js";
import { seriesLines } from "../support/prometheus-text.js";
import { OUT_PTR, OUT_SIZE, ProxyModule } from "../harness-core/wat.js";

const STAT_TAGS = FILTER_METRIC_LABELS.join(",");

const children: ChildProcessWithoutNullStreams[] = [];
const startKwt = (args: string[]): Promise<RunningKwt> => startKwtProcess(args, children);

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

/** `kwt run` flags of the inbound sidecar of a revision pod in cluster east, in front of the app. */
function revisionPodSidecar(): string[] {
  return [
    "--upstream",
    appUrl,
    "--direction",
    "inbound",
    // Its callers come through the activator, whose mesh identity the filter believes.
    "--peer-identity",
    "spiffe://cluster.local/ns/knative-serving/sa/controller",
    "--destination-port",
    "8012",
    "--cluster",
    "east",
    "--region",
    "eu-1",
    "--namespace",
    "default",
  ];
}

describe("kwt run chain: gateway (west) -> sidecar of a revision pod (east) -> app", () => {
  it("forwards real HTTP through both filters and serves /ready and /stats/prometheus on each", async () => {
    const sidecar = await startKwt([
      ...revisionPodSidecar(),
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
      // Its upstream, the revision pod, answers with its mesh identity.
      "--upstream-identity",
      "spiffe://cluster.local/ns/default/sa/default",
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

  it("starts with a configuration the module rejects and answers every request 500, as Envoy's missing-config filter", async () => {
    const module = new ProxyModule();
    const wasm = module.build(`(func (export "proxy_on_configure") (param i32 i32) (result i32)
      (call $say ${module.text("configure says no")}) (i32.const 0))
      (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)
      (call $say ${module.text("module saw a request")}) (i32.const 0))`);
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), "kwt-run-")), "rejects.wasm");
    writeFileSync(file, wasm);
    const seen = appRequests.length;
    const rejecting = await startKwt(["--upstream", appUrl, "--wasm", file]);
    for (let i = 0; i < 3; i++) expect(await get(`${rejecting.listen}/x`)).toEqual({ status: 500, body: "" });
    expect(appRequests.length).toBe(seen);
    expect(await stop(rejecting.child)).toBe(0);
    expect(rejecting.stderr()).toContain("[vm -1] info: configure says no");
    expect(rejecting.stderr()).toContain(
      "[vm -1] error: Wasm VM failed Failed to configure base Wasm plugin",
    );
    expect(rejecting.stderr()).toContain(
      "kwt run: the configuration was rejected (Failed to configure base Wasm plugin: proxy_on_configure " +
        "returned false); as Envoy with no accepted filter configuration, every request is answered 500 " +
        "with response flag NFCF",
    );
    expect(rejecting.stderr()).not.toContain("module saw a request");
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
      // Module logs reach stderr on kwt run's 200 ms print interval, not with the response.
      await expect.poll(() => sidecar.stderr()).toContain("info: destination port\n[vm 0] info: 8012\n");
      expect(await stop(sidecar.child)).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("kwt run --access-log with the filter (real HTTP)", () => {
  it("prints the filter's fields: a cross-cluster hop; nothing for a held or a warm request at the pod", async () => {
    const sidecar = await startKwt([
      ...revisionPodSidecar(),
      "--label",
      "serving.knative.dev/revision=hello-00001",
      "--envoy",
      "1.28",
      "--access-log",
      "%REQ(:PATH)% cold=%FILTER_STATE(wasm.kwt_cold_start:PLAIN)% wait=%FILTER_STATE(wasm.kwt_cold_start_wait_ms:PLAIN)% from=%FILTER_STATE(wasm.kwt_source_cluster:PLAIN)%/%FILTER_STATE(wasm.kwt_source_region:PLAIN)% error=%FILTER_STATE(wasm.kwt_error_kind:PLAIN)% %RESPONSE_CODE%",
    ]);
    const entryMs = Date.now() - 500;
    expect(
      (await get(`${sidecar.listen}/cold`, { "k-proxy-request": "activator", "x-kwt-entry": `${entryMs}` }))
        .status,
    ).toBe(200);
    expect(
      (await get(`${sidecar.listen}/hop`, { "x-kwt-hop": `1;c=west;r=us-1;t=${Date.now()}` })).status,
    ).toBe(200);
    expect((await get(`${sidecar.listen}/warm`)).status).toBe(200);
    const lines = (): string[] =>
      sidecar
        .stdout()
        .split("\n")
        .filter((line) => line.startsWith("/"));
    await expect.poll(() => lines().length).toBe(3);
    const [cold, hop, warm] = lines();
    // Held by the activator, but only the edge that stamped the entry can tell a cold start.
    expect(cold).toBe("/cold cold=- wait=- from=-/- error=- 200");
    expect(hop).toBe("/hop cold=- wait=- from=west/us-1 error=- 200");
    expect(warm).toBe("/warm cold=- wait=- from=-/- error=- 200");
    expect(await stop(sidecar.child)).toBe(0);
  });
});

describe("kwt run --access-log times (real HTTP)", () => {
  it("prints when the request arrived and when its last byte went upstream, inside the exchange", async () => {
    const sidecar = await startKwt([
      ...revisionPodSidecar(),
      "--access-log",
      "%REQ(:PATH)% %START_TIME(%s%3f)% %REQUEST_TX_DURATION% %DURATION% %START_TIME%",
    ]);
    const before = Date.now();
    expect((await get(`${sidecar.listen}/timed`)).status).toBe(200);
    const after = Date.now();
    await expect.poll(() => /^\/timed .*$/m.exec(sidecar.stdout())?.[0]).toBeDefined();
    const [, start, tx, duration, iso] = /^\/timed (\d+) (\d+) (\d+) (\S+)$/m.exec(sidecar.stdout())!;
    expect(Number(start)).toBeGreaterThanOrEqual(before);
    expect(Number(start)).toBeLessThanOrEqual(after);
    expect(Number(tx)).toBeLessThanOrEqual(Number(duration));
    // The request went upstream before the answer came back.
    expect(Number(start) + Number(tx)).toBeLessThanOrEqual(after);
    expect(iso).toBe(new Date(Number(start)).toISOString());
    expect(await stop(sidecar.child)).toBe(0);
  });
});

describe("kwt run gateway facing outside clients with client certificates (real HTTP, issue 14)", () => {
  it.each([
    ["a certificate without a mesh identity", ["--mtls"]],
    [
      "a certificate naming a mesh identity, on the public port",
      ["--peer-identity", "spiffe://cluster.local/ns/shop/sa/checkout", "--destination-port", "8443"],
    ],
  ])("trusts no stamp from %s: forged entry and K-Proxy-Request removed", async (_what, client) => {
    const gateway = await startKwt([
      "--upstream",
      appUrl,
      "--gateway",
      "--direction",
      "outbound",
      ...client,
      "--cluster",
      "east",
      "--region",
      "us-1",
      "--namespace",
      "istio-system",
      "--workers",
      "2",
    ]);
    appRequests.length = 0;
    const forged = { "x-kwt-entry": String(Date.now() - 3_600_000), "k-proxy-request": "activator" };
    for (let i = 0; i < 2; i++) expect((await get(`${gateway.listen}/in`, forged)).status).toBe(200);
    expect(appRequests).toHaveLength(2);
    for (const { headers } of appRequests) {
      expect(headers["k-proxy-request"]).toBeUndefined();
      // The gateway's own entry stamp, not the hour-old one.
      expect(Number(headers["x-kwt-entry"])).toBeGreaterThan(Date.now() - 60_000);
    }
    expect(await stop(gateway.child)).toBe(0);
  });
});
