// An in-memory Host for as-pect tests of the glue (filter.ts): properties, header maps, clock,
// configuration and metrics are plain fields a test sets and reads; no Proxy-Wasm imports.

import { HeaderMap, Host, LogLevel, SharedValue } from "../hostinterface";
import { MetricKind } from "../metrics";
import { serializeHeaderPairs } from "../headerscan";

/** A property path as tests write it: segments joined by dots (`xds.node.id`). */
function pathKey(path: ArrayBuffer): string {
  return String.UTF8.decode(path).replaceAll("\0", ".");
}

export class HeaderList {
  names: string[] = [];
  values: string[] = [];

  add(name: string, value: string): HeaderList {
    this.names.push(name);
    this.values.push(value);
    return this;
  }

  /** The first value of `name`; null when absent. */
  get(name: string): string | null {
    const index = this.names.indexOf(name);
    return index < 0 ? null : this.values[index];
  }

  remove(name: string): void {
    let index = this.names.indexOf(name);
    while (index >= 0) {
      this.names.splice(index, 1);
      this.values.splice(index, 1);
      index = this.names.indexOf(name);
    }
  }

  replace(name: string, value: string): void {
    const index = this.names.indexOf(name);
    if (index < 0) this.add(name, value);
    else this.values[index] = value;
  }
}

export class FakeHost extends Host {
  strings: Map<string, string> = new Map();
  integers: Map<string, i64> = new Map();
  bools: Map<string, bool> = new Map();
  request: HeaderList = new HeaderList();
  response: HeaderList = new HeaderList();
  nowMs: i64 = 1_700_000_000_000;
  configuration: string = "";
  /** When set, the configuration's bytes as given (e.g. not UTF-8), instead of `configuration`. */
  configurationBytes: ArrayBuffer | null = null;
  tickPeriodMs: u32 = 0;
  /** Shared data: this fake is one Envoy process with one VM. */
  shared: Map<string, SharedValue> = new Map();
  nextCas: u32 = 1;
  /** What httpCall answers: a token, or -1 (refused). */
  httpCallToken: i64 = -1;
  logs: string[] = [];
  logLevels: LogLevel[] = [];
  /** proxy_set_property calls in order, as `name=value`. */
  propertiesSet: string[] = [];
  /** Every host call made, by name. */
  calls: string[] = [];
  /** Metric names by id - 1, and their values (a counter's sum, a histogram's last sample). */
  metricNames: string[] = [];
  metricValues: i64[] = [];

  /** The value of the metric whose stat name is `name`; -1 when it was never defined. */
  metric(name: string): i64 {
    const index = this.metricNames.indexOf(name);
    return index < 0 ? -1 : this.metricValues[index];
  }

  /** The stat names defined for metric family `family` (`...;.;<family>`). */
  seriesOf(family: string): string[] {
    const found: string[] = [];
    for (let i = 0; i < this.metricNames.length; i++) {
      const name = this.metricNames[i];
      if (name == family || name.endsWith(";.;" + family)) found.push(name);
    }
    return found;
  }

  getPropertyString(path: ArrayBuffer): string | null {
    this.calls.push("get_property");
    const key = pathKey(path);
    return this.strings.has(key) ? this.strings.get(key) : null;
  }

  getPropertyI64(path: ArrayBuffer, fallback: i64): i64 {
    this.calls.push("get_property");
    const key = pathKey(path);
    return this.integers.has(key) ? this.integers.get(key) : fallback;
  }

  getPropertyBool(path: ArrayBuffer, fallback: bool): bool {
    this.calls.push("get_property");
    const key = pathKey(path);
    return this.bools.has(key) ? this.bools.get(key) : fallback;
  }

  private map(map: HeaderMap): HeaderList {
    return map == HeaderMap.Request ? this.request : this.response;
  }

