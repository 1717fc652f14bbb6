// The plugin configuration (WasmPlugin.pluginConfig): parsed and validated once, in
// proxy_on_configure, into an immutable Settings object. Pure: no host calls.
//
// The keys, their kinds, ranges, choices and defaults come from deploy/filter-config.schema.json
// (generated into generated/config-keys.ts); ConfigReader reads each object's keys in one loop over
// those tables and checks string values, and a test feeds the schema and this parser the same inputs. Every problem is reported as one line:
// `<field>: <what was wrong>; expected <what>`. The fixed pieces of those lines are cold text
// (generated/cold-text.ts, listed in tools/generate/cold-text.ts): one UTF-8 blob in the module.

import {
  ConfigKey,
  ConfigKind,
  KEY_COUNT,
  KEY_DEFAULT,
  KEY_HIGH,
  KEY_KIND,
  KEY_LOW,
  KEY_SECTION,
  keyChoices,
  keyDefaultText,
  keyExpected,
  keyName,
  memberKeys,
} from "./generated/config-keys";
import { ColdText, coldText } from "./generated/cold-text";
import { decimalText, parseDecimal } from "./decimal";
import { JsonKind, JsonResult, JsonValue, hex4, parseJson } from "./json";
import { isLabelValue } from "./labels";
import { splitAt } from "./text";
import { isTraceStateKey } from "./tracestate";

/** Configurations larger than this are refused without being parsed. */
export const MAX_CONFIGURATION_BYTES: i32 = 65536;

/** `maxSeries` when the configuration does not set it; also the cap before any valid configuration. */
export const DEFAULT_MAX_SERIES: i32 = <i32>KEY_DEFAULT[ConfigKey.MaxSeries];
/** `maxSourceLabelValues` when not set; also the bound before any valid configuration. */
export const DEFAULT_MAX_SOURCE_LABEL_VALUES: i32 = <i32>KEY_DEFAULT[ConfigKey.MaxSourceLabelValues];
/** How deep a configuration may nest (it needs 3 levels; the bound stops a recursion bomb). */
const MAX_CONFIGURATION_DEPTH: i32 = 16;
/** Digits of the largest port, 65535. */
const PORT_DIGITS: i32 = 5;
/** Longest value quoted back in an error message. */
const MAX_QUOTED_LENGTH: i32 = 40;

/** In the order of the schema's `role` enum (keyChoices), whose index the reader gives. */
export enum RoleSetting {
  Auto,
  Gateway,
  Sidecar,
}

/** How messages name a key: `tracing.enabled`, or `cluster` at the top level. */
function fieldOf(key: ConfigKey): string {
  const section = <i32>KEY_SECTION[key];
  return section < 0 ? keyName(key) : keyName(section) + "." + keyName(key);
}

/** What a string key (or each item of an array of strings) must be. */
enum TextFormat {
  LabelValue,
  HeaderName,
  TraceStateKey,
  HostToken,
  RequestPath,
  ServiceName,
  TrustDomain,
  DomainName,
}

function formatOf(key: ConfigKey): TextFormat {
  switch (key) {
    case ConfigKey.EntryHeader:
    case ConfigKey.HopHeader:
    case ConfigKey.PodHeader:
      return TextFormat.HeaderName;
    case ConfigKey.TracingTracestateKey:
      return TextFormat.TraceStateKey;
    case ConfigKey.SpanExportCluster:
    case ConfigKey.SpanExportAuthority:
      return TextFormat.HostToken;
    case ConfigKey.SpanExportPath:
      return TextFormat.RequestPath;
    case ConfigKey.SpanExportServiceName:
      return TextFormat.ServiceName;
    case ConfigKey.TrustDomains:
      return TextFormat.TrustDomain;
    case ConfigKey.MeshDomains:
      return TextFormat.DomainName;
    default:
      return TextFormat.LabelValue; // cluster, region, knownClusters, knownRegions
  }
}

