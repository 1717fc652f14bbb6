// The static-headers transform leaves static objects' block-size word zero and their visits out
// of the collector's roots, drops the null test around each field's visit and gives every empty
// array literal the same static buffer; the minimal runtime still reads the static objects, copies
// them to the heap, collects around them and keeps what globals and fields hold, null fields
// included.

import wabtInit from "wabt";
import { expect, it } from "vitest";
import { staticObjectTransform } from "./static-headers.js";

const wabt = await wabtInit();

const PROBE = `
const LITERAL = "static-headers probe";
const WORDS: string[] = ["one", "two"];
let held: string = "";
export function literal(): usize { return changetype<usize>(LITERAL); }
export function hold(): void { held = LITERAL + "?"; }
export function churn(): void {
  for (let i = 0; i < 1000; i++) held.repeat(4);
  __collect();
}
export function heldLength(): i32 { return held.length; }
export function heldMatches(): bool { return held == LITERAL + "?"; }
class Link {
  constructor(public next: Link | null, public label: string) {}
}
let chain: Link | null = null;
export function link(): void { chain = new Link(new Link(null, "tail" + "!"), "head" + "!"); }
export function chainKept(): bool {
  const head = chain!;
  const tail = head.next!;
  return head.label == "head!" && tail.label == "tail!" && tail.next == null;
}
const NONE_YET: i32[] = [];
const NOTHING_YET: i32[] = [];
export function emptyBuffersShared(): bool {
  return changetype<usize>(NONE_YET.buffer) == changetype<usize>(NOTHING_YET.buffer);
}
export function emptyArraysApart(): bool {
  const local: i32[] = [];
  NONE_YET.push(1);
  NOTHING_YET.push(2);
  local.push(3);
  __collect();
  return NONE_YET.length == 1 && NOTHING_YET.length == 1 && local.length == 1 &&
    NONE_YET[0] == 1 && NOTHING_YET[0] == 2 && local[0] == 3;
}
export function grown(): i32 {
  const words = WORDS;
  words.push(LITERAL + "!");
  __collect();
  return words.join(",").length;
}
`;

interface Probe {
  binary: Uint8Array;
  memory: WebAssembly.Memory;
  link(): void;
  chainKept(): number;
  literal(): number;
  grown(): number;
  emptyBuffersShared(): number;
  emptyArraysApart(): number;
  hold(): void;
  churn(): void;
  heldLength(): number;
  heldMatches(): number;
}

async function compileProbe(withTransform: boolean, runtime = "minimal", optimize = "-O3"): Promise<Probe> {
  const { default: asc } = await import("assemblyscript/asc");
  const written = new Map<string, Uint8Array>();
  const output: string[] = [];
  const stream = { write: (chunk: string | Uint8Array) => output.push(String(chunk)) };
  const { error } = await asc.main(
    ["probe.ts", "--runtime", runtime, "--exportRuntime", optimize, "--noAssert", "--outFile", "probe.wasm"],
    {
      stdout: stream,
      stderr: stream,
      readFile: (name: string) => (name === "probe.ts" ? PROBE : null),
      writeFile: (name: string, contents: string | Uint8Array) => {
        written.set(name, contents as Uint8Array);
      },
      listFiles: () => [],
      transforms: withTransform ? [staticObjectTransform()] : [],
    },
  );
  const binary = written.get("probe.wasm");
  if (error || !binary) throw new Error(`probe build failed: ${output.join("")}${String(error)}`);
  const abort = (): void => {
    throw new Error("probe aborted");
  };
  const { instance } = await WebAssembly.instantiate(new Uint8Array(binary), { env: { abort } });
  return { ...(instance.exports as unknown as Probe), binary };
}

function blockSizeWord(probe: Probe, pointer: number): number {
  // The block's first word sits before the object's four header words: 20 bytes before its data.
  return new DataView(probe.memory.buffer).getUint32(pointer - 20, true);
}

function literalText(probe: Probe, pointer: number): string {
  const bytes = new DataView(probe.memory.buffer).getUint32(pointer - 4, true);
  return Buffer.from(probe.memory.buffer, pointer, bytes).toString("utf16le");
}

it("writes static objects without their block size or root visits, and the runtime still uses them", async () => {
  const plain = await compileProbe(false);
  const transformed = await compileProbe(true);
  expect(blockSizeWord(plain, plain.literal())).not.toBe(0);
  expect(blockSizeWord(transformed, transformed.literal())).toBe(0);
  expect(literalText(transformed, transformed.literal())).toBe("static-headers probe");
  expect(transformed.grown()).toBe("one,two,static-headers probe!".length);
  expect(transformed.grown()).toBe("one,two,static-headers probe!,static-headers probe!".length);
  transformed.hold();
  for (let i = 0; i < 5; i++) transformed.churn();
  expect(transformed.heldLength()).toBe("static-headers probe?".length);
  expect(transformed.heldMatches()).toBe(1);
}, 60_000);

/** Visits that test the pointer first: `if (local.tee x <field>) __visit(local.get x)`. */
function guardedVisits(binary: Uint8Array): number {
  const module = wabt.readWasm(binary, { readDebugNames: false });
  try {
    const text = module.toText({});
    return [
      ...text.matchAll(/local\.tee (\d+)\s+if\b[^\n]*\s+local\.get \1\s+(?:local\.get \d+\s+)?call \d+/g),
    ].length;
  } finally {
    module.destroy();
  }
}

it("gives every empty array literal one empty static buffer, which no array that grows shares", async () => {
  const plain = await compileProbe(false);
  const transformed = await compileProbe(true);
  expect(plain.emptyBuffersShared()).toBe(0);
  expect(transformed.emptyBuffersShared()).toBe(1);
  expect(transformed.emptyArraysApart()).toBe(1);
  expect(transformed.emptyBuffersShared()).toBe(0);
}, 60_000);

it("visits fields without a null test of their own, and the collector still keeps what they hold", async () => {
  // Unoptimized, so that __visit stays a call to find (optimized, the probe's few visits inline it).
  const plain = await compileProbe(false, "minimal", "-O0");
  const transformed = await compileProbe(true, "minimal", "-O0");
  expect(guardedVisits(plain.binary)).toBeGreaterThan(0);
  expect(guardedVisits(transformed.binary)).toBe(0);
  for (const probe of [transformed, await compileProbe(true)]) {
    probe.link();
    for (let i = 0; i < 5; i++) probe.churn();
    expect(probe.chainKept()).toBe(1);
  }
}, 60_000);

it("refuses a runtime that reads static objects' block size (stub), naming the runtime it needs", async () => {
  await expect(compileProbe(true, "stub")).rejects.toThrow(/only for the minimal runtime/);
}, 60_000);
