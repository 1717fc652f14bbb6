// Reads the parts of a Wasm binary that Envoy checks before it runs anything: function types of
// imports and exports, and memory limits. Node 20 has no type reflection for modules, so the
// harness reads the sections itself. It can also rewrite the memory limits, which is how the
// harness applies V8's `--wasm_max_mem_pages` cap that Envoy sets.

export type ValueType = "i32" | "i64" | "f32" | "f64" | "v128" | "funcref" | "externref";

export interface FunctionType {
  params: ValueType[];
  results: ValueType[];
}

export interface MemoryLimits {
  /** In 64 KiB pages. */
  min: number;
  max?: number;
}

export type ImportKind = "function" | "table" | "memory" | "global" | "tag";

export interface ModuleImport {
  module: string;
  name: string;
  kind: ImportKind;
  /** For function imports. */
  type?: FunctionType;
  /** For memory imports. */
  memory?: MemoryLimits;
  /** For table imports. */
  table?: MemoryLimits;
}

export interface ModuleExport {
  name: string;
  kind: ImportKind;
  /** For function exports. */
  type?: FunctionType;
}

export interface ModuleShape {
  imports: ModuleImport[];
  exports: ModuleExport[];
  /** Memories the module defines itself (not imported). */
  definedMemories: MemoryLimits[];
}

/** Thrown for bytes that are not a well-formed Wasm module. */
export class MalformedModuleError extends Error {}

const SECTION_TYPE = 1;
const SECTION_IMPORT = 2;
const SECTION_FUNCTION = 3;
const SECTION_MEMORY = 5;
const SECTION_EXPORT = 7;

const KINDS: ImportKind[] = ["function", "table", "memory", "global", "tag"];

const VALUE_TYPES: Record<number, ValueType> = {
  0x7f: "i32",
  0x7e: "i64",
  0x7d: "f32",
  0x7c: "f64",
  0x7b: "v128",
  0x70: "funcref",
  0x6f: "externref",
};

class Reader {
  offset = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly end = bytes.length,
  ) {}

  get done(): boolean {
    return this.offset >= this.end;
  }

  byte(): number {
    if (this.offset >= this.end) {
      throw new MalformedModuleError(`unexpected end of module at byte ${this.offset}`);
    }
    return this.bytes[this.offset++] as number;
  }

  /** Unsigned LEB128; `bits` bounds its length (32 or 64). Pages beyond 2^53 cannot occur in practice. */
  unsigned(bits: 32 | 64): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift >= bits + 7) throw new MalformedModuleError(`LEB128 integer too long at byte ${this.offset}`);
    }
    return result;
  }

  u32(): number {
    return this.unsigned(32);
  }

  name(): string {
    const length = this.u32();
    if (this.offset + length > this.end) throw new MalformedModuleError("name runs past its section");
    const text = new TextDecoder().decode(this.bytes.subarray(this.offset, this.offset + length));
    this.offset += length;
    return text;
  }

  valueType(): ValueType {
    const code = this.byte();
    const type = VALUE_TYPES[code];
    if (type === undefined) {
      throw new MalformedModuleError(`unsupported value type 0x${code.toString(16)}`);
    }
    return type;
  }

  limits(): MemoryLimits {
    const flags = this.byte();
    const read64 = (flags & 0x04) !== 0;
    const min = this.unsigned(read64 ? 64 : 32);
    if ((flags & 0x01) === 0) return { min };
    const max = this.unsigned(read64 ? 64 : 32);
    return { min, max };
  }
}

function checkHeader(bytes: Uint8Array): void {
  const magic = [0x00, 0x61, 0x73, 0x6d];
  if (bytes.length < 8 || magic.some((b, i) => bytes[i] !== b)) {
    throw new MalformedModuleError("not a Wasm module (missing \\0asm header)");
  }
  if (bytes[4] !== 1 || bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0) {
    throw new MalformedModuleError("unsupported Wasm binary version (expected 1)");
  }
}

interface RawSection {
  id: number;
  /** Offset of the section's content (after the size). */
  start: number;
  end: number;
  /** Offset of the section id byte. */
  headerStart: number;
}

function sections(bytes: Uint8Array): RawSection[] {
  checkHeader(bytes);
  const reader = new Reader(bytes);
  reader.offset = 8;
  const result: RawSection[] = [];
  while (!reader.done) {
    const headerStart = reader.offset;
    const id = reader.byte();
    const size = reader.u32();
    const start = reader.offset;
    const end = start + size;
    if (end > bytes.length) throw new MalformedModuleError(`section ${id} runs past the end of the module`);
    result.push({ id, start, end, headerStart });
    reader.offset = end;
  }
  return result;
}

