// The pod stamp (`x-kwt-pod`): what a revision pod's inbound sidecar reports back on the response,
// so the gateway or the caller's sidecar can label the client-visible latency with the revision
// and split it cold/warm. Written with the shared stamp codec (assembly/stamp.ts). Pure.
//
//   1;cs=<0|1>;w=<wait-ms or empty>;c=<cluster>;r=<region>;n=<namespace>;s=<service>;cf=<configuration>;v=<revision>

import { parseDecimal } from "./decimal";
import { StampField, decodeStamp, encodeStamp } from "./stamp";

/** Waits above this (about 11 days) are not believed. */
const MAX_WAIT_DIGITS: i32 = 12;

export class PodStamp {
  constructor(
    public coldStart: bool,
    /** How long the request waited before reaching the pod; -1 when not measured. */
    public waitMs: i64,
    public cluster: string,
    public region: string,
    public namespace: string,
    public service: string,
    public configuration: string,
    public revision: string,
  ) {}
}

/** The wait in ms; -1 when empty (untimed), -2 when not a number. */
function parseWait(text: string): i64 {
  if (text.length == 0) return -1;
  const wait = parseDecimal(text, MAX_WAIT_DIGITS);
  return wait < 0 ? -2 : wait;
}

/** Reads a pod stamp; null when it is malformed or misses a required field. */
export function decodePodStamp(text: string | null): PodStamp | null {
  if (text == null) return null;
  const stamp = decodeStamp(text);
  if (stamp == null) return null;
  const cs = stamp.get("cs");
  const w = stamp.get("w");
  const cluster = stamp.get("c");
  const region = stamp.get("r");
  const namespace = stamp.get("n");
  const service = stamp.get("s");
  const revision = stamp.get("v");
  if (cs == null || w == null || cluster == null || region == null) return null;
  if (namespace == null || service == null || revision == null) return null;
  if (cs != "0" && cs != "1") return null;
  const wait = parseWait(w);
  if (wait < -1) return null;
  // `cf` was added after the first format; a stamp without it has an empty configuration.
  const configuration = stamp.get("cf");
  return new PodStamp(
    cs == "1",
    wait,
    cluster,
    region,
    namespace,
    service,
    configuration != null ? configuration : "",
    revision,
  );
}

/** Writes a pod stamp; null if a value is not a label value (the caller sanitised them). */
export function encodePodStamp(report: PodStamp): string | null {
  const fields: StampField[] = [
    new StampField("cs", report.coldStart ? "1" : "0"),
    new StampField("w", report.waitMs >= 0 ? report.waitMs.toString() : ""),
    new StampField("c", report.cluster),
    new StampField("r", report.region),
    new StampField("n", report.namespace),
    new StampField("s", report.service),
    new StampField("cf", report.configuration),
    new StampField("v", report.revision),
  ];
  return encodeStamp(fields);
}
