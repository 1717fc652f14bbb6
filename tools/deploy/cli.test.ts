import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { main } from "../cli/main.js";
import { useFakeClusters, type FakeKubeApi } from "./fake-kube-api.js";
import { FILTER_METRIC_LABELS } from "./filter-contract.js";
import { TEST_FILTER_SCHEMA } from "./test-filter-schema.js";

const DIGEST = `sha256:${"5e".repeat(32)}`;
const WASM = "extensions.istio.io/v1alpha1";

/** Runs `kwt ...` in-process; returns its exit code and what it printed. */
async function kwt(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const spies = [
    vi
      .spyOn(console, "log")
      .mockImplementation((...parts: unknown[]) => void (stdout += `${parts.join(" ")}\n`)),
    vi
      .spyOn(console, "error")
      .mockImplementation((...parts: unknown[]) => void (stderr += `${parts.join(" ")}\n`)),
    vi.spyOn(process.stdout, "write").mockImplementation((chunk) => ((stdout += String(chunk)), true)),
    vi.spyOn(process.stderr, "write").mockImplementation((chunk) => ((stderr += String(chunk)), true)),
  ];
  try {
    const code = await main(argv);
    return { code, stdout, stderr };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

let dir: string;
let clustersFile: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), "kwt-cli-"));
  const schema = path.join(dir, "filter-config.schema.json");
  writeFileSync(schema, JSON.stringify(TEST_FILTER_SCHEMA));
  process.env.KWT_FILTER_CONFIG_SCHEMA = schema;
  clustersFile = path.join(dir, "clusters.yaml");
  writeFileSync(
    clustersFile,
    `image: oci://registry.example.com/platform/kwt-filter:1.4.0
config: { tracing: { minProbability: 0.02 } }
clusters:
  - { name: east, context: ctx-east, region: us-east1 }
  - { name: west, context: ctx-west, region: us-west1, config: { maxSeries: 500 } }
`,
  );
});

afterAll(() => {
  delete process.env.KWT_FILTER_CONFIG_SCHEMA;
  rmSync(dir, { recursive: true, force: true });
});

/** istiod 1.26.2 and the mesh config `mesh`, as doctor reads them. */
function seedIstio(server: FakeKubeApi, mesh: string): void {
  server.seed({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "istiod", namespace: "istio-system" },
    spec: {
      template: { spec: { containers: [{ name: "discovery", image: "docker.io/istio/pilot:1.26.2" }] } },
    },
  });
  server.seed({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "istio", namespace: "istio-system" },
    data: { mesh },
  });
}

