import {
  MAX_CONFIGURATION_BYTES,
  RoleSetting,
  firstInvalidUtf8,
  isHeaderName,
  parseConfigurationBytes,
  parseSettings,
} from "../config";

function repeat(text: string, count: i32): string {
  let out = "";
  for (let i = 0; i < count; i++) out += text;
  return out;
}

function errorOf(text: string): string {
  const result = parseSettings(text);
  expect(result.settings).toBeNull();
  return result.error;
}

describe("parseSettings: defaults", () => {
  it("gives every default for an empty configuration and for {}", () => {
    const texts = ["", "{}", " {\n} "];
    for (let i = 0; i < texts.length; i++) {
      const result = parseSettings(texts[i]);
      expect<string>(result.error).toBe("");
      const s = result.settings!;
      expect<string>(s.cluster).toBe("");
      expect<string>(s.region).toBe("");
      expect<RoleSetting>(s.role).toBe(RoleSetting.Auto);
      expect<bool>(s.skipNonKnative).toBe(true);
      expect<string>(s.servingPorts.join(",")).toBe("8012,8013,8112");
      expect<i32>(s.scaleToZeroMinSeconds).toBe(6);
      expect<string>(s.entryHeader).toBe("x-kwt-entry");
      expect<string>(s.hopHeader).toBe("x-kwt-hop");
      expect<string>(s.podHeader).toBe("x-kwt-pod");
      expect<bool>(s.keepPodHeader).toBe(false);
      expect<i32>(s.knownClusters.length).toBe(0);
      expect<i32>(s.knownRegions.length).toBe(0);
      expect<i32>(s.maxSeries).toBe(2000);
      expect<bool>(s.tracing.enabled).toBe(true);
      expect<f64>(s.tracing.targetSampledPerSecond).toBe(5);
      expect<f64>(s.tracing.minProbability).toBe(0.001);
      expect<f64>(s.tracing.maxProbability).toBe(1);
      expect<bool>(s.tracing.forceSampleColdStarts).toBe(true);
      expect<string>(s.tracing.tracestateKey).toBe("kwt");
      expect<bool>(s.spanExport.enabled).toBe(false);
      expect<string>(s.spanExport.cluster).toBe("otel-collector");
      expect<string>(s.spanExport.authority).toBe("otel-collector");
      expect<string>(s.spanExport.path).toBe("/v1/traces");
      expect<string>(s.spanExport.serviceName).toBe("kwt-filter");
      expect<i32>(s.spanExport.maxQueue).toBe(512);
      expect<i32>(s.spanExport.maxBatch).toBe(128);
      expect<i32>(s.spanExport.maxRetries).toBe(3);
      expect<i32>(s.spanExport.timeoutMs).toBe(5000);
      expect<i32>(s.tickPeriodMs).toBe(1000);
    }
  });
});

