import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeEvent, describeRetry, renderTransfer } from "./push.js";
import { runKwt } from "../testing/kwt-cli.js";
import { startRegistry, type RunningRegistry } from "../testing/oci/registry.js";
import { freePort } from "../testing/free-port.js";

const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;

describe("push progress text", () => {
  it("renders a progress bar with percent and sizes", () => {
    expect(renderTransfer(DIGEST, 0, 2048, 10)).toBe("sha256:0123456789ab [----------]   0% 0.0/2.0 KiB");
    expect(renderTransfer(DIGEST, 1024, 2048, 10)).toBe("sha256:0123456789ab [#####-----]  50% 1.0/2.0 KiB");
    expect(renderTransfer(DIGEST, 2048, 2048, 10)).toBe("sha256:0123456789ab [##########] 100% 2.0/2.0 KiB");
    expect(renderTransfer(DIGEST, 0, 0, 4)).toBe("sha256:0123456789ab [####] 100% 0.0/0.0 KiB");
  });

  it("names each step and each retry", () => {
    expect(describeEvent({ kind: "blob-exists", digest: DIGEST, size: 1536 })).toBe(
      "sha256:0123456789ab already in the registry (1.5 KiB)",
    );
    expect(describeEvent({ kind: "manifest-pushed", digest: DIGEST, reference: "v1" })).toBe(
      "manifest sha256:0123456789ab pushed as v1",
    );
    expect(describeRetry({ attempt: 1, attempts: 4, delayMs: 500, reason: "GET /v2/: 503" })).toBe(
      "attempt 1/4 failed (GET /v2/: 503); retrying in 500 ms",
    );
  });
});

describe("kwt push against docker-registry with htpasswd auth", () => {
  let registry: RunningRegistry;
  let scratch: string;
  let withLogin: NodeJS.ProcessEnv;
  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { username: "pusher", password: "pw" } });
    scratch = await mkdtemp(path.join(os.tmpdir(), "kwt-push-cli-"));
    const dockerConfig = path.join(scratch, "docker");
    await mkdir(dockerConfig);
    await writeFile(
      path.join(dockerConfig, "config.json"),
      JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from("pusher:pw").toString("base64") } } }),
    );
    withLogin = { HOME: scratch, DOCKER_CONFIG: dockerConfig };
  });
  afterAll(async () => {
    await registry.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it("pushes with DOCKER_CONFIG's credentials, prints url and sha256, and sends nothing the second time", async () => {
    const first = await runKwt(
      ["push", `oci://${registry.host}/kwt/cli:v1`, "--format", "compat"],
      withLogin,
    );
    expect(first.code).toBe(0);
    const digest = /^digest=(sha256:[0-9a-f]{64})$/m.exec(first.stdout)?.[1];
    expect(first.stdout).toBe(
      `url=oci://${registry.host}/kwt/cli:v1\ndigest=${digest}\nsha256=${digest!.slice(7)}\n`,
    );
    const packaged = await runKwt(
      ["package", "--format", "compat", "--out", path.join(scratch, "layout")],
      withLogin,
    );
    expect(packaged.stdout).toContain(`digest=${digest}\n`);
    expect(first.stderr.split("\n").filter(Boolean)).toEqual([
      expect.stringMatching(/^sha256:[0-9a-f]{12} uploaded \(\d+\.\d KiB\)$/),
      expect.stringMatching(/^sha256:[0-9a-f]{12} uploaded \(\d+\.\d KiB\)$/),
      `manifest ${digest!.slice(0, 19)} pushed as v1`,
    ]);

    const second = await runKwt(["push", `${registry.host}/kwt/cli:v1`, "--format=compat"], withLogin);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    expect(second.stderr.split("\n").filter(Boolean)).toEqual([
      expect.stringMatching(/^sha256:[0-9a-f]{12} already in the registry/),
      expect.stringMatching(/^sha256:[0-9a-f]{12} already in the registry/),
      `manifest ${digest!.slice(0, 19)} already tagged v1`,
    ]);
  });

  it("pushes under latest without a tag, and by digest when REF names the image's own digest", async () => {
    const latest = await runKwt(["push", `${registry.host}/kwt/bare`], withLogin);
    expect(latest.stdout).toMatch(new RegExp(`^url=oci://${registry.host}/kwt/bare:latest\n`));
    const digest = /^digest=(\S+)$/m.exec(latest.stdout)![1]!;
    const byDigest = await runKwt(["push", `${registry.host}/kwt/pinned@${digest}`], withLogin);
    expect(byDigest.code).toBe(0);
    expect(byDigest.stdout).toMatch(new RegExp(`^url=oci://${registry.host}/kwt/pinned@${digest}\n`));
    const other = await runKwt(["push", `${registry.host}/kwt/pinned@sha256:${"f".repeat(64)}`], withLogin);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(
      `but the packaged manifest is ${digest}; drop '@sha256:${"f".repeat(64)}' or push a tag`,
    );
  });

  it("exits 1 telling an anonymous user to log in", async () => {
    const result = await runKwt(["push", `${registry.host}/kwt/cli:v2`], { HOME: scratch });
    expect(result).toEqual({
      code: 1,
      stdout: "",
      stderr: `kwt push: ${registry.host} needs a user name and password: run 'docker login ${registry.host}' (kwt reads Docker's config.json; set DOCKER_CONFIG to use another directory)\n`,
    });
  });

  it("exits 1 after the bounded retries when nothing listens", async () => {
    const port = await freePort();
    const result = await runKwt(["push", `127.0.0.1:${port}/kwt/cli:v1`, "--retries", "1"], withLogin);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(
        `^attempt 1/2 failed \\(HEAD http://127\\.0\\.0\\.1:${port}/v2/kwt/cli/blobs/sha256:[0-9a-f]{64}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\); retrying in 500 ms\n` +
          `kwt push: .*ECONNREFUSED.* \\(gave up after 2 attempts\\)\n$`,
      ),
    );
  });

  it("exits 2 with one line and a pointer to --help for a bad REF or flag, and 0 for --help", async () => {
    const bad = await runKwt(["push", "https://example.com/x"], withLogin);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /^kwt push: 'https:\/\/example\.com\/x': only oci:\/\/ or no scheme is accepted/,
    );
    expect((await runKwt(["push"], withLogin)).stderr).toBe(
      "kwt push: REF is missing\nsee 'kwt push --help'\n",
    );
    expect((await runKwt(["push", "r.example/a", "--retries", "99"], withLogin)).code).toBe(2);
    const help = await runKwt(["push", "--help"], withLogin);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: kwt push REF/);
  });
});
