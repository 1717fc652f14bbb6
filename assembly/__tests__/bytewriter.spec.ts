import { ByteWriter } from "../bytewriter";

function text(out: ByteWriter): string {
  return String.UTF8.decode(out.finish());
}

describe("ByteWriter", () => {
  it("keeps every byte when it grows past its capacity", () => {
    const out = new ByteWriter(1);
    for (let i = 0; i < 300; i++) out.byte(0x61 + (i % 26));
    const bytes = Uint8Array.wrap(out.finish());
    expect<i32>(bytes.length).toBe(300);
    expect<u8>(bytes[0]).toBe(0x61);
    expect<u8>(bytes[299]).toBe(<u8>(0x61 + (299 % 26)));
  });

  it("writes a range of a string's code units as UTF-8", () => {
    const out = new ByteWriter(2);
    out.utf8Range("abcdef", 2, 4);
    out.utf8Range("-caf\u00e9", 1, 5);
    out.utf8("!");
    expect<string>(text(out)).toBe("cdcaf\u00e9!");
  });

  it("copies bytes from memory", () => {
    const source = String.UTF8.encode("span export");
    const out = new ByteWriter(4);
    out.bytes(changetype<usize>(source) + 5, 6);
    out.byte(0x21);
    expect<string>(text(out)).toBe("export!");
  });

  it("finishes with only the bytes written", () => {
    expect<i32>(new ByteWriter(64).finish().byteLength).toBe(0);
  });
});
