// deploy/local/: two Envoy v3 configurations and a compose file (no Envoy or Docker here, so the
// checks are structural): the Wasm filter set up as Istio would (root id, V8, StringValue config the
// filter's schema accepts, fail open), Istio's tag-extraction rules for every label, mutual TLS from
// the certificates make-certs.sh makes, and mounts that point at real files.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { extractTags, extraStatTagRegex } from "../../host-tests/harness/index.js";
import { FILTER_METRIC_LABELS, FILTER_ROOT_ID } from "../deploy/filter-contract.js";
import { loadPluginConfigSchema } from "../deploy/filter-config-schema.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const LOCAL = path.join(root, "deploy/local");
const read = (file: string): string => readFileSync(path.join(LOCAL, file), "utf8");

type Json = Record<string, unknown>;

/** Every object in `node` (depth first) that has `key`. */
function objectsWith(node: unknown, key: string): Json[] {
  if (Array.isArray(node)) return node.flatMap((item) => objectsWith(item, key));
  if (node === null || typeof node !== "object") return [];
  const object = node as Json;
  const own = key in object ? [object] : [];
  return [...own, ...Object.values(object).flatMap((value) => objectsWith(value, key))];
}

interface EnvoyConfig {
  node: { id: string; locality: { region: string }; metadata: { CLUSTER_ID: string; LABELS?: Json } };
  stats_config: { use_all_default_tags: boolean; stats_tags: Array<{ tag_name: string; regex: string }> };
  static_resources: {
    listeners: Array<{ name: string; traffic_direction?: string }>;
    clusters: Array<{ name: string }>;
  };
}

const PROXIES = [
  {
    file: "envoy-east.yaml",
    service: "envoy-east",
    nodeType: "router",
    cluster: "east",
    direction: "OUTBOUND",
    // The harness demo's gateway configuration.
    pluginConfig: {},
  },
  {
    file: "envoy-west.yaml",
    service: "envoy-west",
    nodeType: "sidecar",
    cluster: "west",
    direction: "INBOUND",
    // The harness demo's revision pod configuration: the defaults.
    pluginConfig: {},
  },
] as const;

const compose = parse(read("compose.yaml")) as {
  services: Record<string, { image: string; volumes: string[] }>;
};

