// deploy/istio/access-logs/ and the Telemetry resources that enable them: the providers use only
// fields Istio's MeshConfig has (Istio 1.20 and later), print every value the filter sets on the
// stream under its own name, and the Telemetry resources pass Istio's CRD schemas; the collector
// keeps the cluster and region on every log record.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ACCESS_LOG_FIELDS } from "../deploy/filter-contract.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const read = (file: string): string => readFileSync(path.join(root, file), "utf8");

/**
 * The provider fields of istio/api `mesh/v1alpha1/config.proto` (EnvoyFileAccessLogProvider,
 * EnvoyOpenTelemetryLogProvider) as Istio 1.20.0 has them; later releases only add fields
 * (`omitEmptyValues` in 2025), so a provider using these loads on every supported release.
 */
const PROVIDER_FIELDS = {
  envoyFileAccessLog: ["path", "logFormat"],
  envoyOtelAls: ["service", "port", "logName", "logFormat"],
} as const;

interface LogFormat {
  text?: string;
  labels?: Record<string, string>;
}
interface Provider {
  name: string;
  envoyFileAccessLog?: { path?: string; logFormat?: LogFormat };
  envoyOtelAls?: { service?: string; port?: number; logName?: string; logFormat?: LogFormat };
}

const providers = (
  parse(read("deploy/istio/access-logs/mesh-config.yaml")) as {
    meshConfig: { extensionProviders: Provider[] };
  }
).meshConfig.extensionProviders;

const FILTER_STATE = /%FILTER_STATE\(wasm\.([a-z0-9_]+):PLAIN\)%/;

describe("the access-log providers", () => {
  it("are one file provider and one OpenTelemetry provider, using only MeshConfig's fields", () => {
    expect(providers.map((provider) => provider.name)).toEqual(["kwt-file-log", "kwt-otel-log"]);
    for (const provider of providers) {
      const kinds = Object.keys(provider).filter((key) => key !== "name");
      expect(kinds).toHaveLength(1);
      const kind = kinds[0] as keyof typeof PROVIDER_FIELDS;
      expect(Object.keys(PROVIDER_FIELDS)).toContain(kind);
      const fields = Object.keys(provider[kind] ?? {});
      expect(fields.filter((field) => !(PROVIDER_FIELDS[kind] as readonly string[]).includes(field))).toEqual(
        [],
      );
    }
    // The file provider's logFormat is a oneof: text or labels (JSON lines), not both.
    expect(Object.keys(providers[0]?.envoyFileAccessLog?.logFormat ?? {})).toEqual(["labels"]);
    expect(providers[1]?.envoyOtelAls).toMatchObject({ port: 4317 });
  });

  it.each(["kwt-file-log", "kwt-otel-log"])(
    "%s prints every field the filter sets, each under its own name",
    (name) => {
      const provider = providers.find((candidate) => candidate.name === name);
      const labels = (provider?.envoyFileAccessLog ?? provider?.envoyOtelAls)?.logFormat?.labels ?? {};
      const printed = Object.entries(labels).flatMap(([label, format]) => {
        const match = FILTER_STATE.exec(format);
        return match ? [[label, match[1]]] : [];
      });
      expect(printed).toEqual(ACCESS_LOG_FIELDS.map((field) => [field, field]));
    },
  );

  it.each(["kwt-file-log", "kwt-otel-log"])("%s keeps the usual Envoy fields beside them", (name) => {
    const provider = providers.find((candidate) => candidate.name === name);
    const formats = Object.values(
      (provider?.envoyFileAccessLog ?? provider?.envoyOtelAls)?.logFormat?.labels ?? {},
    );
    for (const operator of [
      "%REQ(:METHOD)%",
      "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
      "%RESPONSE_CODE%",
      "%RESPONSE_FLAGS%",
      "%RESPONSE_CODE_DETAILS%",
      "%DURATION%",
      "%UPSTREAM_CLUSTER%",
      "%REQ(X-REQUEST-ID)%",
    ]) {
      expect(formats, operator).toContain(operator);
    }
  });
});

describe("the Telemetry resources", () => {
  const alpha = parse(read("deploy/istio/telemetry.yaml")) as {
    apiVersion: string;
    spec: { accessLogging: Array<{ providers: Array<{ name: string }>; filter?: { expression: string } }> };
  };
  const v1 = parse(read("deploy/istio/telemetry-v1.yaml")) as typeof alpha;

  it("are the same resource in two API versions", () => {
    expect([alpha.apiVersion, v1.apiVersion]).toEqual([
      "telemetry.istio.io/v1alpha1",
      "telemetry.istio.io/v1",
    ]);
    expect(v1.spec).toEqual(alpha.spec);
  });

  it("enable both providers", () => {
    expect(
      alpha.spec.accessLogging.flatMap((entry) => entry.providers.map((provider) => provider.name)),
    ).toEqual(providers.map((provider) => provider.name));
  });

  it("filter on the filter's cold-start and error-kind state, and on 5xx and flags Envoy sets itself", () => {
    const expression = alpha.spec.accessLogging[0]?.filter?.expression ?? "";
    const keys = [...expression.matchAll(/'wasm\.([a-z0-9_]+)' in filter_state/g)].map((match) => match[1]);
    expect(keys).toEqual(["kwt_cold_start", "kwt_error_kind"]);
    for (const key of keys) expect(ACCESS_LOG_FIELDS).toContain(key);
    expect(expression).toContain("response.code >= 500");
    expect(expression).toContain("response.flags != 0");
  });
});

describe("the collector's logs pipeline", () => {
  const collector = parse(read("deploy/otel/collector.yaml")) as {
    processors: Record<string, { attributes?: Array<{ key: string; value: string; action: string }> }>;
    exporters: Record<string, { endpoint?: string }>;
    service: {
      pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }>;
    };
  };
  const logs = collector.service.pipelines.logs;

  it("receives OTLP (Envoy's OpenTelemetry access logger speaks gRPC on 4317)", () => {
    expect(logs?.receivers).toEqual(["otlp"]);
    expect(read("deploy/otel/collector.yaml")).toContain("endpoint: 0.0.0.0:4317");
  });

  it("adds the collector's cluster and region as resource attributes, never overwriting them", () => {
    const added = (logs?.processors ?? []).flatMap((name) =>
      (collector.processors[name]?.attributes ?? []).map(
        (attribute) => `${attribute.key}=${attribute.value}:${attribute.action}`,
      ),
    );
    expect(added).toEqual([
      "k8s.cluster.name=${env:KWT_CLUSTER}:insert",
      "cloud.region=${env:KWT_REGION}:insert",
    ]);
    expect(logs?.processors).toEqual(["memory_limiter", "resource/logs", "batch"]);
  });

  it("exports logs to their own backend", () => {
    expect(logs?.exporters.map((name) => collector.exporters[name]?.endpoint)).toEqual([
      "${env:OTLP_LOGS_BACKEND_ENDPOINT}",
    ]);
  });
});