describe("kwt deploy / status / doctor without clusters", () => {
  const previousKubeconfig = process.env.KUBECONFIG;
  beforeEach(() => {
    // A kubeconfig that does not exist: anything that tried to load it would fail.
    process.env.KUBECONFIG = path.join(dir, "no-such-kubeconfig");
  });
  afterEach(() => {
    process.env.KUBECONFIG = previousKubeconfig;
  });

  it("has --help for each command", async () => {
    for (const command of ["deploy", "status", "doctor"]) {
      const { code, stdout } = await kwt(command, "--help");
      expect(code).toBe(0);
      expect(stdout).toMatch(new RegExp(`^Usage: kwt ${command} --clusters FILE`));
      expect(stdout).toContain("Exit status: 0");
    }
  });

  it("refuses a bad command line with exit 2", async () => {
    expect(await kwt("deploy", "--dry-run")).toMatchObject({
      code: 2,
      stderr: "kwt deploy: --clusters FILE is required\nsee 'kwt deploy --help'\n",
    });
    expect((await kwt("status", "--clusters", clustersFile, "--concurrency", "0")).stderr).toMatch(
      /^kwt status: --concurrency must be an integer from 1 to 32, got '0'/,
    );
    expect((await kwt("doctor", "--clusters", clustersFile, "--digest", DIGEST)).stderr).toMatch(
      /^kwt doctor: unknown option --digest/,
    );
  });

  it("--dry-run prints the manifests and contacts nothing", async () => {
    const { code, stdout, stderr } = await kwt(
      "deploy",
      "--clusters",
      clustersFile,
      "--digest",
      DIGEST,
      "--dry-run",
    );
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    const documents = parseAllDocuments(stdout).map(
      (document) => document.toJS() as { metadata: unknown; spec: Record<string, unknown> },
    );
    expect(
      documents.map((document) => [document.metadata, document.spec.sha256, document.spec.pluginConfig]),
    ).toEqual([
      [
        {
          name: "kwt",
          namespace: "istio-system",
          labels: { "app.kubernetes.io/name": "kwt-filter", "app.kubernetes.io/managed-by": "kwt" },
        },
        DIGEST.slice(7),
        { cluster: "east", region: "us-east1", tracing: { minProbability: 0.02 } },
      ],
      [
        {
          name: "kwt",
          namespace: "istio-system",
          labels: { "app.kubernetes.io/name": "kwt-filter", "app.kubernetes.io/managed-by": "kwt" },
        },
        DIGEST.slice(7),
        { cluster: "west", region: "us-west1", tracing: { minProbability: 0.02 }, maxSeries: 500 },
      ],
    ]);
    expect(stdout).toContain("# cluster west (kubeconfig context ctx-west)\n");
  });

  it("takes image and digest from kwt push's output", async () => {
    const pushed = path.join(dir, "push.out");
    writeFileSync(
      pushed,
      `url=oci://127.0.0.1:5000/kwt/filter:v2\ndigest=${DIGEST}\nsha256=${DIGEST.slice(7)}\n`,
    );
    const { code, stdout } = await kwt(
      "deploy",
      "--clusters",
      clustersFile,
      "--pushed",
      pushed,
      "--dry-run",
      "--cluster",
      "west",
    );
    expect(code).toBe(0);
    const [only] = parseAllDocuments(stdout).map(
      (document) => document.toJS() as { spec: Record<string, unknown> },
    );
    expect([only!.spec.url, only!.spec.sha256]).toEqual([
      "oci://127.0.0.1:5000/kwt/filter:v2",
      DIGEST.slice(7),
    ]);
    expect((await kwt("deploy", "--clusters", clustersFile, "--pushed", pushed, "--image", "x")).code).toBe(
      2,
    );
  });

  it("lists every input problem with exit 1, applying nothing", async () => {
    const broken = path.join(dir, "broken.yaml");
    writeFileSync(
      broken,
      "clusters:\n  - { name: east, context: ctx-east, config: { tracing: { minProbability: 7 } } }\n",
    );
    expect(await kwt("deploy", "--clusters", broken)).toEqual({
      code: 1,
      stdout: "",
      stderr: [
        "kwt deploy: nothing done; fix these first:",
        "  - image: missing: set image: in the clusters file or pass --image oci://...",
        "  - cluster east: pluginConfig.tracing.minProbability (from clusters[0].config): 7 is out of range; expected a number from 0 to 1",
        "",
      ].join("\n"),
    });
    expect(await kwt("status", "--clusters", path.join(dir, "nope.yaml"))).toEqual({
      code: 1,
      stdout: "",
      stderr: `kwt status: nothing done; fix this first:\n  - ${path.join(dir, "nope.yaml")}: cannot read the clusters file: no such file (see deploy/clusters.example.yaml)\n`,
    });
  });
});

