// The real filter under the strict checks: it must load and configure as Envoy would.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";

import { ManualClock } from "../harness/clock.js";
import { Plugin } from "../harness/plugin.js";
import { PROPERTY_LAYOUTS } from "../harness/properties.js";
import { LogLevel } from "../harness/types.js";

const filterPath = fileURLToPath(new URL("../../build/filter.wasm", import.meta.url));

describe("build/filter.wasm", () => {
  const wasm = new Uint8Array(readFileSync(filterPath));

  for (const pluginConfig of ["", "{}"]) {
    for (const propertyLayout of PROPERTY_LAYOUTS) {
      it(`loads and configures with ${JSON.stringify(pluginConfig)} on the ${propertyLayout} property layout`, async () => {
        const plugin = await Plugin.load({
          wasm,
          pluginConfig,
          propertyLayout,
          workers: 2,
          clock: new ManualClock(),
        });
        expect(plugin.failed).toBe(false);
        expect(plugin.workerCount).toBe(2);
        const stream = plugin.createStream();
        stream.onRequestHeaders(
          [
            [":method", "GET"],
            [":path", "/"],
            [":authority", "svc"],
          ],
          true,
        );
        stream.onResponseHeaders([[":status", "200"]], true);
        stream.end();
        expect(plugin.failed).toBe(false);
        expect(plugin.logs.filter((l) => l.level >= LogLevel.Warn)).toEqual([]);
        plugin.close();
      });
    }
  }
});