function accepts(format: TextFormat, text: string): bool {
  switch (format) {
    case TextFormat.HeaderName:
      return isHeaderName(text);
    case TextFormat.TraceStateKey:
      return isTraceStateKey(text);
    case TextFormat.HostToken:
      return isHostToken(text);
    case TextFormat.RequestPath:
      return isRequestPath(text);
    case TextFormat.ServiceName:
      return isServiceName(text);
    case TextFormat.TrustDomain:
      return isTrustDomain(text);
    case TextFormat.DomainName:
      return isDomainName(text);
    default:
      return isConfigLabelValue(text);
  }
}

/** What a message says a value of each TextFormat must be, in TextFormat's order. */
const FORMAT_EXPECTED: StaticArray<ColdText> = [
  ColdText.ExpectLabelValue,
  ColdText.ExpectHeaderName,
  ColdText.ExpectTracestateKey,
  ColdText.ExpectHostToken,
  ColdText.ExpectPath,
  ColdText.ExpectServiceName,
  ColdText.ExpectTrustDomain,
  ColdText.ExpectDomain,
];

function expectedText(format: TextFormat): ColdText {
  return unchecked(FORMAT_EXPECTED[format]);
}

/** How a message names an array of `format` (a trust domain, domains); label values otherwise. */
function itemsText(format: TextFormat, one: bool): ColdText {
  if (format == TextFormat.TrustDomain) return one ? ColdText.ATrustDomain : ColdText.TrustDomains;
  if (format == TextFormat.DomainName) return one ? ColdText.ADomain : ColdText.Domains;
  return one ? ColdText.ALabelValue : ColdText.LabelValues;
}

/**
 * Reads every key of a configuration, object by object in the schema's order (memberKeys, the
 * order problems are reported in; an unknown key is found in the configuration's own order), into
 * one value per ConfigKey (each key's default when absent or refused), and collects the first
 * problem found; later keys are still read so parsing can finish.
 */
export class ConfigReader {
  error: string = "";
  /** Bool (0 or 1), integer, number and choice (the index of the name) keys. */
  private readonly numbers: StaticArray<f64> = new StaticArray<f64>(KEY_COUNT);
  private readonly texts: StaticArray<string> = new StaticArray<string>(KEY_COUNT);
  private readonly lists: StaticArray<string[]> = new StaticArray<string[]>(KEY_COUNT);
  private readonly portLists: StaticArray<i32[]> = new StaticArray<i32[]>(KEY_COUNT);

  fail(field: string, problem: string, expected: string): void {
    if (this.error.length == 0)
      this.error = field + ": " + problem + coldText(ColdText.SemicolonExpected) + expected;
  }

  flag(key: ConfigKey): bool {
    return unchecked(this.numbers[key]) != 0;
  }

  whole(key: ConfigKey): i32 {
    return <i32>unchecked(this.numbers[key]);
  }

  fraction(key: ConfigKey): f64 {
    return unchecked(this.numbers[key]);
  }

  text(key: ConfigKey): string {
    return unchecked(this.texts[key]);
  }

  list(key: ConfigKey): string[] {
    return unchecked(this.lists[key]);
  }

  ports(key: ConfigKey): i32[] {
    return unchecked(this.portLists[key]);
  }

  /**
   * Reads the members of `object` (null: all defaults) that section `section` (-1: the top
   * level) allows, refusing any other member.
   */
  readObject(object: JsonValue | null, section: i32): void {
    const keys = memberKeys(section);
    if (object != null) this.onlyKeys(object, section < 0 ? "" : fieldOf(section) + ".", keys);
    for (let i = 0; i < keys.length; i++) {
      const key = <ConfigKey>unchecked(keys[i]);
      const kind = <ConfigKind>unchecked(KEY_KIND[key]);
      if (kind == ConfigKind.Section) {
        this.readObject(this.member(object, key, JsonKind.Object, coldText(ColdText.ExpectObject)), key);
      } else if (kind == ConfigKind.Text) {
        unchecked((this.texts[key] = this.readText(object, key)));
      } else if (kind == ConfigKind.Texts) {
        unchecked((this.lists[key] = this.readTexts(object, key)));
      } else if (kind == ConfigKind.Ports) {
        unchecked((this.portLists[key] = this.readPorts(object, key)));
      } else {
        unchecked((this.numbers[key] = this.readNumber(object, key, kind)));
      }
      if (key == ConfigKey.TracingMaxProbability) this.checkProbabilityOrder(object);
    }
  }