describe("kwt deploy / status / doctor against loopback clusters", () => {
  const fixture = useFakeClusters(["east", "west"]);

  it("deploy prints a per-cluster table, exit 1 while one fails, 0 once a rerun converges", async () => {
    const { west } = fixture.clusters.servers;
    west!.intercept = (request) =>
      request.method === "PATCH" ? { code: 500, message: "etcd unavailable" } : undefined;
    const first = await kwt("deploy", "--clusters", clustersFile, "--digest", DIGEST);
    expect(first.code).toBe(1);
    expect(first.stdout).toBe(
      [
        "CLUSTER  CONTEXT   RESULT  OBJECTS             REASON",
        "east     ctx-east  ok      WasmPlugin created",
        "west     ctx-west  failed  -                   applying WasmPlugin istio-system/kwt: the API server failed (500): etcd unavailable; rerun when it is healthy",
        "1 of 2 clusters applied; rerun to retry the failed ones",
        "",
      ].join("\n"),
    );
    expect(first.stderr).toMatch(/^\[1\/2\] (east|west): /);

    west!.intercept = undefined;
    const second = await kwt("deploy", "--clusters", clustersFile, "--digest", DIGEST);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(
      [
        "CLUSTER  CONTEXT   RESULT  OBJECTS",
        "east     ctx-east  ok      WasmPlugin unchanged",
        "west     ctx-west  ok      WasmPlugin created",
        "2 of 2 clusters applied",
        "",
      ].join("\n"),
    );

    const status = await kwt("status", "--clusters", clustersFile, "--digest", DIGEST);
    expect(status).toMatchObject({ code: 0 });
    expect(status.stdout).toBe(
      [
        "CLUSTER  CONTEXT   PLUGIN   DIGEST               MATCHES",
        "east     ctx-east  present  sha256:5e5e5e5e5e5e  yes",
        "west     ctx-west  present  sha256:5e5e5e5e5e5e  yes",
        "2 of 2 clusters in sync",
        "",
      ].join("\n"),
    );
    const drift = await kwt(
      "status",
      "--clusters",
      clustersFile,
      "--digest",
      `sha256:${"77".repeat(32)}`,
      "--cluster",
      "east",
    );
    expect(drift.code).toBe(1);
    expect(drift.stdout).toBe(
      [
        "CLUSTER  CONTEXT   PLUGIN   DIGEST               MATCHES     REASON",
        "east     ctx-east  present  sha256:5e5e5e5e5e5e  no: digest  kwt deploy would change: digest",
        "0 of 1 cluster in sync; kwt deploy brings them in line",
        "",
      ].join("\n"),
    );
    expect(fixture.clusters.servers.east!.stored(WASM, "WasmPlugin", "istio-system", "kwt")).toBeDefined();
  });

  it("doctor prints each check and the exact fix", async () => {
    const { east, west } = fixture.clusters.servers;
    seedIstio(east!, `defaultConfig:\n  extraStatTags: [${FILTER_METRIC_LABELS.join(",")}]\n`);
    seedIstio(west!, "accessLogFile: /dev/stdout\n");
    const { code, stdout } = await kwt("doctor", "--clusters", clustersFile);
    expect(code).toBe(1);
    const lines = stdout.split("\n");
    expect(lines.slice(0, 5)).toEqual([
      "east (context ctx-east)",
      "  OK    Istio version    1.26.2 (supported: 1.20 to 1.30)",
      "  OK    extraStatTags    all 13 labels the filter emits are listed",
      "  OK    stats inclusion  Istio's built-in inclusion prefix 'wasm' exports the filter's wasmcustom.* stats",
      "west (context ctx-west)",
    ]);
    expect(lines[6]).toBe(
      `  FAIL  extraStatTags    13 of 13 labels missing (${FILTER_METRIC_LABELS.join(", ")}): their values stay in the metric names`,
    );
    expect(lines[7]).toBe(
      "        fix: add the missing labels to the mesh config, then restart the workloads (Knative: roll out a new revision); proxies read extraStatTags only when they start.",
    );
    expect(stdout).toContain(
      "            kubectl --context 'ctx-west' -n istio-system patch configmap istio --type merge -p '",
    );
    expect(lines.at(-2)).toBe("1 of 2 clusters without problems; apply the fixes above");
  });
});

