import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCredentials } from "../oci/auth.js";
import { pushTestModule, startRegistry, type RunningRegistry } from "../testing/oci/registry.js";
import { parseOciImage } from "./image-ref.js";
import { checkRegistry } from "./registry-check.js";

const USER = { username: "robot", password: "pushing-s3cret" };
const FAST_RETRY = { attempts: 1, baseDelayMs: 10, maxDelayMs: 10 };

describe("checkRegistry against a docker-registry with htpasswd auth", () => {
  let registry: RunningRegistry;
  let digest: string;
  let dockerConfigDir: string;

  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: USER });
    digest = await pushTestModule(registry.host, "kwt/filter", "1.4.0", {
      credentials: { kind: "basic", ...USER },
    });
    await pushTestModule(registry.host, "kwt/filter", "1.5.0", {
      variant: 1,
      credentials: { kind: "basic", ...USER },
    });
    // What `docker login` writes, and what kwt push reads.
    dockerConfigDir = mkdtempSync(path.join(os.tmpdir(), "kwt-docker-config-"));
    const auth = Buffer.from(`${USER.username}:${USER.password}`).toString("base64");
    writeFileSync(
      path.join(dockerConfigDir, "config.json"),
      JSON.stringify({ auths: { [registry.host]: { auth } } }),
    );
  });
  afterAll(async () => {
    await registry.stop();
    rmSync(dockerConfigDir, { recursive: true, force: true });
  });

  const credentials = () => loadCredentials(registry.host, path.join(dockerConfigDir, "config.json"));

  it("passes when the digest is there and the tag points at it, with push's credentials", async () => {
    const image = parseOciImage(`oci://${registry.host}/kwt/filter:1.4.0`);
    expect(
      await checkRegistry(image, digest, { credentials: await credentials(), retry: FAST_RETRY }),
    ).toEqual([]);
    const pinned = parseOciImage(`oci://${registry.host}/kwt/filter@${digest}`);
    expect(
      await checkRegistry(pinned, digest, { credentials: await credentials(), retry: FAST_RETRY }),
    ).toEqual([]);
  });

  it("names a tag that points at another image, and a tag or digest that is missing", async () => {
    const moved = parseOciImage(`oci://${registry.host}/kwt/filter:1.5.0`);
    const [problem] = await checkRegistry(moved, digest, {
      credentials: await credentials(),
      retry: FAST_RETRY,
    });
    expect(problem).toMatch(
      new RegExp(
        `^${registry.host}/kwt/filter:1\\.5\\.0 points at sha256:[0-9a-f]{64}, not the pinned ${digest}: sidecars would refuse the module \\(checksum mismatch\\)`,
      ),
    );
    const unknownTag = parseOciImage(`oci://${registry.host}/kwt/filter:9.9.9`);
    expect(
      await checkRegistry(unknownTag, digest, { credentials: await credentials(), retry: FAST_RETRY }),
    ).toEqual([
      `${registry.host}/kwt/filter:9.9.9 is not in the registry (404 Not Found); sidecars pull the WasmPlugin's url, so push that tag`,
    ]);
  });

  it("without the credentials push uses, says so instead of passing", async () => {
    const image = parseOciImage(`oci://${registry.host}/kwt/filter:1.4.0`);
    const [problem] = await checkRegistry(image, digest, { retry: FAST_RETRY });
    expect(problem).toBe(
      `${registry.host}/kwt/filter: cannot check the image: ${registry.host} needs a user name and password: run 'docker login ${registry.host}' (kwt reads Docker's config.json; set DOCKER_CONFIG to use another directory)`,
    );
  });
});
