// Configuration: every invalid field is reported with one error line naming the field, the value
// and what was expected, and never fails a request: proxy_on_configure accepts, the root runs on
// the defaults (or its last valid settings) and kwt_config_valid says 0; no configuration text
// makes the module trap; and the filter and deploy/filter-config.schema.json accept and reject the
// same inputs.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";

import { LogLevel } from "../harness/types.js";
import { REQUEST, REV, loadProxy, metricValue, onEachWorker } from "./setup.js";

const schemaPath = fileURLToPath(new URL("../../deploy/filter-config.schema.json", import.meta.url));
const schema: unknown = JSON.parse(readFileSync(schemaPath, "utf8"));
const validate = new Ajv({ $data: true, strict: true }).compile(schema as object);

const CONFIG_VALID = 'kwt_config_valid{root_id="kwt"}';
const FALLBACK = "; running with the defaults";

interface Configured {
  /** The filter's log lines in the worker's VM, with their levels. */
  lines: Array<{ level: LogLevel; message: string }>;
  /** kwt_config_valid of the root. */
  valid: number | undefined;
  rejected: number | undefined;
  /** Whether a request on each worker went through afterwards (no local reply) and was counted. */
  served: boolean;
}

/** Loads an inbound sidecar with this configuration, sends one request per worker, and reads what it says. */
async function configure(config: string | Uint8Array): Promise<Configured> {
  const plugin = await loadProxy({ layout: "xds", position: "inbound", config });
  try {
    let localReplies = 0;
    onEachWorker(plugin, () => {
      const stream = plugin.createStream({ mtls: true });
      if (stream.onRequestHeaders(REQUEST, true).localReply !== undefined) localReplies++;
      stream.onResponseHeaders([[":status", "200"]], true);
      stream.end({});
    });
    const invocations = metricValue(
      plugin,
      `knative_invocations_total{${REV},source_cluster="",response_code_class="2xx"}`,
    );
    return {
      lines: plugin.logs.filter((record) => record.vm === 0 && record.message.startsWith("kwt")),
      valid: metricValue(plugin, CONFIG_VALID),
      rejected: metricValue(plugin, "kwt_config_rejected_total{}"),
      served: localReplies === 0 && invocations === plugin.workerCount,
    };
  } finally {
    plugin.close();
  }
}

/** The error line of a refused configuration, or null when it was accepted. */
async function refusal(config: string | Uint8Array): Promise<string | null> {
  const outcome = await configure(config);
  if (outcome.valid === 1) return null;
  expect(outcome.valid).toBe(0);
  expect(outcome.lines.map((line) => line.level)).toEqual([LogLevel.Error]);
  return outcome.lines[0]!.message;
}

