/** Bounded retries with exponential backoff, for failures that may pass: 5xx answers and network errors. */

export interface RetryPolicy {
  /** Total tries, the first included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 4, baseDelayMs: 500, maxDelayMs: 8_000 };

/** A failure worth another try. Anything else (a 4xx, a bad digest) fails at once. */
export class TransientError extends Error {}

/** Delay before try `attempt + 1` after `attempt` failed tries: base, 2×base, 4×base, … capped. */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
}

export interface RetryNotice {
  attempt: number;
  attempts: number;
  delayMs: number;
  reason: string;
}

export async function withRetries<T>(
  operation: () => Promise<T>,
  policy: RetryPolicy,
  onRetry: (notice: RetryNotice) => void = () => {},
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error) {
      if (!(error instanceof TransientError)) throw error;
      if (attempt >= policy.attempts) {
        throw new Error(`${error.message} (gave up after ${policy.attempts} attempts)`);
      }
      const delayMs = backoffDelay(policy, attempt);
      onRetry({ attempt, attempts: policy.attempts, delayMs, reason: error.message });
      await sleep(delayMs);
    }
  }
}
