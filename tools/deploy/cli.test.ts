import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import { main } from "../cli/main.js";
import { startRegistry, pushTestModule, type RunningRegistry } from "../testing/oci/registry.js";
import { useFakeClusters, type FakeKubeApi } from "../testing/kube/fake-kube-api.js";
import { FILTER_METRIC_LABELS } from "./filter-contract.js";
import { TEST_FILTER_SCHEMA } from "../testing/deploy/stand-in-filter-schema.js";

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

const root = path.resolve(import.meta.dirname, "../..");
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

/** istiod 1.26.2, the mesh config `mesh` and an activator with its sidecar, as doctor reads them. */
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
  server.seed({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "activator-1", namespace: "knative-serving", labels: { app: "activator" } },
    spec: { containers: [{ name: "activator" }, { name: "istio-proxy" }] },
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
    for (const command of ["deploy", "diff", "delete", "status", "doctor"]) {
      const { code, stdout } = await kwt(command, "--help");
      expect(code).toBe(0);
      expect(stdout).toMatch(new RegExp(`^Usage: kwt ${command} --clusters FILE`));
      expect(stdout).toContain("Exit status: 0");
    }
  });

  it("the README documents every option of deploy, diff, delete and status --help", async () => {
    const readme = readFileSync(path.join(root, "README.md"), "utf8");
    const section = readme.slice(
      readme.indexOf("### Deploying to clusters"),
      readme.indexOf("### Running the filter locally"),
    );
    for (const command of ["deploy", "diff", "delete", "status"]) {
      const { stdout } = await kwt(command, "--help");
      const options = [...stdout.slice(stdout.indexOf("Options:")).matchAll(/^ {2}(--[a-z-]+)/gm)].map(
        (match) => match[1]!,
      );
      expect(options.length).toBeGreaterThan(3);
      expect(
        options.filter((option) => !section.includes(`\`${option}`) && !section.includes(` ${option} `)),
      ).toEqual([]);
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

  it("--dry-run prints one cluster to stdout, and refuses (exit 2) to print several there", async () => {
    const several = await kwt("deploy", "--clusters", clustersFile, "--digest", DIGEST, "--dry-run");
    expect(several.code).toBe(2);
    expect(several.stdout).toBe("");
    expect(several.stderr).toBe(
      "kwt deploy: --dry-run prints one cluster to stdout, and 2 are selected (east, west): pass --cluster NAME, or --output-dir DIR for one file per cluster\nsee 'kwt deploy --help'\n",
    );
    const { code, stdout, stderr } = await kwt(
      "deploy",
      "--clusters",
      clustersFile,
      "--digest",
      DIGEST,
      "--dry-run",
      "--cluster",
      "west",
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
        { cluster: "west", region: "us-west1", tracing: { minProbability: 0.02 }, maxSeries: 500 },
      ],
    ]);
    expect(stdout.startsWith("---\n# cluster west (kubeconfig context ctx-west)\n")).toBe(true);
    expect(
      (await kwt("deploy", "--clusters", clustersFile, "--digest", DIGEST, "--output-dir", dir)).code,
    ).toBe(2);
  });

  it("--dry-run --output-dir writes one file per cluster of the example, each holding only its own objects", async () => {
    const out = path.join(dir, "dry-run");
    const schema = process.env.KWT_FILTER_CONFIG_SCHEMA;
    // The shipped example against the filter's real schema.
    delete process.env.KWT_FILTER_CONFIG_SCHEMA;
    let result: Awaited<ReturnType<typeof kwt>>;
    try {
      result = await kwt(
        "deploy",
        "--clusters",
        path.join(root, "deploy/clusters.example.yaml"),
        "--digest",
        DIGEST,
        "--dry-run",
        "--output-dir",
        out,
      );
    } finally {
      process.env.KWT_FILTER_CONFIG_SCHEMA = schema;
    }
    expect(result).toEqual({
      code: 0,
      stdout: `cluster east: ${path.join(out, "east.yaml")}\ncluster west: ${path.join(out, "west.yaml")}\n`,
      stderr: "",
    });
    expect(readdirSync(out).sort()).toEqual(["east.yaml", "west.yaml"]);
    const contents = Object.fromEntries(
      ["east", "west"].map((name) => {
        const text = readFileSync(path.join(out, `${name}.yaml`), "utf8");
        const objects = parseAllDocuments(text).map(
          (document) => document.toJS() as { kind: string; spec: { pluginConfig: Record<string, unknown> } },
        );
        return [name, { text, objects }];
      }),
    );
    const shared = { scaleToZeroMinSeconds: 60, knownClusters: ["east", "west"] };
    expect(contents.east!.objects.map((object) => [object.kind, object.spec.pluginConfig])).toEqual([
      [
        "WasmPlugin",
        { cluster: "east", region: "us-east1", ...shared, tracing: { targetSampledPerSecond: 5 } },
      ],
    ]);
    expect(contents.west!.objects.map((object) => [object.kind, object.spec.pluginConfig])).toEqual([
      [
        "WasmPlugin",
        { cluster: "west", region: "us-west1", ...shared, tracing: { targetSampledPerSecond: 2 } },
      ],
    ]);
    expect(contents.east!.text).not.toMatch(/prod-west|us-west1|cluster: west/);
    expect(contents.west!.text).not.toMatch(/prod-east|us-east1|cluster: east/);
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

  let registry: RunningRegistry;
  let pushedDigest: string;
  let dockerConfig: string;
  let registryClusters: string;
  const previousDockerConfig = process.env.DOCKER_CONFIG;

  beforeAll(async () => {
    registry = await startRegistry();
    pushedDigest = await pushTestModule(registry.host, "kwt/filter", "1.4.0");
    // No credentials: the test registry is open, and the user's own Docker login must not be read.
    dockerConfig = mkdtempSync(path.join(os.tmpdir(), "kwt-docker-config-"));
    process.env.DOCKER_CONFIG = dockerConfig;
    registryClusters = path.join(dir, "registry-clusters.yaml");
    writeFileSync(
      registryClusters,
      readFileSync(clustersFile, "utf8").replace(
        "oci://registry.example.com/platform/kwt-filter:1.4.0",
        `oci://${registry.host}/kwt/filter:1.4.0`,
      ),
    );
  });
  afterAll(async () => {
    await registry.stop();
    rmSync(dockerConfig, { recursive: true, force: true });
    process.env.DOCKER_CONFIG = previousDockerConfig;
  });

  /** The rerun after west alone failed: east had it already, west catches up. */
  const WEST_CAUGHT_UP = [
    "CLUSTER  CONTEXT   RESULT   OBJECTS",
    "east     ctx-east  applied  WasmPlugin unchanged",
    "west     ctx-west  applied  WasmPlugin created",
    "2 of 2 clusters applied",
    "",
  ].join("\n");

  const deploy = (...extra: string[]) =>
    kwt("deploy", "--clusters", registryClusters, "--digest", pushedDigest, ...extra);

  it("deploy dry-runs every cluster first: one refusal by admission applies nothing anywhere unless --keep-going", async () => {
    const { east, west } = fixture.clusters.servers;
    west!.admission = (object) =>
      object.kind === "WasmPlugin" ? "spec.url: registry not allowed by policy" : undefined;
    const refused = await deploy();
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe(
      [
        "CLUSTER  CONTEXT   RESULT   OBJECTS  REASON",
        "east     ctx-east  skipped  -        dry run passed; nothing applied anywhere because west refused or could not be reached (--keep-going applies to the others)",
        'west     ctx-west  failed   -        dry run: dry-run applying WasmPlugin istio-system/kwt: the API server refused WasmPlugin istio-system/kwt (400): admission webhook "validation.istio.io" denied the request: spec.url: registry not allowed by policy',
        "0 of 2 clusters applied; fix the failed clusters and rerun, or rerun with --keep-going",
        "",
      ].join("\n"),
    );
    expect(refused.stderr).not.toContain("dry run");
    const patches = east!.requests.filter((request) => request.method === "PATCH");
    expect(patches.map((request) => request.query.get("dryRun"))).toEqual(["All"]);
    expect(east!.stored(WASM, "WasmPlugin", "istio-system", "kwt")).toBeUndefined();

    const partial = await deploy("--keep-going");
    expect(partial.code).toBe(1);
    expect(partial.stdout).toContain("east     ctx-east  applied  WasmPlugin created\n");
    expect(partial.stdout).toMatch(
      /^west +ctx-west +failed +- +dry run: dry-run applying WasmPlugin istio-system\/kwt: the API server refused/m,
    );
    expect(west!.stored(WASM, "WasmPlugin", "istio-system", "kwt")).toBeUndefined();

    west!.admission = undefined;
    const converged = await deploy();
    expect(converged.code).toBe(0);
    expect(converged.stdout).toBe(WEST_CAUGHT_UP);
    expect(converged.stderr).toMatch(/^\[1\/2\] (east|west): done/);
  });

  it("a cluster that cannot be reached stops the rollout before anything is applied", async () => {
    const { east, west } = fixture.clusters.servers;
    west!.intercept = () => "hang";
    const result = await deploy("--timeout", "1");
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`dry run: no answer from ${west!.url} within 1s`);
    expect(
      east!.requests.filter((request) => request.method === "PATCH" && !request.query.has("dryRun")),
    ).toEqual([]);
  });

  it("the registry check comes before any cluster: a digest the registry lacks, or a moved tag, applies nothing", async () => {
    const { east, west } = fixture.clusters.servers;
    const missing = `sha256:${"0f".repeat(32)}`;
    const absent = await kwt("deploy", "--clusters", registryClusters, "--digest", missing);
    expect(absent).toEqual({
      code: 1,
      stdout: "",
      stderr: [
        "kwt deploy: nothing applied anywhere; the registry check failed:",
        `  - ${registry.host}/kwt/filter@${missing} is not in the registry (404 Not Found); push it with kwt push, or pin the digest kwt push printed`,
        `  - ${registry.host}/kwt/filter:1.4.0 points at ${pushedDigest}, not the pinned ${missing}: sidecars would refuse the module (checksum mismatch); push the image again or pin ${pushedDigest}`,
        "",
      ].join("\n"),
    });
    expect([east!.requests.length, west!.requests.length]).toEqual([0, 0]);
  });

  it("deploy prints a per-cluster table, exit 1 while one fails, 0 once a rerun converges", async () => {
    const { west } = fixture.clusters.servers;
    west!.intercept = (request) =>
      request.method === "PATCH" && !request.query.has("dryRun")
        ? { code: 500, message: "etcd unavailable" }
        : undefined;
    const first = await deploy();
    expect(first.code).toBe(1);
    expect(first.stdout).toBe(
      [
        "CLUSTER  CONTEXT   RESULT   OBJECTS             REASON",
        "east     ctx-east  applied  WasmPlugin created",
        "west     ctx-west  failed   -                   applying WasmPlugin istio-system/kwt: the API server failed (500): etcd unavailable; rerun when it is healthy",
        "1 of 2 clusters applied; rerun to retry the failed ones",
        "",
      ].join("\n"),
    );
    expect(first.stderr).toMatch(/^\[1\/2\] (east|west): /);

    west!.intercept = undefined;
    const second = await deploy();
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(WEST_CAUGHT_UP);

    const status = await kwt("status", "--clusters", registryClusters, "--digest", pushedDigest);
    expect(status).toMatchObject({ code: 0 });
    expect(status.stdout).toBe(
      [
        "CLUSTER  CONTEXT   PLUGIN   DIGEST               MATCHES",
        `east     ctx-east  present  ${pushedDigest.slice(0, 19)}  yes`,
        `west     ctx-west  present  ${pushedDigest.slice(0, 19)}  yes`,
        "2 of 2 clusters in sync",
        "",
      ].join("\n"),
    );
    const drift = await kwt(
      "status",
      "--clusters",
      registryClusters,
      "--digest",
      `sha256:${"77".repeat(32)}`,
      "--cluster",
      "east",
    );
    expect(drift.code).toBe(1);
    expect(drift.stdout).toBe(
      [
        "CLUSTER  CONTEXT   PLUGIN   DIGEST               MATCHES     REASON",
        `east     ctx-east  present  ${pushedDigest.slice(0, 19)}  no: digest  kwt deploy would change: digest`,
        "0 of 1 cluster in sync; kwt deploy brings them in line",
        "",
      ].join("\n"),
    );
    expect(fixture.clusters.servers.east!.stored(WASM, "WasmPlugin", "istio-system", "kwt")).toBeDefined();
  });

  it("diff shows per cluster what deploy would change; delete removes it, and a rerun finds nothing", async () => {
    expect((await deploy("--cluster", "east")).code).toBe(0);
    const changed = path.join(dir, "changed-clusters.yaml");
    writeFileSync(
      changed,
      readFileSync(registryClusters, "utf8").replace("minProbability: 0.02", "minProbability: 0.5"),
    );
    const diff = await kwt("diff", "--clusters", changed, "--digest", pushedDigest);
    expect(diff).toMatchObject({ code: 0 });
    expect(diff.stdout).toBe(
      [
        "east (context ctx-east)",
        "  WasmPlugin istio-system/kwt: would change",
        "    ~ spec.pluginConfig.tracing.minProbability: 0.02 -> 0.5",
        "west (context ctx-west)",
        "  WasmPlugin istio-system/kwt: would be created",
        "2 of 2 clusters diffed, 2 with changes",
        "",
      ].join("\n"),
    );
    expect(fixture.clusters.servers.west!.stored(WASM, "WasmPlugin", "istio-system", "kwt")).toBeUndefined();

    const removed = await kwt("delete", "--clusters", registryClusters);
    expect(removed).toMatchObject({ code: 0 });
    expect(removed.stdout).toBe(
      [
        "CLUSTER  CONTEXT   RESULT  OBJECTS",
        "east     ctx-east  done    WasmPlugin deleted",
        "west     ctx-west  done    WasmPlugin absent",
        "2 of 2 clusters done",
        "",
      ].join("\n"),
    );
    expect((await kwt("delete", "--clusters", registryClusters)).stdout).toContain(
      "east     ctx-east  done    WasmPlugin absent\n",
    );
    const scripted = await kwt(
      "diff",
      "--clusters",
      changed,
      "--digest",
      pushedDigest,
      "--cluster",
      "east",
      "-o",
      "yaml",
    );
    expect(scripted.code).toBe(0);
    expect(parse(scripted.stdout)).toMatchObject({
      version: 1,
      command: "diff",
      clusters: [
        {
          cluster: "east",
          ok: true,
          result: "changes",
          changes: [
            {
              kind: "WasmPlugin",
              action: "create",
              fields: expect.arrayContaining([
                { path: "spec.pluginConfig.tracing.minProbability", after: "0.5" },
              ]) as unknown,
            },
          ],
        },
      ],
      summary: { total: 1, ok: 1, message: "1 of 1 cluster diffed, 1 with changes" },
    });
    const deleted = await kwt("delete", "--clusters", registryClusters, "--cluster", "west", "-o", "json");
    expect(JSON.parse(deleted.stdout)).toMatchObject({
      command: "delete",
      clusters: [
        {
          cluster: "west",
          ok: true,
          result: "done",
          objects: [{ kind: "WasmPlugin", namespace: "istio-system", name: "kwt", action: "absent" }],
        },
      ],
    });
    expect(await kwt("diff", "--clusters", registryClusters, "--sample", "3")).toMatchObject({
      code: 2,
      stderr: "kwt diff: unknown option --sample\nsee 'kwt diff --help'\n",
    });
  });

  it("status --data-plane adds what sampled sidecars say, and exits 1 on a rejected configuration", async () => {
    expect((await deploy()).code).toBe(0);
    const { east, west } = fixture.clusters.servers;
    const pod = (server: FakeKubeApi, name: string, metrics: string) => {
      server.seed({
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: "default", labels: { "security.istio.io/tlsMode": "istio" } },
        status: { phase: "Running" },
      });
      server.podEndpoints.set(`default/${name}:15020/stats/prometheus`, metrics);
    };
    pod(
      east!,
      "hello-1",
      'istio_agent_wasm_remote_fetch_count{result="success"} 1\nistio_agent_wasm_cache_entries 1\n',
    );
    pod(
      west!,
      "hello-1",
      'istio_agent_wasm_remote_fetch_count{result="success"} 1\nistio_agent_wasm_cache_entries 1\nkwt_config_valid{root_id="kwt"} 0\n',
    );
    const status = await kwt(
      "status",
      "--clusters",
      registryClusters,
      "--digest",
      pushedDigest,
      "--data-plane",
      "--sample",
      "3",
    );
    expect(status.code).toBe(1);
    expect(status.stdout.split("\n").slice(4)).toEqual([
      "",
      "CLUSTER  CONTEXT   SIDECARS     FETCHES    CACHE          CONFIG VALID                         REASON",
      "east     ctx-east  1 of 1 read  success 1  1 of 1 cached  not reported by this filter version",
      'west     ctx-west  1 of 1 read  success 1  1 of 1 cached  reported by 1 of 1                   pod default/hello-1: configuration rejected, not the one given (kwt_config_valid{root_id="kwt"} = 0)',
      "1 of 2 clusters with a healthy data plane sample; fix what REASON says (each problem names its pod) and rerun",
      "",
    ]);
    const json = await kwt(
      "status",
      "--clusters",
      registryClusters,
      "--digest",
      pushedDigest,
      "--data-plane",
      "-o",
      "json",
    );
    expect(json.code).toBe(1);
    const rows = (JSON.parse(json.stdout) as { clusters: Record<string, unknown>[] }).clusters;
    expect(rows.map((row) => [row.cluster, row.ok, row.result, row.reason])).toEqual([
      ["east", true, "in-sync", undefined],
      [
        "west",
        false,
        "in-sync",
        'data plane: pod default/hello-1: configuration rejected, not the one given (kwt_config_valid{root_id="kwt"} = 0)',
      ],
    ]);
    expect(rows[1]!.dataPlane).toEqual({
      ok: false,
      result: "problems",
      reason:
        'pod default/hello-1: configuration rejected, not the one given (kwt_config_valid{root_id="kwt"} = 0)',
      sample: {
        sampled: 1,
        read: 1,
        fetches: { success: 1 },
        podsWithCachedModule: 1,
        configReported: 1,
        problems: [
          'pod default/hello-1: configuration rejected, not the one given (kwt_config_valid{root_id="kwt"} = 0)',
        ],
      },
    });
    expect((await kwt("status", "--clusters", registryClusters, "--sample", "3")).code).toBe(2);
  });

  it("doctor prints each check and the exact fix", async () => {
    const { east, west } = fixture.clusters.servers;
    seedIstio(east!, `defaultConfig:\n  extraStatTags: [${FILTER_METRIC_LABELS.join(",")}]\n`);
    seedIstio(west!, "accessLogFile: /dev/stdout\n");
    const { code, stdout } = await kwt("doctor", "--clusters", clustersFile);
    expect(code).toBe(1);
    const lines = stdout.split("\n");
    expect(lines.slice(0, 6)).toEqual([
      "east (context ctx-east)",
      "  OK    Istio version    1.26.2 (supported: 1.20 to 1.30)",
      `  OK    extraStatTags    all ${FILTER_METRIC_LABELS.length} labels the filter emits are listed`,
      "  OK    stats inclusion  Istio's built-in inclusion prefix 'wasm' exports the filter's wasmcustom.* stats",
      "  OK    activator        1 activator pod with an Istio sidecar: cold starts are verified by the activator's mesh identity",
      "west (context ctx-west)",
    ]);
    expect(lines[7]).toBe(
      `  FAIL  extraStatTags    ${FILTER_METRIC_LABELS.length} of ${FILTER_METRIC_LABELS.length} labels missing (${FILTER_METRIC_LABELS.join(", ")}): their values stay in the metric names`,
    );
    expect(lines[8]).toBe(
      "        fix: add the missing labels to the mesh config, then restart the workloads (Knative: roll out a new revision); proxies read extraStatTags only when they start.",
    );
    expect(stdout).toContain(
      "            kubectl --context 'ctx-west' -n istio-system patch configmap istio --type merge -p '",
    );
    expect(lines.at(-2)).toBe("1 of 2 clusters without problems; apply the fixes above");
  });

  it("-o json and -o yaml give the documented shape, reason included", async () => {
    const { west } = fixture.clusters.servers;
    west!.intercept = (request) =>
      request.method === "PATCH" && !request.query.has("dryRun")
        ? { code: 500, message: "etcd unavailable" }
        : undefined;
    const deployed = await deploy("-o", "json");
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
    const status = await kwt("status", "--clusters", registryClusters, "--output=yaml");
    expect(status.code).toBe(1);
    expect(parse(status.stdout)).toMatchObject({
      version: 1,
      command: "status",
      clusters: [
        {
          cluster: "east",
          ok: true,
          result: "in-sync",
          plugin: "present",
          digest: pushedDigest,
          mismatches: [],
        },
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
    const doctor = await kwt("doctor", "--clusters", registryClusters, "--cluster", "east", "-o", "json");
    expect(doctor.code).toBe(0);
    const report = JSON.parse(doctor.stdout) as {
      clusters: { result: string; checks: { name: string; level: string }[] }[];
    };
    expect(
      report.clusters.map((row) => [row.result, row.checks.map((check) => `${check.name}:${check.level}`)]),
    ).toEqual([["ok", ["Istio version:ok", "extraStatTags:ok", "stats inclusion:ok", "activator:ok"]]]);
    expect(await kwt("status", "--clusters", registryClusters, "-o", "xml")).toEqual({
      code: 2,
      stdout: "",
      stderr: "kwt status: --output must be one of table, json, yaml, got 'xml'\nsee 'kwt status --help'\n",
    });
  });
});

describe("kwt deploy / status / doctor for scripts and on the failure paths", () => {
  const fixture = useFakeClusters(["east", "west"]);

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
    expect(
      (await kwt("deploy", "--clusters", clustersFile, "--digest", DIGEST, "--dry-run", "--cluster", "east"))
        .stderr,
    ).toBe("");
  });
});