/** [configuration, the field's part of the log line]. */
const INVALID: Array<[string, string]> = [
  [
    '{"cluster":"my cluster"}',
    'cluster: "my cluster" is not allowed; expected 1 to 63 characters of A-Z a-z 0-9 _ . : / -',
  ],
  ['{"region":7}', "region: 7 is a number; expected 1 to 63 characters of A-Z a-z 0-9 _ . : / -"],
  ['{"role":"edge"}', 'role: "edge" is not allowed; expected one of "auto", "gateway", "sidecar"'],
  ['{"skipNonKnative":"yes"}', 'skipNonKnative: "yes" is a string; expected true or false'],
  [
    '{"scaleToZeroMinSeconds":0}',
    "scaleToZeroMinSeconds: 0 is out of range; expected an integer from 1 to 3600",
  ],
  [
    '{"scaleToZeroMinSeconds":2.5}',
    "scaleToZeroMinSeconds: 2.5 is not an integer; expected an integer from 1 to 3600",
  ],
  [
    '{"entryHeader":"X-Entry"}',
    'entryHeader: "X-Entry" is not allowed; expected a lower-case header name: a letter, then up to 63 of a-z 0-9 -',
  ],
  [
    '{"hopHeader":null}',
    "hopHeader: null is not allowed; expected a lower-case header name: a letter, then up to 63 of a-z 0-9 -",
  ],
  [
    '{"podHeader":"x pod"}',
    'podHeader: "x pod" is not allowed; expected a lower-case header name: a letter, then up to 63 of a-z 0-9 -',
  ],
  ['{"keepPodHeader":1}', "keepPodHeader: 1 is a number; expected true or false"],
  [
    '{"knownClusters":["a",""]}',
    'knownClusters[1]: "" is not a label value; expected 1 to 63 characters of A-Z a-z 0-9 _ . : / -',
  ],
  [
    '{"knownRegions":{}}',
    "knownRegions: an object is not allowed; expected an array of at most 64 label values",
  ],
  ['{"maxSeries":100001}', "maxSeries: 100001 is out of range; expected an integer from 16 to 100000"],
  ['{"tracing":true}', "tracing: true is a boolean; expected an object"],
  ['{"tracing":{"enabled":0}}', "tracing.enabled: 0 is a number; expected true or false"],
  [
    '{"tracing":{"targetSampledPerSecond":100001}}',
    "tracing.targetSampledPerSecond: 100001 is out of range; expected a number from 0 to 100000",
  ],
  [
    '{"tracing":{"minProbability":-0.1}}',
    "tracing.minProbability: -0.1 is out of range; expected a number from 0 to 1",
  ],
  [
    '{"tracing":{"minProbability":0.2,"maxProbability":0.1}}',
    "tracing.maxProbability: 0.1 is below tracing.minProbability 0.2; expected a number from tracing.minProbability to 1",
  ],
  [
    '{"tracing":{"forceSampleColdStarts":"no"}}',
    'tracing.forceSampleColdStarts: "no" is a string; expected true or false',
  ],
  [
    '{"tracing":{"tracestateKey":"KWT"}}',
    'tracing.tracestateKey: "KWT" is not allowed; expected a W3C tracestate key: a-z or 0-9, then up to 255 of a-z 0-9 _ - * / @',
  ],
  [
    '{"tracing":{"sampling":1}}',
    "tracing.sampling: unknown key; expected one of enabled, targetSampledPerSecond, minProbability, maxProbability, forceSampleColdStarts, tracestateKey, outsideContext, edgeSampling",
  ],
  ['{"spanExport":[]}', "spanExport: an array is not allowed; expected an object"],
  ['{"spanExport":{"enabled":"true"}}', 'spanExport.enabled: "true" is a string; expected true or false'],
  [
    '{"spanExport":{"cluster":""}}',
    'spanExport.cluster: "" is not allowed; expected 1 to 255 printable ASCII characters without spaces',
  ],
  [
    '{"spanExport":{"authority":"a b"}}',
    'spanExport.authority: "a b" is not allowed; expected 1 to 255 printable ASCII characters without spaces',
  ],
  [
    '{"spanExport":{"path":"v1"}}',
    'spanExport.path: "v1" is not allowed; expected a path: / then up to 1023 printable ASCII characters without spaces',
  ],
  [
    '{"spanExport":{"serviceName":""}}',
    'spanExport.serviceName: "" is not allowed; expected 1 to 255 printable ASCII characters',
  ],
  [
    '{"spanExport":{"maxQueue":0}}',
    "spanExport.maxQueue: 0 is out of range; expected an integer from 1 to 10000",
  ],
  [
    '{"spanExport":{"maxBatch":1001}}',
    "spanExport.maxBatch: 1001 is out of range; expected an integer from 1 to 1000",
  ],
  [
    '{"spanExport":{"maxRetries":-1}}',
    "spanExport.maxRetries: -1 is out of range; expected an integer from 0 to 10",
  ],
  [
    '{"spanExport":{"timeoutMs":99}}',
    "spanExport.timeoutMs: 99 is out of range; expected an integer from 100 to 60000",
  ],
  ['{"tickPeriodMs":"1s"}', 'tickPeriodMs: "1s" is a string; expected an integer from 100 to 60000'],
  [
    '{"sampleRate":1}',
    "sampleRate: unknown key; expected one of cluster, region, role, skipNonKnative, servingPorts, scaleToZeroMinSeconds, entryHeader, hopHeader, podHeader, keepPodHeader, knownClusters, knownRegions, maxSeries, maxSourceLabelValues, trustDomains, meshGatewayPorts, meshDomains, tracing, spanExport, tickPeriodMs",
  ],
  ["not json", "configuration: not JSON (unexpected character 'n' at offset 0); expected a JSON object"],
  ['["cluster"]', "configuration: an array is not allowed; expected a JSON object"],
];

