// The Proxy-Wasm pairs format (header maps, local-reply headers, map/list properties):
// u32 count, then per pair u32 key length and u32 value length, then each key and value followed
// by a NUL byte; all integers little-endian. Parsing is strict like PairsUtil::toPairs: anything
// malformed or over the limits yields an empty list.

import type { HeaderList } from "./types.js";

/** PROXY_WASM_HOST_PAIRS_MAX_BYTES and PROXY_WASM_HOST_PAIRS_MAX_COUNT (include/proxy-wasm/limits.h). */
export const PAIRS_MAX_BYTES = 1024 * 1024;
export const PAIRS_MAX_COUNT = 1024;

export type BytePairs = Array<[key: Uint8Array, value: Uint8Array]>;
/** Keys and values to encode: strings are written as UTF-8, bytes as they are. */
export type EncodablePairs = ReadonlyArray<readonly [key: Uint8Array | string, value: Uint8Array | string]>;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

// Buffer.byteLength and encodeInto both replace lone surrogates with U+FFFD (3 bytes), so the
// sizes agree with what is written; strings are encoded straight into the output, without
// allocating their bytes first (this runs on every proxy_get_header_map_pairs).
function byteLength(item: Uint8Array | string): number {
  return typeof item === "string" ? Buffer.byteLength(item) : item.length;
}

function writeItem(out: Uint8Array, offset: number, item: Uint8Array | string): number {
  if (typeof item !== "string") {
    out.set(item, offset);
    return item.length;
  }
  // Header names and values are nearly always ASCII, which a plain loop copies faster than a
  // call to encodeInto on a new subarray; anything else is encoded again from the start.
  for (let i = 0; i < item.length; i++) {
    const code = item.charCodeAt(i);
    if (code >= 0x80) return utf8Encoder.encodeInto(item, out.subarray(offset)).written;
    out[offset + i] = code;
  }
  return item.length;
}

/** The pairs format of `pairs`, sized before it is written (so it can go straight into guest memory). */
export class PairsEncoder {
  readonly size: number;
  private readonly sizes: Array<readonly [key: number, value: number]>;

  constructor(private readonly pairs: EncodablePairs) {
    this.sizes = pairs.map(([key, value]) => [byteLength(key), byteLength(value)] as const);
    let size = 4;
    for (const [keySize, valueSize] of this.sizes) size += 8 + keySize + 1 + valueSize + 1;
    this.size = size;
  }

  /** Writes every byte of `out` (exactly `size` long), NUL terminators included: it need not be zeroed. */
  writeTo(out: Uint8Array): void {
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    view.setUint32(0, this.pairs.length, true);
    let offset = 4;
    for (const [keySize, valueSize] of this.sizes) {
      view.setUint32(offset, keySize, true);
      view.setUint32(offset + 4, valueSize, true);
      offset += 8;
    }
    for (const [key, value] of this.pairs) {
      offset += writeItem(out, offset, key);
      out[offset++] = 0;
      offset += writeItem(out, offset, value);
      out[offset++] = 0;
    }
  }
}

export function encodePairs(pairs: EncodablePairs): Uint8Array {
  const encoder = new PairsEncoder(pairs);
  const out = new Uint8Array(encoder.size);
  encoder.writeTo(out);
  return out;
}

export function decodePairs(bytes: Uint8Array): BytePairs {
  if (bytes.length > PAIRS_MAX_BYTES || bytes.length < 4) return [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(0, true);
  if (count > PAIRS_MAX_COUNT) return [];
  let offset = 4;
  if (offset + count * 8 > bytes.length) return [];
  const sizes: Array<[number, number]> = [];
  for (let i = 0; i < count; i++) {
    sizes.push([view.getUint32(offset, true), view.getUint32(offset + 4, true)]);
    offset += 8;
  }
  const pairs: BytePairs = [];
  for (const [keySize, valueSize] of sizes) {
    if (offset + keySize + 1 > bytes.length || bytes[offset + keySize] !== 0) return [];
    const key = bytes.slice(offset, offset + keySize);
    offset += keySize + 1;
    if (offset + valueSize + 1 > bytes.length || bytes[offset + valueSize] !== 0) return [];
    const value = bytes.slice(offset, offset + valueSize);
    offset += valueSize + 1;
    pairs.push([key, value]);
  }
  return offset === bytes.length ? pairs : [];
}

export function encodeHeaderPairs(headers: HeaderList): Uint8Array {
  return encodePairs(headers);
}

export function decodeHeaderPairs(bytes: Uint8Array): HeaderList {
  return decodePairs(bytes).map(([k, v]) => [utf8Decoder.decode(k), utf8Decoder.decode(v)]);
}
