// vitest global setup: the CLI tests run dist/kwt.js, so bundle it from the working tree first,
// with exactly the options `npm run bundle` uses.
import { execFileSync } from "node:child_process";
import path from "node:path";

export default function bundleKwt(): void {
  execFileSync("npm", ["run", "--silent", "bundle"], {
    cwd: path.resolve(import.meta.dirname, "../.."),
    stdio: "inherit",
  });
}