  getHeaderPairs(map: HeaderMap): ArrayBuffer | null {
    this.calls.push("get_header_map_pairs");
    const list = this.map(map);
    return list.names.length == 0 ? null : serializeHeaderPairs(list.names, list.values);
  }

  getHeader(map: HeaderMap, name: ArrayBuffer): string | null {
    this.calls.push("get_header_map_value");
    return this.map(map).get(String.UTF8.decode(name));
  }

  replaceHeader(map: HeaderMap, name: ArrayBuffer, value: string): void {
    this.calls.push("replace_header_map_value");
    this.map(map).replace(String.UTF8.decode(name), value);
  }

  removeHeader(map: HeaderMap, name: ArrayBuffer): void {
    this.calls.push("remove_header_map_value");
    this.map(map).remove(String.UTF8.decode(name));
  }

  setHeaderPairs(map: HeaderMap, pairs: ArrayBuffer): void {
    this.calls.push("set_header_map_pairs");
    const list = this.map(map);
    list.names = [];
    list.values = [];
    const base = changetype<usize>(pairs);
    const count = load<u32>(base);
    let at = base + 4 + <usize>count * 8;
    for (let i: u32 = 0; i < count; i++) {
      const nameLength = load<u32>(base + 4 + i * 8);
      const valueLength = load<u32>(base + 8 + i * 8);
      list.add(
        String.UTF8.decodeUnsafe(at, nameLength),
        String.UTF8.decodeUnsafe(at + nameLength + 1, valueLength),
      );
      at += <usize>nameLength + 1 + <usize>valueLength + 1;
    }
  }

  setProperty(name: ArrayBuffer, value: string): void {
    this.calls.push("set_property");
    this.propertiesSet.push(String.UTF8.decode(name) + "=" + value);
  }

  getSharedData(key: string): SharedValue | null {
    this.calls.push("get_shared_data");
    return this.shared.has(key) ? this.shared.get(key) : null;
  }

  setSharedData(key: string, text: string, cas: u32): bool {
    this.calls.push("set_shared_data");
    if (this.shared.has(key) && cas != 0 && this.shared.get(key).cas != cas) return false;
    this.shared.set(key, new SharedValue(text, this.nextCas++));
    return true;
  }

  nowMilliseconds(): i64 {
    this.calls.push("get_current_time_nanoseconds");
    return this.nowMs;
  }

  log(level: LogLevel, message: string): void {
    this.calls.push("log");
    this.logLevels.push(level);
    this.logs.push(message);
  }

  readPluginConfiguration(size: u32): ArrayBuffer {
    this.calls.push("get_buffer_bytes");
    const raw = this.configurationBytes;
    const bytes = raw != null ? raw : String.UTF8.encode(this.configuration);
    return <u32>bytes.byteLength == size ? bytes : new ArrayBuffer(0);
  }

  setTickPeriod(milliseconds: u32): void {
    this.calls.push("set_tick_period_milliseconds");
    this.tickPeriodMs = milliseconds;
  }

  httpCall(
    _cluster: ArrayBuffer,
    _headers: ArrayBuffer,
    _body: ArrayBuffer,
    _trailers: ArrayBuffer,
    _timeoutMs: u32,
  ): i64 {
    this.calls.push("http_call");
    return this.httpCallToken;
  }

  done(): void {
    this.calls.push("done");
  }

  randomBytes(buffer: usize, length: i32): bool {
    this.calls.push("random_get");
    for (let i = 0; i < length; i++) store<u8>(buffer + i, <u8>(i * 7 + 1));
    return true;
  }

  define(_kind: MetricKind, name: string): u32 {
    this.calls.push("define_metric");
    this.metricNames.push(name);
    this.metricValues.push(0);
    return <u32>this.metricNames.length;
  }

  increment(id: u32, offset: i64): void {
    this.calls.push("increment_metric");
    this.metricValues[id - 1] += offset;
  }

  record(id: u32, value: u64): void {
    this.calls.push("record_metric");
    this.metricValues[id - 1] = <i64>value;
  }
}
