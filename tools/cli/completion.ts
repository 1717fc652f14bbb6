/** Shell completion scripts for bash and zsh, generated from the commands' own flag declarations. */
import { noPositionals, parseArgs, UsageError, type FlagSpec } from "./args.js";
import { EXIT_OK, type Command } from "./command.js";

export const COMPLETION_SHELLS = ["bash", "zsh"] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

function optionWords(flags: FlagSpec): string[] {
  const words = ["--help"];
  for (const [name, declared] of Object.entries(flags)) {
    words.push(`--${name}`);
    if (typeof declared !== "string") words.push(`-${declared.short}`);
  }
  return words;
}

function bashScript(commands: readonly Command[]): string {
  const cases = commands.map(
    (command) => `    ${command.name}) words="${optionWords(command.flags).join(" ")}" ;;`,
  );
  return [
    "# kwt completion for bash: source <(kwt completion bash)",
    "_kwt() {",
    '  local cur="${COMP_WORDS[COMP_CWORD]}" words',
    '  if [ "$COMP_CWORD" -eq 1 ]; then',
    `    COMPREPLY=($(compgen -W "${commands.map((c) => c.name).join(" ")} help --help --version" -- "$cur"))`,
    "    return",
    "  fi",
    // a value or a positional: leave it to bash's file name completion (-o default)
    '  case "$cur" in -*) ;; *) COMPREPLY=(); return ;; esac',
    '  case "${COMP_WORDS[1]}" in',
    ...cases,
    "    *) words= ;;",
    "  esac",
    '  COMPREPLY=($(compgen -W "$words" -- "$cur"))',
    "}",
    "complete -o default -F _kwt kwt",
    "",
  ].join("\n");
}

function zshQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

function zshArguments(flags: FlagSpec): string[] {
  const specs = ["--help[show the usage]"];
  for (const [name, declared] of Object.entries(flags)) {
    const kind = typeof declared === "string" ? declared : declared.kind;
    const value = kind === "boolean" ? "" : `:${name}:_files`;
    const repeat = kind === "repeatable" ? "*" : "";
    specs.push(`${repeat}--${name}${value}`);
    if (typeof declared !== "string") specs.push(`${repeat}-${declared.short}${value}`);
  }
  return [...specs, "*:argument:_files"].map(zshQuote);
}

function zshScript(commands: readonly Command[]): string {
  const described = commands.map((c) => zshQuote(`${c.name}:${c.summary.replaceAll(":", "\\:")}`));
  const cases = commands.map(
    (command) => `    ${command.name}) _arguments ${zshArguments(command.flags).join(" ")} ;;`,
  );
  return [
    "#compdef kwt",
    "# kwt completion for zsh: source <(kwt completion zsh), or save it as _kwt on $fpath",
    "_kwt() {",
    "  local -a commands",
    `  commands=(${described.join(" ")})`,
    "  if (( CURRENT == 2 )); then",
    "    _describe command commands",
    "    return",
    "  fi",
    "  shift words",
    "  (( CURRENT-- ))",
    "  case $words[1] in",
    ...cases,
    "  esac",
    "}",
    'if [ "$funcstack[1]" = "_kwt" ]; then _kwt "$@"; else compdef _kwt kwt; fi',
    "",
  ].join("\n");
}

export function completionScript(shell: CompletionShell, commands: readonly Command[]): string {
  return shell === "bash" ? bashScript(commands) : zshScript(commands);
}

/** `kwt completion bash|zsh`, completing the commands `commands()` lists (itself included). */
export function completionCommand(commands: () => readonly Command[]): Command {
  return {
    name: "completion",
    summary: "print a bash or zsh completion script (source <(kwt completion bash))",
    usage: `Usage: kwt completion bash|zsh

Prints a script that completes kwt's commands and each command's options; values and other
arguments complete as file names.
  bash:  source <(kwt completion bash)    (e.g. in ~/.bashrc)
  zsh:   source <(kwt completion zsh)     (e.g. in ~/.zshrc, after compinit)

Exit status: 0 printed; 2 bad command line.`,
    flags: {},
    async run(argv) {
      const args = parseArgs(argv, this.flags);
      const [shell, ...extra] = args.positionals;
      if (!shell) throw new UsageError(`which shell? give one of ${COMPLETION_SHELLS.join(", ")}`);
      noPositionals({ ...args, positionals: extra });
      if (!(COMPLETION_SHELLS as readonly string[]).includes(shell)) {
        throw new UsageError(`no completion for '${shell}': give one of ${COMPLETION_SHELLS.join(", ")}`);
      }
      process.stdout.write(completionScript(shell as CompletionShell, commands()));
      return EXIT_OK;
    },
  };
}