describe("parseSettings: values", () => {
  it("reads every key", () => {
    const result = parseSettings(
      '{"cluster":"c-1","region":"eu-west1","role":"gateway","skipNonKnative":false,' +
        '"servingPorts":[8080,1,65535],' +
        '"scaleToZeroMinSeconds":30,"entryHeader":"x-e","hopHeader":"x-h",' +
        '"podHeader":"x-p","keepPodHeader":true,"knownClusters":["c-1","c-2"],"knownRegions":["eu"],' +
        '"maxSeries":16,"tracing":{"enabled":false,"targetSampledPerSecond":0.5,"minProbability":0,' +
        '"maxProbability":0.25,"forceSampleColdStarts":false,"tracestateKey":"acme@kwt"},' +
        '"spanExport":{"enabled":true,"cluster":"outbound|4318||otel.obs.svc.cluster.local",' +
        '"authority":"otel.obs:4318","path":"/v1/traces?x=1","serviceName":"kwt filter","maxQueue":1,' +
        '"maxBatch":1000,"maxRetries":0,"timeoutMs":100},"tickPeriodMs":60000}',
    );
    expect<string>(result.error).toBe("");
    const s = result.settings!;
    expect<string>(s.cluster).toBe("c-1");
    expect<string>(s.region).toBe("eu-west1");
    expect<RoleSetting>(s.role).toBe(RoleSetting.Gateway);
    expect<bool>(s.skipNonKnative).toBe(false);
    expect<string>(s.servingPorts.join(",")).toBe("8080,1,65535");
    expect<i32>(s.scaleToZeroMinSeconds).toBe(30);
    expect<string>(s.entryHeader).toBe("x-e");
    expect<string>(s.hopHeader).toBe("x-h");
    expect<string>(s.podHeader).toBe("x-p");
    expect<bool>(s.keepPodHeader).toBe(true);
    expect<string>(s.knownClusters.join(",")).toBe("c-1,c-2");
    expect<string>(s.knownRegions.join(",")).toBe("eu");
    expect<i32>(s.maxSeries).toBe(16);
    expect<bool>(s.tracing.enabled).toBe(false);
    expect<f64>(s.tracing.targetSampledPerSecond).toBe(0.5);
    expect<f64>(s.tracing.minProbability).toBe(0);
    expect<f64>(s.tracing.maxProbability).toBe(0.25);
    expect<bool>(s.tracing.forceSampleColdStarts).toBe(false);
    expect<string>(s.tracing.tracestateKey).toBe("acme@kwt");
    expect<bool>(s.spanExport.enabled).toBe(true);
    expect<string>(s.spanExport.cluster).toBe("outbound|4318||otel.obs.svc.cluster.local");
    expect<string>(s.spanExport.authority).toBe("otel.obs:4318");
    expect<string>(s.spanExport.path).toBe("/v1/traces?x=1");
    expect<string>(s.spanExport.serviceName).toBe("kwt filter");
    expect<i32>(s.spanExport.maxQueue).toBe(1);
    expect<i32>(s.spanExport.maxBatch).toBe(1000);
    expect<i32>(s.spanExport.maxRetries).toBe(0);
    expect<i32>(s.spanExport.timeoutMs).toBe(100);
    expect<i32>(s.tickPeriodMs).toBe(60000);
  });

  it("takes integers written with a fraction or exponent, as JSON Schema does", () => {
    expect<i32>(parseSettings('{"maxSeries": 1.6e3}').settings!.maxSeries).toBe(1600);
    expect<i32>(parseSettings('{"maxSeries": 100.0}').settings!.maxSeries).toBe(100);
  });

  it("lowers the minimum probability to a maximum given alone below it", () => {
    const s = parseSettings('{"tracing":{"maxProbability":0.0001}}').settings!;
    expect<f64>(s.tracing.minProbability).toBe(0.0001);
    expect<f64>(s.tracing.maxProbability).toBe(0.0001);
  });

  it("uses the last of duplicate keys", () => {
    expect<i32>(parseSettings('{"maxSeries": 5, "maxSeries": 50}').settings!.maxSeries).toBe(50);
  });
});

