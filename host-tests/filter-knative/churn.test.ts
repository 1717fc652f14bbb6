// A gateway over hours of Knative traffic: pods come and go (every scale-up makes new ones, each
// with its own ready time), more of them than the pod stamps' room, and the filter forgets the ones
// that stopped answering at a tick, giving their room to the next new pods. What it counts must stay
// what happened: every answer in its own revision's duration series (new pods in the room of
// another revision's forgotten ones, and a stream still open while the filter forgets, included),
// and a revision that went to zero during a pause comes back with a cold start.

import { describe, expect, it } from "vitest";

import { ManualClock } from "../harness/clock.js";
import { Plugin } from "../harness/plugin.js";
import type { Stream } from "../harness/stream.js";
import { LAYOUTS, REQUEST, T0_MS, loadProxy, metricValue, proxyOptions, seriesOf } from "./setup.js";
import { MESH_CONNECTION } from "../filter-tracing/setup.js";

/** The first two answer before the pause; hello-00003 rolls out during it. */
const REVISIONS = ["hello-00001", "hello-00002", "hello-00003"] as const;
type Revision = (typeof REVISIONS)[number];
const MAX_SERIES = 16;
/** More pods than the pod stamps' room (maxSeries). */
const CHURNED_PODS = 40;

function stampFields(revision: Revision): string {
  return `c=cluster-a;r=eu-west1;n=demo;s=hello;cf=hello-config;v=${revision}`;
}

/** A direct answer of a pod of `revision` ready since `readyMs`. */
function warmStamp(revision: Revision, readyMs: number): string {
  return `1;cs=0;w=;${stampFields(revision)};a=0;rd=${readyMs}`;
}

/** An answer through the activator of a request held `waitMs`, from a pod ready since `readyMs`. */
function heldStamp(revision: Revision, readyMs: number, arrivalMs: number, waitMs: number): string {
  return `1;cs=1;w=${waitMs};${stampFields(revision)};a=1;rd=${readyMs};t=${arrivalMs}`;
}

/** What happened: answers by revision and whether each was a cold start. */
class GroundTruth {
  readonly answers = new Map<string, number>();
  coldStarts = 0;

  answered(revision: Revision, coldStart: boolean): void {
    const key = `${revision}/${coldStart}`;
    this.answers.set(key, (this.answers.get(key) ?? 0) + 1);
    if (coldStart) this.coldStarts++;
  }
}

/** The filter's count of answers of `revision` (its duration series, every code class and source). */
function durationCount(plugin: Plugin, revision: Revision, coldStart: boolean): number {
  return seriesOf(plugin, "knative_request_duration_milliseconds_count")
    .filter(
      (line) => line.includes(`revision_name="${revision}"`) && line.includes(`cold_start="${coldStart}"`),
    )
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(" ") + 1)), 0);
}

/** A stream answered by the pod that put on `stamp`, still open. */
function openAnswer(plugin: Plugin, stamp: string): Stream {
  const stream = plugin.createStream(MESH_CONNECTION);
  stream.onRequestHeaders(REQUEST, true);
  stream.onResponseHeaders(
    [
      [":status", "200"],
      ["x-kwt-pod", stamp],
    ],
    true,
  );
  return stream;
}

function answer(plugin: Plugin, stamp: string): void {
  openAnswer(plugin, stamp).end({});
}

