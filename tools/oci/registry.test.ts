import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCredentials, repositoryScope, type Credentials } from "./auth.js";
import { packageModule, type PackageFormat } from "./layout.js";
import { pullModule } from "./pull.js";
import { pushImage } from "./push.js";
import { parseReference } from "./reference.js";
import { RegistryClient, RegistryError } from "./registry-client.js";
import { startRegistry, type RunningRegistry } from "../testing/oci/registry.js";
import { startTokenServer, type TokenServer } from "../testing/oci/token-server.js";

const run = promisify(execFile);
const FILTER_WASM = path.resolve(import.meta.dirname, "../../build/filter.wasm");
const FAST_RETRY = { attempts: 2, baseDelayMs: 10, maxDelayMs: 10 };

let module: Uint8Array;
let scratch: string;

beforeAll(async () => {
  module = await readFile(FILTER_WASM).catch(() => {
    throw new Error(`${FILTER_WASM} is missing: run 'npm run build' first`);
  });
  scratch = await mkdtemp(path.join(os.tmpdir(), "kwt-registry-test-"));
});
afterAll(() => rm(scratch, { recursive: true, force: true }));

function clientFor(reference: string, credentials?: Credentials) {
  const ref = parseReference(reference);
  return new RegistryClient(ref, {
    credentials,
    scopes: [repositoryScope(ref.repository, ["pull", "push"])],
    retry: FAST_RETRY,
  });
}

async function skopeo(...args: string[]): Promise<string> {
  return (await run("skopeo", args, { timeout: 30_000 })).stdout;
}

describe.each<PackageFormat>(["artifact", "compat"])(
  "%s format against an open docker-registry",
  (format) => {
    let registry: RunningRegistry;
    beforeAll(async () => {
      registry = await startRegistry();
    });
    afterAll(() => registry.stop());

    it("pushes every blob and the manifest, which skopeo and an istio-agent pull read back unchanged", async () => {
      const image = packageModule(module, format, "filter.wasm");
      const reference = `${registry.host}/kwt/filter:v1`;
      const result = await pushImage(clientFor(reference), image, "v1");
      expect(result.uploadedBlobs).toEqual([...image.blobs.keys()]);
      expect(result.existingBlobs).toEqual([]);
      expect(result.manifestUploaded).toBe(true);
      expect(result.digest).toBe(image.manifestDescriptor.digest);

      const raw = await skopeo("inspect", "--tls-verify=false", "--raw", `docker://${reference}`);
      expect(raw).toBe(new TextDecoder().decode(image.manifest));

      const copy = path.join(scratch, `copy-${format}`);
      await skopeo("copy", "--src-tls-verify=false", `docker://${reference}`, `oci:${copy}:v1`);
      const index = JSON.parse(await readFile(path.join(copy, "index.json"), "utf8")) as {
        manifests: { digest: string }[];
      };
      expect(index.manifests.map((m) => m.digest)).toEqual([image.manifestDescriptor.digest]);

      const pulled = await pullModule(parseReference(`oci://${reference}`), {
        expectedSha256: image.manifestDescriptor.digest.slice("sha256:".length),
        retry: FAST_RETRY,
      });
      expect(pulled.format).toBe(format);
      expect(pulled.digest).toBe(image.manifestDescriptor.digest);
      expect(Buffer.from(pulled.module.subarray(0, 4))).toEqual(Buffer.from([0, 0x61, 0x73, 0x6d]));
      expect(Buffer.from(pulled.module).equals(Buffer.from(module))).toBe(true);
    });

    it("uploads nothing when the same image is pushed again", async () => {
      const image = packageModule(module, format, "filter.wasm");
      const events: string[] = [];
      const result = await pushImage(clientFor(`${registry.host}/kwt/filter:v1`), image, "v1", (e) =>
        events.push(e.kind),
      );
      expect(result.uploadedBlobs).toEqual([]);
      expect(result.existingBlobs).toEqual([...image.blobs.keys()]);
      expect(result.manifestUploaded).toBe(false);
      expect(events).toEqual([...image.blobs.keys()].map(() => "blob-exists").concat("manifest-exists"));
    });

    it("refuses a pull whose manifest digest differs from WasmPlugin.sha256", async () => {
      const wrong = "0".repeat(64);
      await expect(
        pullModule(parseReference(`${registry.host}/kwt/filter:v1`), {
          expectedSha256: wrong,
          retry: FAST_RETRY,
        }),
      ).rejects.toThrow(`which does not match: ${wrong}`);
    });
  },
);

