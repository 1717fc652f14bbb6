// The entry stamp (`x-kwt-entry: <unix-ms>`): when a request entered the mesh, put on it by the
// first proxy running this filter (the gateway or the caller's sidecar). Pure: no host calls.

import { parseMillis } from "./decimal";

/** The stamp's milliseconds since the epoch, or -1 when it is not 1..15 decimal digits. */
export function parseEntryMillis(text: string | null): i64 {
  return text == null ? -1 : parseMillis(text);
}

/** The stamp a proxy writes for `nowMs`. */
export function formatEntryMillis(nowMs: i64): string {
  return nowMs.toString();
}
