import type { Class, Compiler, MemorySegment, Program } from "assemblyscript";
import type { Transform } from "assemblyscript/asc";
import type binaryenApi from "binaryen";

/** Programs compiled with the transform; the compiler's classes are shared by every compilation. */
const programsWithoutBlockSize = new WeakSet<Program>();
let createBufferWrapped = false;
/** The one empty static ArrayBuffer of each program compiled with the transform. */
const emptyBuffers = new WeakMap<Program, MemorySegment>();
let addStaticBufferWrapped = false;

/** The object header before an object's data: mmInfo, gcInfo, gcInfo2, rtId, rtSize. */
const HEADER_BYTES = 20;
const RT_ID_AT = 12;
const RT_SIZE_AT = 16;
const VISIT = "~lib/rt/tcms/__visit";
const VISIT_GLOBALS = "~lib/rt/__visit_globals";

type Binaryen = typeof binaryenApi;
type ExpressionRef = number;

/**
 * A compiler transform for the static objects (string literals, constant arrays) of a module on
 * the minimal runtime:
 * - they are written without the block size in their header's first word. The compiler fills
 *   that word in, but the runtime reads it only for heap blocks (its sweep and `__renew` check
 *   `__heap_base` first). Written, it keeps each object in two data segments apart, cut at the
 *   zero GC words after it; left zero, each object is one segment, 8 bytes less each.
 * - the collector's root visitor (`__visit_globals`) skips the constant globals that are static
 *   strings and ArrayBuffers: they hold no references and lie outside the heap the collector
 *   frees, so marking them keeps nothing alive. Each visit was a call in the module, and the only
 *   use of a few standard-library strings.
 * - the visits the compiler writes for managed fields and globals lose their null test: it writes
 *   `if (x = <field>) __visit(x, cookie)`, and the minimal runtime's `__visit` returns at once for
 *   null itself, so each test was a second one (about 6 bytes of code per managed field).
 * - every empty array literal (`[]`) shares one empty static ArrayBuffer: the compiler writes one
 *   per literal, each a data segment of its own (about 8 bytes). An empty buffer has no bytes to
 *   change, and an array that grows leaves it for a heap buffer (the minimal runtime's `__renew`
 *   copies a static block to the heap), so no array can see another's through it.
 */
export function staticObjectTransform(): Transform {
  let program: Program | undefined;
  const hooks: Pick<Transform, "afterInitialize" | "afterCompile"> = {
    async afterInitialize(compiled: Program): Promise<void> {
      program = compiled;
      programsWithoutBlockSize.add(compiled);
      if (!createBufferWrapped) wrapCreateBuffer(Object.getPrototypeOf(compiled.stringInstance) as Class);
      if (!addStaticBufferWrapped) {
        // The compiler asc loaded: a transform runs inside asc, which imports it before any hook.
        const { Compiler: compilerClass } = await import("assemblyscript");
        wrapAddStaticBuffer(compilerClass.prototype);
      }
    },
    async afterCompile(module: binaryenApi.Module): Promise<void> {
      // Zero block-size words are safe only where the runtime never reads them for static
      // objects: the minimal runtime (tcms). The stub and incremental runtimes' __renew read them.
      const functions = module as unknown as { getFunction(name: string): number };
      if (!functions.getFunction(VISIT)) {
        throw new Error(
          `static-headers: this module has no ${VISIT}; the transform is only for the minimal runtime (asconfig.json "runtime": "minimal")`,
        );
      }
      const { default: binaryen } = await import("assemblyscript/binaryen");
      const leafIds = new Set([program!.stringInstance.id, program!.arrayBufferInstance.id]);
      skipStaticVisits(binaryen, module, staticObjectsOf(module, leafIds));
      dropVisitNullTests(binaryen, module);
    },
  };
  // asc calls a transform object's hooks as they are; the other members are what it gives a
  // transform class it instantiates itself.
  return hooks as Transform;
}

