// The access log of the demo's revision pod proxy: the shipped file provider's labels
// (deploy/istio/access-logs/mesh-config.yaml) written as one JSON object per line, without the
// labels whose operators the harness's formatter does not model (%PROTOCOL%).

import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";

export const ACCESS_LOG_PROVIDERS_FILE = "deploy/istio/access-logs/mesh-config.yaml";
export const OPERATORS_THE_HARNESS_LACKS: readonly string[] = ["%PROTOCOL%"];

export interface JsonLinesFormat {
  /** The labels in the line, in order. */
  labels: string[];
  /** An Envoy text format printing them as one JSON object (every value a string). */
  format: string;
}

interface ProvidersFile {
  meshConfig?: {
    extensionProviders?: Array<{ envoyFileAccessLog?: { logFormat?: { labels?: Record<string, string> } } }>;
  };
}

/** The file provider's labels, from the providers file's text; throws naming what is missing. */
export function fileLogLabels(text: string): Record<string, string> {
  const providers = (parse(text) as ProvidersFile).meshConfig?.extensionProviders ?? [];
  const labels = providers.find((provider) => provider.envoyFileAccessLog)?.envoyFileAccessLog?.logFormat
    ?.labels;
  if (!labels) {
    throw new Error(
      `${ACCESS_LOG_PROVIDERS_FILE}: expected an extensionProviders entry with envoyFileAccessLog.logFormat.labels`,
    );
  }
  return labels;
}

/** The labels the harness can format, as a format that prints them as a JSON object. */
export function jsonLinesFormat(labels: Record<string, string>): JsonLinesFormat {
  const kept = Object.entries(labels).filter(
    ([, operator]) => !OPERATORS_THE_HARNESS_LACKS.includes(operator),
  );
  return {
    labels: kept.map(([label]) => label),
    format: `{${kept.map(([label, operator]) => `${JSON.stringify(label)}:"${operator}"`).join(",")}}`,
  };
}

/** The shipped file log's format under the project root `root`. */
export function shippedFileLogFormat(root: string): JsonLinesFormat {
  return jsonLinesFormat(fileLogLabels(readFileSync(path.join(root, ACCESS_LOG_PROVIDERS_FILE), "utf8")));
}

/** The first line of a cold start (`kwt_cold_start` is 1); null when there is none. */
export function firstColdStartLine(lines: readonly string[]): string | null {
  return lines.find((line) => (JSON.parse(line) as Record<string, string>).kwt_cold_start === "1") ?? null;
}