describe("invalid configuration", () => {
  it.each(INVALID)("reports %s with one error line naming the field", async (config, message) => {
    expect(await refusal(config)).toBe(`kwt: invalid configuration: ${message}${FALLBACK}`);
  });

  it("never fails a request: the root runs with the defaults, counted, kwt_config_valid 0", async () => {
    const outcome = await configure('{"maxSeries":1}');
    // Envoy's canary VM and each of the two workers' VMs refuse it (one shared stats store).
    expect(outcome).toMatchObject({ valid: 0, rejected: 3, served: true });
  });

  it("refuses bytes that are not UTF-8 and two stamp headers under one name", async () => {
    const bytes = new TextEncoder().encode('{"cluster":"east"}');
    bytes[12] = 0xff;
    expect(await refusal(bytes)).toBe(
      `kwt: invalid configuration: configuration: byte 12 is not valid UTF-8; expected UTF-8 text (RFC 8259)${FALLBACK}`,
    );
    expect(await refusal('{"hopHeader":"x-kwt-pod"}')).toBe(
      'kwt: invalid configuration: podHeader: "x-kwt-pod" is also hopHeader; expected entryHeader, hopHeader and podHeader to be three different names' +
        FALLBACK,
    );
  });

  it("never traps, whatever the text: huge, deeply nested, binary, unterminated", async () => {
    const texts = [
      "{".repeat(1_000_000),
      "[".repeat(50_000),
      '{"cluster":"' + "a".repeat(2_000_000) + '"}',
      "\u0000\u0001\u00ff\ud800garbage",
      '{"cluster":"abc',
      '{"a":' + "1".repeat(10_000) + "}",
    ];
    for (const text of texts) {
      const line = await refusal(text);
      expect(line).toMatch(
        /^kwt: invalid configuration: (configuration|a): .*; expected .*; running with the defaults$/,
      );
    }
    expect(await refusal('{"cluster":"' + "a".repeat(70_000) + '"}')).toBe(
      `kwt: invalid configuration: configuration: 70014 bytes is too large; expected at most 65536 bytes${FALLBACK}`,
    );
  });

  it("accepts an empty configuration and {}, the rejected counter born at 0", async () => {
    expect(await refusal("")).toBeNull();
    expect(await refusal("{}")).toBeNull();
    expect(await configure("")).toMatchObject({ lines: [], valid: 1, rejected: 0 });
  });
});

