/**
 * The central stores the agents remote-write to, and their own configuration: VictoriaMetrics
 * single-node (with vmalert for the rules) and Prometheus with its remote-write receiver, both
 * shipped and run by the tests; Thanos Receive, Mimir and VictoriaMetrics cluster differ only in the
 * settings listed here (docs/operations.md). Pure.
 */
import { stringify } from "yaml";
import { ALERTS, type AlertSpec, DEFAULT_RUNBOOK_BASE, ruleGroups } from "../dashboards/alerts.js";
import { RECORDING_GROUP, RECORDING_RULES, type RecordingRule } from "./recording.js";

export type CentralKind = "victoria-metrics" | "prometheus" | "vm-cluster" | "thanos-receive" | "mimir";

export interface CentralStore {
  title: string;
  /** Where agents write, relative to the store's base URL; `{tenant}` is the tenant id. */
  writePath: string;
  /** Where Grafana and the rule evaluator query (the Prometheus API root), relative to the base URL. */
  queryPath: string;
  defaultBaseUrl: string;
  /** The request header that names the tenant, for stores that have tenants. */
  tenantHeader?: string;
  defaultTenant?: string;
}

export const CENTRAL_STORES: Record<CentralKind, CentralStore> = {
  "victoria-metrics": {
    title: "VictoriaMetrics single-node",
    writePath: "/api/v1/write",
    queryPath: "",
    defaultBaseUrl: "http://victoria-metrics.monitoring.svc:8428",
  },
  prometheus: {
    title: "Prometheus with --web.enable-remote-write-receiver",
    writePath: "/api/v1/write",
    queryPath: "",
    defaultBaseUrl: "http://prometheus-central.monitoring.svc:9090",
  },
  "vm-cluster": {
    title: "VictoriaMetrics cluster (vminsert writes, vmselect reads; tenant in the path)",
    writePath: "/insert/{tenant}/prometheus/api/v1/write",
    queryPath: "/select/{tenant}/prometheus",
    defaultBaseUrl: "http://vminsert.monitoring.svc:8480",
    defaultTenant: "0",
  },
  "thanos-receive": {
    title: "Thanos Receive (queries through Thanos Query)",
    writePath: "/api/v1/receive",
    queryPath: "",
    defaultBaseUrl: "http://thanos-receive.monitoring.svc:19291",
    tenantHeader: "THANOS-TENANT",
    defaultTenant: "default-tenant",
  },
  mimir: {
    title: "Grafana Mimir (distributor writes, query-frontend reads)",
    writePath: "/api/v1/push",
    queryPath: "/prometheus",
    defaultBaseUrl: "http://mimir-distributor.mimir.svc:8080",
    tenantHeader: "X-Scope-OrgID",
    defaultTenant: "anonymous",
  },
};

export function isCentralKind(value: string): value is CentralKind {
  return Object.hasOwn(CENTRAL_STORES, value);
}

export interface CentralTarget {
  kind: CentralKind;
  baseUrl: string;
  tenant?: string;
}

export interface RemoteWriteEndpoint {
  url: string;
  headers: Record<string, string>;
}

export function remoteWriteEndpoint(target: CentralTarget): RemoteWriteEndpoint {
  const store = CENTRAL_STORES[target.kind];
  const tenant = target.tenant ?? store.defaultTenant ?? "";
  const url = `${target.baseUrl.replace(/\/$/, "")}${store.writePath.replace("{tenant}", tenant)}`;
  const headers = store.tenantHeader && tenant !== "" ? { [store.tenantHeader]: tenant } : {};
  return { url, headers };
}

/** Alert and recording rules as one rules file: what the central evaluator loads. */
export function centralRulesFile(
  alerts: readonly AlertSpec[] = ALERTS,
  recording: readonly RecordingRule[] = RECORDING_RULES,
  runbookBase: string = DEFAULT_RUNBOOK_BASE,
): string {
  const groups = [{ name: RECORDING_GROUP, rules: recording }, ...ruleGroups(alerts, runbookBase)];
  return stringify({ groups }, { lineWidth: 0, aliasDuplicateObjects: false });
}

export interface EvaluatorOptions {
  /** The rules file's path as the evaluator sees it. */
  rulesFile: string;
  /** host:port of Alertmanager. */
  alertmanager: string;
  evaluationInterval: string;
}

/** The central Prometheus: no scrapes of its own, the rules, Alertmanager. Run with the receiver flag. */
export function centralPrometheusConfig(options: EvaluatorOptions): Record<string, unknown> {
  return {
    global: { evaluation_interval: options.evaluationInterval },
    rule_files: [options.rulesFile],
    alerting: { alertmanagers: [{ static_configs: [{ targets: [options.alertmanager] }] }] },
  };
}

/** Flags the central Prometheus needs beyond the config file. */
export const CENTRAL_PROMETHEUS_FLAGS = ["--web.enable-remote-write-receiver"];

/** VictoriaMetrics single-node flags: where it keeps data, for how long, where it listens. */
export function victoriaMetricsFlags(options: {
  dataPath: string;
  listen: string;
  retention: string;
}): string[] {
  return [
    `-storageDataPath=${options.dataPath}`,
    `-retentionPeriod=${options.retention}`,
    `-httpListenAddr=${options.listen}`,
  ];
}

/**
 * vmalert against VictoriaMetrics: reads through the query API, writes recording rule results and
 * alert state back (remoteWrite), restores alert state after a restart (remoteRead), notifies
 * Alertmanager.
 */
export function vmalertFlags(
  options: EvaluatorOptions & { victoriaMetricsUrl: string; listen: string },
): string[] {
  return [
    `-rule=${options.rulesFile}`,
    `-datasource.url=${options.victoriaMetricsUrl}`,
    `-remoteWrite.url=${options.victoriaMetricsUrl}`,
    `-remoteRead.url=${options.victoriaMetricsUrl}`,
    `-notifier.url=http://${options.alertmanager}`,
    `-evaluationInterval=${options.evaluationInterval}`,
    `-httpListenAddr=${options.listen}`,
  ];
}
