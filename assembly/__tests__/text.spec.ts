import { bytesAreAsciiText, writeAsciiBytes } from "../text";

/** What writeAsciiBytes wrote for `text`, as text again; null when it refused. */
function asciiRoundTrip(text: string): string | null {
  const out = new ArrayBuffer(text.length + 1);
  if (!writeAsciiBytes(text, changetype<usize>(out))) return null;
  return String.UTF8.decodeUnsafe(changetype<usize>(out), <usize>text.length);
}

describe("writeAsciiBytes", () => {
  it("writes ASCII text as its UTF-8, at every length around its four-unit step", () => {
    const texts = ["", "a", "ab", "abc", "abcd", "abcde", "00-4bf92f3577b34da6-01", "x\u007f~ \t"];
    for (let i = 0; i < texts.length; i++) {
      expect<string | null>(asciiRoundTrip(texts[i])).toBe(texts[i]);
    }
  });

  it("refuses text with any unit past ASCII, wherever it is", () => {
    const texts = [
      "\u0080",
      "abc\u00e9",
      "abcd\u00e9",
      "\u00e9bcd",
      "ab\u0100d",
      "abcdefg\u2014",
      "a\ud83d\ude00",
    ];
    for (let i = 0; i < texts.length; i++) {
      expect<string | null>(asciiRoundTrip(texts[i])).toBeNull(texts[i]);
    }
  });
});

describe("bytesAreAsciiText", () => {
  it("is true only for the same ASCII characters, at every length around its four-unit step", () => {
    const texts = ["", "a", "abcd", "abcde", "spiffe://cluster.local/ns/knative-serving/sa/activator"];
    for (let t = 0; t < texts.length; t++) {
      const text = texts[t];
      const bytes = String.UTF8.encode(text);
      const at = changetype<usize>(bytes);
      const length = <u32>bytes.byteLength;
      expect<bool>(bytesAreAsciiText(at, length, text)).toBe(true, text);
      // Any one byte changed, wherever it is in a word, and the length one short, are not.
      for (let i: u32 = 0; i < length; i++) {
        const original = load<u8>(at + i);
        store<u8>(at + i, original ^ 0x01);
        expect<bool>(bytesAreAsciiText(at, length, text)).toBe(false, text);
        store<u8>(at + i, original);
      }
      if (length > 0) expect<bool>(bytesAreAsciiText(at, length - 1, text)).toBe(false, text);
    }
  });

  it("is false for text past ASCII, even where its bytes match the units' low bytes", () => {
    // U+0161 has the low byte of "a"; U+00E1 is one Latin-1 byte, but its UTF-8 is two.
    const bytes = String.UTF8.encode("abcdab");
    const at = changetype<usize>(bytes);
    expect<bool>(bytesAreAsciiText(at, 6, "abcd\u0161b")).toBe(false);
    expect<bool>(bytesAreAsciiText(at, 6, "\u0161bcdab")).toBe(false);
    const latin = new Uint8Array(2);
    latin[0] = 0xe1;
    latin[1] = 0x62;
    expect<bool>(bytesAreAsciiText(latin.dataStart, 2, "\u00e1b")).toBe(false);
  });
});