  /** Refuses members not in `allowed`, looked at in the configuration's order. */
  private onlyKeys(object: JsonValue, prefix: string, allowed: StaticArray<u8>): void {
    const keys = object.keys;
    if (keys == null) return;
    for (let i = 0; i < keys.length; i++) {
      const key = unchecked(keys[i]);
      let known = false;
      for (let k = 0; k < allowed.length && !known; k++) known = keyName(unchecked(allowed[k])) == key;
      if (!known) {
        let names = coldText(ColdText.OneOf);
        for (let k = 0; k < allowed.length; k++)
          names += (k > 0 ? ", " : "") + keyName(unchecked(allowed[k]));
        this.fail(prefix + quoteKey(key), coldText(ColdText.UnknownKey), names);
        return;
      }
    }
  }

  /** The member `key` of `object`, or null when absent; reported when of the wrong type. */
  private member(
    object: JsonValue | null,
    key: ConfigKey,
    kind: JsonKind,
    expected: string,
  ): JsonValue | null {
    if (object == null) return null;
    const value = object.member(keyName(key));
    if (value == null) return null;
    if (value.kind != kind) {
      this.fail(fieldOf(key), wrongType(value), expected);
      return null;
    }
    return value;
  }

  /** A bool (0 or 1), integer, number or choice (the index of the name) member. */
  private readNumber(object: JsonValue | null, key: ConfigKey, kind: ConfigKind): f64 {
    if (kind == ConfigKind.Bool) {
      const value = this.member(object, key, JsonKind.Bool, coldText(ColdText.ExpectBool));
      return value == null ? KEY_DEFAULT[key] : value.bool ? 1 : 0;
    }
    if (kind == ConfigKind.Choice) return this.readChoice(object, key);
    const low = KEY_LOW[key];
    const high = KEY_HIGH[key];
    const integer = kind == ConfigKind.Integer;
    const expected = integer
      ? coldText(ColdText.AnIntegerFrom) +
        decimalText(<i32>low) +
        coldText(ColdText.To) +
        decimalText(<i32>high)
      : keyExpected(key);
    const value = this.member(object, key, JsonKind.Number, expected);
    if (value == null) return KEY_DEFAULT[key];
    const n = value.number;
    if (integer && (!isFinite(n) || n != Math.floor(n))) {
      this.fail(fieldOf(key), quote(value) + coldText(ColdText.IsNotAnInteger), expected);
      return KEY_DEFAULT[key];
    }
    if (!(n >= low && n <= high)) {
      this.fail(fieldOf(key), quote(value) + coldText(ColdText.IsOutOfRange), expected);
      return KEY_DEFAULT[key];
    }
    return n;
  }

  /** A string member its format accepts; the key's default when absent. */
  private readText(object: JsonValue | null, key: ConfigKey): string {
    const format = formatOf(key);
    const expected = coldText(expectedText(format));
    const value = this.member(object, key, JsonKind.String, expected);
    if (value == null) return keyDefaultText(key);
    if (!accepts(format, value.text)) {
      this.fail(fieldOf(key), quote(value) + coldText(ColdText.IsNotAllowed), expected);
      return keyDefaultText(key);
    }
    return value.text;
  }

