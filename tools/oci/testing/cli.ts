/**
 * Runs the real `kwt` CLI as a child process, as scripts do: bundled fresh from tools/kwt.ts (npm
 * packages left external and resolved from this checkout, unlike dist/kwt.js, which bundles them)
 * into node_modules/.cache so projectRoot() still finds the checkout. Output is piped, so the CLI
 * sees no TTY.
 */
import { execFile } from "node:child_process";
import { rm } from "node:fs/promises";
import path from "node:path";
import { build } from "esbuild";

const root = path.resolve(import.meta.dirname, "../../..");
const bundleDir = path.join(root, "node_modules", ".cache", `kwt-cli-test-${process.pid}`);
let bundled: Promise<string> | undefined;

function bundle(): Promise<string> {
  bundled ??= (async () => {
    const outfile = path.join(bundleDir, "kwt.mjs");
    await build({
      entryPoints: [path.join(root, "tools", "kwt.ts")],
      bundle: true,
      platform: "node",
      target: "node20",
      format: "esm",
      packages: "external",
      outfile,
      logLevel: "warning",
    });
    return outfile;
  })();
  return bundled;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `kwt args...` with only PATH and `env` in its environment; resolves with the exit code and
 * output whatever the code (a test asserts it), or code -1 when it was killed after `timeoutMs`.
 */
export async function runKwt(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 60_000,
): Promise<CliResult> {
  const script = await bundle();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [script, ...args],
      { env: { PATH: process.env.PATH, ...env }, timeout: timeoutMs },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Removes this test process's bundle; call it in afterAll. */
export async function removeKwtBundle(): Promise<void> {
  bundled = undefined;
  await rm(bundleDir, { recursive: true, force: true });
}
