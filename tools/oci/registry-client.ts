/**
 * HTTP to one registry, as the OCI distribution spec has it: authentication on demand (the 401
 * WWW-Authenticate flow), redirects (blob downloads often go to object storage, which must not see
 * our credentials), timeouts, and bounded retries on 5xx and network errors, never on 4xx.
 */
import http, { type IncomingHttpHeaders } from "node:http";
import https from "node:https";
import {
  basicAuthorization,
  parseChallenges,
  parseTokenResponse,
  tokenRequest,
  type Challenge,
  type Credentials,
} from "./auth.js";
import { apiHost, isLoopback, type ImageReference } from "./reference.js";
import {
  DEFAULT_RETRY_POLICY,
  TransientError,
  withRetries,
  type RetryNotice,
  type RetryPolicy,
} from "./retry.js";

export interface RegistryClientOptions {
  /** Use http:// for a registry that is not on loopback (loopback always uses http://). */
  plainHttp?: boolean;
  credentials?: Credentials;
  /**
   * HTTPS trust: extra CA certificates (PEM), or no verification at all (`--insecure`, as oras
   * means it). Given, it means HTTPS even to a loopback registry.
   */
  tls?: RegistryTls;
  /** Token scopes to ask for, e.g. `repository:kwt/filter:pull,push`. */
  scopes: string[];
  retry?: RetryPolicy;
  /** Per request: no byte for this long fails the request (and counts as a network error). */
  timeoutMs?: number;
  onRetry?: (notice: RetryNotice) => void;
}

export interface RegistryTls {
  ca?: Uint8Array;
  insecure?: boolean;
}

export interface RegistryResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  url: URL;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Called as the body goes out, for progress bars. */
  onProgress?: (sentBytes: number, totalBytes: number) => void;
}

/** A registry answer that is final: wrong credentials, missing repository, rejected manifest. */
export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

const MAX_REDIRECTS = 5;
const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;
const UPLOAD_CHUNK = 64 * 1024;

/**
 * A status with the registry's own explanation (`{"errors":[{"code","message"}]}`), else the
 * body's start, else the standard reason phrase: `404 MANIFEST_UNKNOWN: manifest unknown`.
 */
export function describeResponse(response: Pick<RegistryResponse, "status" | "body">): string {
  const text = response.body.toString("utf8");
  let detail = text.trim().slice(0, 200);
  try {
    const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const parts = (parsed.errors ?? [])
      .map((e) => [e.code, e.message].filter(Boolean).join(": "))
      .filter(Boolean);
    if (parts.length) detail = parts.join("; ");
  } catch {
    // not JSON: keep the raw text
  }
  return `${response.status} ${detail || (http.STATUS_CODES[response.status] ?? "")}`.trim();
}

export class RegistryClient {
  readonly baseUrl: string;
  private authorization: string | undefined;
  private readonly retry: RetryPolicy;

  constructor(
    readonly ref: ImageReference,
    private readonly options: RegistryClientOptions,
  ) {
    // TLS options ask for HTTPS, on loopback too
    const plain = options.plainHttp || (isLoopback(ref.registry) && !options.tls);
    this.baseUrl = `${plain ? "http" : "https"}://${apiHost(ref)}`;
    this.retry = options.retry ?? DEFAULT_RETRY_POLICY;
  }

  /** `/v2/<repository>/<rest>` on this registry. */
  url(rest: string): URL {
    return new URL(`/v2/${this.ref.repository}/${rest}`, this.baseUrl);
  }

  /** Runs `operation` (one or more `send`s) again on transient failures, per the retry policy. */
  retrying<T>(operation: () => Promise<T>): Promise<T> {
    return withRetries(operation, this.retry, this.options.onRetry);
  }

  /** One request with retries. */
  request(method: string, url: URL, options: RequestOptions = {}): Promise<RegistryResponse> {
    return this.retrying(() => this.send(method, url, options));
  }

  /**
   * One request without retries: authenticates on a 401 and sends again once. A 5xx or a network
   * error throws TransientError; any other status is returned for the caller to judge.
   */
  async send(method: string, url: URL, options: RequestOptions = {}): Promise<RegistryResponse> {
    let response = await this.exchange(method, url, options);
    if (response.status === 401) {
      await this.authenticate(response);
      response = await this.exchange(method, url, options);
      if (response.status === 401) {
        const refused = this.options.credentials ? "refused the credentials" : "refused anonymous access";
        throw new RegistryError(
          `${this.ref.registry} ${refused} for ${this.ref.repository} (${describeResponse(response)}); ` +
            `check 'docker login ${this.ref.registry}' and DOCKER_CONFIG`,
          401,
        );
      }
    }
    if (response.status >= 500) {
      throw new TransientError(`${method} ${url.pathname}: ${describeResponse(response)}`);
    }
    return response;
  }

