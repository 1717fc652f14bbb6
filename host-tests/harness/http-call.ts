// proxy_http_call's transport: Envoy sends the request through its async client to a named
// cluster; the harness maps the cluster name to a loopback base URL and uses real HTTP/1.1.
// Upstream failures surface the way Envoy's router reports them to the async client: a local
// reply (503 connect failure, 504 timeout) is a normal response; a reset after the response began
// is a failure (the module gets zeros and status BrokenConnection).

import http from "node:http";

import { type HeaderList } from "./types.js";

export type HttpCallOutcome =
  { kind: "response"; headers: HeaderList; body: Uint8Array; trailers: HeaderList } | { kind: "reset" };

/** Headers the HTTP/1 codec consumes instead of passing on. */
const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection"]);

export const CONNECT_FAILURE_BODY =
  "upstream connect error or disconnect/reset before headers. reset reason: connection failure";
export const TIMEOUT_BODY = "upstream request timeout";

function localReply(status: number, text: string): HttpCallOutcome {
  const body = new TextEncoder().encode(text);
  return {
    kind: "response",
    headers: [
      [":status", String(status)],
      ["content-length", String(body.length)],
      ["content-type", "text/plain"],
    ],
    body,
    trailers: [],
  };
}

/** Only loopback upstreams: tests must never leave the machine. */
export function checkLoopbackUrl(cluster: string, baseUrl: string): URL {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new Error(
      `upstreamClusters.${cluster}: "${baseUrl}" is not a URL; expected http://127.0.0.1:<port>`,
    );
  }
  if (url.protocol !== "http:" || !["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) {
    throw new Error(
      `upstreamClusters.${cluster}: "${baseUrl}" is not a loopback http URL; expected http://127.0.0.1:<port>`,
    );
  }
  return url;
}

export interface HttpCallHandle {
  outcome: Promise<HttpCallOutcome>;
  cancel(): void;
}

export function sendHttpCall(
  base: URL,
  headers: HeaderList,
  body: Uint8Array,
  trailers: HeaderList,
  timeoutMs: number,
): HttpCallHandle {
  const pseudo = new Map(headers.filter(([k]) => k.startsWith(":")).map(([k, v]) => [k, v]));
  const outgoing: Array<[string, string]> = headers.filter(([k]) => !k.startsWith(":"));
  outgoing.push(["host", pseudo.get(":authority") ?? base.host]);
  if (body.length > 0 && trailers.length === 0) outgoing.push(["content-length", String(body.length)]);

  let request: http.ClientRequest | undefined;
  let timer: NodeJS.Timeout | undefined;
  let settle: (outcome: HttpCallOutcome) => void = () => {};
  const outcome = new Promise<HttpCallOutcome>((resolve) => {
    let settled = false;
    settle = (value) => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      resolve(value);
    };
  });

  let responseStarted = false;
  request = http.request({
    host: base.hostname.replace(/^\[|\]$/g, ""),
    port: base.port,
    method: pseudo.get(":method"),
    path: pseudo.get(":path"),
    headers: outgoing.flat(),
    agent: false,
  });
  request.on("response", (response) => {
    responseStarted = true;
    const chunks: Buffer[] = [];
    response.on("data", (chunk: Buffer) => chunks.push(chunk));
    response.on("end", () => {
      const received: HeaderList = [[":status", String(response.statusCode ?? 0)]];
      for (let i = 0; i + 1 < response.rawHeaders.length; i += 2) {
        const name = (response.rawHeaders[i] as string).toLowerCase();
        if (!HOP_BY_HOP.has(name)) received.push([name, response.rawHeaders[i + 1] as string]);
      }
      const responseTrailers: HeaderList = [];
      for (let i = 0; i + 1 < response.rawTrailers.length; i += 2) {
        responseTrailers.push([
          (response.rawTrailers[i] as string).toLowerCase(),
          response.rawTrailers[i + 1] as string,
        ]);
      }
      settle({
        kind: "response",
        headers: received,
        body: new Uint8Array(Buffer.concat(chunks)),
        trailers: responseTrailers,
      });
    });
    response.on("error", () => settle({ kind: "reset" }));
    response.on("aborted", () => settle({ kind: "reset" }));
  });
  request.on("error", () =>
    settle(responseStarted ? { kind: "reset" } : localReply(503, CONNECT_FAILURE_BODY)),
  );
  if (timeoutMs > 0) {
    timer = setTimeout(() => {
      // Once the response has begun, the router can only reset the stream.
      settle(responseStarted ? { kind: "reset" } : localReply(504, TIMEOUT_BODY));
      request?.destroy();
    }, timeoutMs);
  }
  if (trailers.length > 0) request.addTrailers(Object.fromEntries(trailers));
  request.end(body.length > 0 ? Buffer.from(body) : undefined);

  return {
    outcome,
    cancel: () => {
      settle({ kind: "reset" });
      request?.destroy();
      request = undefined;
    },
  };
}