  /**
   * Which of its choices (keyChoices) string member `key` names, as its index there; the
   * default's index when it is absent or names none of them (the configuration is refused then).
   */
  private readChoice(object: JsonValue | null, key: ConfigKey): i32 {
    const choices = splitAt(keyChoices(key), 0x2c); // ,
    let expected = coldText(ColdText.OneOf);
    for (let i = 0; i < choices.length; i++) expected += (i > 0 ? ", " : "") + jsonQuote(choices[i]);
    const fallback = choices.indexOf(keyDefaultText(key));
    const value = this.member(object, key, JsonKind.String, expected);
    if (value == null) return fallback;
    const index = choices.indexOf(value.text);
    if (index < 0) {
      this.fail(fieldOf(key), quote(value) + coldText(ColdText.IsNotAllowed), expected);
      return fallback;
    }
    return index;
  }

  /**
   * The items of array member `key`, at most its maxItems (`what` names them in messages); null
   * when absent, an empty list when refused (the configuration is refused then anyway).
   */
  private arrayItems(object: JsonValue | null, key: ConfigKey, what: ColdText): JsonValue[] | null {
    const maxItems = <i32>KEY_HIGH[key];
    const expected = coldText(ColdText.AnArrayOfAtMost) + decimalText(maxItems) + " " + coldText(what);
    const value = this.member(object, key, JsonKind.Array, expected);
    if (value == null) return object == null || object.member(keyName(key)) == null ? null : [];
    const items = value.items;
    if (items == null) return [];
    if (items.length > maxItems) {
      this.fail(fieldOf(key), decimalText(items.length) + coldText(ColdText.ItemsAreTooMany), expected);
      return [];
    }
    return items;
  }

  /** An array of strings its format accepts; the key's default (comma-separated) when absent. */
  private readTexts(object: JsonValue | null, key: ConfigKey): string[] {
    const format = formatOf(key);
    const result = new Array<string>();
    const items = this.arrayItems(object, key, itemsText(format, false));
    if (items == null) {
      const fallback = keyDefaultText(key);
      return fallback.length == 0 ? result : splitAt(fallback, 0x2c); // ,
    }
    for (let i = 0; i < items.length; i++) {
      const item = unchecked(items[i]);
      const field = fieldOf(key) + "[" + decimalText(i) + "]";
      if (item.kind != JsonKind.String) {
        this.fail(field, wrongType(item), coldText(expectedText(format)));
        return result;
      }
      if (!accepts(format, item.text)) {
        this.fail(
          field,
          quote(item) + coldText(ColdText.IsNot) + coldText(itemsText(format, true)),
          coldText(expectedText(format)),
        );
        return result;
      }
      result.push(item.text);
    }
    return result;
  }

  /** An array of ports (1..65535); the key's default (comma-separated) when absent. */
  private readPorts(object: JsonValue | null, key: ConfigKey): i32[] {
    const result = new Array<i32>();
    const items = this.arrayItems(object, key, ColdText.Ports);
    if (items == null) {
      const fallback = keyDefaultText(key);
      if (fallback.length == 0) return result;
      const defaults = splitAt(fallback, 0x2c); // ,
      for (let i = 0; i < defaults.length; i++) {
        result.push(<i32>parseDecimal(unchecked(defaults[i]), PORT_DIGITS));
      }
      return result;
    }
    for (let i = 0; i < items.length; i++) {
      const item = unchecked(items[i]);
      const field = fieldOf(key) + "[" + decimalText(i) + "]";
      if (item.kind != JsonKind.Number) {
        this.fail(field, wrongType(item), coldText(ColdText.ExpectPort));
        return result;
      }
      const n = item.number;
      if (!(n >= 1 && n <= 65535 && n == Math.floor(n))) {
        this.fail(field, quote(item) + coldText(ColdText.IsNotAPort), coldText(ColdText.ExpectPort));
        return result;
      }
      result.push(<i32>n);
    }
    return result;
  }

