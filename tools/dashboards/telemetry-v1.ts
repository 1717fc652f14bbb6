/**
 * deploy/istio/telemetry-v1.yaml is deploy/istio/telemetry.yaml as telemetry.istio.io/v1 (Istio
 * 1.22 and later): generated from it, so the two can never say different things.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const TELEMETRY_FILE = "deploy/istio/telemetry.yaml";
export const TELEMETRY_V1_FILE = "deploy/istio/telemetry-v1.yaml";

export function renderTelemetryV1(): string {
  const source = readFileSync(path.join(root, TELEMETRY_FILE), "utf8");
  const resource = source.slice(source.indexOf("apiVersion: telemetry.istio.io/v1alpha1\n"));
  if (resource === "")
    throw new Error(`${TELEMETRY_FILE}: no telemetry.istio.io/v1alpha1 resource to convert`);
  return (
    `# Generated from ${path.basename(TELEMETRY_FILE)} (comments there): the same Telemetry resource as\n` +
    "# telemetry.istio.io/v1, for Istio 1.22 and later. Apply one of the two files, not both.\n" +
    resource.replace("apiVersion: telemetry.istio.io/v1alpha1\n", "apiVersion: telemetry.istio.io/v1\n")
  );
}
