import type binaryenApi from "binaryen";

type Binaryen = typeof binaryenApi;

/**
 * How much the release module inlines after the compiler's own optimisation. The release target
 * optimises for size (asconfig.json `shrinkLevel: 2`), where Binaryen copies a function into every
 * caller only up to 2 expressions of body (its measure of a function's size; 6 at `shrinkLevel: 1`).
 * The request path is built of small accessors (a header scan's spans, a table's slots, a typed
 * array's elements) and V8, as it compiles the module for Envoy and the benchmark, leaves each of
 * them a call. With these budgets, at `shrinkLevel: 1`, a second inlining pass took 12 to 20% off
 * the common paths' wasm time in interleaved A/B runs, for 1.9 KB of module (issue 18);
 * `shrinkLevel: 0` took 20 to 30% off for 40 KB. `shrinkLevel: 2` with this pass then took 1.5 KB
 * off and measured 0.90 to 1.04 of the module at 1 in two interleaved A/B runs (0.90 and 0.91
 * inbound).
 */
export const RELEASE_INLINING = {
  /** Expressions of body up to which a function is inlined at every call. */
  everyCallerMaxSize: 12,
  /** Expressions of body up to which a function with one caller is inlined (loops included). */
  oneCallerMaxSize: 200,
  /**
   * At `shrinkLevel: 0` only: up to this, a function is inlined where that looks worth it
   * (asc's own value there).
   */
  flexibleMaxSize: 70,
} as const;

/**
 * Binaryen's global settings the pass sets, restored after it: asc sets them for each module it
 * optimises, and leaves them as they were for the next one.
 */
interface OptimiseSettings {
  optimizeLevel: number;
  shrinkLevel: number;
  always: number;
  oneCaller: number;
  loops: boolean;
  flexible: number;
  fastMath: boolean;
  zeroFilledMemory: boolean;
}

/** Binaryen's settings that inlineSmallFunctions sets (exported for its test). */
export function readSettings(binaryen: Binaryen): OptimiseSettings {
  return {
    optimizeLevel: binaryen.getOptimizeLevel(),
    shrinkLevel: binaryen.getShrinkLevel(),
    always: binaryen.getAlwaysInlineMaxSize(),
    oneCaller: binaryen.getOneCallerInlineMaxSize(),
    loops: binaryen.getAllowInliningFunctionsWithLoops(),
    flexible: binaryen.getFlexibleInlineMaxSize(),
    fastMath: binaryen.getFastMath(),
    zeroFilledMemory: binaryen.getZeroFilledMemory(),
  };
}

function writeSettings(binaryen: Binaryen, settings: OptimiseSettings): void {
  binaryen.setOptimizeLevel(settings.optimizeLevel);
  binaryen.setShrinkLevel(settings.shrinkLevel);
  binaryen.setAlwaysInlineMaxSize(settings.always);
  binaryen.setOneCallerInlineMaxSize(settings.oneCaller);
  binaryen.setAllowInliningFunctionsWithLoops(settings.loops);
  binaryen.setFlexibleInlineMaxSize(settings.flexible);
  binaryen.setFastMath(settings.fastMath);
  binaryen.setZeroFilledMemory(settings.zeroFilledMemory);
}

/**
 * `wasm` (an optimised module using only `features`) with its small functions inlined into their
 * callers under RELEASE_INLINING, then optimised once more, at `optimizeLevel`/`shrinkLevel`, and
 * given `passes` (the target's `runPasses`). asc optimises its own output the same way but at level
 * 4 for a target's 3, and again until the module stops shrinking (`converge`); one more round here
 * is what the A/B runs measured. The other settings are asc's for this module: memory not taken
 * to be zero-filled, `fastMath` on.
 */
export function inlineSmallFunctions(
  binaryen: Binaryen,
  wasm: Uint8Array,
  options: { features: number; optimizeLevel: number; shrinkLevel: number; passes: readonly string[] },
): Uint8Array {
  const module = binaryen.readBinary(wasm);
  const saved = readSettings(binaryen);
  try {
    module.setFeatures(options.features);
    writeSettings(binaryen, {
      optimizeLevel: options.optimizeLevel,
      shrinkLevel: options.shrinkLevel,
      always: RELEASE_INLINING.everyCallerMaxSize,
      oneCaller: RELEASE_INLINING.oneCallerMaxSize,
      loops: true,
      flexible: RELEASE_INLINING.flexibleMaxSize,
      fastMath: true,
      zeroFilledMemory: false,
    });
    module.runPasses(["inlining-optimizing"]);
    module.optimize();
    if (options.passes.length > 0) module.runPasses([...options.passes]);
    if (!module.validate()) throw new Error("build: the module is invalid after inlining");
    return module.emitBinary();
  } finally {
    writeSettings(binaryen, saved);
    module.dispose();
  }
}