function wrapCreateBuffer(classMethods: Class): void {
  const createBuffer = classMethods.createBuffer as unknown;
  if (typeof createBuffer !== "function") {
    throw new Error("static-headers: this AssemblyScript compiler has no Class#createBuffer to wrap");
  }
  const original = createBuffer as Class["createBuffer"];
  classMethods.createBuffer = function (this: Class, overhead?: number): Uint8Array {
    const buffer = original.call(this, overhead);
    if (!programsWithoutBlockSize.has(this.program)) return buffer;
    if (this.program.OBJECTInstance.writeField("mmInfo", 0, buffer, 0) === 0) {
      throw new Error("static-headers: the runtime's object header has no mmInfo field");
    }
    return buffer;
  };
  createBufferWrapped = true;
}

function wrapAddStaticBuffer(compilerMethods: Compiler): void {
  const original = compilerMethods.addStaticBuffer as unknown;
  if (typeof original !== "function") {
    throw new Error("static-headers: this AssemblyScript compiler has no Compiler#addStaticBuffer to wrap");
  }
  const addStaticBuffer = original as Compiler["addStaticBuffer"];
  compilerMethods.addStaticBuffer = function (this: Compiler, elementType, values, id): MemorySegment {
    const compiled = this.program;
    const arrayBufferId = compiled.arrayBufferInstance.id;
    const shareable = values.length === 0 && (id === undefined || id === arrayBufferId);
    if (!shareable || !programsWithoutBlockSize.has(compiled))
      return addStaticBuffer.call(this, elementType, values, id);
    let segment = emptyBuffers.get(compiled);
    if (!segment) {
      segment = addStaticBuffer.call(this, elementType, values, id);
      emptyBuffers.set(compiled, segment);
    }
    return segment;
  };
  addStaticBufferWrapped = true;
}

/** The addresses of the static objects whose runtime type is one of `ids` (before optimizing, one segment each). */
function staticObjectsOf(module: binaryenApi.Module, ids: Set<number>): Set<number> {
  const addresses = new Set<number>();
  for (let i = 0; i < module.getNumMemorySegments(); i++) {
    const segment = module.getMemorySegmentInfoByIndex(i) as {
      offset: unknown;
      data: ArrayBuffer | Uint8Array;
      passive: boolean;
    };
    const { offset } = segment;
    const data = segment.data instanceof Uint8Array ? segment.data : new Uint8Array(segment.data);
    if (segment.passive || typeof offset !== "number" || data.length < HEADER_BYTES) continue;
    const header = new DataView(data.buffer, data.byteOffset, HEADER_BYTES);
    // rtSize fits what follows the header, up to its 16-byte alignment: an object, not
    // memory.data bytes that look like one.
    const room = data.length - HEADER_BYTES - header.getUint32(RT_SIZE_AT, true);
    if (ids.has(header.getUint32(RT_ID_AT, true)) && room >= 0 && room < 16) {
      addresses.add(offset + HEADER_BYTES);
    }
  }
  return addresses;
}

interface ExpressionInfo {
  id: number;
  target?: string;
  operands?: ExpressionRef[];
  value?: unknown;
  children?: ExpressionRef[];
  condition?: ExpressionRef;
  ifTrue?: ExpressionRef;
  ifFalse?: ExpressionRef;
  index?: number;
  isTee?: boolean;
  name?: string;
}

/**
 * Drops the visits of `__visit_globals` whose object is in `skipped`: `__visit(<constant>, cookie)`
 * and `if (tee(global)) __visit(...)` of an immutable global initialized to the constant.
 */
