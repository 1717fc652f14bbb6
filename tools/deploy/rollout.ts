/**
 * kwt deploy's order of work: a server-side dry run on every cluster first; only when all of them
 * accept (or with keepGoing, on those that did) the real apply. The rows each cluster ends with are
 * plain data, worked out by a pure function from the two phases' outcomes.
 */
import { applyAll, type AppliedObject } from "./apply.js";
import { dryRunAll, type ObjectChange } from "./diff.js";
import type { ClusterOutcome, RunOptions } from "./kube.js";
import type { ClusterPlan } from "./plan.js";

export type RolloutResult =
  /** Applied; `objects` says what happened to each object. */
  | "applied"
  /** The dry run or the apply failed here; `reason` says why. */
  | "failed"
  /** Accepted by its dry run but left alone because another cluster refused (no keepGoing). */
  | "skipped";

export interface RolloutRow {
  cluster: string;
  context: string;
  result: RolloutResult;
  /** What happened to each object (applied only; empty otherwise). */
  objects: AppliedObject[];
  reason?: string;
}

export interface RolloutOptions extends RunOptions {
  force: boolean;
  /** Apply to the clusters whose dry run passed even when others refused or could not be reached. */
  keepGoing: boolean;
}

/** Pure: the row of every cluster from the dry run's outcomes and, when it ran, the apply's. */
export function rolloutRows(
  checks: ClusterOutcome<ClusterPlan, ObjectChange[]>[],
  applied: ClusterOutcome<ClusterPlan, AppliedObject[]>[] | undefined,
): RolloutRow[] {
  const refused = checks.filter((check) => check.error).map((check) => check.target.cluster);
  return checks.map(({ target, error }) => {
    const row = { cluster: target.cluster, context: target.context, objects: [] as AppliedObject[] };
    if (error) return { ...row, result: "failed", reason: `dry run: ${error}` };
    const outcome = applied?.find((entry) => entry.target.cluster === target.cluster);
    if (!outcome) {
      return {
        ...row,
        result: "skipped",
        reason: `dry run passed; nothing applied anywhere because ${refused.join(", ")} refused or could not be reached (--keep-going applies to the others)`,
      };
    }
    if (outcome.error) return { ...row, result: "failed", reason: outcome.error };
    return {
      ...row,
      result: "applied",
      objects: outcome.result!,
    };
  });
}

export async function rollout(plans: ClusterPlan[], options: RolloutOptions): Promise<RolloutRow[]> {
  const checks = await dryRunAll(plans, options);
  const accepted = checks.filter((check) => !check.error).map((check) => check.target);
  if (accepted.length < checks.length && !options.keepGoing) return rolloutRows(checks, undefined);
  return rolloutRows(checks, await applyAll(accepted, options));
}
