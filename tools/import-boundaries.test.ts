// The import boundaries of eslint.config.js, run through ESLint itself: each boundary turns one
// import into an error with its message, and the imports on the right side of it lint clean.

import path from "node:path";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "..");
const eslint = new ESLint({ cwd: root });

/** ESLint's messages for `text` as if it were the file at `file` (relative to the repository). */
async function lint(file: string, text: string): Promise<Array<{ ruleId: string | null; message: string }>> {
  const [result] = await eslint.lintText(text, { filePath: path.join(root, file) });
  return (result?.messages ?? []).map(({ ruleId, message }) => ({ ruleId, message }));
}

describe("import boundaries", () => {
  it("refuses test support in production code, with the boundary's message", async () => {
    const messages = await lint(
      "tools/deploy/example.ts",
      'import { useFakeClusters } from "../testing/kube/fake-kube-api.js";\nexport const clusters = useFakeClusters;\n',
    );
    expect(messages).toEqual([
      {
        ruleId: "boundary/tools-without-test-support",
        message: expect.stringContaining(
          "'../testing/kube/fake-kube-api.js' import is restricted from being used by a pattern. Production code must not import test support",
        ),
      },
    ]);
  });

  it("refuses vitest in production code", async () => {
    const messages = await lint(
      "tools/oci/example.ts",
      'import { expect } from "vitest";\nexport const check = expect;\n',
    );
    expect(messages).toEqual([
      {
        ruleId: "boundary/tools-without-test-support",
        message: expect.stringContaining("Production code must not import vitest"),
      },
    ]);
  });

  it("refuses the host tests' support in the harness", async () => {
    const messages = await lint(
      "host-tests/harness/example.ts",
      'import { seriesLines } from "../support/prometheus-text.js";\nexport const lines = seriesLines;\n',
    );
    expect(messages).toEqual([
      {
        ruleId: "boundary/harness-without-test-support",
        message: expect.stringContaining("The harness must not import the host tests or their support"),
      },
    ]);
  });

  it("refuses a harness module reached around the harness's entry point, in tests too", async () => {
    const messages = await lint(
      "tools/cli/example.test.ts",
      'import { Plugin } from "../../host-tests/harness/plugin.js";\nexport const plugin = Plugin;\n',
    );
    expect(messages).toEqual([
      {
        ruleId: "boundary/harness-through-entry-point",
        message: expect.stringContaining(
          "tools/ use the harness through its entry point host-tests/harness/index.js",
        ),
      },
    ]);
  });

  it("accepts production code that uses the harness's entry point and production modules", async () => {
    const messages = await lint(
      "tools/cli/example.ts",
      'import { Plugin } from "../../host-tests/harness/index.js";\nimport { pullModule } from "../oci/pull.js";\nexport const uses = [Plugin, pullModule];\n',
    );
    expect(messages).toEqual([]);
  });

  it("accepts test support and vitest in tests and in the test-support folders", async () => {
    const text =
      'import { it } from "vitest";\nimport { freePort } from "../testing/free-port.js";\nexport const uses = [it, freePort];\n';
    expect(await lint("tools/deploy/example.test.ts", text)).toEqual([]);
    expect(await lint("tools/testing/kube/example.ts", text)).toEqual([]);
  });
});
