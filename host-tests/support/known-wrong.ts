// Where the filter's number differs from a scenario's ground truth today. Both values are asserted
// exactly, so the test fails, and must become an equality, once issue 13 ("The filter's numbers
// are true in a real Knative mesh") changes what the filter counts.

import { expect } from "vitest";
import type { ScenarioRun } from "../scenarios/scenarios.js";

export interface TruthAndFilter {
  truth: number;
  filter: number;
}

export function expectKnownWrong(what: string, actual: TruthAndFilter, today: TruthAndFilter): void {
  expect(today.filter, `${what}: a known-wrong value differs from the truth`).not.toBe(today.truth);
  expect(actual, `${what}: truth ${today.truth}, filter ${today.filter} (known wrong, issue 13)`).toEqual(
    today,
  );
}

/** A number the truth and the filter both have under one name, read from a played scenario. */
export type SharedCount = "invocations" | "coldStarts" | "activatorProxied";

export function expectKnownWrongCount(run: ScenarioRun, count: SharedCount, today: TruthAndFilter): void {
  expectKnownWrong(count, { truth: run.truth.summary()[count], filter: run.measured()[count] }, today);
}

/** A number the filter gets right on this scenario: it equals the ground truth. */
export function expectTruthCount(run: ScenarioRun, count: SharedCount): void {
  expect(run.measured()[count], `${count}: the filter's number is the truth`).toBe(
    run.truth.summary()[count],
  );
}
