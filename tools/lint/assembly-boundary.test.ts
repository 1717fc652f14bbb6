// The lint rule that keeps the filter's pure modules off the host: a module of assembly/ that
// imports the host binding or the SDK fails `npm run lint`; the Host interface is allowed.
import path from "node:path";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
const eslint = new ESLint({ cwd: root });

async function restrictedImports(code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, "assembly/example.ts") });
  return (result?.messages ?? [])
    .filter((message) => message.ruleId === "no-restricted-imports")
    .map((message) => message.message);
}

describe("assembly/ host boundary", () => {
  it("refuses the host binding and the SDK in a pure module", async () => {
    const messages = await restrictedImports(
      [
        'import { ProxyWasmHost } from "./host";',
        'import { proxy_log } from "@solo-io/proxy-runtime/assembly/imports";',
        "export const used = [ProxyWasmHost, proxy_log];",
      ].join("\n"),
    );
    expect(messages).toHaveLength(2);
    expect(messages[0]).toMatch(/'\.\/host' import is restricted.*take a Host/);
    expect(messages[1]).toMatch(/proxy-runtime.*take a Host/);
  });

  it("allows the Host interface", async () => {
    expect(
      await restrictedImports('import { Host } from "./hostinterface";\nexport const used = Host;'),
    ).toEqual([]);
  });
});
