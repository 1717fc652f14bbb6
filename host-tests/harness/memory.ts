// Reading and writing the module's linear memory, and handing data to the module the way
// proxy-wasm-cpp-host does: allocate with the module's allocator, copy, then write pointer and size
// (u32 little-endian) to the two out-pointers the module passed.

/** Calls the module's allocator; returns the address, 0 when allocation failed. */
export type Allocator = (size: number) => number;

export class GuestMemory {
  constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly allocate: Allocator,
  ) {}

  /** The live buffer (replaced whenever memory grows, so never cache it). */
  private get bytes(): Uint8Array {
    return new Uint8Array(this.memory.buffer);
  }

  get size(): number {
    return this.memory.buffer.byteLength;
  }

  private inBounds(pointer: number, length: number): boolean {
    return (
      Number.isInteger(pointer) &&
      Number.isInteger(length) &&
      pointer >= 0 &&
      length >= 0 &&
      pointer + length <= this.size
    );
  }

  /** A copy of the range, or undefined when it lies outside memory (InvalidMemoryAccess). */
  read(pointer: number, length: number): Uint8Array | undefined {
    if (!this.inBounds(pointer, length)) return undefined;
    return this.bytes.slice(pointer, pointer + length);
  }

  readString(pointer: number, length: number): string | undefined {
    const bytes = this.read(pointer, length);
    return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
  }

  write(pointer: number, data: Uint8Array): boolean {
    if (!this.inBounds(pointer, data.length)) return false;
    this.bytes.set(data, pointer);
    return true;
  }

  readU32(pointer: number): number | undefined {
    if (!this.inBounds(pointer, 4)) return undefined;
    return new DataView(this.memory.buffer).getUint32(pointer, true);
  }

  writeU32(pointer: number, value: number): boolean {
    if (!this.inBounds(pointer, 4)) return false;
    new DataView(this.memory.buffer).setUint32(pointer, value >>> 0, true);
    return true;
  }

  writeU64(pointer: number, value: bigint): boolean {
    if (!this.inBounds(pointer, 8)) return false;
    new DataView(this.memory.buffer).setBigUint64(pointer, BigInt.asUintN(64, value), true);
    return true;
  }

  /**
   * Copies `data` into a fresh allocation and stores its address and size at the out-pointers.
   * Empty data is returned as pointer 0 and size 0 without calling the allocator. False means
   * InvalidMemoryAccess (allocation failed or an out-pointer lies outside memory).
   */
  copyOut(data: Uint8Array, pointerOut: number, sizeOut: number): boolean {
    let address = 0;
    if (data.length > 0) {
      const allocated = this.allocateCopy(data);
      if (allocated === undefined) return false;
      address = allocated;
    }
    return this.writeU32(pointerOut, address) && this.writeU32(sizeOut, data.length);
  }

  /** Allocates in the module and copies `data` there; undefined when the allocator failed. */
  allocateCopy(data: Uint8Array): number | undefined {
    const address = this.allocate(data.length) >>> 0;
    if (address === 0 || !this.write(address, data)) return undefined;
    return address;
  }
}
