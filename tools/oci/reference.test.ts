import { describe, expect, it } from "vitest";
import { apiHost, isLoopback, ociUrl, parseReference } from "./reference.js";

const DIGEST = `sha256:${"ab".repeat(32)}`;

describe("parseReference", () => {
  it.each([
    ["127.0.0.1:5000/ns/name:tag", { registry: "127.0.0.1:5000", repository: "ns/name", tag: "tag" }],
    ["oci://127.0.0.1:5000/ns/name:tag", { registry: "127.0.0.1:5000", repository: "ns/name", tag: "tag" }],
    ["localhost/filter", { registry: "localhost", repository: "filter" }],
    [
      "ghcr.io/org/team/filter:v1.0_rc-1",
      { registry: "ghcr.io", repository: "org/team/filter", tag: "v1.0_rc-1" },
    ],
    [
      `registry.example:443/a/b@${DIGEST}`,
      { registry: "registry.example:443", repository: "a/b", digest: DIGEST },
    ],
    [`r.example/a:v1@${DIGEST}`, { registry: "r.example", repository: "a", tag: "v1", digest: DIGEST }],
    ["[::1]:5000/x:y", { registry: "[::1]:5000", repository: "x", tag: "y" }],
    ["kwt/filter:v1", { registry: "docker.io", repository: "kwt/filter", tag: "v1" }],
    ["filter", { registry: "docker.io", repository: "library/filter" }],
    ["my_org/a__b/c-d.e", { registry: "docker.io", repository: "my_org/a__b/c-d.e" }],
  ])("%s", (text, expected) => {
    expect(parseReference(text)).toEqual(expected);
  });

  it.each([
    ["https://r.example/a:b", "only oci:// or no scheme is accepted"],
    ["r.example/A:b", "repository component 'A' must be lower-case"],
    ["r.example/a:-b", "tag '-b' is not valid"],
    ["r.example/a@sha256:abc", "digest must be sha256: followed by 64 lower-case hex digits"],
    ["r.example/a//b", "repository component '' must be"],
    ["bad_host.example:5000/a", "'bad_host.example:5000' is not a valid host[:port]"],
  ])("refuses %s", (text, message) => {
    expect(() => parseReference(text)).toThrow(message);
  });
});

describe("hosts and URLs", () => {
  it("sends Docker Hub API calls to registry-1.docker.io and others to the registry itself", () => {
    expect(apiHost(parseReference("kwt/filter"))).toBe("registry-1.docker.io");
    expect(apiHost(parseReference("127.0.0.1:5000/kwt/filter"))).toBe("127.0.0.1:5000");
  });

  it.each([
    ["127.0.0.1:5000", true],
    ["127.10.0.1", true],
    ["localhost:5000", true],
    ["[::1]:5000", true],
    ["128.0.0.1:5000", false],
    ["localhost.example.com", false],
    ["ghcr.io", false],
  ])("isLoopback(%s) = %s", (registry, expected) => {
    expect(isLoopback(registry)).toBe(expected);
  });

  it("writes the oci:// URL WasmPlugin.url takes", () => {
    expect(ociUrl(parseReference("127.0.0.1:5000/ns/name:tag"))).toBe("oci://127.0.0.1:5000/ns/name:tag");
    expect(ociUrl(parseReference(`r.example/a@${DIGEST}`))).toBe(`oci://r.example/a@${DIGEST}`);
  });
});
