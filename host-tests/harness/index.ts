// The harness as the tools use it (`kwt run`, `demo`, `bench` and their tests): load a module into
// an Envoy-faithful host, drive it in process or behind the HTTP proxy, read its stats. The layers
// behind this file (ABI imports, VM, codecs) are the harness's own; lint keeps `tools/` on this side.

export * from "./types.js";
export { AccessLogFormat, FormatError } from "./access-log.js";
export { AbiVersion, hostFunctionSignatures, moduleCallbackSignatures } from "./abi.js";
export { AdminServer, closeServer, listenOn, type AdminAnswer, type HostPort } from "./admin.js";
export { ManualClock } from "./clock.js";
export { DEFAULT_WORKERS, EnvoyProcess, type ListenerPluginOptions } from "./envoy-process.js";
export { ConfigurationRejection, ModuleRefusedError } from "./errors.js";
export { checkLoopbackUrl } from "./http-call.js";
export { checkProxyWasmModule } from "./envoy-process.js";
export { Plugin } from "./plugin.js";
export { extraStatTagRegex, extractTags } from "./prometheus.js";
export { PROPERTY_LAYOUTS, propertyLayoutOf } from "./properties.js";
export {
  HarnessProxy,
  parseUpstreamUrl,
  type FilterPlugin,
  type FilterStream,
  type PortListener,
  type ProxyOptions,
} from "./proxy.js";
export { StatStore } from "./stats.js";
export { SharedData } from "./shared-data.js";
export {
  DEFAULT_ENVOY_VERSION,
  DEFAULT_REQUEST_HEADER_LIMITS,
  envoyMinorVersion,
  envoyStreamEnd,
  type RequestHeaderLimits,
} from "./stream-ends.js";
export { watToBinary, type Wabt } from "./wat-binary.js";
export type { FunctionType } from "./wasm-binary.js";
