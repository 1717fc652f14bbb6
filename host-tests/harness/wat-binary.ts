// WAT text to a module binary with wabt, for the modules the harness's tests and the benchmark
// write by hand or generate. Callers load wabt themselves (tests at once, the CLI only when needed).

import type wabtInit from "wabt";

export type Wabt = Awaited<ReturnType<typeof wabtInit>>;
export type WatFeatures = Parameters<Wabt["parseWat"]>[2];

/** Parses, resolves names, validates and encodes; throws wabt's message for invalid text. */
export function watToBinary(wabt: Wabt, fileName: string, text: string, features?: WatFeatures): Uint8Array {
  const parsed = wabt.parseWat(fileName, text, features);
  try {
    parsed.resolveNames();
    parsed.validate();
    return parsed.toBinary({}).buffer;
  } finally {
    parsed.destroy();
  }
}