  /** A given tracing.minProbability above tracing.maxProbability is refused. */
  private checkProbabilityOrder(section: JsonValue | null): void {
    const minKey = ConfigKey.TracingMinProbability;
    const maxKey = ConfigKey.TracingMaxProbability;
    if (section == null) return;
    const min = section.member(keyName(minKey));
    if (min == null || this.fraction(maxKey) >= this.fraction(minKey)) return;
    const minField = fieldOf(minKey);
    this.fail(
      fieldOf(maxKey),
      quote(section.member(keyName(maxKey))!) + coldText(ColdText.IsBelow) + minField + " " + quote(min),
      coldText(ColdText.ANumberFrom) + minField + coldText(ColdText.ToOne),
    );
  }
}

/** A label value as configuration accepts it: like isLabelValue, but not empty. */
export function isConfigLabelValue(value: string): bool {
  return value.length > 0 && isLabelValue(value);
}

/** 1 to `maxLength` of a-z 0-9 . - (and _ when `underscore`). */
function isLowerCaseDotted(text: string, maxLength: i32, underscore: bool): bool {
  const n = text.length;
  if (n == 0 || n > maxLength) return false;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2e || c == 0x2d;
    if (!ok && !(underscore && c == 0x5f)) return false;
  }
  return true;
}

/** A SPIFFE trust domain (e.g. cluster.local): 1 to 255 of a-z 0-9 . _ -. */
export function isTrustDomain(text: string): bool {
  return isLowerCaseDotted(text, 255, true);
}

/** A lower-case DNS domain (e.g. cluster.local): 1 to 253 of a-z 0-9 . -. */
export function isDomainName(text: string): bool {
  return isLowerCaseDotted(text, 253, false);
}

/** A lower-case header name: a letter, then up to 63 of a-z 0-9 -. */
export function isHeaderName(name: string): bool {
  const n = name.length;
  if (n == 0 || n > 64) return false;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    const letter = c >= 0x61 && c <= 0x7a;
    if (i == 0 ? !letter : !(letter || (c >= 0x30 && c <= 0x39) || c == 0x2d)) return false;
  }
  return true;
}

function isPrintableAscii(text: string, allowSpace: bool): bool {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7e || c < 0x20 || (c == 0x20 && !allowSpace)) return false;
  }
  return true;
}

/** An Envoy cluster name or an :authority: 1..255 printable ASCII characters, no spaces. */
export function isHostToken(text: string): bool {
  return text.length > 0 && text.length <= 255 && isPrintableAscii(text, false);
}

/** An HTTP path: `/` then up to 1023 printable ASCII characters, no spaces. */
export function isRequestPath(text: string): bool {
  return (
    text.length > 0 && text.length <= 1024 && text.charCodeAt(0) == 0x2f && isPrintableAscii(text, false)
  );
}

/** A service name: 1..255 printable ASCII characters (spaces allowed). */
export function isServiceName(text: string): bool {
  return text.length > 0 && text.length <= 255 && isPrintableAscii(text, true);
}

function quoteKey(key: string): string {
  return isHeaderNameLike(key) ? key : jsonQuote(key);
}

/** Keys that read fine bare in a message; anything else is quoted and escaped. */
function isHeaderNameLike(key: string): bool {
  if (key.length == 0 || key.length > MAX_QUOTED_LENGTH) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == 0x5f)) {
      return false;
    }
  }
  return true;
}

/** `text` as a JSON string literal, cut to MAX_QUOTED_LENGTH, escaped to printable ASCII. */
function jsonQuote(text: string): string {
  const cut = text.length > MAX_QUOTED_LENGTH;
  const n = cut ? MAX_QUOTED_LENGTH : text.length;
  let out = '"';
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c == 0x22 || c == 0x5c) out += "\\" + String.fromCharCode(c);
    else if (c >= 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else out += "\\u" + hex4(c);
  }
  return out + '"' + (cut ? coldText(ColdText.Ellipsis) : "");
}

