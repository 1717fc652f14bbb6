// Bounds the label values that arrive on the wire (a hop stamp's cluster and region): a client can
// invent any number of them, and each new one would define series until the root context's cap
// pushes the revision's own series into overflow. Pure: no host calls.
//
// With a known list configured, hop.ts rejects every other value before it gets here. Without
// one, the first `limit` distinct values per dimension per root context are kept and every later one is
// recorded as OTHER_LABEL_VALUE.

import { KeyTable } from "./keytable";

/**
 * What a folded value is recorded as. No real name can be it: regions are Kubernetes label values
 * and Istio cluster ids are Kubernetes names, both of which begin with a letter or digit.
 */
export const OTHER_LABEL_VALUE = "_other";

/** The distinct values seen in one dimension (e.g. source cluster), at most `limit` kept. */
export class SourceLabelBound {
  /** Each admitted value, held with 1. */
  private readonly seen: KeyTable = new KeyTable();

  /** `limit` may change with each configuration; values already admitted stay. */
  constructor(public limit: i32) {}

  /** `value` itself when it is already admitted or there is room; OTHER_LABEL_VALUE otherwise. */
  admit(value: string): string {
    if (this.seen.get(value, 0) != 0) return value;
    if (this.seen.size >= this.limit || value == OTHER_LABEL_VALUE) return OTHER_LABEL_VALUE;
    this.seen.set(value, 1);
    return value;
  }
}
