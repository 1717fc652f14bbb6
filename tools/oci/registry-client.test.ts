import { readFile } from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { repositoryScope, type Credentials } from "./auth.js";
import { packageModule } from "./layout.js";
import { pushImage } from "./push.js";
import { parseReference } from "./reference.js";
import { describeResponse, RegistryClient } from "./registry-client.js";
import type { RetryNotice } from "./retry.js";
import { startRegistry, type RunningRegistry } from "../testing/oci/registry.js";
import { freePort } from "../testing/free-port.js";

interface Seen {
  method: string;
  url: string;
  authorization?: string;
}

interface Loopback {
  host: string;
  seen: Seen[];
  close(): Promise<void>;
}

const open: Loopback[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

/** A loopback HTTP server; `handle` gets the request number (0-based) for "fail N times" scripts. */
async function serve(
  handle: (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void,
): Promise<Loopback> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", authorization: req.headers.authorization });
    req.resume();
    req.on("end", () => handle(req, res, seen.length - 1));
  });
  return listen(server, seen);
}

/** Listens on a random loopback port; the server is closed after each test. */
async function listen(server: http.Server, seen: Seen[]): Promise<Loopback> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const loopback = {
    host: `127.0.0.1:${(server.address() as { port: number }).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  open.push(loopback);
  return loopback;
}

function client(
  host: string,
  attempts: number,
  extra: { credentials?: Credentials; timeoutMs?: number } = {},
) {
  const notices: RetryNotice[] = [];
  const ref = parseReference(`${host}/kwt/filter:v1`);
  const registryClient = new RegistryClient(ref, {
    scopes: [repositoryScope(ref.repository, ["pull", "push"])],
    retry: { attempts, baseDelayMs: 5, maxDelayMs: 20 },
    onRetry: (notice) => notices.push(notice),
    ...extra,
  });
  return { registryClient, notices };
}

const ok = (res: http.ServerResponse) => res.writeHead(200, { "content-type": "text/plain" }).end("fine");
const unavailable = (res: http.ServerResponse) =>
  res
    .writeHead(503, { "content-type": "application/json" })
    .end('{"errors":[{"code":"UNAVAILABLE","message":"busy"}]}');

describe("retries", () => {
  it("retries a 5xx with growing delays and succeeds when the server recovers", async () => {
    const server = await serve((_, res, n) => (n < 3 ? unavailable(res) : ok(res)));
    const { registryClient, notices } = client(server.host, 4);
    const response = await registryClient.request("GET", registryClient.url("manifests/v1"));
    expect(response.status).toBe(200);
    expect(server.seen).toHaveLength(4);
    expect(notices.map((n) => [n.attempt, n.delayMs])).toEqual([
      [1, 5],
      [2, 10],
      [3, 20],
    ]);
    expect(notices[0]!.reason).toBe("GET /v2/kwt/filter/manifests/v1: 503 UNAVAILABLE: busy");
  });

  it("gives up after the bounded number of attempts", async () => {
    const server = await serve((_, res) => unavailable(res));
    const { registryClient } = client(server.host, 3);
    await expect(registryClient.request("GET", registryClient.url("manifests/v1"))).rejects.toThrow(
      "GET /v2/kwt/filter/manifests/v1: 503 UNAVAILABLE: busy (gave up after 3 attempts)",
    );
    expect(server.seen).toHaveLength(3);
  });

  it.each([400, 403, 404, 429])("never retries a %i", async (status) => {
    const server = await serve((_, res) => res.writeHead(status).end());
    const { registryClient, notices } = client(server.host, 5);
    const response = await registryClient.request("GET", registryClient.url("manifests/v1"));
    expect(response.status).toBe(status);
    expect(server.seen).toHaveLength(1);
    expect(notices).toEqual([]);
  });

  it("retries connections the server drops", async () => {
    const server = await serve((req, res, n) => (n < 2 ? req.socket.destroy() : ok(res)));
    const { registryClient, notices } = client(server.host, 3);
    const response = await registryClient.request("GET", registryClient.url("manifests/v1"));
    expect(response.status).toBe(200);
    expect(server.seen).toHaveLength(3);
    expect(notices[0]!.reason).toMatch(
      /^GET http:\/\/127\.0\.0\.1:\d+\/v2\/kwt\/filter\/manifests\/v1: socket hang up$/,
    );
  });

  it("retries a refused connection and then says so", async () => {
    const port = await freePort();
    const { registryClient, notices } = client(`127.0.0.1:${port}`, 2);
    await expect(registryClient.request("HEAD", registryClient.url("blobs/x"))).rejects.toThrow(
      /ECONNREFUSED 127\.0\.0\.1:\d+ \(gave up after 2 attempts\)$/,
    );
    expect(notices).toHaveLength(1);
  });

  it("gives up on a server that does not answer within the timeout", async () => {
    const server = await serve(() => {});
    const { registryClient } = client(server.host, 1, { timeoutMs: 100 });
    await expect(registryClient.request("GET", registryClient.url("manifests/v1"))).rejects.toThrow(
      "no answer within 100 ms (gave up after 1 attempts)",
    );
  });
});

describe("authentication and redirects", () => {
  it("answers a Basic challenge and keeps credentials away from a redirect to another origin", async () => {
    const storage = await serve((_, res) => ok(res));
    const expected = `Basic ${Buffer.from("u:p").toString("base64")}`;
    const registry = await serve((req, res) => {
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { "www-authenticate": 'Basic realm="test"' }).end();
      } else {
        res.writeHead(307, { location: `http://${storage.host}/bucket/blob?sig=1` }).end();
      }
    });
    const { registryClient } = client(registry.host, 1, {
      credentials: { kind: "basic", username: "u", password: "p" },
    });
    const response = await registryClient.request("GET", registryClient.url("blobs/sha256:x"));
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe("fine");
    expect(registry.seen.map((s) => s.authorization)).toEqual([undefined, expected]);
    expect(storage.seen).toEqual([{ method: "GET", url: "/bucket/blob?sig=1", authorization: undefined }]);
  });

  it("fetches a bearer token once and sends it on every later request", async () => {
    const tokenServer = await serve((_, res) => res.writeHead(200).end('{"token":"tok-1"}'));
    const registry = await serve((req, res) => {
      if (req.headers.authorization !== "Bearer tok-1") {
        res
          .writeHead(401, {
            "www-authenticate": `Bearer realm="http://${tokenServer.host}/token",service="svc",scope="repository:kwt/filter:pull"`,
          })
          .end();
      } else ok(res);
    });
    const { registryClient } = client(registry.host, 1);
    await registryClient.request("GET", registryClient.url("manifests/a"));
    await registryClient.request("GET", registryClient.url("manifests/b"));
    expect(registry.seen.map((s) => [s.url, s.authorization])).toEqual([
      ["/v2/kwt/filter/manifests/a", undefined],
      ["/v2/kwt/filter/manifests/a", "Bearer tok-1"],
      ["/v2/kwt/filter/manifests/b", "Bearer tok-1"],
    ]);
    expect(tokenServer.seen.map((s) => s.url)).toEqual([
      "/token?service=svc&scope=repository%3Akwt%2Ffilter%3Apull&scope=repository%3Akwt%2Ffilter%3Apull%2Cpush",
    ]);
  });
});

