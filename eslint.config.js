import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      "build/",
      "dist/",
      "bench/modules/",
      "coverage/",
      // AssemblyScript decorators (@external, @global) do not parse: the host binding and the ABI entry file.
      "assembly/host.ts",
      "assembly/index.ts",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { files: ["**/*.{js,mjs,ts}"], ignores: ["assembly/"], languageOptions: { globals: globals.node } },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  // The filter (AssemblyScript). Pure assembly/ modules never reach the host: only the ABI entry
  // file (index.ts) imports the host binding (host.ts) and the SDK; everything else gets the Host
  // interface (hostinterface.ts). Its i64/u64 literals are exact, unlike JavaScript numbers.
  {
    files: ["assembly/**/*.ts"],
    rules: {
      "no-loss-of-precision": "off",
      "no-restricted-imports": [
        "error",
        {
          paths: ["./host", "../host"].map((name) => ({
            name,
            message: "Only assembly/index.ts binds the host; take a Host (hostinterface.ts) instead.",
          })),
          patterns: [
            {
              group: ["@solo-io/proxy-runtime", "@solo-io/proxy-runtime/**"],
              message:
                "Only assembly/host.ts and index.ts use the SDK; take a Host (hostinterface.ts) instead.",
            },
          ],
        },
      ],
    },
  },
);