describe("htpasswd basic auth with credentials from Docker's config.json", () => {
  let registry: RunningRegistry;
  let dockerConfig: string;
  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { username: "kwt", password: "s3cret:with colon" } });
    dockerConfig = path.join(scratch, "docker-basic");
    await mkdir(dockerConfig);
    const auth = Buffer.from("kwt:s3cret:with colon").toString("base64");
    await writeFile(
      path.join(dockerConfig, "config.json"),
      JSON.stringify({ auths: { [`http://${registry.host}/v2/`]: { auth } } }),
    );
  });
  afterAll(() => registry.stop());

  it("pushes with the config's credentials and skopeo reads the image with them", async () => {
    const credentials = await loadCredentials(registry.host, path.join(dockerConfig, "config.json"));
    expect(credentials).toEqual({ kind: "basic", username: "kwt", password: "s3cret:with colon" });
    const image = packageModule(module, "artifact", "filter.wasm");
    const reference = `${registry.host}/private/filter:v2`;
    const result = await pushImage(clientFor(reference, credentials), image, "v2");
    expect(result.manifestUploaded).toBe(true);
    const raw = await skopeo(
      "inspect",
      "--tls-verify=false",
      "--creds",
      "kwt:s3cret:with colon",
      "--raw",
      `docker://${reference}`,
    );
    expect(raw).toBe(new TextDecoder().decode(image.manifest));
    const pulled = await pullModule(parseReference(reference), { credentials, retry: FAST_RETRY });
    expect(pulled.digest).toBe(image.manifestDescriptor.digest);
  });

  it("tells an anonymous user to log in, and a wrong password that it was refused", async () => {
    const image = packageModule(module, "artifact", "filter.wasm");
    const reference = `${registry.host}/private/filter:v3`;
    await expect(pushImage(clientFor(reference), image, "v3")).rejects.toThrow(
      `${registry.host} needs a user name and password: run 'docker login ${registry.host}'`,
    );
    const wrong: Credentials = { kind: "basic", username: "kwt", password: "nope" };
    const failure = await pushImage(clientFor(reference, wrong), image, "v3").catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(RegistryError);
    expect((failure as RegistryError).status).toBe(401);
    expect((failure as Error).message).toContain(
      `${registry.host} refused the credentials for private/filter`,
    );
  });
});

describe("bearer tokens from a token service (the registry's token auth)", () => {
  let tokens: TokenServer;
  let registry: RunningRegistry;
  beforeAll(async () => {
    tokens = await startTokenServer({ username: "ci", password: "pw", identityToken: "refresh-me" });
    registry = await startRegistry({ token: tokens });
  });
  afterAll(async () => {
    await registry.stop();
    await tokens.close();
  });

  it("fetches one token with pull and push scope using Basic credentials, then pushes and pulls", async () => {
    const image = packageModule(module, "compat", "filter.wasm");
    const reference = `${registry.host}/team/filter:v1`;
    tokens.requests.length = 0;
    const result = await pushImage(
      clientFor(reference, { kind: "basic", username: "ci", password: "pw" }),
      image,
      "v1",
    );
    expect(result.manifestUploaded).toBe(true);
    expect(tokens.requests).toEqual([
      {
        method: "GET",
        service: "kwt-test-registry",
        scopes: ["repository:team/filter:pull", "repository:team/filter:pull,push"],
        principal: "ci",
      },
    ]);
    const pulled = await pullModule(parseReference(reference), {
      credentials: { kind: "basic", username: "ci", password: "pw" },
      retry: FAST_RETRY,
    });
    expect(pulled.format).toBe("compat");
    expect(Buffer.from(pulled.module).equals(Buffer.from(module))).toBe(true);
  });

  it("exchanges an identity token with the refresh_token grant", async () => {
    const image = packageModule(module, "artifact", "filter.wasm");
    tokens.requests.length = 0;
    const result = await pushImage(
      clientFor(`${registry.host}/team/other:v1`, { kind: "identity-token", token: "refresh-me" }),
      image,
      "v1",
    );
    expect(result.manifestUploaded).toBe(true);
    expect(tokens.requests).toEqual([
      {
        method: "POST",
        service: "kwt-test-registry",
        scopes: ["repository:team/other:pull", "repository:team/other:pull,push"],
        principal: "identity-token",
      },
    ]);
  });

  it("reports a refused token request with what to do", async () => {
    const image = packageModule(module, "artifact", "filter.wasm");
    await expect(
      pushImage(
        clientFor(`${registry.host}/team/filter:v9`, { kind: "basic", username: "ci", password: "bad" }),
        image,
        "v9",
      ),
    ).rejects.toThrow(
      /token service http:\/\/127\.0\.0\.1:\d+\/token refused the stored credentials \(401 UNAUTHORIZED: bad credentials\); run 'docker login/,
    );
  });
});
