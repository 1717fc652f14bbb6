// Plays a scenario once for a describe block: before its tests, closed after them.

import { afterAll, beforeAll } from "vitest";
import type { ScenarioRun } from "../scenarios/scenarios.js";

/** The run, for the tests of the enclosing describe (read it inside a test, after beforeAll). */
export function playScenario(play: () => Promise<ScenarioRun>): () => ScenarioRun {
  let run: ScenarioRun | undefined;
  beforeAll(async () => {
    run = await play();
  });
  afterAll(() => run?.close());
  return () => {
    if (run === undefined) throw new Error("playScenario: the scenario has not been played yet");
    return run;
  };
}
