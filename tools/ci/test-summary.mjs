// Prints vitest's totals as one plain closing line ("tests: N passed, N failed") for CI logs.
import { readFileSync } from "node:fs";

const report = JSON.parse(readFileSync(process.argv[2] ?? "build/vitest-report.json", "utf8"));
console.log(`tests: ${report.numPassedTests} passed, ${report.numFailedTests} failed`);
process.exit(report.numFailedTests === 0 && report.numPassedTests > 0 ? 0 : 1);
