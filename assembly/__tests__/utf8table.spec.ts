import { ByteWriter } from "../bytewriter";
import { tableBytes, tableText, tableTexts, writeTableText } from "../utf8table";

// "ab", "", "caf\u00e9": the ends say where each text stops in the bytes.
const BYTES: usize = memory.data<u8>([0x61, 0x62, 0x63, 0x61, 0x66, 0xc3, 0xa9]);
const ENDS: usize = memory.data<u16>([2, 2, 7]);
const PICK: usize = memory.data<u8>([2, 0]);

describe("UTF-8 tables", () => {
  it("decodes a text by its index", () => {
    expect<string>(tableText(BYTES, ENDS, 0)).toBe("ab");
    expect<string>(tableText(BYTES, ENDS, 1)).toBe("");
    expect<string>(tableText(BYTES, ENDS, 2)).toBe("caf\u00e9");
    expect<string[]>(tableTexts(BYTES, ENDS, PICK, 2)).toStrictEqual(["caf\u00e9", "ab"]);
  });

  it("copies a text's bytes into a buffer of its own", () => {
    const bytes = tableBytes(BYTES, ENDS, 2);
    expect<i32>(bytes.byteLength).toBe(5);
    expect<string>(String.UTF8.decode(bytes)).toBe("caf\u00e9");
    expect<i32>(tableBytes(BYTES, ENDS, 1).byteLength).toBe(0);
  });

  it("writes a text's bytes to a writer", () => {
    const out = new ByteWriter(1);
    writeTableText(out, BYTES, ENDS, 0);
    writeTableText(out, BYTES, ENDS, 2);
    expect<string>(String.UTF8.decode(out.finish())).toBe("abcaf\u00e9");
  });
});
