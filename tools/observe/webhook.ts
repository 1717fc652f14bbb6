// A loopback webhook receiver standing in for a pager or ticket system: keeps what Alertmanager
// delivers, with the path it was delivered to (the route's receiver: /<cluster>/<severity>).
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface DeliveredAlert {
  /** The receiver path, `/<cluster>/<page|ticket>`. */
  path: string;
  status: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

interface WebhookBody {
  alerts?: Array<{ status: string; labels: Record<string, string>; annotations: Record<string, string> }>;
}

/** Bodies larger than this are refused: Alertmanager's are a few kilobytes. */
const MAX_BODY_BYTES = 1024 * 1024;

export class WebhookReceiver {
  readonly delivered: DeliveredAlert[] = [];

  private constructor(private readonly server: http.Server) {}

  static async start(): Promise<WebhookReceiver> {
    const server = http.createServer();
    const receiver = new WebhookReceiver(server);
    server.on("request", (request, response) => receiver.receive(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return receiver;
  }

  /** The URL template for alertmanagerConfig's webhookUrl. */
  get urlTemplate(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/{cluster}/{severity}`;
  }

  private receive(request: http.IncomingMessage, response: http.ServerResponse): void {
    let body = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => {
      body += chunk;
      if (body.length > MAX_BODY_BYTES) request.destroy();
    });
    request.on("end", () => {
      try {
        const parsed = JSON.parse(body) as WebhookBody;
        for (const alert of parsed.alerts ?? []) {
          this.delivered.push({ path: request.url ?? "", ...alert });
        }
        response.writeHead(200).end();
      } catch {
        response.writeHead(400).end("not an Alertmanager webhook body\n");
      }
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
