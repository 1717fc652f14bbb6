// Reading and writing the module's linear memory, and handing data to the module the way
// proxy-wasm-cpp-host does: allocate with the module's allocator, copy, then write pointer and size
// (u32 little-endian) to the two out-pointers the module passed.

/** Calls the module's allocator; returns the address, 0 when allocation failed. */
export type Allocator = (size: number) => number;

const utf8Decoder = new TextDecoder();

export class GuestMemory {
  private cachedBuffer: ArrayBuffer | undefined;
  private cachedBytes = new Uint8Array(0);
  private cachedView = new DataView(new ArrayBuffer(0));

  constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly allocate: Allocator,
  ) {}

  /** Views over the live buffer, made anew only when it changed (memory.grow replaces it). */
  private refreshViews(): void {
    const buffer = this.memory.buffer;
    if (buffer === this.cachedBuffer) return;
    this.cachedBuffer = buffer;
    this.cachedBytes = new Uint8Array(buffer);
    this.cachedView = new DataView(buffer);
  }

  private get bytes(): Uint8Array {
    this.refreshViews();
    return this.cachedBytes;
  }

  private get view(): DataView {
    this.refreshViews();
    return this.cachedView;
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

  /** The range decoded as UTF-8 (decoded in place: no copy), undefined when outside memory. */
  readString(pointer: number, length: number): string | undefined {
    if (!this.inBounds(pointer, length)) return undefined;
    return utf8Decoder.decode(this.bytes.subarray(pointer, pointer + length));
  }

  write(pointer: number, data: Uint8Array): boolean {
    if (!this.inBounds(pointer, data.length)) return false;
    this.bytes.set(data, pointer);
    return true;
  }

  readU32(pointer: number): number | undefined {
    if (!this.inBounds(pointer, 4)) return undefined;
    return this.view.getUint32(pointer, true);
  }

  writeU32(pointer: number, value: number): boolean {
    if (!this.inBounds(pointer, 4)) return false;
    this.view.setUint32(pointer, value >>> 0, true);
    return true;
  }

  writeU64(pointer: number, value: bigint): boolean {
    if (!this.inBounds(pointer, 8)) return false;
    this.view.setBigUint64(pointer, BigInt.asUintN(64, value), true);
    return true;
  }

  /**
   * Copies `data` into a fresh allocation and stores its address and size at the out-pointers.
   * Empty data is returned as pointer 0 and size 0 without calling the allocator. False means
   * InvalidMemoryAccess (allocation failed or an out-pointer lies outside memory).
   */
  copyOut(data: Uint8Array, pointerOut: number, sizeOut: number): boolean {
    return this.writeOut(data.length, (target) => target.set(data), pointerOut, sizeOut);
  }

  /**
   * copyOut for data that `fill` writes straight into the allocation (all `size` bytes of
   * `target`, which is not zeroed), saving an intermediate array and its copy.
   */
  writeOut(size: number, fill: (target: Uint8Array) => void, pointerOut: number, sizeOut: number): boolean {
    let address = 0;
    if (size > 0) {
      address = this.allocate(size) >>> 0;
      // Views are taken after the allocation, which may have grown the memory.
      if (address === 0 || !this.inBounds(address, size)) return false;
      fill(this.bytes.subarray(address, address + size));
    }
    return this.writeU32(pointerOut, address) && this.writeU32(sizeOut, size);
  }
}
