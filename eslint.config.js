import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "build/", "dist/", "assembly/", "bench/modules/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { languageOptions: { globals: globals.node } },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  {
    // The deploy and OCI libraries are used by the CLI, never the other way round: flags, usage
    // text and exit codes live in tools/cli. Tests may drive the CLI end to end.
    files: ["tools/deploy/**/*.ts", "tools/oci/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/cli/*", "**/cli"],
              message:
                "tools/deploy and tools/oci never import tools/cli: move the shared part down, or the CLI part into tools/cli",
            },
          ],
        },
      ],
    },
  },
);