describe("parseSettings: refusals name the field, the value and what is expected", () => {
  it("refuses unknown keys", () => {
    expect<string>(errorOf('{"clusterName":"a"}')).toBe(
      "clusterName: unknown key; expected one of cluster, region, role, skipNonKnative, servingPorts, scaleToZeroMinSeconds, " +
        "entryHeader, hopHeader, podHeader, keepPodHeader, knownClusters, knownRegions, " +
        "maxSeries, maxSourceLabelValues, trustDomains, meshGatewayPorts, meshDomains, tracing, spanExport, tickPeriodMs",
    );
    expect<string>(errorOf('{"tracing":{"rate":1}}')).toBe(
      "tracing.rate: unknown key; expected one of enabled, targetSampledPerSecond, minProbability, " +
        "maxProbability, forceSampleColdStarts, tracestateKey, outsideContext, edgeSampling",
    );
    expect<string>(errorOf('{"spanExport":{"url":"x"}}')).toBe(
      "spanExport.url: unknown key; expected one of enabled, cluster, authority, path, serviceName, maxQueue, " +
        "maxBatch, maxRetries, timeoutMs",
    );
    expect<string>(errorOf('{"a;b\\n":1}')).toBe(
      '"a;b\\u000A": unknown key; expected one of cluster, region, role, skipNonKnative, servingPorts, scaleToZeroMinSeconds, ' +
        "entryHeader, hopHeader, podHeader, keepPodHeader, knownClusters, knownRegions, " +
        "maxSeries, maxSourceLabelValues, trustDomains, meshGatewayPorts, meshDomains, tracing, spanExport, tickPeriodMs",
    );
  });

  it("refuses wrong types", () => {
    expect<string>(errorOf('{"maxSeries":"100"}')).toBe(
      'maxSeries: "100" is a string; expected an integer from 16 to 100000',
    );
    expect<string>(errorOf('{"skipNonKnative":1}')).toBe(
      "skipNonKnative: 1 is a number; expected true or false",
    );
    expect<string>(errorOf('{"cluster":null}')).toBe(
      "cluster: null is not allowed; expected 1 to 63 characters of A-Z a-z 0-9 _ . : / -",
    );
    expect<string>(errorOf('{"tracing":[]}')).toBe("tracing: an array is not allowed; expected an object");
    expect<string>(errorOf('{"keepPodHeader":{}}')).toBe(
      "keepPodHeader: an object is not allowed; expected true or false",
    );
    expect<string>(errorOf('{"tracing":{"enabled":"yes"}}')).toBe(
      'tracing.enabled: "yes" is a string; expected true or false',
    );
  });

  it("refuses out-of-range and non-integer numbers", () => {
    expect<string>(errorOf('{"scaleToZeroMinSeconds":0}')).toBe(
      "scaleToZeroMinSeconds: 0 is out of range; expected an integer from 1 to 3600",
    );
    expect<string>(errorOf('{"scaleToZeroMinSeconds":3601}')).toBe(
      "scaleToZeroMinSeconds: 3601 is out of range; expected an integer from 1 to 3600",
    );
    expect<string>(errorOf('{"scaleToZeroMinSeconds":1.5}')).toBe(
      "scaleToZeroMinSeconds: 1.5 is not an integer; expected an integer from 1 to 3600",
    );
    expect<string>(errorOf('{"maxSeries":15}')).toBe(
      "maxSeries: 15 is out of range; expected an integer from 16 to 100000",
    );
    expect<string>(errorOf('{"maxSeries":1e400}')).toBe(
      "maxSeries: 1e400 is not an integer; expected an integer from 16 to 100000",
    );
    expect<string>(errorOf('{"tickPeriodMs":99}')).toBe(
      "tickPeriodMs: 99 is out of range; expected an integer from 100 to 60000",
    );
    expect<string>(errorOf('{"tracing":{"targetSampledPerSecond":-1}}')).toBe(
      "tracing.targetSampledPerSecond: -1 is out of range; expected a number from 0 to 100000",
    );
    expect<string>(errorOf('{"tracing":{"minProbability":1.5}}')).toBe(
      "tracing.minProbability: 1.5 is out of range; expected a number from 0 to 1",
    );
    expect<string>(errorOf('{"tracing":{"minProbability":0.5,"maxProbability":0.1}}')).toBe(
      "tracing.maxProbability: 0.1 is below tracing.minProbability 0.5; expected a number from tracing.minProbability to 1",
    );
    expect<string>(errorOf('{"spanExport":{"maxQueue":0}}')).toBe(
      "spanExport.maxQueue: 0 is out of range; expected an integer from 1 to 10000",
    );
    expect<string>(errorOf('{"spanExport":{"maxBatch":1001}}')).toBe(
      "spanExport.maxBatch: 1001 is out of range; expected an integer from 1 to 1000",
    );
    expect<string>(errorOf('{"spanExport":{"maxRetries":11}}')).toBe(
      "spanExport.maxRetries: 11 is out of range; expected an integer from 0 to 10",
    );
    expect<string>(errorOf('{"spanExport":{"timeoutMs":60001}}')).toBe(
      "spanExport.timeoutMs: 60001 is out of range; expected an integer from 100 to 60000",
    );
  });

  it("refuses bad strings", () => {
    expect<string>(errorOf('{"cluster":"my cluster"}')).toBe(
      'cluster: "my cluster" is not allowed; expected 1 to 63 characters of A-Z a-z 0-9 _ . : / -',
    );
    expect<string>(errorOf('{"region":""}')).toBe(
      'region: "" is not allowed; expected 1 to 63 characters of A-Z a-z 0-9 _ . : / -',
    );
    expect<string>(errorOf('{"role":"edge"}')).toBe(
      'role: "edge" is not allowed; expected one of "auto", "gateway", "sidecar"',
    );
    expect<string>(errorOf('{"entryHeader":"X-Entry"}')).toBe(
      'entryHeader: "X-Entry" is not allowed; expected a lower-case header name: a letter, then up to 63 of a-z 0-9 -',
    );
    expect<string>(errorOf('{"hopHeader":":path"}')).toBe(
      'hopHeader: ":path" is not allowed; expected a lower-case header name: a letter, then up to 63 of a-z 0-9 -',
    );
    expect<string>(errorOf('{"podHeader":""}')).toBe(
      'podHeader: "" is not allowed; expected a lower-case header name: a letter, then up to 63 of a-z 0-9 -',
    );
    expect<string>(errorOf('{"tracing":{"tracestateKey":"Kwt"}}')).toBe(
      'tracing.tracestateKey: "Kwt" is not allowed; expected a W3C tracestate key: a-z or 0-9, then up to 255 of a-z 0-9 _ - * / @',
    );
    expect<string>(errorOf('{"spanExport":{"cluster":""}}')).toBe(
      'spanExport.cluster: "" is not allowed; expected 1 to 255 printable ASCII characters without spaces',
    );
    expect<string>(errorOf('{"spanExport":{"authority":"a b"}}')).toBe(
      'spanExport.authority: "a b" is not allowed; expected 1 to 255 printable ASCII characters without spaces',
    );
    expect<string>(errorOf('{"spanExport":{"path":"v1/traces"}}')).toBe(
      'spanExport.path: "v1/traces" is not allowed; expected a path: / then up to 1023 printable ASCII characters without spaces',
    );
    expect<string>(errorOf('{"spanExport":{"serviceName":""}}')).toBe(
      'spanExport.serviceName: "" is not allowed; expected 1 to 255 printable ASCII characters',
    );
  });

  it("quotes long or unprintable values safely, cut to 40 characters", () => {
    expect<string>(errorOf('{"role":"' + repeat("x", 50) + '"}')).toBe(
      'role: "' + repeat("x", 40) + '"... is not allowed; expected one of "auto", "gateway", "sidecar"',
    );
    expect<string>(errorOf('{"role":"a\\"\\n\\u0000"}')).toBe(
      'role: "a\\"\\u000A\\u0000" is not allowed; expected one of "auto", "gateway", "sidecar"',
    );
  });

  it("escapes a backslash in a quoted value as JSON does", () => {
    expect<string>(errorOf('{"role":"a\\\\b"}')).toBe(
      'role: "a\\\\b" is not allowed; expected one of "auto", "gateway", "sidecar"',
    );
  });

  it("refuses bad serving ports", () => {
    expect<string>(errorOf('{"servingPorts":8012}')).toBe(
      "servingPorts: 8012 is a number; expected an array of at most 16 ports",
    );
    expect<string>(errorOf('{"servingPorts":[8012,"8013"]}')).toBe(
      'servingPorts[1]: "8013" is a string; expected an integer from 1 to 65535',
    );
    expect<string>(errorOf('{"servingPorts":[0]}')).toBe(
      "servingPorts[0]: 0 is not a port; expected an integer from 1 to 65535",
    );
    expect<string>(errorOf('{"servingPorts":[8012.5]}')).toBe(
      "servingPorts[0]: 8012.5 is not a port; expected an integer from 1 to 65535",
    );
    expect<string>(errorOf('{"servingPorts":[65536]}')).toBe(
      "servingPorts[0]: 65536 is not a port; expected an integer from 1 to 65535",
    );
    let many = "[";
    for (let i = 0; i < 17; i++) many += (i > 0 ? "," : "") + (8000 + i).toString();
    expect<string>(errorOf('{"servingPorts":' + many + "]}")).toBe(
      "servingPorts: 17 items are too many; expected an array of at most 16 ports",
    );
  });

  it("tells serving ports apart; an empty list serves every port", () => {
    const defaults = parseSettings("{}").settings!;
    expect<bool>(defaults.servesPort(8012)).toBe(true);
    expect<bool>(defaults.servesPort(8013)).toBe(true);
    expect<bool>(defaults.servesPort(8112)).toBe(true);
    expect<bool>(defaults.servesPort(9090)).toBe(false);
    expect<bool>(defaults.servesPort(-1)).toBe(false);
    const every = parseSettings('{"servingPorts":[]}').settings!;
    expect<bool>(every.servesPort(9090)).toBe(true);
    expect<bool>(every.servesPort(-1)).toBe(true);
  });

  it("refuses bad known lists", () => {
    expect<string>(errorOf('{"knownClusters":"a"}')).toBe(
      'knownClusters: "a" is a string; expected an array of at most 64 label values',
    );
    expect<string>(errorOf('{"knownClusters":["a", 3]}')).toBe(
      "knownClusters[1]: 3 is a number; expected 1 to 63 characters of A-Z a-z 0-9 _ . : / -",
    );
    expect<string>(errorOf('{"knownRegions":["eu", "us east"]}')).toBe(
      'knownRegions[1]: "us east" is not a label value; expected 1 to 63 characters of A-Z a-z 0-9 _ . : / -',
    );
    let many = "[";
    for (let i = 0; i < 65; i++) many += (i > 0 ? "," : "") + '"c' + i.toString() + '"';
    expect<string>(errorOf('{"knownClusters":' + many + "]}")).toBe(
      "knownClusters: 65 items are too many; expected an array of at most 64 label values",
    );
  });

  it("reads trust domains and mesh-facing gateway ports, with Istio's and Knative's defaults", () => {
    const defaults = parseSettings("{}").settings!;
    expect<string[]>(defaults.trustDomains).toStrictEqual(["cluster.local"]);
    expect<i32[]>(defaults.meshGatewayPorts).toStrictEqual([8081]);
    const given = parseSettings('{"trustDomains":["east.example","west_1"],"meshGatewayPorts":[]}').settings!;
    expect<string[]>(given.trustDomains).toStrictEqual(["east.example", "west_1"]);
    expect<i32>(given.meshGatewayPorts.length).toBe(0);
    expect<string>(errorOf('{"trustDomains":["Cluster.Local"]}')).toBe(
      'trustDomains[0]: "Cluster.Local" is not a trust domain; expected a SPIFFE trust domain: 1 to 255 of a-z 0-9 . _ -',
    );
    expect<string>(errorOf('{"meshGatewayPorts":[0]}')).toBe(
      "meshGatewayPorts[0]: 0 is not a port; expected an integer from 1 to 65535",
    );
  });

  it("refuses what is not a JSON object", () => {
    expect<string>(errorOf("not json")).toBe(
      "configuration: not JSON (unexpected character 'n' at offset 0); expected a JSON object",
    );
    expect<string>(errorOf("[]")).toBe("configuration: an array is not allowed; expected a JSON object");
    expect<string>(errorOf("null")).toBe("configuration: null is not allowed; expected a JSON object");
    expect<string>(errorOf("   ")).toBe(
      "configuration: not JSON (unexpected end of input at offset 3); expected a JSON object",
    );
    expect<string>(errorOf('{"tracing":' + repeat("[", 40) + repeat("]", 40) + "}")).toBe(
      "configuration: not JSON (nested deeper than 16 levels at offset 26); expected a JSON object",
    );
  });

  it("refuses a configuration larger than the limit without parsing it", () => {
    const huge = '{"cluster":"' + repeat("a", MAX_CONFIGURATION_BYTES) + '"}';
    expect<string>(errorOf(huge)).toBe(
      "configuration: 65550 bytes is too large; expected at most 65536 bytes",
    );
  });

  it("refuses two stamp headers under one name, the default's included", () => {
    const expected = "; expected entryHeader, hopHeader and podHeader to be three different names";
    expect<string>(errorOf('{"hopHeader":"x-a","entryHeader":"x-a"}')).toBe(
      'hopHeader: "x-a" is also entryHeader' + expected,
    );
    expect<string>(errorOf('{"podHeader":"x-kwt-entry"}')).toBe(
      'podHeader: "x-kwt-entry" is also entryHeader' + expected,
    );
    expect<string>(errorOf('{"podHeader":"x-kwt-hop"}')).toBe(
      'podHeader: "x-kwt-hop" is also hopHeader' + expected,
    );
    expect(
      parseSettings('{"podHeader":"x-a","hopHeader":"x-b","entryHeader":"x-c"}').settings,
    ).not.toBeNull();
  });

  it("reports the first problem: unknown keys, then fields in documented order", () => {
    expect<string>(errorOf('{"maxSeries":1,"zzz":1}')).toBe(
      "zzz: unknown key; expected one of cluster, region, role, skipNonKnative, servingPorts, scaleToZeroMinSeconds, " +
        "entryHeader, hopHeader, podHeader, keepPodHeader, knownClusters, knownRegions, " +
        "maxSeries, maxSourceLabelValues, trustDomains, meshGatewayPorts, meshDomains, tracing, spanExport, tickPeriodMs",
    );
    expect<string>(errorOf('{"maxSeries":1,"cluster":"a b"}')).toBe(
      'cluster: "a b" is not allowed; expected 1 to 63 characters of A-Z a-z 0-9 _ . : / -',
    );
  });
});