/** How a value is quoted back in a message. */
function quote(value: JsonValue): string {
  switch (value.kind) {
    case JsonKind.String:
      return jsonQuote(value.text);
    case JsonKind.Number:
      return value.text.length > MAX_QUOTED_LENGTH
        ? value.text.substring(0, MAX_QUOTED_LENGTH) + coldText(ColdText.Ellipsis)
        : value.text;
    case JsonKind.Bool:
      return value.bool ? "true" : "false";
    case JsonKind.Array:
      return coldText(ColdText.ElidedArray);
    case JsonKind.Object:
      return coldText(ColdText.ElidedObject);
    default:
      return coldText(ColdText.Null);
  }
}

function wrongType(value: JsonValue): string {
  switch (value.kind) {
    case JsonKind.String:
      return quote(value) + coldText(ColdText.IsAString);
    case JsonKind.Number:
      return quote(value) + coldText(ColdText.IsANumber);
    case JsonKind.Bool:
      return quote(value) + coldText(ColdText.IsABoolean);
    case JsonKind.Array:
      return coldText(ColdText.AnArrayIsNotAllowed);
    case JsonKind.Object:
      return coldText(ColdText.AnObjectIsNotAllowed);
    default:
      return coldText(ColdText.NullIsNotAllowed);
  }
}

// The settings classes take every field as a constructor parameter: fields assigned in a
// constructor body are first stored as zero, which is code per field.

export class TracingSettings {
  constructor(
    readonly enabled: bool,
    readonly targetSampledPerSecond: f64,
    readonly minProbability: f64,
    readonly maxProbability: f64,
    readonly forceSampleColdStarts: bool,
    readonly tracestateKey: string,
    /** To destinations outside the mesh: keep traceparent without the filter's member (else remove both). */
    readonly propagateOutside: bool,
    /** Gateway: re-decide the sampled flag of an outside client's trace context. */
    readonly resampleAtEdge: bool,
  ) {}
}

function tracingSettings(reader: ConfigReader): TracingSettings {
  const maxProbability = reader.fraction(ConfigKey.TracingMaxProbability);
  return new TracingSettings(
    reader.flag(ConfigKey.TracingEnabled),
    reader.fraction(ConfigKey.TracingTargetSampledPerSecond),
    // With only the maximum given, a maximum below the default minimum lowers the minimum to it.
    min(reader.fraction(ConfigKey.TracingMinProbability), maxProbability),
    maxProbability,
    reader.flag(ConfigKey.TracingForceSampleColdStarts),
    reader.text(ConfigKey.TracingTracestateKey),
    // The choices' order is the schema's enum: propagate, remove; keep, resample.
    reader.whole(ConfigKey.TracingOutsideContext) == 0,
    reader.whole(ConfigKey.TracingEdgeSampling) == 1,
  );
}

export class SpanExportSettings {
  constructor(
    readonly enabled: bool,
    readonly cluster: string,
    readonly authority: string,
    readonly path: string,
    readonly serviceName: string,
    readonly maxQueue: i32,
    readonly maxBatch: i32,
    readonly maxRetries: i32,
    readonly timeoutMs: i32,
  ) {}
}

function spanExportSettings(reader: ConfigReader): SpanExportSettings {
  return new SpanExportSettings(
    reader.flag(ConfigKey.SpanExportEnabled),
    reader.text(ConfigKey.SpanExportCluster),
    reader.text(ConfigKey.SpanExportAuthority),
    reader.text(ConfigKey.SpanExportPath),
    reader.text(ConfigKey.SpanExportServiceName),
    reader.whole(ConfigKey.SpanExportMaxQueue),
    reader.whole(ConfigKey.SpanExportMaxBatch),
    reader.whole(ConfigKey.SpanExportMaxRetries),
    reader.whole(ConfigKey.SpanExportTimeoutMs),
  );
}

