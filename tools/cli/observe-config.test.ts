// kwt observe-config writes the multi-cluster files for a clusters file, or says which field is missing.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { EXIT_FAILURE, EXIT_OK } from "./command.js";
import { observeConfigCommand } from "./observe-config.js";

const scratch = mkdtempSync(path.join(os.tmpdir(), "kwt-observe-config-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const CLUSTERS = `image: oci://registry.example.com/kwt:1.0.0
clusters:
  - { name: north, context: n, region: eu-north1 }
  - { name: south, context: s, region: eu-south1 }
`;

describe("kwt observe-config", () => {
  it("writes each cluster's agents, the central configurations and Alertmanager's", async () => {
    const file = path.join(scratch, "clusters.yaml");
    writeFileSync(file, CLUSTERS);
    const out = path.join(scratch, "out");
    vi.spyOn(console, "log").mockImplementation(() => undefined);
    const code = await observeConfigCommand.run([
      "--clusters",
      file,
      "--out",
      out,
      "--central",
      "thanos-receive",
      "--tenant",
      "team-a",
      "--pods",
      "40",
    ]);
    expect(code).toBe(EXIT_OK);
    expect(readdirSync(path.join(out, "agents")).sort()).toEqual(["north", "south"]);
    const agent = readFileSync(path.join(out, "agents/south/prometheus-agent.yml"), "utf8");
    expect(agent).toContain("region: eu-south1");
    expect(agent).toContain("THANOS-TENANT: team-a");
    expect(agent).toContain("40 pods");
    expect(readFileSync(path.join(out, "alertmanager/alertmanager.yml"), "utf8")).toContain(
      'cluster="north"',
    );
  });

  it("names the cluster whose region is missing", async () => {
    const file = path.join(scratch, "no-region.yaml");
    writeFileSync(file, CLUSTERS.replace(", region: eu-south1", ""));
    const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
    const code = await observeConfigCommand.run(["--clusters", file, "--out", path.join(scratch, "none")]);
    expect(code).toBe(EXIT_FAILURE);
    expect(errors.mock.calls.flat().join("\n")).toMatch(/clusters\[1\]\.region missing/);
  });
});
