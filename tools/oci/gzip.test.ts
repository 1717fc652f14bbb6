import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { crc32, gzipStored } from "./gzip.js";

describe("crc32", () => {
  it("gives the CRC-32 check value for '123456789' and 0 for nothing", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array())).toBe(0);
  });
});

describe("gzipStored", () => {
  it("writes a header with no name, MTIME 0 and OS 'unknown'", () => {
    expect(Array.from(gzipStored(new Uint8Array([42])).subarray(0, 10))).toEqual([
      0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0xff,
    ]);
  });

  it.each([0, 1, 65535, 65536, 200_000])("zlib inflates %i bytes back to the input", (size) => {
    const data = new Uint8Array(size).map((_, i) => (i * 31 + (i >> 8)) % 256);
    const packed = gzipStored(data);
    expect(Buffer.from(gunzipSync(packed)).equals(Buffer.from(data))).toBe(true);
    // 10-byte header, 5 bytes per stored block of at most 65535 bytes, 8-byte trailer
    expect(packed.length).toBe(10 + 5 * Math.max(1, Math.ceil(size / 65535)) + size + 8);
  });

  it("depends on the input only", () => {
    const data = new TextEncoder().encode("same input, same bytes");
    expect(Buffer.from(gzipStored(data)).equals(Buffer.from(gzipStored(data.slice())))).toBe(true);
  });
});