/** Configurations both must accept (true) or refuse (false). */
const CORPUS: Array<[string, boolean]> = [
  ["{}", true],
  ['{"cluster":"prod-eu-1","region":"europe-west4"}', true],
  ['{"cluster":"' + "c".repeat(63) + '"}', true],
  ['{"cluster":"' + "c".repeat(64) + '"}', false],
  ['{"cluster":""}', false],
  ['{"cluster":"a/b:c.d_e-f"}', true],
  ['{"cluster":"a\\u0062"}', true],
  ['{"cluster":"\\ud800"}', false],
  ['{"role":"auto"}', true],
  ['{"role":"sidecar"}', true],
  ['{"role":"Gateway"}', false],
  ['{"skipNonKnative":false}', true],
  ['{"skipNonKnative":null}', false],
  ['{"servingPorts":[]}', true],
  ['{"servingPorts":[1,8012,65535]}', true],
  ['{"servingPorts":[0]}', false],
  ['{"servingPorts":[65536]}', false],
  ['{"servingPorts":[8012.5]}', false],
  ['{"servingPorts":["8012"]}', false],
  ['{"servingPorts":8012}', false],
  ['{"servingPorts":[' + Array.from({ length: 16 }, (_, i) => 8000 + i).join(",") + "]}", true],
  ['{"servingPorts":[' + Array.from({ length: 17 }, (_, i) => 8000 + i).join(",") + "]}", false],
  ['{"scaleToZeroMinSeconds":1}', true],
  ['{"scaleToZeroMinSeconds":3600}', true],
  ['{"scaleToZeroMinSeconds":3600.0}', true],
  ['{"scaleToZeroMinSeconds":3.6e3}', true],
  ['{"scaleToZeroMinSeconds":3601}', false],
  ['{"scaleToZeroMinSeconds":1e400}', false],
  ['{"scaleToZeroMinSeconds":"60"}', false],
  ['{"scaleToZeroMinSeconds":0}', false],
  ['{"entryHeader":"x-my-entry"}', true],
  ['{"entryHeader":"x_my_entry"}', false],
  ['{"hopHeader":"' + "h".repeat(64) + '"}', true],
  ['{"hopHeader":"' + "h".repeat(65) + '"}', false],
  ['{"podHeader":"-pod"}', false],
  ['{"keepPodHeader":true}', true],
  ['{"knownClusters":[]}', true],
  ['{"knownClusters":["a","b"]}', true],
  ['{"knownClusters":[' + Array.from({ length: 64 }, (_, i) => `"c${i}"`).join(",") + "]}", true],
  ['{"knownClusters":[' + Array.from({ length: 65 }, (_, i) => `"c${i}"`).join(",") + "]}", false],
  ['{"knownRegions":["eu west"]}', false],
  ['{"knownRegions":[["eu"]]}', false],
  ['{"maxSeries":16}', true],
  ['{"maxSeries":15}', false],
  ['{"maxSeries":100000}', true],
  ['{"maxSeries":2000.5}', false],
  ['{"maxSourceLabelValues":1}', true],
  ['{"maxSourceLabelValues":0}', false],
  ['{"maxSourceLabelValues":1001}', false],
  ['{"tracing":{}}', true],
  ['{"tracing":{"enabled":false,"targetSampledPerSecond":0}}', true],
  ['{"tracing":{"targetSampledPerSecond":100000.5}}', false],
  ['{"tracing":{"minProbability":0,"maxProbability":0}}', true],
  ['{"tracing":{"minProbability":0.5,"maxProbability":0.5}}', true],
  ['{"tracing":{"minProbability":0.5,"maxProbability":0.49}}', false],
  ['{"tracing":{"maxProbability":0.0001}}', true],
  ['{"tracing":{"minProbability":1.0000001}}', false],
  ['{"tracing":{"tracestateKey":"acme@kwt"}}', true],
  ['{"tracing":{"tracestateKey":"0acme@kwt"}}', true],
  ['{"tracing":{"tracestateKey":"0kwt"}}', true],
  ['{"tracing":{"tracestateKey":"' + "k".repeat(256) + '"}}', true],
  ['{"tracing":{"tracestateKey":"' + "k".repeat(257) + '"}}', false],
  ['{"tracing":{"tracestateKey":"_kwt"}}', false],
  ['{"tracing":{"tracestateKey":"kwt="}}', false],
  ['{"tracing":{"enabled":true,"extra":1}}', false],
  ['{"tracing":null}', false],
  ['{"spanExport":{"enabled":true,"cluster":"outbound|4318||otel.observability.svc.cluster.local"}}', true],
  ['{"spanExport":{"authority":"otel:4318","path":"/v1/traces","serviceName":"my filter"}}', true],
  ['{"spanExport":{"path":"/"}}', true],
  ['{"spanExport":{"path":"/a b"}}', false],
  ['{"spanExport":{"serviceName":"caf\\u00e9"}}', false],
  ['{"spanExport":{"maxQueue":10000,"maxBatch":1000,"maxRetries":10,"timeoutMs":60000}}', true],
  ['{"spanExport":{"maxRetries":11}}', false],
  ['{"tickPeriodMs":100}', true],
  ['{"tickPeriodMs":60001}', false],
  ['{"maxSeries":5,"maxSeries":50}', true],
  ['{"maxSeries":50,"maxSeries":5}', false],
  ['{"__proto__":{}}', false],
  ['{"Cluster":"a"}', false],
  ["[]", false],
  ["null", false],
  ['"{}"', false],
  ["42", false],
  ["{", false],
  ["{}}", false],
  ['{"cluster":"a",}', false],
  [" \n{ } \t", true],
];

describe("the filter and deploy/filter-config.schema.json agree", () => {
  it.each(CORPUS)("%s -> %s", async (text, valid) => {
    let schemaValid: boolean;
    try {
      schemaValid = validate(JSON.parse(text)) === true;
    } catch {
      schemaValid = false;
    }
    const filterValid = (await refusal(text)) === null;
    expect({ schemaValid, filterValid }).toEqual({ schemaValid: valid, filterValid: valid });
  });
});