describe("kwt deploy / status / doctor for scripts and on the failure paths", () => {
  const fixture = useFakeClusters(["east", "west"]);

  it("-o json and -o yaml give the documented shape, reason included", async () => {
    const { west } = fixture.clusters.servers;
    west!.intercept = (request) =>
      request.method === "PATCH" ? { code: 500, message: "etcd unavailable" } : undefined;
    const deployed = await kwt("deploy", "--clusters", clustersFile, "--digest", DIGEST, "-o", "json");
    expect(deployed.code).toBe(1);
    expect(JSON.parse(deployed.stdout)).toEqual({
      version: 1,
      kwtVersion: "0.1.0",
      command: "deploy",
      clusters: [
        {
          cluster: "east",
          context: "ctx-east",
          ok: true,
          result: "applied",
          objects: [{ kind: "WasmPlugin", namespace: "istio-system", name: "kwt", action: "created" }],
        },
        {
          cluster: "west",
          context: "ctx-west",
          ok: false,
          result: "failed",
          reason:
            "applying WasmPlugin istio-system/kwt: the API server failed (500): etcd unavailable; rerun when it is healthy",
          objects: [],
        },
      ],
      summary: { total: 2, ok: 1, message: "1 of 2 clusters applied; rerun to retry the failed ones" },
      notes: [],
    });
    const status = await kwt("status", "--clusters", clustersFile, "--output=yaml");
    expect(status.code).toBe(1);
    expect(parse(status.stdout)).toMatchObject({
      version: 1,
      command: "status",
      clusters: [
        { cluster: "east", ok: true, result: "in-sync", plugin: "present", digest: DIGEST, mismatches: [] },
        {
          cluster: "west",
          ok: false,
          result: "absent",
          plugin: "absent",
          reason: "no WasmPlugin yet: kwt deploy creates it",
        },
      ],
      notes: ["digest not compared: pass --digest sha256:... or set digest: in the clusters file"],
    });
    seedIstio(
      fixture.clusters.servers.east!,
      `defaultConfig:\n  extraStatTags: [${FILTER_METRIC_LABELS.join(",")}]\n`,
    );
    const doctor = await kwt("doctor", "--clusters", clustersFile, "--cluster", "east", "-o", "json");
    expect(doctor.code).toBe(0);
    const report = JSON.parse(doctor.stdout) as {
      clusters: { result: string; checks: { name: string; level: string }[] }[];
    };
    expect(
      report.clusters.map((row) => [row.result, row.checks.map((check) => `${check.name}:${check.level}`)]),
    ).toEqual([["ok", ["Istio version:ok", "extraStatTags:ok", "stats inclusion:ok"]]]);
    expect(await kwt("status", "--clusters", clustersFile, "-o", "xml")).toEqual({
      code: 2,
      stdout: "",
      stderr: "kwt status: --output must be one of table, json, yaml, got 'xml'\nsee 'kwt status --help'\n",
    });
  });

  it("an unreachable cluster: status says to fix it, not to deploy; doctor says it once", async () => {
    const { east, west } = fixture.clusters.servers;
    seedIstio(east!, `defaultConfig:\n  extraStatTags: [${FILTER_METRIC_LABELS.join(",")}]\n`);
    await west!.close();
    const status = await kwt("status", "--clusters", clustersFile, "--digest", DIGEST);
    expect(status.code).toBe(1);
    const lines = status.stdout.split("\n");
    expect(lines[0]).toMatch(/^CLUSTER +CONTEXT +PLUGIN +DIGEST +MATCHES +REASON$/);
    expect(lines[2]).toMatch(
      new RegExp(
        `^west +ctx-west +unknown +- +- +discovering extensions\\.istio\\.io/v1alpha1: cannot reach the API server at ${west!.url}`,
      ),
    );
    expect(lines.at(-2)).toBe(
      "0 of 2 clusters in sync; kwt deploy brings the 1 that differ in line; 1 could not be read: fix what REASON says and rerun",
    );

    const doctor = await kwt("doctor", "--clusters", clustersFile);
    expect(doctor.code).toBe(1);
    const westLines = doctor.stdout.split("\n").filter((line) => line.includes("cannot reach"));
    expect(westLines).toHaveLength(1);
    expect(westLines[0]).toMatch(/^ {2}FAIL {2}discovering apps\/v1: cannot reach the API server/);
    expect(doctor.stdout.split("\n").at(-2)).toBe(
      "1 of 2 clusters without problems; fix what stops kwt from reading them and rerun",
    );
    expect(doctor.stderr).toMatch(/\] west: failed\n/);
  });

  it("doctor's progress says 'checks failed', not 'checked', when a check fails", async () => {
    seedIstio(fixture.clusters.servers.east!, "accessLogFile: /dev/stdout\n");
    const doctor = await kwt("doctor", "--clusters", clustersFile, "--cluster", "east");
    expect(doctor.code).toBe(1);
    expect(doctor.stderr).toBe("[1/1] east: checks failed\n");
  });

  it("skips a missing KUBECONFIG entry as kubectl does, and says so when there is no kubeconfig at all", async () => {
    process.env.KUBECONFIG = [path.join(dir, "absent.kubeconfig"), fixture.clusters.kubeconfig].join(
      path.delimiter,
    );
    expect((await kwt("status", "--clusters", clustersFile, "--cluster", "east")).stdout).toContain(
      "east     ctx-east  absent",
    );
    const home = process.env.HOME;
    delete process.env.KUBECONFIG;
    process.env.HOME = dir;
    try {
      expect(await kwt("status", "--clusters", clustersFile)).toEqual({
        code: 1,
        stdout: "",
        stderr:
          "kwt status: no kubeconfig: KUBECONFIG is not set and ~/.kube/config does not exist; point KUBECONFIG at your kubeconfig file(s)\n",
      });
    } finally {
      process.env.HOME = home;
    }
  });

  it("talks to a plain-http server as kubectl does, and names a failing exec credential plugin", async () => {
    const { east } = fixture.clusters.servers;
    const kubeconfig = path.join(dir, "special.kubeconfig");
    writeFileSync(
      kubeconfig,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "proxy", cluster: { server: east!.url } }],
        users: [
          { name: "token", user: { token: "token-east" } },
          {
            name: "broken-exec",
            user: {
              exec: {
                apiVersion: "client.authentication.k8s.io/v1beta1",
                command: "sh",
                args: ["-c", "echo 'token expired: run login' >&2; exit 1"],
              },
            },
          },
          {
            name: "absent-exec",
            user: {
              exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "kwt-no-such-plugin" },
            },
          },
        ],
        contexts: [
          { name: "ctx-east", context: { cluster: "proxy", user: "token" } },
          { name: "ctx-west", context: { cluster: "proxy", user: "broken-exec" } },
          { name: "ctx-north", context: { cluster: "proxy", user: "absent-exec" } },
        ],
      }),
    );
    process.env.KUBECONFIG = kubeconfig;
    const clusters = path.join(dir, "three.yaml");
    writeFileSync(
      clusters,
      "image: oci://registry.example.com/kwt:1\nclusters:\n  - { name: east, context: ctx-east }\n  - { name: west, context: ctx-west }\n  - { name: north, context: ctx-north }\n",
    );
    const status = await kwt("status", "--clusters", clusters, "-o", "json");
    const rows = (
      JSON.parse(status.stdout) as { clusters: { cluster: string; result: string; reason?: string }[] }
    ).clusters;
    expect(rows.map((row) => [row.cluster, row.result, row.reason])).toEqual([
      ["east", "absent", "no WasmPlugin yet: kwt deploy creates it"],
      [
        "west",
        "unreadable",
        `context "ctx-west": getting the credentials of user "broken-exec" (exec plugin 'sh') failed: token expired: run login; run it yourself to see why, or log in again`,
      ],
      [
        "north",
        "unreadable",
        `context "ctx-north": getting the credentials of user "absent-exec" (exec plugin 'kwt-no-such-plugin') failed: not found on PATH; run it yourself to see why, or log in again`,
      ],
    ]);
  });
});

