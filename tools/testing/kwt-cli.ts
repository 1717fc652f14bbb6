/**
 * Runs the real `kwt` CLI as a child process, as scripts do: the shipped bundle dist/kwt.js, which
 * vitest's global setup (tools/testing/bundle-kwt.ts) rebuilds from the working tree before any
 * test runs. Output is piped, so the CLI sees no TTY.
 */
import { execFile } from "node:child_process";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");
export const KWT_BUNDLE = path.join(root, "dist", "kwt.js");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `stdin`: what the CLI reads on its standard input (closed empty when absent). */
export function runKwt(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 60_000,
  stdin = "",
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [KWT_BUNDLE, ...args],
      { env: { PATH: process.env.PATH, ...env }, timeout: timeoutMs },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(stdin);
  });
}
