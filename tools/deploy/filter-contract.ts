/** What the deploy tooling must agree on with the filter (docs/filter.md). */

/** The filter registers its root context under this id; the WasmPlugin's pluginName must equal it. */
export const FILTER_ROOT_ID = "kwt";

/** Every label the filter's metrics carry; the mesh's extraStatTags must list each one. */
export const FILTER_METRIC_LABELS = [
  "namespace_name",
  "service_name",
  "configuration_name",
  "revision_name",
  "destination_cluster",
  "destination_region",
  "source_cluster",
  "source_region",
  "response_code_class",
  "error_kind",
  "cold_start",
  "reason",
  "sampled",
] as const;

/**
 * The filter-state values the filter sets on a stream (`proxy_set_property`, printed by Envoy as
 * `%FILTER_STATE(wasm.<name>:PLAIN)%`), only when they apply; the access-log formats print each.
 */
export const ACCESS_LOG_FIELDS = [
  "kwt_cold_start",
  "kwt_cold_start_wait_ms",
  "kwt_error_kind",
  "kwt_source_cluster",
  "kwt_source_region",
  "kwt_hop_ms",
] as const;