describe("tracing.tracestateKey: the member-key grammar of assembly/tracestate.ts", () => {
  it("accepts digit-first, multi-@ and 256-character keys", () => {
    const keys = ["0kwt", "foo@bar", "a@b@c", "a@", "x_-*/9", repeat("k", 256)];
    for (let i = 0; i < keys.length; i++) {
      const result = parseSettings('{"tracing":{"tracestateKey":"' + keys[i] + '"}}');
      expect<string>(result.error).toBe("");
      expect<string>(result.settings!.tracing.tracestateKey).toBe(keys[i]);
    }
  });

  it("refuses upper case, a symbol first, '=' and 257 characters", () => {
    const expected = "expected a W3C tracestate key: a-z or 0-9, then up to 255 of a-z 0-9 _ - * / @";
    expect<string>(errorOf('{"tracing":{"tracestateKey":"fooBar"}}')).toBe(
      'tracing.tracestateKey: "fooBar" is not allowed; ' + expected,
    );
    expect<string>(errorOf('{"tracing":{"tracestateKey":"@kwt"}}')).toBe(
      'tracing.tracestateKey: "@kwt" is not allowed; ' + expected,
    );
    expect<string>(errorOf('{"tracing":{"tracestateKey":"kwt="}}')).toBe(
      'tracing.tracestateKey: "kwt=" is not allowed; ' + expected,
    );
    expect<string>(errorOf('{"tracing":{"tracestateKey":"' + repeat("k", 257) + '"}}')).toBe(
      'tracing.tracestateKey: "' + repeat("k", 40) + '"... is not allowed; ' + expected,
    );
  });
});

