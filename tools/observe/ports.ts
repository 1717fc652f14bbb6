// For servers that cannot listen on port 0 and report the port they bound (Prometheus, the
// VictoriaMetrics tools, Alertmanager, docker-registry) and for tests that need an address nobody
// listens on.
import net from "node:net";

/** A port nobody listens on right now on 127.0.0.1; another process may still take it before use. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