  private async authenticate(response: RegistryResponse): Promise<void> {
    const header = response.headers["www-authenticate"];
    const challenges = parseChallenges(Array.isArray(header) ? header.join(", ") : (header ?? ""));
    const bearer = challenges.find((c) => c.scheme === "bearer");
    const basic = challenges.find((c) => c.scheme === "basic");
    const credentials = this.options.credentials;
    if (bearer) {
      this.authorization = `Bearer ${await this.fetchToken(bearer)}`;
    } else if (basic && credentials?.kind === "basic") {
      this.authorization = basicAuthorization(credentials.username, credentials.password);
    } else if (basic) {
      throw new RegistryError(
        `${this.ref.registry} needs a user name and password: run 'docker login ${this.ref.registry}' ` +
          `(kwt reads Docker's config.json; set DOCKER_CONFIG to use another directory)`,
        401,
      );
    } else {
      throw new RegistryError(
        `${this.ref.registry} answered 401 without a Basic or Bearer challenge (WWW-Authenticate: '${header ?? ""}')`,
        401,
      );
    }
  }

  private async fetchToken(challenge: Challenge): Promise<string> {
    const credentials = this.options.credentials;
    if (credentials?.kind === "registry-token") return credentials.token;
    const plan = tokenRequest(challenge, this.options.scopes, credentials);
    const url = new URL(plan.url);
    const body = plan.body === undefined ? undefined : new TextEncoder().encode(plan.body);
    const response = await this.retrying(async () => {
      const answer = await this.exchange(plan.method, url, { headers: plan.headers, body }, false);
      if (answer.status >= 500) {
        throw new TransientError(`token ${url.origin}${url.pathname}: ${describeResponse(answer)}`);
      }
      return answer;
    });
    if (response.status !== 200) {
      const who = credentials ? "the stored credentials" : "anonymous access";
      throw new RegistryError(
        `the token service ${url.origin}${url.pathname} refused ${who} (${describeResponse(response)}); ` +
          `run 'docker login ${this.ref.registry}' or check DOCKER_CONFIG`,
        response.status,
      );
    }
    return parseTokenResponse(response.body.toString("utf8"));
  }

  /** One HTTP exchange, following redirects; credentials go only to the registry's own origin. */
  private async exchange(
    method: string,
    url: URL,
    options: RequestOptions,
    withRegistryAuthorization = true,
  ): Promise<RegistryResponse> {
    const origin = url.origin;
    let current = url;
    let currentMethod = method;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const headers: Record<string, string> = { "user-agent": "kwt", ...options.headers };
      if (withRegistryAuthorization && this.authorization && current.origin === origin) {
        headers.authorization = this.authorization;
      }
      const body = currentMethod === "GET" || currentMethod === "HEAD" ? undefined : options.body;
      const response = await this.once(currentMethod, current, headers, body, options.onProgress);
      const location = response.headers.location;
      if (![301, 302, 303, 307, 308].includes(response.status) || !location) return response;
      const next = new URL(location, current);
      if (next.protocol === "http:" && current.protocol === "https:") {
        throw new RegistryError(
          `${current.host} redirected to plain HTTP (${next.origin}); refusing to downgrade`,
          0,
        );
      }
      if (response.status === 303) currentMethod = "GET";
      current = next;
    }
    throw new RegistryError(`${method} ${url.pathname}: more than ${MAX_REDIRECTS} redirects`, 0);
  }

  private once(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
    onProgress: RequestOptions["onProgress"],
  ): Promise<RegistryResponse> {
    const secure = url.protocol === "https:";
    const transport = secure ? https : http;
    const tls = this.options.tls;
    const trust =
      secure && tls
        ? { ...(tls.ca ? { ca: Buffer.from(tls.ca) } : {}), rejectUnauthorized: !tls.insecure }
        : {};
    const timeoutMs = this.options.timeoutMs ?? 60_000;
    return new Promise<RegistryResponse>((resolve, reject) => {
      const fail = (error: Error) =>
        reject(
          new TransientError(
            `${method} ${url.origin}${url.pathname}: ${error.message}` +
              (url.protocol === "https:" && /wrong version number|EPROTO/.test(error.message)
                ? " (the registry may speak plain HTTP: pass --plain-http if you trust the network)"
                : ""),
          ),
        );
      const request = transport.request(
        url,
        {
          method,
          headers: { ...headers, ...(body ? { "content-length": String(body.length) } : {}) },
          ...trust,
        },
        (response) => {
          const chunks: Buffer[] = [];
          let size = 0;
          response.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              request.destroy(new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          response.on("end", () =>
            resolve({
              status: response.statusCode ?? 0,
              headers: response.headers,
              body: Buffer.concat(chunks),
              url,
            }),
          );
          response.on("error", fail);
        },
      );
      request.setTimeout(timeoutMs, () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      request.on("error", fail);
      if (!body) {
        request.end();
        return;
      }
      void (async () => {
        for (let offset = 0; offset < body.length; offset += UPLOAD_CHUNK) {
          const chunk = body.subarray(offset, offset + UPLOAD_CHUNK);
          if (!request.write(chunk)) {
            // "close" as well: a request destroyed by an error never drains
            await new Promise((resume) => request.once("drain", resume).once("close", resume));
          }
          if (request.destroyed) return;
          onProgress?.(Math.min(offset + UPLOAD_CHUNK, body.length), body.length);
        }
        request.end();
      })();
    });
  }
}
