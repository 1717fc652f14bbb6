import { parseDecimal } from "../decimal";

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
