// Errors the harness reports the way Envoy would report the same situation.

import type { LogRecord } from "./types.js";

/** Envoy refuses to load the module; the message names the cause (an import, a missing export...). */
export class ModuleRefusedError extends Error {
  override name = "ModuleRefusedError";
}

/**
 * proxy_on_vm_start or proxy_on_configure returned false: Envoy rejects the ECDS update. Not
 * thrown: the listener keeps its previous configuration, or, if it never had one, answers every
 * request with the missing-config filter's 500 (see Plugin.rejection).
 */
export class ConfigurationRejection {
  constructor(
    /** Which step failed and why, e.g. "Failed to configure base Wasm plugin: proxy_on_configure returned false". */
    readonly message: string,
    /** What the module logged up to and during the rejected configure. */
    readonly logs: LogRecord[],
  ) {}
}
