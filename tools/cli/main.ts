import { noPositionals, parseArgs, UsageError } from "./args.js";
import { benchCommand } from "./bench.js";
import { buildCommand } from "./build.js";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, InputError, kwtVersion, type Command } from "./command.js";
import { completionCommand } from "./completion.js";
import { demoCommand } from "./demo.js";
import { deleteCommand } from "./delete.js";
import { deployCommand } from "./deploy.js";
import { diffCommand } from "./diff.js";
import { doctorCommand } from "./doctor.js";
import { inspectCommand } from "./inspect.js";
import { observeConfigCommand } from "./observe-config.js";
import { statusCommand } from "./status.js";
import { packageCommand } from "./package.js";
import { pushCommand } from "./push.js";
import { runCommand } from "./run.js";
import { closestNames } from "./suggest.js";

const versionCommand: Command = {
  name: "version",
  summary: "print kwt's version (also kwt --version)",
  usage: "Usage: kwt version\n\nPrints kwt's version (the package version), e.g. 0.1.0.",
  flags: {},
  async run(argv) {
    noPositionals(parseArgs(argv, this.flags));
    console.log(kwtVersion());
    return EXIT_OK;
  },
};

// Each command lives in its own file; add it here.
const commands: Command[] = [
  buildCommand,
  runCommand,
  packageCommand,
  pushCommand,
  inspectCommand,
  deployCommand,
  diffCommand,
  deleteCommand,
  statusCommand,
  doctorCommand,
  observeConfigCommand,
  demoCommand,
  benchCommand,
  versionCommand,
  completionCommand(() => commands),
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
    "Run 'kwt <command> --help' for a command's options, 'kwt --version' for the version.",
  ].join("\n");
}

function unknownCommand(name: string): string {
  const close = closestNames(
    name,
    commands.map((c) => c.name),
  );
  const hint = close.length ? `; did you mean ${close.map((c) => `'${c}'`).join(" or ")}?` : "";
  return `kwt: unknown command '${name}'${hint}\nsee 'kwt --help'`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return EXIT_OK;
  }
  if (name === "--version") return versionCommand.run(rest);
  if (name === undefined) {
    console.error(usage());
    return EXIT_USAGE;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(unknownCommand(name));
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
      console.error(`kwt ${command.name}: ${error.message}\nsee 'kwt ${command.name} --help'`);
      return EXIT_USAGE;
    }
    if (error instanceof InputError) {
      console.error(`kwt ${command.name}: ${error.message}`);
      return EXIT_FAILURE;
    }
    throw error;
  }
}
