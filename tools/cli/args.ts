import { parseArgs as parseNodeArgs, type ParseArgsConfig } from "node:util";

/** A command's flags: each long option's kind; the parser rejects anything else by name. */
export type FlagKind = "string" | "boolean" | "repeatable";
/** A flag that also has a one-letter form, e.g. `-o` for `--output`. */
export interface ShortFlag {
  kind: FlagKind;
  short: string;
}
export type FlagSpec = Record<string, FlagKind | ShortFlag>;

export interface ParsedArgs {
  flags: Map<string, string | boolean | string[]>;
  positionals: string[];
}

/** Thrown for a command line a person must fix; the CLI prints it with a pointer to --help and exits 2. */
export class UsageError extends Error {}

function kindOf(flag: FlagKind | ShortFlag): FlagKind {
  return typeof flag === "string" ? flag : flag.kind;
}

/** Node's parser errors, reworded as one line naming the flag. */
function usageErrorFrom(error: NodeJS.ErrnoException, spec: FlagSpec): UsageError {
  // "Option '--name <value>' ...", or "Option '-o, --output <value>' ..." for a short form
  const named = /'(-{1,2}[^' <,]+)(?:, (--[^' <]+))?/.exec(error.message);
  const option = named?.[2] ?? named?.[1] ?? "";
  const name = option.replace(/^-+/, "");
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return new UsageError(`unknown option ${option}`);
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const long = Object.entries(spec).find(
        ([flag, declared]) => flag === name || (typeof declared !== "string" && declared.short === name),
      )?.[0];
      const shown = long ? `--${long}` : option;
      return new UsageError(
        long !== undefined && kindOf(spec[long]!) === "boolean"
          ? `${shown} takes no value`
          : `${shown} needs a value`,
      );
    }
    default:
      return new UsageError(error.message.split("\n")[0]!);
  }
}

/**
 * Parses the command line with Node's util.parseArgs: `--name value`, `--name=value`, boolean
 * `--name`, declared short forms (`-o json`); `--` ends the flags. Repeatable flags collect every
 * value in order; any other flag given twice is an error, not a silent override.
 */
export function parseArgs(argv: string[], spec: FlagSpec): ParsedArgs {
  const options: NonNullable<ParseArgsConfig["options"]> = {};
  for (const [name, declared] of Object.entries(spec)) {
    const kind = kindOf(declared);
    options[name] = {
      type: kind === "boolean" ? "boolean" : "string",
      ...(kind === "repeatable" ? { multiple: true } : {}),
      ...(typeof declared === "string" ? {} : { short: declared.short }),
    };
  }
  let parsed: ReturnType<
    typeof parseNodeArgs<{ options: typeof options; tokens: true; allowPositionals: true }>
  >;
  try {
    parsed = parseNodeArgs({ args: argv, options, strict: true, allowPositionals: true, tokens: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS_"))
      throw usageErrorFrom(error as NodeJS.ErrnoException, spec);
    throw error;
  }
  const seen = new Set<string>();
  for (const token of parsed.tokens) {
    if (token.kind !== "option" || kindOf(spec[token.name]!) === "repeatable") continue;
    if (seen.has(token.name)) throw new UsageError(`--${token.name} given twice`);
    seen.add(token.name);
  }
  const flags = new Map<string, string | boolean | string[]>();
  for (const [name, value] of Object.entries(parsed.values)) {
    if (value !== undefined) flags.set(name, value as string | boolean | string[]);
  }
  return { flags, positionals: parsed.positionals };
}

export function stringFlag(args: ParsedArgs, name: string): string | undefined {
  const value = args.flags.get(name);
  return typeof value === "string" ? value : undefined;
}

export function booleanFlag(args: ParsedArgs, name: string): boolean {
  return args.flags.get(name) === true;
}

export function repeatableFlag(args: ParsedArgs, name: string): string[] {
  const value = args.flags.get(name);
  return Array.isArray(value) ? value : [];
}

export function integerFlag(args: ParsedArgs, name: string, min: number, max: number): number | undefined {
  const text = stringFlag(args, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${text}'`);
  }
  return value;
}

/** Fails on any positional argument: for commands that take flags only. */
export function noPositionals(args: ParsedArgs): void {
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument '${args.positionals[0]}'`);
}
