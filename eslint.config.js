import js from "@eslint/js";
import { builtinRules } from "eslint/use-at-your-own-risk";
import globals from "globals";
import tseslint from "typescript-eslint";

// Production code is what `kwt` ships in dist/kwt.js: tools/, the harness and the scenario library
// (`kwt demo` plays a scenario), less these (tests and the folder of their support; host-tests/
// outside harness/ and scenarios/ is all test code too).
const NOT_PRODUCTION = ["**/*.test.ts", "tools/testing/**"];

const VITEST = {
  regex: "^vitest(/|$)",
  message: "Production code must not import vitest; only tests and test support may.",
};
const TEST_SUPPORT = {
  regex: "(^|/)testing/|(^|/)host-tests/(?!harness/|scenarios/)|\\.test(\\.js)?$",
  message:
    "Production code must not import test support (tools/testing/, host-tests/ outside harness/ and scenarios/, *.test.ts); move what production needs into a production module.",
};

// Who may import whom, one entry per boundary. Each becomes its own rule `boundary/<name>` (the core
// no-restricted-imports under another name), so boundaries over the same files do not override each
// other's options the way two blocks configuring one rule would.
const BOUNDARIES = [
  {
    name: "tools-without-test-support",
    files: ["tools/**"],
    ignores: NOT_PRODUCTION,
    patterns: [VITEST, TEST_SUPPORT],
  },
  {
    name: "harness-without-test-support",
    files: ["host-tests/harness/**"],
    ignores: NOT_PRODUCTION,
    patterns: [
      VITEST,
      TEST_SUPPORT,
      {
        // One level up from the harness is host-tests/, where everything but the harness is test code.
        regex: "^\\.\\./(?!\\.\\./|harness/)",
        message:
          "The harness must not import the host tests or their support (host-tests/ outside harness/).",
      },
    ],
  },
  {
    name: "scenarios-without-test-support",
    files: ["host-tests/scenarios/**"],
    ignores: NOT_PRODUCTION,
    patterns: [
      VITEST,
      TEST_SUPPORT,
      {
        regex: "^\\.\\./(?!\\.\\./|harness/index\\.js$)",
        message:
          "The scenario library must not import the host tests or their support, and reaches the harness through host-tests/harness/index.js.",
      },
    ],
  },
  {
    name: "harness-through-entry-point",
    files: ["tools/**"],
    patterns: [
      {
        regex: "(^|/)host-tests/harness/(?!index\\.js$)",
        message:
          "tools/ use the harness through its entry point host-tests/harness/index.js; export what you need from there.",
      },
    ],
  },
  {
    // The deploy and OCI libraries are used by the CLI, never the other way round: flags, usage text
    // and exit codes live in tools/cli. Tests may drive the CLI end to end.
    name: "libraries-without-cli",
    files: ["tools/deploy/**", "tools/oci/**"],
    ignores: ["**/*.test.ts"],
    patterns: [
      {
        regex: "(^|/)cli(/|$)",
        message:
          "tools/deploy and tools/oci never import tools/cli: move the shared part down, or the CLI part into tools/cli.",
      },
    ],
  },
  {
    // Pure assembly/ modules never reach the host: only the ABI entry file (index.ts) imports the host
    // binding (host.ts) and the SDK; everything else is handed the Host interface (hostinterface.ts).
    name: "assembly-pure-modules",
    files: ["assembly/**/*.ts"],
    patterns: [
      {
        regex: "^\\.\\.?/host$",
        message: "Only assembly/index.ts binds the host; take a Host (hostinterface.ts) instead.",
      },
      {
        regex: "^@solo-io/proxy-runtime(/|$)",
        message: "Only assembly/host.ts and index.ts use the SDK; take a Host (hostinterface.ts) instead.",
      },
    ],
  },
];

const restrictedImports = builtinRules.get("no-restricted-imports");
const boundaryPlugin = { rules: Object.fromEntries(BOUNDARIES.map(({ name }) => [name, restrictedImports])) };

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      "build/",
      "dist/",
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
  // The filter (AssemblyScript): its i64/u64 literals are exact, unlike JavaScript numbers.
  { files: ["assembly/**/*.ts"], rules: { "no-loss-of-precision": "off" } },
  { plugins: { boundary: boundaryPlugin } },
  ...BOUNDARIES.map(({ name, files, ignores = [], patterns }) => ({
    name: `boundary/${name}`,
    files,
    ignores,
    rules: { [`boundary/${name}`]: ["error", { patterns }] },
  })),
);
