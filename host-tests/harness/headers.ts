// An Envoy header map: ordered, duplicates kept, names lower-cased on the way in.

import type { HeaderList } from "./types.js";

const ASCII_UPPER = /[A-Z]/;

/** Envoy's LowerCaseString lower-cases ASCII letters only. */
export function lowerCaseName(name: string): string {
  // Most names arrive lower-case already; a test is much cheaper than a replace that changes nothing.
  return ASCII_UPPER.test(name) ? name.replace(/[A-Z]/g, (c) => c.toLowerCase()) : name;
}

export class HeaderMap {
  private entries: HeaderList;

  constructor(headers: HeaderList = []) {
    this.entries = headers.map(([name, value]) => [lowerCaseName(name), value]);
  }

  /** The first value only, as Envoy's get_header_map_value returns (entry[0]). */
  get(name: string): string | undefined {
    const key = lowerCaseName(name);
    return this.entries.find(([n]) => n === key)?.[1];
  }

  /** All values joined with "," (what CEL's header lookups see). */
  getJoined(name: string): string | undefined {
    const key = lowerCaseName(name);
    const values = this.entries.filter(([n]) => n === key).map(([, v]) => v);
    return values.length === 0 ? undefined : values.join(",");
  }

  add(name: string, value: string): void {
    this.entries.push([lowerCaseName(name), value]);
  }

  /** setCopy since Envoy 1.15.1: every existing value is removed, then one is appended. */
  replace(name: string, value: string): void {
    this.remove(name);
    this.add(name, value);
  }

  remove(name: string): void {
    const key = lowerCaseName(name);
    this.entries = this.entries.filter(([n]) => n !== key);
  }

  setAll(headers: HeaderList): void {
    this.entries = headers.map(([name, value]) => [lowerCaseName(name), value]);
  }

  get count(): number {
    return this.entries.length;
  }

  /** HeaderMap::byteSize(): the summed byte length of every name and value. */
  byteSize(): number {
    return this.entries.reduce((sum, [n, v]) => sum + Buffer.byteLength(n) + Buffer.byteLength(v), 0);
  }

  toList(): HeaderList {
    return this.entries.map(([n, v]) => [n, v]);
  }
}
