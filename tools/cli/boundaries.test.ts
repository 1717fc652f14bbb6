import path from "node:path";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");

describe("lint boundary: tools/deploy and tools/oci never import tools/cli", () => {
  it("fails an import of the CLI from the deploy or OCI library, and allows the other direction", async () => {
    const eslint = new ESLint({ cwd: root });
    const source = 'import { UsageError } from "../cli/args.js";\nexport const used = UsageError;\n';
    const [deploy] = await eslint.lintText(source, {
      filePath: path.join(root, "tools/deploy/new-module.ts"),
    });
    const [oci] = await eslint.lintText(source, { filePath: path.join(root, "tools/oci/new-module.ts") });
    for (const result of [deploy!, oci!]) {
      expect(result.messages.map((message) => message.ruleId)).toEqual(["no-restricted-imports"]);
    }
    const [cli] = await eslint.lintText(
      'import { readTargets } from "../deploy/cluster-selection.js";\nexport const used = readTargets;\n',
      {
        filePath: path.join(root, "tools/cli/new-module.ts"),
      },
    );
    expect(cli!.messages).toEqual([]);
  });
});
