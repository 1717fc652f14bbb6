// Label values and Envoy stat names with labels encoded for Istio's tag extraction. Pure: no host
// calls.
//
// Istio turns each name in `extraStatTags` into the extraction rule `(<tag>=\.=(.*?);\.;)`, so a
// stat named `a=.=x;.;b=.=y;.;metric` is exported as `metric{a="x",b="y"}`. A value containing
// `;` or `=` could end its label early or smuggle in another one, so every value written into a
// stat name is first reduced to the label-value charset below.

import { allocateString, writeText } from "./text";

/** Longest label value the filter writes (a Kubernetes label value's limit). */
export const MAX_LABEL_VALUE_LENGTH: i32 = 63;

/** What an overflowed series carries in every label. */
export const OVERFLOW_LABEL_VALUE = "overflow";

/** The label-value charset: `[A-Za-z0-9_.:/-]`. */
export function isLabelValueChar(c: i32): bool {
  return (
    (c >= 0x30 && c <= 0x39) || // 0-9
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x61 && c <= 0x7a) || // a-z
    c == 0x5f || // _
    c == 0x2e || // .
    c == 0x3a || // :
    c == 0x2f || // /
    c == 0x2d // -
  );
}

/** True when `value` is 0..63 characters of the label-value charset (empty is a valid value). */
export function isLabelValue(value: string): bool {
  const n = value.length;
  if (n > MAX_LABEL_VALUE_LENGTH) return false;
  for (let i = 0; i < n; i++) {
    if (!isLabelValueChar(value.charCodeAt(i))) return false;
  }
  return true;
}

/**
 * Makes any text a label value: characters outside the charset become `_`, and the result is cut
 * to 63 characters. Returns `value` itself when it already is one (no allocation).
 */
export function sanitizeLabelValue(value: string): string {
  if (isLabelValue(value)) return value;
  const n = min(value.length, MAX_LABEL_VALUE_LENGTH);
  const codes = new Array<i32>(n);
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    unchecked((codes[i] = isLabelValueChar(c) ? c : 0x5f));
  }
  return String.fromCharCodes(codes);
}

const VALUE_OPEN = "=.=";
const VALUE_CLOSE = ";.;";
/** Ends each value in a series key: never in a sanitised value. */
const KEY_VALUE_END = ";";

/**
 * The stat name (without Envoy's `wasmcustom.` prefix) for `metric` with these labels, in the
 * given order: `<label>=.=<value>;.;...<metric>`. Values are sanitised here, so no value can break
 * the extraction. `labels` and `values` must have the same length (extra values are ignored).
 */
export function encodeStatName(labels: string[], values: string[], metric: string): string {
  return encodeLabelled(labels, values, metric, true);
}

/**
 * What tells one series apart from every other, shorter than its stat name: the sanitised values
 * (each ended by `;`, which no sanitised value holds) and the metric, `<value>;...<metric>`. Two
 * series of one family have the same key exactly when they have the same stat name.
 */
export function encodeSeriesKey(labels: string[], values: string[], metric: string): string {
  return encodeLabelled(labels, values, metric, false);
}

function encodeLabelled(labels: string[], values: string[], metric: string, named: bool): string {
  const n = min(labels.length, values.length);
  // In place (text.ts), one allocation: a series id not cached is looked up by this text.
  let length = metric.length;
  for (let i = 0; i < n; i++) {
    length += sanitizedLength(unchecked(values[i]));
    length += named
      ? unchecked(labels[i]).length + VALUE_OPEN.length + VALUE_CLOSE.length
      : KEY_VALUE_END.length;
  }
  const text = allocateString(length);
  let at = changetype<usize>(text);
  for (let i = 0; i < n; i++) {
    if (named) {
      at = writeText(at, unchecked(labels[i]));
      at = writeText(at, VALUE_OPEN);
    }
    at = writeText(at, sanitizeLabelValue(unchecked(values[i])));
    at = writeText(at, named ? VALUE_CLOSE : KEY_VALUE_END);
  }
  writeText(at, metric);
  return text;
}

/** The length of sanitizeLabelValue(value), without making it. */
function sanitizedLength(value: string): i32 {
  return min(value.length, MAX_LABEL_VALUE_LENGTH);
}
