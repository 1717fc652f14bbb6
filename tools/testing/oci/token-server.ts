/**
 * A loopback token service for the registry's `auth: token` mode (Docker registry token spec):
 * answers GET /token with Basic credentials (and the OAuth2 refresh_token grant as POST /token)
 * with an ES256 JWT the registry verifies against a throwaway self-signed certificate.
 * Every request is recorded so tests can assert on scopes and credentials.
 */
import { execFile } from "node:child_process";
import { createPrivateKey, randomUUID, sign, X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { closeServer, listenOn } from "../../../host-tests/harness/index.js";

const run = promisify(execFile);

export interface TokenServerOptions {
  username: string;
  password: string;
  /** Accepted by the refresh_token grant. */
  identityToken?: string;
}

export interface RecordedTokenRequest {
  method: string;
  service: string | null;
  scopes: string[];
  /** The user that authenticated, or how. */
  principal: string;
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  rootCertBundle: string;
  requests: RecordedTokenRequest[];
  close(): Promise<void>;
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

/** `repository:ns/name:pull,push` as a token's access claim; the name sits between the first and last ':'. */
function accessFromScopes(scopes: string[]) {
  return scopes.flatMap((scope) => {
    const first = scope.indexOf(":");
    const last = scope.lastIndexOf(":");
    if (first <= 0 || last <= first) return [];
    return [
      {
        type: scope.slice(0, first),
        name: scope.slice(first + 1, last),
        actions: scope.slice(last + 1).split(","),
      },
    ];
  });
}

async function readBody(request: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "kwt-token-"));
  const keyFile = path.join(dir, "key.pem");
  const certFile = path.join(dir, "cert.pem");
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "1",
    "-subj",
    "/CN=kwt-test-token",
  ]);
  const key = createPrivateKey(await readFile(keyFile));
  const certificate = new X509Certificate(await readFile(certFile));
  const service = "kwt-test-registry";
  const issuer = "kwt-test-issuer";
  const requests: RecordedTokenRequest[] = [];

  const issue = (subject: string, scopes: string[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "ES256", x5c: [certificate.raw.toString("base64")] };
    const claims = {
      iss: issuer,
      sub: subject,
      aud: service,
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access: accessFromScopes(scopes),
    };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    const signature = sign("sha256", Buffer.from(signingInput), { key, dsaEncoding: "ieee-p1363" });
    return `${signingInput}.${base64url(signature)}`;
  };

  const server = http.createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? "/", "http://token");
      let scopes = url.searchParams.getAll("scope");
      let principal = "anonymous";
      let serviceParam = url.searchParams.get("service");
      if (request.method === "POST") {
        const form = new URLSearchParams(await readBody(request));
        scopes = (form.get("scope") ?? "").split(" ").filter(Boolean);
        serviceParam = form.get("service");
        const valid =
          form.get("grant_type") === "refresh_token" && form.get("refresh_token") === options.identityToken;
        principal = valid ? "identity-token" : "invalid";
      } else {
        const authorization = request.headers.authorization ?? "";
        if (authorization.startsWith("Basic ")) {
          const [user, ...pass] = Buffer.from(authorization.slice(6), "base64").toString("utf8").split(":");
          principal = user === options.username && pass.join(":") === options.password ? user! : "invalid";
        }
      }
      requests.push({ method: request.method ?? "", service: serviceParam, scopes, principal });
      if (principal === "invalid" || principal === "anonymous") {
        response.writeHead(401, { "content-type": "application/json" });
        response.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "bad credentials" }] }));
        return;
      }
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        JSON.stringify(
          request.method === "POST"
            ? { access_token: issue(principal, scopes) }
            : { token: issue(principal, scopes) },
        ),
      );
    })();
  });
  const address = await listenOn(server, { host: "127.0.0.1", port: 0 });
  return {
    realm: `http://${address.host}:${address.port}/token`,
    service,
    issuer,
    rootCertBundle: certFile,
    requests,
    async close() {
      await closeServer(server);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