export class Settings {
  constructor(
    /** "" means: what the node reports. */
    readonly cluster: string,
    readonly region: string,
    readonly role: RoleSetting,
    readonly skipNonKnative: bool,
    /** Inbound: the ports whose requests are invocations; empty: every port. */
    readonly servingPorts: i32[],
    /** Edge: the shortest time in which Knative scales an idle revision to zero (readiness.ts). */
    readonly scaleToZeroMinSeconds: i32,
    readonly entryHeader: string,
    readonly hopHeader: string,
    readonly podHeader: string,
    readonly keepPodHeader: bool,
    readonly knownClusters: string[],
    readonly knownRegions: string[],
    readonly maxSeries: i32,
    readonly maxSourceLabelValues: i32,
    /** Trust domains whose SPIFFE ids are mesh identities (trust.ts). */
    readonly trustDomains: string[],
    /** Gateway: the listener ports that face the mesh; every other port trusts no downstream. */
    readonly meshGatewayPorts: i32[],
    /** Kubernetes cluster domains of in-mesh services (destination.ts). */
    readonly meshDomains: string[],
    readonly tracing: TracingSettings,
    readonly spanExport: SpanExportSettings,
    readonly tickPeriodMs: i32,
  ) {}

  /** Whether a request addressed to `port` (destination.port; -1 unknown) may be an invocation. */
  servesPort(port: i64): bool {
    const ports = this.servingPorts;
    if (ports.length == 0) return true;
    for (let i = 0; i < ports.length; i++) if (<i64>unchecked(ports[i]) == port) return true;
    return false;
  }
}

/** Reads every setting from `root` (null: all defaults), reporting problems to `reader`. */
function readSettings(root: JsonValue | null, reader: ConfigReader): Settings {
  reader.readObject(root, -1);
  const entryHeader = reader.text(ConfigKey.EntryHeader);
  const hopHeader = reader.text(ConfigKey.HopHeader);
  const podHeader = reader.text(ConfigKey.PodHeader);
  distinctHeaderNames(entryHeader, hopHeader, podHeader, reader);
  return new Settings(
    reader.text(ConfigKey.Cluster),
    reader.text(ConfigKey.Region),
    // RoleSetting's order is the schema's enum.
    <RoleSetting>reader.whole(ConfigKey.Role),
    reader.flag(ConfigKey.SkipNonKnative),
    reader.ports(ConfigKey.ServingPorts),
    reader.whole(ConfigKey.ScaleToZeroMinSeconds),
    entryHeader,
    hopHeader,
    podHeader,
    reader.flag(ConfigKey.KeepPodHeader),
    reader.list(ConfigKey.KnownClusters),
    reader.list(ConfigKey.KnownRegions),
    reader.whole(ConfigKey.MaxSeries),
    reader.whole(ConfigKey.MaxSourceLabelValues),
    reader.list(ConfigKey.TrustDomains),
    reader.ports(ConfigKey.MeshGatewayPorts),
    reader.list(ConfigKey.MeshDomains),
    tracingSettings(reader),
    spanExportSettings(reader),
    reader.whole(ConfigKey.TickPeriodMs),
  );
}

/**
 * The three stamp headers must differ: with two under one name the filter would read one stamp as
 * the other and strip or overwrite it.
 */
function distinctHeaderNames(entry: string, hop: string, pod: string, reader: ConfigReader): void {
  const expected = coldText(ColdText.ExpectDistinctHeaders);
  const entryField = fieldOf(ConfigKey.EntryHeader);
  if (hop == entry)
    reader.fail(
      fieldOf(ConfigKey.HopHeader),
      jsonQuote(hop) + coldText(ColdText.IsAlso) + entryField,
      expected,
    );
  if (pod == entry)
    reader.fail(
      fieldOf(ConfigKey.PodHeader),
      jsonQuote(pod) + coldText(ColdText.IsAlso) + entryField,
      expected,
    );
  if (pod == hop) {
    reader.fail(
      fieldOf(ConfigKey.PodHeader),
      jsonQuote(pod) + coldText(ColdText.IsAlso) + fieldOf(ConfigKey.HopHeader),
      expected,
    );
  }
}