function skipStaticVisits(binaryen: Binaryen, module: binaryenApi.Module, skipped: Set<number>): void {
  const api = binaryen as unknown as {
    getFunctionInfo(fn: number): { body: ExpressionRef };
    getExpressionInfo(expression: ExpressionRef): ExpressionInfo;
    getGlobalInfo(global: number): { mutable: boolean; init: ExpressionRef };
    BlockId: number;
    CallId: number;
    ConstId: number;
    IfId: number;
    LocalSetId: number;
    GlobalGetId: number;
    Block: { setChildren(block: ExpressionRef, children: ExpressionRef[]): void };
  };
  const functions = module as unknown as {
    getFunction(name: string): number;
    getGlobal(name: string): number;
  };
  const visitGlobals = functions.getFunction(VISIT_GLOBALS);
  if (!visitGlobals) return;
  const body = api.getFunctionInfo(visitGlobals).body;
  const block = api.getExpressionInfo(body);
  if (block.id !== api.BlockId) throw new Error(`static-headers: ${VISIT_GLOBALS} is not one block`);
  const isSkipped = (expression: ExpressionRef): boolean => {
    const info = api.getExpressionInfo(expression);
    return info.id === api.ConstId && typeof info.value === "number" && skipped.has(info.value);
  };
  const visitsSkipped = (child: ExpressionRef): boolean => {
    const info = api.getExpressionInfo(child);
    if (info.id === api.CallId) return info.target === VISIT && isSkipped(info.operands![0]!);
    if (info.id !== api.IfId) return false;
    const tee = api.getExpressionInfo(info.condition!);
    if (tee.id !== api.LocalSetId) return false;
    const read = api.getExpressionInfo(tee.value as ExpressionRef);
    if (read.id !== api.GlobalGetId) return false;
    const global = api.getGlobalInfo(functions.getGlobal(read.name!));
    return !global.mutable && isSkipped(global.init);
  };
  api.Block.setChildren(
    body,
    block.children!.filter((child) => !visitsSkipped(child)),
  );
}

/**
 * In every generated visitor (a class's `~visit` and `__visit_globals`), turns
 * `if (local.tee(x, <value>)) __visit(local.get(x), cookie)` into `__visit(<value>, cookie)`:
 * tcms `__visit` starts with its own null test. Anything else is left as it is.
 */
function dropVisitNullTests(binaryen: Binaryen, module: binaryenApi.Module): void {
  const api = binaryen as unknown as {
    getFunctionInfo(fn: number): { name: string; body: ExpressionRef };
    getExpressionInfo(expression: ExpressionRef): ExpressionInfo;
    BlockId: number;
    CallId: number;
    IfId: number;
    LocalGetId: number;
    LocalSetId: number;
    Block: { setChildren(block: ExpressionRef, children: ExpressionRef[]): void };
    Function: { setBody(fn: number, body: ExpressionRef): void };
  };
  const unguarded = (expression: ExpressionRef): ExpressionRef => {
    const test = api.getExpressionInfo(expression);
    if (test.id !== api.IfId || test.ifFalse) return expression;
    const tee = api.getExpressionInfo(test.condition!);
    if (tee.id !== api.LocalSetId || !tee.isTee) return expression;
    const visit = api.getExpressionInfo(test.ifTrue!);
    if (visit.id !== api.CallId || visit.target !== VISIT || visit.operands!.length !== 2) return expression;
    const [pointer, cookie] = visit.operands!;
    const read = api.getExpressionInfo(pointer!);
    if (read.id !== api.LocalGetId || read.index !== tee.index) return expression;
    return module.call(VISIT, [tee.value as ExpressionRef, cookie!], binaryen.none);
  };
  for (let i = 0; i < module.getNumFunctions(); i++) {
    const fn = module.getFunctionByIndex(i);
    const { name, body } = api.getFunctionInfo(fn);
    if (!name.endsWith("~visit") && name !== VISIT_GLOBALS) continue;
    const top = api.getExpressionInfo(body);
    if (top.id === api.BlockId) api.Block.setChildren(body, top.children!.map(unguarded));
    else api.Function.setBody(fn, unguarded(body));
  }
}
