import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { runKwt } from "../testing/kwt-cli.js";
import { startRegistry, type RunningRegistry } from "../testing/oci/registry.js";

let scratch: string;
let env: NodeJS.ProcessEnv;
let moduleSha256: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(os.tmpdir(), "kwt-registry-cli-"));
  env = { HOME: scratch };
  const root = path.resolve(import.meta.dirname, "../..");
  moduleSha256 = createHash("sha256")
    .update(await readFile(path.join(root, "build", "filter.wasm")))
    .digest("hex");
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("kwt push / inspect / deploy over HTTPS with the registry's own CA", () => {
  let registry: RunningRegistry;
  let ca: string;
  beforeAll(async () => {
    const dir = path.join(scratch, "tls");
    await mkdir(dir);
    ca = path.join(dir, "cert.pem");
    const key = path.join(dir, "key.pem");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        key,
        "-out",
        ca,
      ],
      { stdio: "ignore" },
    );
    registry = await startRegistry(
      { htpasswd: { username: "pusher", password: "s3cret" } },
      { certificate: ca, key },
    );
  });
  afterAll(async () => {
    await registry.stop();
  });

  it("pushes with --ca-file and --username/--password-stdin; names an unreadable CA file and a wrong password", async () => {
    const ref = `${registry.host}/kwt/tls:v1`;
    const pushed = await runKwt(
      ["push", ref, "--ca-file", ca, "--username", "pusher", "--password-stdin"],
      env,
      60_000,
      "s3cret\n",
    );
    expect(pushed.code).toBe(0);
    expect(pushed.stdout).toMatch(new RegExp(`^url=oci://${registry.host}/kwt/tls:v1\n`));

    const untrusted = await runKwt(
      [
        "inspect",
        ref,
        "--username",
        "pusher",
        "--password-stdin",
        "--retries",
        "0",
        "--ca-file",
        path.join(scratch, "none.pem"),
      ],
      env,
      60_000,
      "s3cret",
    );
    expect(untrusted).toMatchObject({ code: 1, stdout: "" });
    expect(untrusted.stderr).toMatch(/^kwt inspect: --ca-file \S+none\.pem: cannot read it/);

    const wrongPassword = await runKwt(
      ["inspect", ref, "--insecure", "--username", "pusher", "--password-stdin"],
      env,
      60_000,
      "wrong",
    );
    expect(wrongPassword.code).toBe(1);
    expect(wrongPassword.stderr).toContain("refused the credentials");

    const insecure = await runKwt(
      ["inspect", ref, "--insecure", "--username", "pusher", "--password-stdin", "-o", "json"],
      env,
      60_000,
      "s3cret",
    );
    expect(insecure.code).toBe(0);
    const digest = /^digest=(\S+)$/m.exec(pushed.stdout)![1]!;
    const document = JSON.parse(insecure.stdout) as Record<string, unknown>;
    expect(document).toMatchObject({
      version: 1,
      command: "inspect",
      image: {
        url: `oci://${ref}`,
        digest,
        sha256: digest.slice(7),
        format: "artifact",
        manifestMediaType: "application/vnd.oci.image.manifest.v1+json",
        module: { sha256: moduleSha256, abi: "0.2.0" },
      },
    });
  });

  it("deploy's registry check reaches the registry as push does: --ca-file and --username/--password-stdin", async () => {
    // Runs after the push test above, which put kwt/tls:v1 in the registry.
    const clusters = path.join(scratch, "tls", "clusters.yaml");
    await writeFile(
      clusters,
      `image: oci://${registry.host}/kwt/tls:v1\nclusters:\n  - { name: east, context: ctx-east, region: us-east1 }\n`,
    );
    const absent = `sha256:${"0".repeat(64)}`;
    const deploy = (extra: string[], stdin = "") =>
      runKwt(
        ["deploy", "--clusters", clusters, "--digest", absent, "--retries", "0", ...extra],
        env,
        60_000,
        stdin,
      );

    // With the registry's CA and the user: the registry answers, and the check names what it said.
    const reached = await deploy(["--ca-file", ca, "--username", "pusher", "--password-stdin"], "s3cret\n");
    expect(reached.code).toBe(1);
    expect(reached.stderr).toContain("kwt deploy: nothing applied anywhere; the registry check failed:");
    expect(reached.stderr).toContain(`${registry.host}/kwt/tls@${absent} is not in the registry (404`);
    expect(reached.stderr).toMatch(/kwt\/tls:v1 points at sha256:[0-9a-f]{64}, not the pinned/);

    // --insecure reaches it too; without the user the registry asks for one.
    const insecure = await deploy(["--insecure", "--username", "pusher", "--password-stdin"], "s3cret\n");
    expect(insecure.code).toBe(1);
    expect(insecure.stderr).toContain(`${registry.host}/kwt/tls@${absent} is not in the registry (404`);
    const anonymous = await deploy(["--ca-file", ca]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).not.toContain("is not in the registry");
    expect(anonymous.stderr).toMatch(/401|credentials|log in|user name/i);

    const mixed = await deploy(["--plain-http", "--ca-file", ca]);
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toMatch(/^kwt deploy: --plain-http talks no TLS/);
  });

  it("refuses a certificate no given CA signed, and TLS flags beside --plain-http", async () => {
    const other = path.join(scratch, "tls", "other.pem");
    execFileSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other"].concat([
        "-keyout",
        path.join(scratch, "tls", "other-key.pem"),
        "-out",
        other,
      ]),
      { stdio: "ignore" },
    );
    const untrusted = await runKwt(
      ["inspect", `${registry.host}/kwt/tls:v1`, "--ca-file", other, "--retries", "0"],
      env,
    );
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(
      /^kwt inspect: GET https:\/\/127\.0\.0\.1:\d+\/v2\/kwt\/tls\/manifests\/v1: self.signed certificate/,
    );
    const result = await runKwt(
      ["inspect", `${registry.host}/kwt/tls:v1`, "--plain-http", "--insecure"],
      env,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "kwt inspect: --plain-http talks no TLS: --insecure and --ca-file do not go with it\nsee 'kwt inspect --help'\n",
    );
    const noPassword = await runKwt(["push", `${registry.host}/kwt/tls:v1`, "--username", "pusher"], env);
    expect(noPassword.code).toBe(2);
    expect(noPassword.stderr).toMatch(/^kwt push: --username needs --password-stdin/);
  });
});

