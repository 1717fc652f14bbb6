/** The monitoring files `npm run generate` writes (tools/generate/), relative to the project root, with their renderers. */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseClustersFile } from "../deploy/clusters-file.js";
import { DEFAULT_BUNDLE_OPTIONS, observeBundle, renderCentralRules } from "../observe/bundle.js";
import { renderMonitors } from "../observe/monitors.js";
import { DEFAULT_RUNBOOK_BASE, renderPrometheusRule, renderRulesFile, TEST_PROFILE } from "./alerts.js";
import { renderDashboard } from "./grafana.js";
import { renderTelemetryV1, TELEMETRY_V1_FILE } from "./telemetry-v1.js";

export const DASHBOARD_FILE = "deploy/grafana/kwt-dashboard.json";
export const RULES_FILE = "deploy/prometheus/kwt-alerts.rules.yaml";
export const PROMETHEUS_RULE_FILE = "deploy/prometheus/kwt-prometheusrule.yaml";
export const MONITORS_FILE = "deploy/prometheus/kwt-monitors.yaml";
/** The clusters file the shipped agent and Alertmanager configurations are rendered for. */
export const EXAMPLE_CLUSTERS_FILE = "deploy/clusters.example.yaml";
/** The central rules with the test profile's short windows: what the real-engine test loads. */
export const TEST_PROFILE_RULES_FILE = "deploy/central/tests/kwt-rules.test-profile.yaml";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function exampleBundle() {
  const text = readFileSync(path.join(root, EXAMPLE_CLUSTERS_FILE), "utf8");
  return observeBundle(
    parseClustersFile(text, EXAMPLE_CLUSTERS_FILE),
    EXAMPLE_CLUSTERS_FILE,
    DEFAULT_BUNDLE_OPTIONS,
  );
}

export const GENERATED_FILES: ReadonlyArray<{ path: string; render: () => string }> = [
  { path: DASHBOARD_FILE, render: renderDashboard },
  { path: RULES_FILE, render: () => renderRulesFile() },
  { path: PROMETHEUS_RULE_FILE, render: renderPrometheusRule },
  { path: TELEMETRY_V1_FILE, render: renderTelemetryV1 },
  { path: MONITORS_FILE, render: renderMonitors },
  { path: TEST_PROFILE_RULES_FILE, render: () => renderCentralRules(TEST_PROFILE, DEFAULT_RUNBOOK_BASE) },
  ...exampleBundle().map((file) => ({
    path: `deploy/${file.path}`,
    render: () => file.text,
  })),
];
