// A loopback HTTP server standing in for the upstream app in proxy tests.

import http from "node:http";
import type { AddressInfo } from "node:net";

/** Listens on 127.0.0.1 on a free port; registers its shutdown in `cleanups`; resolves with its URL. */
export async function startLoopbackUpstream(
  handler: http.RequestListener,
  cleanups: Array<() => Promise<void> | void>,
): Promise<string> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
