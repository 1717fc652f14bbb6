// PluginOptions.callBoundary: every VM's host functions and exports pass through it once, with the
// VM's index, and what the wrappers return is what the module and the harness call.

import { expect, it } from "vitest";

import { BASE_VM_INDEX, CANARY_VM_INDEX, Plugin } from "../harness/plugin.js";
import type { CallBoundary, LinkedFunction } from "../harness/types.js";
import { ProxyModule } from "./wat.js";

it("wraps each VM's host functions and exports; the wrappers see arguments and module memory", async () => {
  const module = new ProxyModule();
  const wasm = module.build(
    `(func (export "proxy_on_configure") (param i32 i32) (result i32)
       (drop (call $proxy_log (i32.const 2) ${module.text("configured")}))
       (i32.const 1))`,
  );
  const seen: string[] = [];
  const boundary: CallBoundary = {
    hostFunction(vm, key, fn, read) {
      return (...args) => {
        const message = new TextDecoder().decode(read(Number(args[1]), Number(args[2])));
        seen.push(`vm ${vm} host ${key} ${message}`);
        return fn(...args);
      };
    },
    moduleExport(vm, name, fn): LinkedFunction {
      return (...args) => {
        if (name === "proxy_on_configure") seen.push(`vm ${vm} export ${name}`);
        return fn(...args);
      };
    },
  };
  const plugin = await Plugin.load({ wasm, callBoundary: boundary });
  plugin.close();
  expect(seen).toEqual(
    // The canary and each of the two worker VMs a plugin gets by default.
    [CANARY_VM_INDEX, 0, 1].flatMap((vm) => [
      `vm ${vm} export proxy_on_configure`,
      `vm ${vm} host env.proxy_log configured`,
    ]),
  );
  expect(seen.some((line) => line.startsWith(`vm ${BASE_VM_INDEX} `))).toBe(false);
  expect(plugin.logs.map((l) => l.message)).toEqual(["configured", "configured", "configured"]);
});
