import { writeAsciiBytes } from "../text";

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
