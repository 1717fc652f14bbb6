import {
  MAX_DECIMAL_BYTES,
  decimalText,
  unsignedDecimalText,
  parseDecimal,
  parseDecimalBytes,
  parseDecimalFrom,
  parseMillisBytes,
  writeDecimal,
} from "../decimal";

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

function bytesOf(text: string): ArrayBuffer {
  return String.UTF8.encode(text);
}

describe("parseDecimalBytes", () => {
  it("reads what parseDecimal reads, from bytes", () => {
    const cases = ["0", "42", "1700000000000", "", "12a", "-1", " 1", "99999", "123456"];
    for (let i = 0; i < cases.length; i++) {
      const bytes = bytesOf(cases[i]);
      expect(parseDecimalBytes(changetype<usize>(bytes), <u32>bytes.byteLength, 5)).toBe(
        parseDecimal(cases[i], 5),
        cases[i],
      );
    }
  });

  it("reads a time in ms from bytes as parseMillis does", () => {
    const bytes = bytesOf("1700000000123");
    expect(parseMillisBytes(changetype<usize>(bytes), <u32>bytes.byteLength)).toBe(1700000000123);
    const long = bytesOf("1234567890123456");
    expect(parseMillisBytes(changetype<usize>(long), <u32>long.byteLength)).toBe(-1);
  });
});

describe("writeDecimal", () => {
  it("prints what i64.toString() prints", () => {
    // Around each place the writer cuts a number (eight and sixteen digits) and each power of ten.
    const values: i64[] = [0, 7, 10, 99, 1700000000123, -5, i64.MAX_VALUE, i64.MIN_VALUE, -1700000000123];
    let power: i64 = 1;
    for (let digits = 1; digits <= 18; digits++) {
      power *= 10;
      values.push(power - 1);
      values.push(power);
      values.push(power + 1);
      values.push(power + power / 3);
      values.push(-power);
    }
    const buffer = new ArrayBuffer(MAX_DECIMAL_BYTES);
    for (let i = 0; i < values.length; i++) {
      const n = writeDecimal(values[i], changetype<usize>(buffer));
      expect(String.UTF8.decodeUnsafe(changetype<usize>(buffer), n)).toBe(values[i].toString());
    }
  });
});

describe("decimalText", () => {
  it("is what i64.toString() and u64.toString() make", () => {
    const values: i64[] = [0, 7, 10, 99, 1700000000123, -5, -10, i64.MAX_VALUE, i64.MIN_VALUE];
    for (let i = 0; i < values.length; i++) expect(decimalText(values[i])).toBe(values[i].toString());
    const unsigned: u64[] = [0, 9, 10, 1700000000123000000, <u64>i64.MAX_VALUE + 1, u64.MAX_VALUE];
    for (let i = 0; i < unsigned.length; i++)
      expect(unsignedDecimalText(unsigned[i])).toBe(unsigned[i].toString());
  });
});
