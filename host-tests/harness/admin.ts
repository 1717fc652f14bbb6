// The part of Envoy's admin listener a harness user scrapes: /stats/prometheus and /ready, and
// `kwt run`'s own POST /kwt/reload (a configuration update, as ECDS pushes one). Also the
// small listen/close helpers the proxy listener and the loopback servers in tools/ share.

import http from "node:http";
import type { AddressInfo } from "node:net";
import type { StatStore } from "./stats.js";

export interface HostPort {
  host: string;
  port: number;
}

/** Starts `server` on host:port (port 0 picks a free one) and resolves with the bound address. */
export function listenOn(server: http.Server, address: HostPort): Promise<HostPort> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void =>
      reject(new Error(`cannot listen on ${address.host}:${address.port}: ${error.message}`));
    server.once("error", onError);
    server.listen(address.port, address.host, () => {
      server.off("error", onError);
      const bound = server.address() as AddressInfo;
      resolve({ host: bound.address, port: bound.port });
    });
  });
}

/** Stops accepting, drops idle and open connections, resolves once the server is closed. */
export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export interface AdminOptions {
  address: HostPort;
  stats: StatStore;
  /** True once the plugin is loaded; /ready answers 503 before. */
  isReady: () => boolean;
  /** POST /kwt/reload: a configuration update; without it the path is unknown. */
  reload?: () => Promise<AdminAnswer>;
}

export interface AdminAnswer {
  status: number;
  body: string;
}

const RELOAD_PATH = "/kwt/reload";

/** Envoy's /ready body is the server state: LIVE once initialised. */
const READY_BODY = "LIVE\n";
const NOT_READY_BODY = "PRE_INITIALIZING\n";

export class AdminServer {
  private constructor(
    private readonly server: http.Server,
    readonly address: HostPort,
  ) {}

  static async start(options: AdminOptions): Promise<AdminServer> {
    const server = http.createServer((request, response) => {
      const path = (request.url ?? "/").split("?")[0];
      const reload = options.reload;
      if (path === RELOAD_PATH && reload !== undefined) {
        if (request.method !== "POST") {
          answer(response, 405, `${RELOAD_PATH} takes POST\n`);
          return;
        }
        request.resume();
        reload().then(
          (result) => answer(response, result.status, result.body),
          (error: unknown) => answer(response, 500, `reload failed: ${(error as Error).message}\n`),
        );
      } else if (request.method !== "GET" && request.method !== "HEAD") {
        answer(response, 405, "method not allowed\n");
      } else if (path === "/stats/prometheus") {
        answer(response, 200, options.stats.prometheusText());
      } else if (path === "/ready") {
        const ready = options.isReady();
        answer(response, ready ? 200 : 503, ready ? READY_BODY : NOT_READY_BODY);
      } else {
        answer(
          response,
          404,
          `invalid path: ${path ?? ""}; the harness admin serves /stats/prometheus and /ready${reload ? ` (and POST ${RELOAD_PATH})` : ""}\n`,
        );
      }
    });
    const address = await listenOn(server, options.address);
    return new AdminServer(server, address);
  }

  close(): Promise<void> {
    return closeServer(this.server);
  }
}

function answer(response: http.ServerResponse, status: number, body: string): void {
  response.writeHead(status, {
    "content-type": "text/plain; charset=UTF-8",
    "content-length": Buffer.byteLength(body),
  });
  response.end(body);
}
