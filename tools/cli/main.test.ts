import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseArgs, UsageError } from "./args.js";
import { closestNames } from "./suggest.js";
import { KWT_BUNDLE, runKwt } from "../testing/kwt-cli.js";

const root = path.resolve(import.meta.dirname, "../..");
const packageVersion = (
  JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as { version: string }
).version;

describe("argument parsing (util.parseArgs under the commands' FlagSpec)", () => {
  const spec = {
    clusters: "string",
    cluster: "repeatable",
    "dry-run": "boolean",
    output: { kind: "string", short: "o" },
  } as const;

  it("reads long, =, short and repeatable forms and keeps positionals", () => {
    const args = parseArgs(
      ["--clusters=c.yaml", "--cluster", "a", "--cluster", "b", "-o", "json", "--dry-run", "x", "--", "--y"],
      spec,
    );
    expect(Object.fromEntries(args.flags)).toEqual({
      clusters: "c.yaml",
      cluster: ["a", "b"],
      output: "json",
      "dry-run": true,
    });
    expect(args.positionals).toEqual(["x", "--y"]);
    expect(parseArgs(["--clusters", "-"], spec).flags.get("clusters")).toBe("-");
  });

  it("refuses with one line naming the flag", () => {
    const refusal = (argv: string[]) => {
      try {
        parseArgs(argv, spec);
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
        return (error as Error).message;
      }
      return "accepted";
    };
    expect(refusal(["--bogus"])).toBe("unknown option --bogus");
    expect(refusal(["--clusters"])).toBe("--clusters needs a value");
    expect(refusal(["--clusters", "--dry-run"])).toBe("--clusters needs a value");
    expect(refusal(["-o"])).toBe("--output needs a value");
    expect(refusal(["--dry-run=yes"])).toBe("--dry-run takes no value");
    expect(refusal(["--clusters", "a", "--clusters", "b"])).toBe("--clusters given twice");
  });

  it("suggests the closest commands", () => {
    const names = ["build", "deploy", "doctor", "demo", "status", "push", "package"];
    expect(closestNames("deplyo", names)).toEqual(["deploy"]);
    expect(closestNames("stauts", names)).toEqual(["status"]);
    expect(closestNames("pakage", names)).toEqual(["package"]);
    expect(closestNames("frobnicate", names)).toEqual([]);
  });
});

describe("kwt as a shell sees it", () => {
  it("prints the package version for --version and version", async () => {
    expect(await runKwt(["--version"])).toEqual({ code: 0, stdout: `${packageVersion}\n`, stderr: "" });
    expect(await runKwt(["version"])).toEqual({ code: 0, stdout: `${packageVersion}\n`, stderr: "" });
  });

  it("answers an unknown command with a did-you-mean and exit 2", async () => {
    expect(await runKwt(["deplyo"])).toEqual({
      code: 2,
      stdout: "",
      stderr: "kwt: unknown command 'deplyo'; did you mean 'deploy'?\nsee 'kwt --help'\n",
    });
    expect((await runKwt(["zzz"])).stderr).toBe("kwt: unknown command 'zzz'\nsee 'kwt --help'\n");
  });

  it("exits 1 for a module that cannot be read, in run as in package", async () => {
    const run = await runKwt([
      "run",
      "--listen",
      "127.0.0.1:0",
      "--upstream",
      "http://127.0.0.1:9",
      "--wasm",
      "nope",
    ]);
    const pack = await runKwt(["package", "--wasm", "nope"]);
    expect([run.code, pack.code]).toEqual([1, 1]);
    expect(run.stderr).toMatch(/^kwt run: --wasm nope: cannot read it/);
    expect(run.stderr).not.toContain("see 'kwt run --help'");
    const usage = await runKwt(["run", "--listen", "nowhere", "--upstream", "http://127.0.0.1:9"]);
    expect(usage).toEqual({
      code: 2,
      stdout: "",
      stderr:
        "kwt run: --listen must be HOST:PORT (port 0 to 65535, [IPv6]:PORT), got 'nowhere'\nsee 'kwt run --help'\n",
    });
  });

  it("completes commands and each command's options in bash", () => {
    const complete = (...words: string[]) =>
      execFileSync(
        "bash",
        [
          "-c",
          `source <(${JSON.stringify(process.execPath)} ${JSON.stringify(KWT_BUNDLE)} completion bash)
COMP_WORDS=(${words.map((word) => JSON.stringify(word)).join(" ")}); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _kwt; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: "utf8" },
      ).trim();
    expect(complete("kwt", "de")).toBe("deploy delete demo");
    expect(complete("kwt", "comp")).toBe("completion");
    expect(complete("kwt", "push", "--pa")).toBe("--password-stdin");
    expect(complete("kwt", "status", "-")).toContain("--clusters");
    expect(complete("kwt", "status", "-").split(" ")).toContain("-o");
    expect(complete("kwt", "status", "--clusters", "")).toBe("");
  });

  it("prints a zsh completion that zsh loads, and refuses other shells", async () => {
    const script = (await runKwt(["completion", "zsh"])).stdout;
    expect(script.split("\n")[0]).toBe("#compdef kwt");
    expect(script).toContain(
      "    inspect) _arguments '--help[show the usage]' '--output:output:_files' '-o:output:_files' '--retries:retries:_files' '--plain-http'",
    );
    const loaded = execFileSync(
      "zsh",
      ["-f", "-c", `autoload -U compinit && compinit -u && source <(cat) && whence -w _kwt`],
      {
        input: script,
        encoding: "utf8",
      },
    );
    expect(loaded.trim()).toBe("_kwt: function");
    expect(await runKwt(["completion", "fish"])).toEqual({
      code: 2,
      stdout: "",
      stderr:
        "kwt completion: no completion for 'fish': give one of bash, zsh\nsee 'kwt completion --help'\n",
    });
  });
});
