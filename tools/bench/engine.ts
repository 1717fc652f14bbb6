// How V8 compiles the modules the benchmark measures. Envoy's V8 (proxy-wasm-cpp-host, src/v8/v8.cc)
// turns Liftoff off, so every function runs as TurboFan code from its first call; Node's default
// starts with Liftoff and tiers up hot functions later, on a background thread, while the rounds run.

import v8 from "node:v8";

/** The V8 flags the benchmark sets before compiling any module, as Envoy does. */
export const ENVOY_V8_FLAGS = "--no-liftoff";

let applied = false;

/** Sets ENVOY_V8_FLAGS for every module compiled from now on in this process. */
export function compileAsEnvoy(): void {
  v8.setFlagsFromString(ENVOY_V8_FLAGS);
  applied = true;
}

/** The V8 flags this process compiles modules with, as results.json records them. */
export function wasmCompilerFlags(): string {
  return applied ? ENVOY_V8_FLAGS : "";
}
