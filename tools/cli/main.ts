import { UsageError } from "./args.js";
import { benchCommand } from "./bench.js";
import { buildCommand } from "./build.js";
import { EXIT_OK, EXIT_USAGE, type Command } from "./command.js";
import { demoCommand } from "./demo.js";
import { deleteCommand } from "./delete.js";
import { deployCommand } from "./deploy.js";
import { diffCommand } from "./diff.js";
import { doctorCommand } from "./doctor.js";
import { observeConfigCommand } from "./observe-config.js";
import { statusCommand } from "./status.js";
import { packageCommand } from "./package.js";
import { pushCommand } from "./push.js";
import { runCommand } from "./run.js";

// Each command lives in its own file; add it here.
const commands: Command[] = [
  buildCommand,
  runCommand,
  packageCommand,
  pushCommand,
  deployCommand,
  diffCommand,
  deleteCommand,
  statusCommand,
  doctorCommand,
  observeConfigCommand,
  demoCommand,
  benchCommand,
];

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    "kwt: build, package, push and deploy the knative-wasm-telemetry filter",
    "",
    "Usage: kwt <command> [options]",
    "",
    "Commands:",
    ...lines,
    "",
    "Run 'kwt <command> --help' for a command's options.",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return EXIT_OK;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(name ? `kwt: unknown command '${name}'\n\n${usage()}` : usage());
    return EXIT_USAGE;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(command.usage);
    return EXIT_OK;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`kwt ${command.name}: ${error.message}\n\n${command.usage}`);
      return EXIT_USAGE;
    }
    throw error;
  }
}