describe("kwt deploy input checks", () => {
  it("a missing --pushed file is bad input (1), like a missing clusters file", async () => {
    const missing = path.join(dir, "no-push.out");
    const result = await kwt("deploy", "--clusters", clustersFile, "--pushed", missing, "--dry-run");
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^kwt deploy: --pushed ${missing}: cannot read it: ENOENT`));
  });

  it("a malformed --digest is one problem, not also 'digest: missing'", async () => {
    const result = await kwt("deploy", "--clusters", clustersFile, "--digest", "sha256:abc", "--dry-run");
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'kwt deploy: nothing done; fix this first:\n  - --digest: must be sha256:<64 lower-case hex digits>, got "sha256:abc"\n',
    );
  });

  it("warns when the selector leaves out the ingress gateway", async () => {
    const selected = path.join(dir, "selected.yaml");
    writeFileSync(
      selected,
      `image: oci://registry.example.com/kwt:1\nselector: { matchLabels: { serving.knative.dev/service: hello } }\nclusters:\n  - { name: east, context: ctx-east }\n`,
    );
    const result = await kwt("deploy", "--clusters", selected, "--digest", DIGEST, "--dry-run");
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(
      "kwt deploy: warning: the WasmPlugin leaves out the ingress gateway (east: its selector (serving.knative.dev/service=hello) does not match the ingress gateway's labels (istio=ingressgateway)): the client-visible latency (knative_request_duration_milliseconds) is recorded only there; deploy a second WasmPlugin for the gateway (docs/operations.md) or widen the selector\n",
    );
    expect((await kwt("deploy", "--clusters", clustersFile, "--digest", DIGEST, "--dry-run")).stderr).toBe(
      "",
    );
  });
});
