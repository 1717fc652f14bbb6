/** The monitoring files `npm run generate` writes (tools/generate/), relative to the project root, with their renderers. */
import { renderPrometheusRule, renderRulesFile } from "./alerts.js";
import { renderDashboard } from "./grafana.js";
import { renderTelemetryV1, TELEMETRY_V1_FILE } from "./telemetry-v1.js";

export const DASHBOARD_FILE = "deploy/grafana/kwt-dashboard.json";
export const RULES_FILE = "deploy/prometheus/kwt-alerts.rules.yaml";
export const PROMETHEUS_RULE_FILE = "deploy/prometheus/kwt-prometheusrule.yaml";

export const GENERATED_FILES: ReadonlyArray<{ path: string; render: () => string }> = [
  { path: DASHBOARD_FILE, render: renderDashboard },
  { path: RULES_FILE, render: renderRulesFile },
  { path: PROMETHEUS_RULE_FILE, render: renderPrometheusRule },
  { path: TELEMETRY_V1_FILE, render: renderTelemetryV1 },
];