export class ConfigResult {
  constructor(
    /** null when the configuration is refused. */
    public settings: Settings | null,
    /** `<field>: <what was wrong>; expected <what>`; empty when accepted. */
    public error: string,
  ) {}
}

/** Every setting at its default (what an empty configuration gives). */
export function defaultSettings(): Settings {
  return readSettings(null, new ConfigReader());
}

/**
 * Parses and validates the configuration text. Empty text means all defaults; anything else must
 * be one JSON object of known keys with valid values.
 */
export function parseSettings(text: string): ConfigResult {
  if (text.length == 0) return new ConfigResult(defaultSettings(), "");
  const bytes = String.UTF8.byteLength(text);
  if (bytes > MAX_CONFIGURATION_BYTES) return new ConfigResult(null, oversizedConfigurationError(bytes));
  const reader = new ConfigReader();
  const parsed: JsonResult = parseJson(text, MAX_CONFIGURATION_DEPTH);
  const root = parsed.value;
  if (root == null) {
    reader.fail(
      coldText(ColdText.Configuration),
      coldText(ColdText.NotJson) + parsed.error + ")",
      coldText(ColdText.ExpectJsonObject),
    );
    return new ConfigResult(null, reader.error);
  }
  if (root.kind != JsonKind.Object) {
    reader.fail(coldText(ColdText.Configuration), wrongType(root), coldText(ColdText.ExpectJsonObject));
    return new ConfigResult(null, reader.error);
  }
  const settings = readSettings(root, reader);
  if (reader.error.length > 0) return new ConfigResult(null, reader.error);
  return new ConfigResult(settings, "");
}

/**
 * Parses the configuration's bytes: they must be well-formed UTF-8 (RFC 8259, section 8.1), or the
 * text would be read with replacement characters in it.
 */
export function parseConfigurationBytes(bytes: ArrayBuffer): ConfigResult {
  const invalidAt = firstInvalidUtf8(changetype<usize>(bytes), bytes.byteLength);
  if (invalidAt >= 0) {
    return new ConfigResult(
      null,
      coldText(ColdText.ConfigurationByte) + decimalText(invalidAt) + coldText(ColdText.IsNotValidUtf8),
    );
  }
  return parseSettings(String.UTF8.decode(bytes));
}

/**
 * The offset of the first byte that is not part of a well-formed UTF-8 sequence (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF); -1 when all `length` bytes are.
 */
export function firstInvalidUtf8(start: usize, length: i32): i32 {
  let i = 0;
  while (i < length) {
    const lead = <u32>load<u8>(start + i);
    if (lead < 0x80) {
      i++;
      continue;
    }
    let count = 0;
    // The allowed range of the second byte (RFC 3629, section 4), which excludes overlong forms,
    // surrogates and code points above U+10FFFF; later bytes are 0x80..0xBF.
    let low: u32 = 0x80;
    let high: u32 = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) count = 1;
    else if (lead >= 0xe0 && lead <= 0xef) {
      count = 2;
      if (lead == 0xe0) low = 0xa0;
      else if (lead == 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      count = 3;
      if (lead == 0xf0) low = 0x90;
      else if (lead == 0xf4) high = 0x8f;
    } else return i;
    if (i + count >= length) return i;
    for (let k = 1; k <= count; k++) {
      const next = <u32>load<u8>(start + i + k);
      const from = k == 1 ? low : 0x80;
      const to = k == 1 ? high : 0xbf;
      if (next < from || next > to) return i;
    }
    i += count + 1;
  }
  return -1;
}

/** The refusal of a configuration too large to parse (the glue does not even read its bytes). */
export function oversizedConfigurationError(bytes: i64): string {
  return (
    coldText(ColdText.ConfigurationColon) +
    decimalText(bytes) +
    coldText(ColdText.BytesIsTooLarge) +
    decimalText(MAX_CONFIGURATION_BYTES) +
    coldText(ColdText.Bytes)
  );
}
