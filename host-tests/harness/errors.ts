// Errors the harness reports the way Envoy would report the same situation.

import type { LogRecord } from "./types.js";

/** Envoy refuses to load the module; the message names the cause (an import, a missing export...). */
export class ModuleRefusedError extends Error {
  override name = "ModuleRefusedError";
}

/** proxy_on_configure returned false: Envoy does not load the plugin (Istio refuses the update). */
export class ConfigurationRejectedError extends Error {
  override name = "ConfigurationRejectedError";
  constructor(
    message: string,
    /** What the module logged up to and during the rejected configure. */
    readonly logs: LogRecord[],
  ) {
    super(message);
  }
}
