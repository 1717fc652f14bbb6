import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  credentialSource,
  dockerConfigPath,
  helperCredentials,
  loadCredentials,
  parseChallenges,
  parseTokenResponse,
  repositoryScope,
  tokenRequest,
} from "./auth.js";

describe("parseChallenges", () => {
  it("reads a Docker Hub style Bearer challenge", () => {
    expect(
      parseChallenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"',
      ),
    ).toEqual([
      {
        scheme: "bearer",
        params: {
          realm: "https://auth.docker.io/token",
          service: "registry.docker.io",
          scope: "repository:library/ubuntu:pull",
        },
      },
    ]);
  });

  it("reads Basic, unquoted values, escapes, commas in quotes and several challenges", () => {
    expect(parseChallenges('Basic realm="kwt-test"')).toEqual([
      { scheme: "basic", params: { realm: "kwt-test" } },
    ]);
    expect(
      parseChallenges(
        'Bearer realm="https://a/t", scope="repository:x:pull,push", Basic realm="say \\"hi\\"", charset=UTF-8',
      ),
    ).toEqual([
      { scheme: "bearer", params: { realm: "https://a/t", scope: "repository:x:pull,push" } },
      { scheme: "basic", params: { realm: 'say "hi"', charset: "UTF-8" } },
    ]);
    expect(parseChallenges("")).toEqual([]);
  });

  it("says where a malformed header goes wrong", () => {
    expect(() => parseChallenges('Bearer realm="open')).toThrow("unterminated quoted value for 'realm'");
    expect(() => parseChallenges("Bearer realm=x, =y")).toThrow("unexpected '=' at");
  });
});

describe("tokenRequest", () => {
  const challenge = {
    scheme: "bearer",
    params: { realm: "https://auth.example/token?x=1", service: "reg", scope: "repository:a/b:pull" },
  };

  it("asks anonymously by GET with the challenge's scope plus ours, without duplicates", () => {
    expect(
      tokenRequest(challenge, [repositoryScope("a/b", ["pull", "push"]), "repository:a/b:pull"]),
    ).toEqual({
      method: "GET",
      url: "https://auth.example/token?x=1&service=reg&scope=repository%3Aa%2Fb%3Apull&scope=repository%3Aa%2Fb%3Apull%2Cpush",
      headers: {},
    });
  });

  it("sends Basic credentials with the GET", () => {
    const plan = tokenRequest(challenge, [], { kind: "basic", username: "u", password: "p:w" });
    expect(plan.headers).toEqual({ authorization: `Basic ${Buffer.from("u:p:w").toString("base64")}` });
  });

  it("exchanges an identity token with the OAuth2 refresh_token grant", () => {
    const plan = tokenRequest(challenge, ["repository:a/b:pull,push"], {
      kind: "identity-token",
      token: "r1",
    });
    expect(plan.method).toBe("POST");
    expect(plan.url).toBe("https://auth.example/token?x=1");
    expect(Object.fromEntries(new URLSearchParams(plan.body))).toEqual({
      grant_type: "refresh_token",
      refresh_token: "r1",
      client_id: "kwt",
      service: "reg",
      scope: "repository:a/b:pull repository:a/b:pull,push",
    });
  });

  it("refuses challenges it cannot answer", () => {
    expect(() => tokenRequest({ scheme: "bearer", params: {} }, [])).toThrow("has no realm");
    expect(() => tokenRequest({ scheme: "bearer", params: { realm: "nope" } }, [])).toThrow(
      "'nope' is not a URL",
    );
  });
});

describe("parseTokenResponse", () => {
  it("takes token, else access_token", () => {
    expect(parseTokenResponse('{"token":"t1","access_token":"t2"}')).toBe("t1");
    expect(parseTokenResponse('{"access_token":"t2"}')).toBe("t2");
    expect(() => parseTokenResponse("{}")).toThrow("has no token");
    expect(() => parseTokenResponse("<html>")).toThrow("did not answer JSON");
  });
});