export function parseModuleShape(bytes: Uint8Array): ModuleShape {
  const types: FunctionType[] = [];
  const functionTypes: FunctionType[] = [];
  const imports: ModuleImport[] = [];
  const exports: ModuleExport[] = [];
  const definedMemories: MemoryLimits[] = [];

  const typeAt = (index: number): FunctionType => {
    const type = types[index];
    if (type === undefined) throw new MalformedModuleError(`function type index ${index} out of range`);
    return type;
  };

  for (const section of sections(bytes)) {
    const reader = new Reader(bytes, section.end);
    reader.offset = section.start;
    switch (section.id) {
      case SECTION_TYPE: {
        const count = reader.u32();
        for (let i = 0; i < count; i++) {
          const form = reader.byte();
          if (form !== 0x60) {
            throw new MalformedModuleError(`unsupported type form 0x${form.toString(16)}`);
          }
          const params = Array.from({ length: reader.u32() }, () => reader.valueType());
          const results = Array.from({ length: reader.u32() }, () => reader.valueType());
          types.push({ params, results });
        }
        break;
      }
      case SECTION_IMPORT: {
        const count = reader.u32();
        for (let i = 0; i < count; i++) {
          const module = reader.name();
          const name = reader.name();
          const kind = KINDS[reader.byte()];
          if (kind === undefined) throw new MalformedModuleError(`unknown import kind for ${module}.${name}`);
          const entry: ModuleImport = { module, name, kind };
          if (kind === "function") {
            entry.type = typeAt(reader.u32());
            functionTypes.push(entry.type);
          } else if (kind === "table") {
            reader.byte();
            entry.table = reader.limits();
          } else if (kind === "memory") {
            entry.memory = reader.limits();
          } else if (kind === "global") {
            reader.valueType();
            reader.byte();
          } else {
            reader.byte();
            reader.u32();
          }
          imports.push(entry);
        }
        break;
      }
      case SECTION_FUNCTION: {
        const count = reader.u32();
        for (let i = 0; i < count; i++) functionTypes.push(typeAt(reader.u32()));
        break;
      }
      case SECTION_MEMORY: {
        const count = reader.u32();
        for (let i = 0; i < count; i++) definedMemories.push(reader.limits());
        break;
      }
      case SECTION_EXPORT: {
        const count = reader.u32();
        for (let i = 0; i < count; i++) {
          const name = reader.name();
          const kind = KINDS[reader.byte()];
          const index = reader.u32();
          if (kind === undefined) throw new MalformedModuleError(`unknown export kind for ${name}`);
          const entry: ModuleExport = { name, kind };
          if (kind === "function") {
            const type = functionTypes[index];
            if (type === undefined)
              throw new MalformedModuleError(`export ${name}: function ${index} unknown`);
            entry.type = type;
          }
          exports.push(entry);
        }
        break;
      }
      default:
        break;
    }
  }
  return { imports, exports, definedMemories };
}

function encodeU32(value: number): number[] {
  const out: number[] = [];
  let rest = value >>> 0;
  do {
    let b = rest & 0x7f;
    rest >>>= 7;
    if (rest !== 0) b |= 0x80;
    out.push(b);
  } while (rest !== 0);
  return out;
}

/**
 * Returns the module with every defined 32-bit memory's maximum lowered to `maxPages` (or set, when
 * the module declares none), so `memory.grow` beyond the cap fails as it does under Envoy's V8.
 */
export function capDefinedMemories(bytes: Uint8Array, maxPages: number): Uint8Array<ArrayBuffer> {
  const memorySection = sections(bytes).find((s) => s.id === SECTION_MEMORY);
  if (memorySection === undefined) return bytes.slice();
  const reader = new Reader(bytes, memorySection.end);
  reader.offset = memorySection.start;
  const count = reader.u32();
  const content: number[] = encodeU32(count);
  for (let i = 0; i < count; i++) {
    const flagsOffset = reader.offset;
    const flags = bytes[flagsOffset] as number;
    const limits = reader.limits();
    if ((flags & ~0x01) !== 0) {
      // Shared or 64-bit memories are left as they are (V8 then applies its own limits).
      content.push(...bytes.subarray(flagsOffset, reader.offset));
      continue;
    }
    const max = Math.min(limits.max ?? maxPages, maxPages);
    content.push(0x01, ...encodeU32(limits.min), ...encodeU32(max));
  }
  const header = [SECTION_MEMORY, ...encodeU32(content.length)];
  const result = new Uint8Array(
    bytes.length - (memorySection.end - memorySection.headerStart) + header.length + content.length,
  );
  result.set(bytes.subarray(0, memorySection.headerStart), 0);
  result.set(header, memorySection.headerStart);
  result.set(content, memorySection.headerStart + header.length);
  result.set(bytes.subarray(memorySection.end), memorySection.headerStart + header.length + content.length);
  return result;
}

export function formatFunctionType(type: FunctionType): string {
  const params = type.params.length === 0 ? "void" : type.params.join(" ");
  const results = type.results.length === 0 ? "void" : type.results.join(" ");
  return `${params} -> ${results}`;
}

export function sameFunctionType(a: FunctionType, b: FunctionType): boolean {
  return (
    a.params.length === b.params.length &&
    a.results.length === b.results.length &&
    a.params.every((t, i) => t === b.params[i]) &&
    a.results.every((t, i) => t === b.results[i])
  );
}
