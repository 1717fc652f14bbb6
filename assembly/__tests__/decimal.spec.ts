import { parseDecimal, parseDecimalFrom } from "../decimal";

describe("parseDecimal", () => {
  it("reads 1..maxDigits decimal digits, leading zeros included", () => {
    expect<i64>(parseDecimal("0", 1)).toBe(0);
    expect<i64>(parseDecimal("007", 3)).toBe(7);
    expect<i64>(parseDecimal("999999999999999", 15)).toBe(999999999999999);
  });

  it("refuses empty, too long, signed, spaced and non-digit text", () => {
    expect<i64>(parseDecimal("", 3)).toBe(-1);
    expect<i64>(parseDecimal("1234", 3)).toBe(-1);
    expect<i64>(parseDecimal("+1", 3)).toBe(-1);
    expect<i64>(parseDecimal("-1", 3)).toBe(-1);
    expect<i64>(parseDecimal("1 ", 3)).toBe(-1);
    expect<i64>(parseDecimal("1.5", 3)).toBe(-1);
    expect<i64>(parseDecimal("/", 3)).toBe(-1);
    expect<i64>(parseDecimal(":", 3)).toBe(-1);
  });
});

describe("parseDecimalFrom", () => {
  it("reads the digits from a position to the end, with parseDecimal's limits", () => {
    expect<i64>(parseDecimalFrom("t=1700000000123", 2, 13)).toBe(1700000000123);
    expect<i64>(parseDecimalFrom("t=12345678901234", 2, 13)).toBe(-1);
    expect<i64>(parseDecimalFrom("t=", 2, 13)).toBe(-1);
    expect<i64>(parseDecimalFrom("t=1x", 2, 13)).toBe(-1);
  });
});
