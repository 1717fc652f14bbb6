/** How deploy, status and doctor tell a person what happened (plain text unless on a terminal). */
import { EXIT_FAILURE } from "../cli/command.js";
import { style } from "../cli/output.js";
import type { ClusterOutcome, ClusterTarget } from "./kube.js";
import { InvalidInputError, preparePlans, type ClusterCommandOptions, type Prepared } from "./prepare.js";

/** Prints an InvalidInputError and gives the exit code; any other error passes through. */
export function reportInvalidInput(command: string, error: unknown): number {
  if (!(error instanceof InvalidInputError)) throw error;
  console.error(`kwt ${command}: nothing done; fix ${error.problems.length === 1 ? "this" : "these"} first:`);
  for (const problem of error.problems) console.error(`  - ${problem}`);
  return EXIT_FAILURE;
}

/** The plans, or (after saying why there are none) the exit code. */
export function plansOrExit(
  command: string,
  root: string,
  options: ClusterCommandOptions,
  mode: { requireDigest: boolean; withSecret: boolean },
): Prepared | number {
  try {
    return preparePlans(root, options, mode);
  } catch (error) {
    return reportInvalidInput(command, error);
  }
}

/** One line per failed cluster, on stderr. */
export function reportFailures(outcomes: ClusterOutcome<ClusterTarget, unknown>[]): void {
  for (const { target, error } of outcomes) {
    if (error)
      console.error(
        `${style("failed", "red", process.stderr)} ${target.cluster} (${target.context}): ${error}`,
      );
  }
}

/** The closing line: green when everything is fine, red with what to do otherwise. */
export function summarize(good: number, total: number, what: string, whenNot: string): boolean {
  const summary = `${good} of ${total} cluster${total === 1 ? "" : "s"} ${what}`;
  console.log(good === total ? style(summary, "green") : style(`${summary}; ${whenNot}`, "red"));
  return good === total;
}
