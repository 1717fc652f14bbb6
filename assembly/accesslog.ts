// Glue for access logs: the per-request facts the filter sets on the stream with
// proxy_set_property, which Envoy keeps as filter state `wasm.<name>` and prints with
// `%FILTER_STATE(wasm.<name>:PLAIN)%` (docs/filter.md, "Access-log fields"). Each is set only when
// it means something, so an ordinary warm request makes no call here. Up to Envoy 1.31 the
// connection manager's access loggers run before the filter's on_log, so the stream sets what it
// knows in the request and response callbacks; on_log sets only what nothing earlier could know.

import {
  KWT_COLD_START,
  KWT_COLD_START_WAIT_MS,
  KWT_ERROR_KIND,
  KWT_HOP_MS,
  KWT_SOURCE_CLUSTER,
  KWT_SOURCE_REGION,
} from "./generated/access-log-fields";
import { Host } from "./hostinterface";
import { ErrorKind, errorKindName } from "./knative";
import { sanitizeLabelValue } from "./labels";
import { MAX_DECIMAL_BYTES, writeDecimal } from "./decimal";

/** Where a field's number is written for the host to read during the call. */
const fieldDigits = memory.data(MAX_DECIMAL_BYTES);

/** Sets a field to `value` in decimal, with no string made. */
function setDecimalField(host: Host, name: ArrayBuffer, value: i64): void {
  host.setPropertyBytes(name, fieldDigits, writeDecimal(value, fieldDigits));
}

/** A cold start, and its wait when it was timed (`waitMs` >= 0). */
export function logColdStart(host: Host, waitMs: i64): void {
  host.setProperty(KWT_COLD_START, "1");
  if (waitMs >= 0) setDecimalField(host, KWT_COLD_START_WAIT_MS, waitMs);
}

/** A cross-cluster hop's origin, and its latency unless the clocks disagree (`hopMs` < 0). */
export function logHop(host: Host, sourceCluster: string, sourceRegion: string, hopMs: i64): void {
  host.setProperty(KWT_SOURCE_CLUSTER, sanitizeLabelValue(sourceCluster));
  host.setProperty(KWT_SOURCE_REGION, sanitizeLabelValue(sourceRegion));
  if (hopMs >= 0) setDecimalField(host, KWT_HOP_MS, hopMs);
}

/** Sets the error kind of a failed request; false (and no call) when `kind` is not an error. */
export function logErrorKind(host: Host, kind: ErrorKind): bool {
  if (kind == ErrorKind.None) return false;
  host.setProperty(KWT_ERROR_KIND, errorKindName(kind));
  return true;
}