describe("kwt inspect / push against a plain docker-registry", () => {
  let registry: RunningRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => {
    await registry.stop();
  });

  it("inspect prints digest, format and the module as istio-agent extracts it", async () => {
    const ref = `${registry.host}/kwt/compat:v1`;
    const pushed = await runKwt(["push", ref, "--format", "compat"], env);
    expect(pushed.code).toBe(0);
    const digest = /^digest=(\S+)$/m.exec(pushed.stdout)![1]!;
    const size = (await readFile(path.resolve(import.meta.dirname, "../../build/filter.wasm"))).length;
    const text = await runKwt(["inspect", ref], env);
    expect(text).toEqual({
      code: 0,
      stderr: "",
      stdout: [
        `url     oci://${ref}`,
        `digest  ${digest}`,
        `sha256  ${digest.slice(7)}  (WasmPlugin.sha256)`,
        "format  compat  (application/vnd.oci.image.manifest.v1+json)",
        `module  ${size} bytes, sha256:${moduleSha256}`,
        "abi     0.2.0",
        "",
      ].join("\n"),
    });
    const yaml = parse((await runKwt(["inspect", ref, "--output=yaml"], env)).stdout) as {
      image: { format: string; module: { size: number } };
    };
    expect([yaml.image.format, yaml.image.module.size]).toEqual(["compat", size]);
    const missing = await runKwt(["inspect", `${registry.host}/kwt/none:v1`], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^kwt inspect: could not fetch manifest .*404 MANIFEST_UNKNOWN/);
  });

  it("push refuses a Wasm module Envoy would not load, before contacting the registry", async () => {
    const bare = path.join(scratch, "bare.wasm");
    await writeFile(bare, Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
    const result = await runKwt(["push", `${registry.host}/kwt/bare:v1`, "--wasm", bare], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      "is not a Proxy-Wasm module Envoy would load: Missing or unknown Proxy-Wasm ABI version",
    );
    expect((await runKwt(["inspect", `${registry.host}/kwt/bare:v1`], env)).code).toBe(1);
  });

  it("names a credential helper missing from PATH instead of 'spawn ENOENT'", async () => {
    const dockerConfig = path.join(scratch, "helper-docker");
    await mkdir(dockerConfig, { recursive: true });
    await writeFile(
      path.join(dockerConfig, "config.json"),
      JSON.stringify({ credHelpers: { [registry.host]: "kwt-test-absent" } }),
    );
    const result = await runKwt(["push", `${registry.host}/kwt/helper:v1`], {
      ...env,
      DOCKER_CONFIG: dockerConfig,
    });
    expect(result).toEqual({
      code: 1,
      stdout: "",
      stderr: `kwt push: docker-credential-kwt-test-absent not found on PATH: Docker's config.json names the credential helper 'kwt-test-absent' for ${registry.host} (credHelpers or credsStore); install it or remove that entry\n`,
    });
  });
});

describe("a REF without a registry host", () => {
  it("warns that it means Docker Hub", async () => {
    // A missing module stops the push before any request leaves the machine.
    const result = await runKwt(["push", "127.0.0.1:25500", "--wasm", path.join(scratch, "none.wasm")], env);
    expect(result.code).toBe(1);
    expect(result.stderr.split("\n")[0]).toBe(
      "kwt push: warning: '127.0.0.1:25500' names no registry host, so it means Docker Hub (docker.io/library/127.0.0.1:25500); to use another registry write HOST[:PORT]/REPOSITORY[:TAG], e.g. 127.0.0.1:5000/kwt/filter:v1",
    );
    const explicit = await runKwt(
      ["push", "docker.io/library/x:1", "--wasm", path.join(scratch, "none.wasm")],
      env,
    );
    expect(explicit.stderr).not.toContain("warning");
  });
});
