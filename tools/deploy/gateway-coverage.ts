/**
 * Whether a planned WasmPlugin reaches the ingress gateway. The gateway is where the filter records
 * the client-visible latency (knative_request_duration_milliseconds); a namespace or selector that
 * leaves it out keeps the sidecar metrics but loses that one, silently.
 */
import type { ClusterPlan } from "./plan.js";

/** The labels Istio's default ingress gateway carries (istio/istio manifests/charts/gateway). */
export const INGRESS_GATEWAY_LABELS: Readonly<Record<string, string>> = {
  istio: "ingressgateway",
  app: "istio-ingressgateway",
};

/** Why `plan`'s WasmPlugin misses the ingress gateway (in the Istio namespace), or undefined. */
export function gatewayLeftOut(plan: ClusterPlan): string | undefined {
  const namespace = plan.wasmPlugin.metadata.namespace;
  if (namespace !== plan.istio.namespace) {
    return `its namespace ${namespace} is not ${plan.istio.namespace}, where the ingress gateway runs`;
  }
  const spec = plan.wasmPlugin.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined;
  const labels = Object.entries(spec?.selector?.matchLabels ?? {});
  const unmatched = labels.filter(([key, value]) => INGRESS_GATEWAY_LABELS[key] !== value);
  if (unmatched.length === 0) return undefined;
  return `its selector (${unmatched.map(([key, value]) => `${key}=${value}`).join(", ")}) does not match the ingress gateway's labels (istio=ingressgateway)`;
}

/** One warning for every planned cluster whose WasmPlugin misses the gateway, or undefined. */
export function gatewayWarning(plans: ClusterPlan[]): string | undefined {
  const missing = plans.flatMap((plan) => {
    const why = gatewayLeftOut(plan);
    return why ? [`${plan.cluster}: ${why}`] : [];
  });
  if (missing.length === 0) return undefined;
  return (
    `the WasmPlugin leaves out the ingress gateway (${missing.join("; ")}): the client-visible ` +
    "latency (knative_request_duration_milliseconds) is recorded only there; deploy a second " +
    "WasmPlugin for the gateway (docs/operations.md) or widen the selector"
  );
}