describe.each(LAYOUTS)("a gateway as pods come and go, %s property layout", (layout) => {
  it("counts every answer in its revision and the cold start after a pause, as new pods take the room of those that went", async () => {
    const clock = new ManualClock(T0_MS);
    const plugin = await loadProxy({ layout, position: "gateway", clock, config: { maxSeries: MAX_SERIES } });
    const truth = new GroundTruth();

    // Pods of both revisions, one after another, three requests each: a minute for the 40.
    for (let pod = 0; pod < CHURNED_PODS; pod++) {
      const revision = REVISIONS[pod % 2]!;
      for (let request = 0; request < 3; request++) {
        answer(plugin, warmStamp(revision, T0_MS - 3_600_000 + pod * 1_000));
        truth.answered(revision, false);
        plugin.advance(500);
      }
    }

    // A request answered by the sixth pod (of hello-00002), whose stamp the filter kept (the first
    // MAX_SERIES were), stays open while the filter forgets the pods.
    const open = openAnswer(plugin, warmStamp("hello-00002", T0_MS - 3_600_000 + 5 * 1_000));
    truth.answered("hello-00002", false);

    // No traffic for ten minutes (ticks go on): both revisions scale to zero, their pods go.
    plugin.advance(10 * 60_000);
    // Pods of hello-00003, rolled out during the pause, answer before that stream ends: more of
    // them than the room the forgotten pods left, so a place still answering the open stream
    // would be taken if the filter forgot it.
    for (let pod = 0; pod < MAX_SERIES; pod++) {
      answer(plugin, warmStamp("hello-00003", T0_MS + 600_000 + pod));
      truth.answered("hello-00003", false);
    }
    open.end({});

    // A request enters, is held by the activator while hello-00001 scales from zero, and reaches
    // the new pod 1.8 s later: a cold start.
    const enteredMs = Number(clock.realtimeNs() / 1_000_000n);
    const newPodReadyMs = enteredMs + 1_700;
    answer(plugin, heldStamp("hello-00001", newPodReadyMs, enteredMs + 1_800, 1_800));
    truth.answered("hello-00001", true);

    // Then the new pods of hello-00001 and of hello-00003 answer warm for a minute, in the room of
    // the other revisions' forgotten pods.
    for (let request = 0; request < 60; request++) {
      const revision = request % 2 === 0 ? "hello-00003" : "hello-00001";
      answer(plugin, warmStamp(revision, newPodReadyMs + (revision === "hello-00003" ? 5 : 0)));
      truth.answered(revision, false);
      plugin.advance(1_000);
    }

    for (const revision of REVISIONS) {
      for (const coldStart of [false, true]) {
        expect(durationCount(plugin, revision, coldStart), `${revision}, cold start ${coldStart}`).toBe(
          truth.answers.get(`${revision}/${coldStart}`) ?? 0,
        );
      }
    }
    const coldStarts = seriesOf(plugin, "knative_cold_starts_total");
    expect(coldStarts).toHaveLength(1);
    expect(coldStarts[0]).toContain('revision_name="hello-00001"');
    expect(metricValue(plugin, coldStarts[0]!.slice(0, coldStarts[0]!.lastIndexOf(" ")))).toBe(
      truth.coldStarts,
    );
    expect(seriesOf(plugin, "kwt_series_overflow_total")).toEqual([]);
  });
});

describe("a gateway under steady pod churn", () => {
  it("holds its memory, and counts every answer, while pods come and go for forty minutes", async () => {
    const clock = new ManualClock(T0_MS);
    // Room for every pod of the last five minutes: none is refused for room, each is kept and
    // forgotten in turn, as at a gateway with a large maxSeries.
    // One worker: its root sees every answer (6,000 pods in five minutes).
    const plugin = await Plugin.load({
      ...proxyOptions({ layout: LAYOUTS[0]!, position: "gateway", clock, config: { maxSeries: 20_000 } }),
      workers: 1,
    });
    const truth = new GroundTruth();
    const answersPerSecond = 20;
    let memoryAfterSixMinutes: number[] = [];
    for (let pod = 0; pod < 40 * 60 * answersPerSecond; pod++) {
      // Each pod answers once: Knative makes new pods all day, each with its own ready time.
      const revision = REVISIONS[pod % REVISIONS.length]!;
      answer(plugin, warmStamp(revision, T0_MS - 3_600_000 + pod));
      truth.answered(revision, false);
      plugin.advance(1_000 / answersPerSecond);
      if (pod === 6 * 60 * answersPerSecond) memoryAfterSixMinutes = plugin.linearMemoryBytes();
    }
    // The first pods were forgotten from the sixth minute on, each new pod taking the place and
    // bytes of one: a table that kept a forgotten pod's bytes until it rebuilt itself grew to twice
    // this (and stalled the answer that rebuilt it).
    expect(plugin.linearMemoryBytes()).toEqual(memoryAfterSixMinutes);
    for (const revision of REVISIONS) {
      expect(durationCount(plugin, revision, false), revision).toBe(truth.answers.get(`${revision}/false`));
    }
  });
});
