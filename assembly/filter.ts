// Skeleton glue: the root context reads its configuration and counts streams. Replaced piece by
// piece by the Knative and trace-context work; the only place that talks to the SDK.
import {
  RootContext,
  Context,
  Counter,
  log,
  LogLevelValues,
} from "@solo-io/proxy-runtime/assembly";
import * as imports from "@solo-io/proxy-runtime/assembly/imports";

export const ROOT_ID = "kwt";

const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;

/** Reads the plugin configuration; the SDK's own onConfigure passes the size as a pointer. */
function readPluginConfiguration(size: u32): string {
  if (size == 0) return "";
  const dataPtr = memory.data(8);
  const sizePtr = dataPtr + 4;
  const result = imports.proxy_get_buffer_bytes(BUFFER_PLUGIN_CONFIGURATION, 0, size, dataPtr, sizePtr);
  if (result != 0) return "";
  const ptr = load<usize>(dataPtr);
  const len = load<u32>(sizePtr);
  const text = String.UTF8.decodeUnsafe(ptr, len);
  __unpin(ptr);
  return text;
}

export class TelemetryRoot extends RootContext {
  streams: Counter | null = null;
  configuration: string = "";

  onConfigure(configurationSize: u32): bool {
    this.configuration = readPluginConfiguration(configurationSize);
    this.streams = new Counter("kwt_streams_total");
    log(LogLevelValues.info, "kwt configured (" + configurationSize.toString() + " bytes)");
    return true;
  }

  createContext(contextId: u32): Context {
    return new TelemetryStream(contextId, this);
  }
}

class TelemetryStream extends Context {
  onLog(): void {
    const root = this.root_context as TelemetryRoot;
    const streams = root.streams;
    if (streams != null) streams.increment(1);
  }
}