describe("credentialSource (Docker config.json)", () => {
  const auth = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString("base64");

  it("matches auths keys by host, whatever scheme or path they are written with", () => {
    const config = {
      auths: {
        "https://127.0.0.1:5000/v1/": { auth: auth("a", "b:c") },
        "other.example": { auth: auth("x", "y") },
      },
    };
    expect(credentialSource(config, "127.0.0.1:5000")).toEqual({
      kind: "inline",
      credentials: { kind: "basic", username: "a", password: "b:c" },
    });
    expect(credentialSource(config, "127.0.0.1:5001")).toEqual({ kind: "none" });
  });

  it("knows Docker Hub's key spellings", () => {
    const config = { auths: { "https://index.docker.io/v1/": { username: "hub", password: "pw" } } };
    expect(credentialSource(config, "docker.io")).toEqual({
      kind: "inline",
      credentials: { kind: "basic", username: "hub", password: "pw" },
    });
  });

  it("prefers tokens over passwords, as Docker does", () => {
    expect(credentialSource({ auths: { r: { auth: auth("a", "b"), identitytoken: "id" } } }, "r")).toEqual({
      kind: "inline",
      credentials: { kind: "identity-token", token: "id" },
    });
    expect(credentialSource({ auths: { r: { registrytoken: "bearer" } } }, "r")).toEqual({
      kind: "inline",
      credentials: { kind: "registry-token", token: "bearer" },
    });
  });

  it("uses credHelpers for the registry before auths, and credsStore as the fallback", () => {
    const config = {
      auths: { r: { auth: auth("a", "b") }, s: {} },
      credHelpers: { r: "ecr" },
      credsStore: "desktop",
    };
    expect(credentialSource(config, "r")).toEqual({ kind: "helper", helper: "ecr", serverUrl: "r" });
    expect(credentialSource(config, "s")).toEqual({ kind: "helper", helper: "desktop", serverUrl: "s" });
  });

  it("explains a malformed auth entry", () => {
    expect(() =>
      credentialSource({ auths: { r: { auth: Buffer.from("nocolon").toString("base64") } } }, "r"),
    ).toThrow(`auths["r"].auth must be base64 of 'user:password'`);
  });

  it("reads helper answers, with <token> meaning an identity token", () => {
    expect(helperCredentials("x", '{"ServerURL":"r","Username":"u","Secret":"s"}')).toEqual({
      kind: "basic",
      username: "u",
      password: "s",
    });
    expect(helperCredentials("x", '{"Username":"<token>","Secret":"id"}')).toEqual({
      kind: "identity-token",
      token: "id",
    });
  });
});

describe("dockerConfigPath and loadCredentials", () => {
  let dir: string;
  const savedPath = process.env.PATH;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "kwt-auth-"));
  });
  afterAll(async () => {
    process.env.PATH = savedPath;
    await rm(dir, { recursive: true, force: true });
  });

  it("honours DOCKER_CONFIG, else ~/.docker", () => {
    expect(dockerConfigPath({ DOCKER_CONFIG: "/etc/kwt" }, "/home/u")).toBe("/etc/kwt/config.json");
    expect(dockerConfigPath({}, "/home/u")).toBe("/home/u/.docker/config.json");
  });

  it("is anonymous without a config file and says which file is broken", async () => {
    expect(await loadCredentials("r", path.join(dir, "missing.json"))).toBeUndefined();
    await writeFile(path.join(dir, "broken.json"), "{");
    await expect(loadCredentials("r", path.join(dir, "broken.json"))).rejects.toThrow(
      `${path.join(dir, "broken.json")} is not valid JSON`,
    );
  });

  it("runs docker-credential-<helper> get with the server URL on stdin", async () => {
    const bin = path.join(dir, "bin");
    await mkdir(bin);
    const helper = path.join(bin, "docker-credential-kwttest");
    await writeFile(
      helper,
      '#!/bin/sh\nread server\nif [ "$1" = get ] && [ "$server" = reg.example ]; then echo "{\\"Username\\":\\"u-$server\\",\\"Secret\\":\\"s\\"}"; else echo "credentials not found in native keychain"; exit 1; fi\n',
    );
    await chmod(helper, 0o755);
    process.env.PATH = `${bin}:${savedPath}`;
    const config = path.join(dir, "helper.json");
    await writeFile(config, JSON.stringify({ credsStore: "kwttest" }));
    expect(await loadCredentials("reg.example", config)).toEqual({
      kind: "basic",
      username: "u-reg.example",
      password: "s",
    });
    expect(await loadCredentials("unknown.example", config)).toBeUndefined();
  });
});