describe("name checks", () => {
  it("accepts lower-case header names only", () => {
    expect<bool>(isHeaderName("x-kwt-entry")).toBe(true);
    expect<bool>(isHeaderName("a")).toBe(true);
    expect<bool>(isHeaderName("1abc")).toBe(false);
    expect<bool>(isHeaderName("x_kwt")).toBe(false);
    expect<bool>(isHeaderName("a" + repeat("b", 64))).toBe(false);
  });
});

/** The bytes of `codes` (each 0..255). */
function bytesOf(codes: i32[]): ArrayBuffer {
  const out = new Uint8Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = <u8>codes[i];
  return out.buffer;
}

function invalidAt(codes: i32[]): i32 {
  const bytes = bytesOf(codes);
  return firstInvalidUtf8(changetype<usize>(bytes), bytes.byteLength);
}

describe("configuration bytes: well-formed UTF-8 only (RFC 3629)", () => {
  it("accepts ASCII and 2-, 3- and 4-byte sequences at their edges", () => {
    expect<i32>(invalidAt([0x7b, 0x7d])).toBe(-1);
    expect<i32>(invalidAt([0xc2, 0x80, 0xdf, 0xbf])).toBe(-1);
    expect<i32>(invalidAt([0xe0, 0xa0, 0x80, 0xed, 0x9f, 0xbf, 0xef, 0xbf, 0xbf])).toBe(-1);
    expect<i32>(invalidAt([0xf0, 0x90, 0x80, 0x80, 0xf4, 0x8f, 0xbf, 0xbf])).toBe(-1);
  });

  it("refuses stray continuation bytes, overlong forms, surrogates, code points past U+10FFFF, cut sequences", () => {
    expect<i32>(invalidAt([0x61, 0x80])).toBe(1);
    expect<i32>(invalidAt([0xc0, 0xaf])).toBe(0);
    expect<i32>(invalidAt([0xc1, 0xbf])).toBe(0);
    expect<i32>(invalidAt([0xe0, 0x9f, 0xbf])).toBe(0);
    expect<i32>(invalidAt([0xed, 0xa0, 0x80])).toBe(0);
    expect<i32>(invalidAt([0xf0, 0x8f, 0xbf, 0xbf])).toBe(0);
    expect<i32>(invalidAt([0xf4, 0x90, 0x80, 0x80])).toBe(0);
    expect<i32>(invalidAt([0xf5, 0x80, 0x80, 0x80])).toBe(0);
    expect<i32>(invalidAt([0x61, 0xe2, 0x82])).toBe(1);
    expect<i32>(invalidAt([0xe2, 0x28, 0xa1])).toBe(0);
  });

  it("parses well-formed bytes and refuses the rest with the offset", () => {
    expect(parseConfigurationBytes(String.UTF8.encode('{"cluster":"east"}')).settings).not.toBeNull();
    const result = parseConfigurationBytes(bytesOf([0x7b, 0x7d, 0xff]));
    expect(result.settings).toBeNull();
    expect<string>(result.error).toBe(
      "configuration: byte 2 is not valid UTF-8; expected UTF-8 text (RFC 8259)",
    );
  });
});
