/**
 * A gzip writer whose output depends on the input bytes only. zlib's compressed output can
 * differ between zlib builds and CPU features (Node bundles Chromium's zlib, which picks SIMD
 * paths at run time), so a layer compressed with it is not guaranteed to get the same digest on
 * another machine. Stored (uncompressed) deflate blocks are fully specified by RFC 1951, so every
 * machine writes the same bytes. The cost is size: a Wasm module of tens of KiB loses nothing that
 * matters.
 */

const MAX_STORED_BLOCK = 0xffff;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3), the checksum in a gzip trailer. */
export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * RFC 1952 member: header with no name, no timestamp (MTIME 0), OS 255 ("unknown", so the
 * writing platform does not leak in), then stored deflate blocks, then CRC-32 and size.
 */
export function gzipStored(data: Uint8Array): Uint8Array {
  const blockCount = Math.max(1, Math.ceil(data.length / MAX_STORED_BLOCK));
  const out = new Uint8Array(10 + blockCount * 5 + data.length + 8);
  const view = new DataView(out.buffer);
  out.set([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff], 0);
  let offset = 10;
  for (let i = 0; i < blockCount; i++) {
    const chunk = data.subarray(i * MAX_STORED_BLOCK, (i + 1) * MAX_STORED_BLOCK);
    out[offset] = i === blockCount - 1 ? 0x01 : 0x00; // BFINAL on the last block, BTYPE 00 (stored)
    view.setUint16(offset + 1, chunk.length, true);
    view.setUint16(offset + 3, ~chunk.length & 0xffff, true);
    out.set(chunk, offset + 5);
    offset += 5 + chunk.length;
  }
  view.setUint32(offset, crc32(data), true);
  view.setUint32(offset + 4, data.length >>> 0, true);
  return out;
}