describe.each(PROXIES)("$file", (proxy) => {
  const config = parse(read(proxy.file)) as EnvoyConfig;
  const wasmFilters = objectsWith(config, "name").filter(
    (object) => object.name === "envoy.filters.http.wasm",
  );

  it("is the node Istio would make for it", () => {
    expect(config.node.id.split("~")[0]).toBe(proxy.nodeType);
    expect(config.node.metadata.CLUSTER_ID).toBe(proxy.cluster);
    expect(config.node.locality.region).not.toBe("");
    if (proxy.nodeType === "sidecar") {
      expect(config.node.metadata.LABELS).toMatchObject({ "serving.knative.dev/revision": "hello-00001" });
    }
    expect(config.static_resources.listeners[0]?.traffic_direction).toBe(proxy.direction);
  });

  it("runs the filter once, as a WasmPlugin would: root id, V8, fail open, the module from build/", () => {
    expect(wasmFilters).toHaveLength(1);
    const typed = wasmFilters[0]?.typed_config as Json & { config: Json & { vm_config: Json } };
    expect(typed["@type"]).toBe("type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm");
    expect(typed.config).toMatchObject({ name: FILTER_ROOT_ID, root_id: FILTER_ROOT_ID, fail_open: true });
    expect(typed.config.vm_config).toMatchObject({
      runtime: "envoy.wasm.runtime.v8",
      code: { local: { filename: "/etc/envoy/filter.wasm" } },
    });
    expect(compose.services[proxy.service]?.volumes).toContain(
      "../../build/filter.wasm:/etc/envoy/filter.wasm:ro",
    );
  });

  it("hands the filter the harness demo's configuration, which the filter's schema accepts", () => {
    const typed = wasmFilters[0]?.typed_config as {
      config: { configuration: { "@type": string; value: string } };
    };
    expect(typed.config.configuration["@type"]).toBe("type.googleapis.com/google.protobuf.StringValue");
    const pluginConfig: unknown = JSON.parse(typed.config.configuration.value);
    expect(pluginConfig).toEqual(proxy.pluginConfig);
    expect(loadPluginConfigSchema(root, {})(pluginConfig)).toEqual([]);
  });

  it("has Istio's tag-extraction rule for every label the filter emits, and only those", () => {
    expect(config.stats_config.use_all_default_tags).toBe(false);
    expect(config.stats_config.stats_tags).toEqual(
      FILTER_METRIC_LABELS.map((label) => ({ tag_name: label, regex: extraStatTagRegex(label) })),
    );
    const extractors = config.stats_config.stats_tags.map((tag) => ({
      name: tag.tag_name,
      regex: new RegExp(tag.regex, "d"),
    }));
    const stat =
      "wasmcustom.namespace_name=.=default;.;revision_name=.=hello-00001;.;source_cluster=.=east;.;knative_invocations_total";
    expect(extractTags(stat, extractors)).toEqual({
      tagExtractedName: "wasmcustom.knative_invocations_total",
      tags: [
        { name: "namespace_name", value: "default" },
        { name: "revision_name", value: "hello-00001" },
        { name: "source_cluster", value: "east" },
      ],
    });
  });

  it("routes only to clusters it defines and reads certificates make-certs.sh writes", () => {
    const defined = config.static_resources.clusters.map((cluster) => cluster.name);
    const routed = objectsWith(config, "route").flatMap((object) => {
      const route = object.route as { cluster?: string };
      return route.cluster ? [route.cluster] : [];
    });
    expect(routed.length).toBeGreaterThan(0);
    expect(routed.filter((cluster) => !defined.includes(cluster))).toEqual([]);
    const files = objectsWith(config, "filename").map((object) => object.filename as string);
    const certificates = files.filter((file) => file.startsWith("/etc/envoy/certs/"));
    expect(certificates.sort()).toEqual(
      ["ca.crt", `${proxy.cluster}.crt`, `${proxy.cluster}.key`]
        .map((name) => `/etc/envoy/certs/${name}`)
        .sort(),
    );
    expect(compose.services[proxy.service]?.volumes).toContain("./certs:/etc/envoy/certs:ro");
  });
});

describe("compose.yaml", () => {
  it("mounts files that exist", () => {
    const mounts = Object.values(compose.services).flatMap((service) =>
      service.volumes.map((volume) => volume.split(":")[0] as string),
    );
    const missing = mounts
      .filter((source) => source !== "./certs" && source !== "../../build/filter.wasm")
      .filter((source) => !existsSync(path.join(LOCAL, source)));
    expect(missing).toEqual([]);
  });

  it("requires mutual TLS into the revision pod's sidecar", () => {
    const west = parse(read("envoy-west.yaml")) as unknown;
    const downstream = objectsWith(west, "require_client_certificate");
    expect(downstream.map((context) => context.require_client_certificate)).toEqual([true]);
  });
});

describe.skipIf(!existsSync("/usr/bin/openssl"))("make-certs.sh", () => {
  const directory = mkdtempSync(path.join(os.tmpdir(), "kwt-certs-"));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it("makes a CA and a certificate per proxy that it signed, for both TLS roles", () => {
    const made = spawnSync("sh", [path.join(LOCAL, "make-certs.sh"), directory], {
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(made.status).toBe(0);
    const verify = spawnSync(
      "openssl",
      ["verify", "-CAfile", "ca.crt", "-purpose", "sslclient", "east.crt", "west.crt"],
      { cwd: directory, encoding: "utf8", timeout: 10_000 },
    );
    expect(verify.stdout).toBe("east.crt: OK\nwest.crt: OK\n");
    const server = spawnSync(
      "openssl",
      ["verify", "-CAfile", "ca.crt", "-purpose", "sslserver", "west.crt"],
      {
        cwd: directory,
        encoding: "utf8",
        timeout: 10_000,
      },
    );
    expect(server.stdout).toBe("west.crt: OK\n");
    const names = spawnSync("openssl", ["x509", "-in", "west.crt", "-noout", "-ext", "subjectAltName"], {
      cwd: directory,
      encoding: "utf8",
      timeout: 10_000,
    });
    expect(names.stdout).toContain("DNS:envoy-west");
  });
});
