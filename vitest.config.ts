import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["host-tests/**/*.test.ts", "tools/**/*.test.ts", "deploy/**/*.test.ts"],
    // The CLI tests run the shipped bundle: rebuild dist/kwt.js from the working tree first.
    globalSetup: ["tools/testing/bundle-kwt.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The registry, Prometheus and proxy tests start real processes on loopback; two cores only.
    pool: "forks",
    poolOptions: { forks: { maxForks: 2 } },
  },
});