/** Forwards to `target`, but answers the first `failures` blob-upload PUTs with 502 itself. */
async function flakyProxy(
  target: string,
  failures: number,
): Promise<Loopback & { failedPuts: number; posts: number }> {
  const state = { failedPuts: 0, posts: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.method === "POST") state.posts++;
      if (req.method === "PUT" && req.url?.includes("/blobs/uploads/") && state.failedPuts < failures) {
        state.failedPuts++;
        res.writeHead(502).end("bad gateway");
        return;
      }
      const [hostname, port] = target.split(":");
      const upstream = http.request(
        { hostname, port: Number(port), method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.end(Buffer.concat(chunks));
    });
  });
  return Object.assign(state, await listen(server, []));
}

describe("a push through a flaky proxy in front of a real registry", () => {
  let registry: RunningRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(() => registry.stop());

  it("opens a fresh upload session after a failed blob PUT and completes the push", async () => {
    const proxy = await flakyProxy(registry.host, 1);
    const module = await readFile(path.resolve(import.meta.dirname, "../../build/filter.wasm"));
    const image = packageModule(module, "artifact", "filter.wasm");
    const { registryClient, notices } = client(proxy.host, 3);
    const result = await pushImage(registryClient, image, "v1");
    expect(result.uploadedBlobs).toEqual([...image.blobs.keys()]);
    expect(result.manifestUploaded).toBe(true);
    expect(proxy.failedPuts).toBe(1);
    expect(proxy.posts).toBe(image.blobs.size + 1);
    expect(notices.map((n) => n.reason)).toEqual([
      expect.stringMatching(/^PUT \/v2\/kwt\/filter\/blobs\/uploads\/.*: 502 bad gateway$/),
    ]);
  });

  it("fails the push when the registry keeps failing, after the bounded attempts", async () => {
    const proxy = await flakyProxy(registry.host, 100);
    const image = packageModule(
      await readFile(path.resolve(import.meta.dirname, "../../build/filter.wasm")),
      "compat",
      "f",
    );
    const { registryClient } = client(proxy.host, 2);
    await expect(pushImage(registryClient, image, "v2")).rejects.toThrow(
      /502 bad gateway \(gave up after 2 attempts\)$/,
    );
    expect(proxy.failedPuts).toBe(2);
  });
});

describe("describeResponse", () => {
  it.each([
    [
      404,
      '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}',
      "404 MANIFEST_UNKNOWN: manifest unknown",
    ],
    [400, '{"errors":[{"code":"A","message":"x"},{"code":"B"}]}', "400 A: x; B"],
    [502, "<html>bad gateway</html>\n", "502 <html>bad gateway</html>"],
    [403, "", "403 Forbidden"],
  ])("%i %s", (status, body, expected) => {
    expect(describeResponse({ status, body: Buffer.from(body) })).toBe(expected);
  });
});

describe("which scheme a registry gets", () => {
  it.each([
    ["ghcr.io/kwt/filter", false, "https://ghcr.io"],
    ["registry.internal:5000/kwt/filter", true, "http://registry.internal:5000"],
    ["127.0.0.1:5000/kwt/filter", false, "http://127.0.0.1:5000"],
    ["localhost:5000/kwt/filter", false, "http://localhost:5000"],
    ["kwt/filter", false, "https://registry-1.docker.io"],
  ])("%s with plainHttp=%s -> %s", (reference, plainHttp, expected) => {
    expect(new RegistryClient(parseReference(reference), { scopes: [], plainHttp }).baseUrl).toBe(expected);
  });
});
