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

const VIOLATIONS = [
  {
    what: "test support in production code",
    file: "tools/deploy/example.ts",
    text: 'import { useFakeClusters } from "../testing/kube/fake-kube-api.js";\nexport const clusters = useFakeClusters;\n',
    ruleId: "boundary/tools-without-test-support",
    message:
      "'../testing/kube/fake-kube-api.js' import is restricted from being used by a pattern. Production code must not import test support",
  },
  {
    what: "vitest in production code",
    file: "tools/oci/example.ts",
    text: 'import { expect } from "vitest";\nexport const check = expect;\n',
    ruleId: "boundary/tools-without-test-support",
    message: "Production code must not import vitest",
  },
  {
    what: "the host tests' support in the harness",
    file: "host-tests/harness/example.ts",
    text: 'import { seriesLines } from "../support/prometheus-text.js";\nexport const lines = seriesLines;\n',
    ruleId: "boundary/harness-without-test-support",
    message: "The harness must not import the host tests or their support",
  },
  {
    what: "the host tests' support in the scenario library",
    file: "host-tests/scenarios/example.ts",
    text: 'import { expectKnownWrong } from "../support/known-wrong.js";\nexport const check = expectKnownWrong;\n',
    ruleId: "boundary/scenarios-without-test-support",
    message: "The scenario library must not import the host tests or their support",
  },
  {
    what: "vitest in the scenario library",
    file: "host-tests/scenarios/example.ts",
    text: 'import { expect } from "vitest";\nexport const check = expect;\n',
    ruleId: "boundary/scenarios-without-test-support",
    message: "Production code must not import vitest",
  },
  {
    what: "a harness module reached around the entry point, in tests too",
    file: "tools/cli/example.test.ts",
    text: 'import { Plugin } from "../../host-tests/harness/plugin.js";\nexport const plugin = Plugin;\n',
    ruleId: "boundary/harness-through-entry-point",
    message: "tools/ use the harness through its entry point host-tests/harness/index.js",
  },
  {
    what: "the CLI in the deploy library",
    file: "tools/deploy/example.ts",
    text: 'import { UsageError } from "../cli/args.js";\nexport const used = UsageError;\n',
    ruleId: "boundary/libraries-without-cli",
    message: "tools/deploy and tools/oci never import tools/cli",
  },
  {
    what: "the CLI in the OCI library",
    file: "tools/oci/example.ts",
    text: 'import { UsageError } from "../cli/args.js";\nexport const used = UsageError;\n',
    ruleId: "boundary/libraries-without-cli",
    message: "tools/deploy and tools/oci never import tools/cli",
  },
  {
    what: "the host binding in a pure filter module",
    file: "assembly/example.ts",
    text: 'import { ProxyWasmHost } from "./host";\nexport const used = ProxyWasmHost;\n',
    ruleId: "boundary/assembly-pure-modules",
    message: "Only assembly/index.ts binds the host; take a Host (hostinterface.ts) instead.",
  },
  {
    what: "the SDK in a pure filter module",
    file: "assembly/example.ts",
    text: 'import { proxy_log } from "@solo-io/proxy-runtime/assembly/imports";\nexport const used = proxy_log;\n',
    ruleId: "boundary/assembly-pure-modules",
    message: "Only assembly/host.ts and index.ts use the SDK",
  },
];

describe("import boundaries", () => {
  it.each(VIOLATIONS)(
    "refuses $what, with the boundary's message",
    async ({ file, text, ruleId, message }) => {
      expect(await lint(file, text)).toEqual([{ ruleId, message: expect.stringContaining(message) }]);
    },
  );

  it("accepts production code that uses the harness's entry point and production modules", async () => {
    const messages = await lint(
      "tools/cli/example.ts",
      'import { Plugin } from "../../host-tests/harness/index.js";\nimport { pullModule } from "../oci/pull.js";\nexport const uses = [Plugin, pullModule];\n',
    );
    expect(messages).toEqual([]);
  });

  it("accepts the CLI using the deploy library, and deploy tests driving the CLI", async () => {
    expect(
      await lint(
        "tools/cli/example.ts",
        'import { readTargets } from "../deploy/cluster-selection.js";\nexport const used = readTargets;\n',
      ),
    ).toEqual([]);
    expect(
      await lint(
        "tools/deploy/example.test.ts",
        'import { UsageError } from "../cli/args.js";\nexport const used = UsageError;\n',
      ),
    ).toEqual([]);
  });

  it("accepts the Host interface in a pure filter module", async () => {
    expect(
      await lint(
        "assembly/example.ts",
        'import { Host } from "./hostinterface";\nexport const used = Host;\n',
      ),
    ).toEqual([]);
  });

  it("accepts the demo playing the scenario library, and the library using the harness's entry point", async () => {
    const demo = await lint(
      "tools/demo/example.ts",
      'import { TruthLog } from "../../host-tests/scenarios/truth.js";\nexport const uses = [TruthLog];\n',
    );
    const library = await lint(
      "host-tests/scenarios/example.ts",
      'import { Plugin } from "../harness/index.js";\nimport { FILTER_METRIC_LABELS } from "../../tools/deploy/filter-contract.js";\nexport const uses = [Plugin, FILTER_METRIC_LABELS];\n',
    );
    expect([...demo, ...library]).toEqual([]);
  });

  it("accepts test support and vitest in tests and in the test-support folders", async () => {
    const text =
      'import { it } from "vitest";\nimport { freePort } from "../testing/free-port.js";\nexport const uses = [it, freePort];\n';
    expect(await lint("tools/deploy/example.test.ts", text)).toEqual([]);
    expect(await lint("tools/testing/kube/example.ts", text)).toEqual([]);
  });
});
