/**
 * Test support: a small stand-in for deploy/filter-config.schema.json (written separately) with
 * the same kinds of rules, so the deploy tests do not depend on the filter's full schema.
 */
export const TEST_FILTER_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  additionalProperties: false,
  properties: {
    cluster: { type: "string", pattern: "^[A-Za-z0-9_.:/-]{1,63}$" },
    region: { type: "string", pattern: "^[A-Za-z0-9_.:/-]{1,63}$" },
    role: { enum: ["auto", "gateway", "sidecar"] },
    maxSeries: { type: "integer", minimum: 16, maximum: 100000 },
    knownClusters: { type: "array", maxItems: 64, items: { type: "string" } },
    tracing: {
      type: "object",
      additionalProperties: false,
      properties: {
        enabled: { type: "boolean" },
        minProbability: { type: "number", minimum: 0, maximum: 1 },
        targetSampledPerSecond: { type: "number", minimum: 0, maximum: 100000 },
      },
    },
  },
};
