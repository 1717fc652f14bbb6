// A small JSON parser for the plugin configuration. Pure: no host calls.
//
// It must never trap, whatever bytes arrive: nesting is bounded (no unbounded recursion), every
// read is bounds-checked, and every problem becomes an error message with its offset instead of
// an exception. The caller bounds the input size. Duplicate object keys are kept; lookups return
// the last one, as JSON.parse (and so a JSON Schema validator) does.

import { ColdText, coldText } from "./generated/cold-text";
import { decimalText } from "./decimal";
import { hexDigitCode } from "./text";

export enum JsonKind {
  Null,
  Bool,
  Number,
  String,
  Array,
  Object,
}

export class JsonValue {
  kind: JsonKind = JsonKind.Null;
  bool: bool = false;
  number: f64 = 0;
  /** A string's value, or a number's source text (used to quote it back in messages). */
  text: string = "";
  /** Array items, or object member values (parallel to `keys`). */
  items: JsonValue[] | null = null;
  /** Object member names, in document order. */
  keys: string[] | null = null;

  /** The last member named `key` of an object; null when absent or not an object. */
  member(key: string): JsonValue | null {
    const keys = this.keys;
    const items = this.items;
    if (keys == null || items == null) return null;
    for (let i = keys.length - 1; i >= 0; i--) {
      if (unchecked(keys[i]) == key) return unchecked(items[i]);
    }
    return null;
  }
}

export class JsonResult {
  constructor(
    public value: JsonValue | null,
    public error: string,
  ) {}
}

/** Default bound on nesting: the configuration needs 3 levels. */
export const DEFAULT_MAX_DEPTH: i32 = 32;

/** Parses one JSON text. `value` is null and `error` says what and where when it is not JSON. */
export function parseJson(text: string, maxDepth: i32 = DEFAULT_MAX_DEPTH): JsonResult {
  const parser = new Parser(text, maxDepth);
  parser.skipWhitespace();
  const value = parser.parseValue(1);
  if (value != null) {
    parser.skipWhitespace();
    if (parser.pos < text.length) {
      parser.fail(
        coldText(ColdText.Unexpected) + parser.describeAt(parser.pos) + coldText(ColdText.AfterTheValue),
      );
      return new JsonResult(null, parser.error);
    }
    return new JsonResult(value, "");
  }
  return new JsonResult(null, parser.error);
}

function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

/** A UTF-16 code unit as 4 upper-case hex digits (for messages). */
export function hex4(c: i32): string {
  let out = "";
  for (let shift = 12; shift >= 0; shift -= 4) {
    out += String.fromCharCode(hexDigitCode((c >> shift) & 0xf, 0x41));
  }
  return out;
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** Significant digits past this many are dropped (they are below f64's precision anyway). */
const MAX_SIGNIFICAND: u64 = 100_000_000_000_000_000;
/**
 * An exponent written past this is read as this: beyond what a 64 KiB configuration can offset
 * with zeros in its digits, and f64 ends near 1e308 (and 5e-324) anyway.
 */
const MAX_WRITTEN_EXPONENT: i32 = 100_000_000;
/** 10^22 is the largest power of ten an f64 holds exactly. */
const MAX_EXACT_POWER: i32 = 22;

/** 10^k for 0 <= k <= 22, exact: every product on the way is a representable integer. */
function exactPowerOfTen(k: i32): f64 {
  let power = 1.0;
  for (let i = 0; i < k; i++) power *= 10;
  return power;
}

/**
 * The value of the JSON number `text[start, end)`, already checked by parseNumber. It is the f64
 * JSON.parse gives (correctly rounded: one exact operation on exact operands) when its significant
 * digits are below 2^53 and its decimal exponent within 22 either way, as configuration values
 * are; otherwise within a few units in the last place, infinity above f64's range and 0 below it.
 * This replaces `parseFloat`, whose general algorithm took about 1.7 KB of the module.
 */
function numberValue(text: string, start: i32, end: i32): f64 {
  let at = start;
  const negative = text.charCodeAt(at) == 0x2d;
  if (negative) at++;
  let significand: u64 = 0;
  let exponent: i32 = 0;
  let inFraction = false;
  for (; at < end; at++) {
    const c = text.charCodeAt(at);
    if (c == 0x2e) {
      inFraction = true;
    } else if (!isDigit(c)) {
      break;
    } else if (significand < MAX_SIGNIFICAND) {
      significand = significand * 10 + <u64>(c - 0x30);
      if (inFraction) exponent--;
    } else if (!inFraction) {
      exponent++;
    }
  }
  if (at < end) {
    at++; // e or E
    const sign = text.charCodeAt(at);
    if (sign == 0x2b || sign == 0x2d) at++;
    let written: i32 = 0;
    for (; at < end; at++) {
      if (written < MAX_WRITTEN_EXPONENT) written = written * 10 + (text.charCodeAt(at) - 0x30);
    }
    exponent += sign == 0x2d ? -written : written;
  }
  let value = <f64>significand;
  if (value != 0) {
    const big = exactPowerOfTen(MAX_EXACT_POWER);
    // Once infinite or zero the value stays so: a written exponent near the cap ends at once.
    for (; exponent > MAX_EXACT_POWER && isFinite(value); exponent -= MAX_EXACT_POWER) value *= big;
    for (; exponent < -MAX_EXACT_POWER && value != 0; exponent += MAX_EXACT_POWER) value /= big;
    value = exponent >= 0 ? value * exactPowerOfTen(exponent) : value / exactPowerOfTen(-exponent);
  }
  return negative ? -value : value;
}

class Parser {
  pos: i32 = 0;
  error: string = "";

  constructor(
    public text: string,
    public maxDepth: i32,
  ) {}

  /** Records the first error only; the value being parsed is abandoned. */
  fail(message: string): JsonValue | null {
    if (this.error.length == 0) this.error = message + coldText(ColdText.AtOffset) + decimalText(this.pos);
    return null;
  }

  /** `expected <what> but found <the character here>`. */
  failExpected(what: string): JsonValue | null {
    return this.fail(
      coldText(ColdText.Expected) + what + coldText(ColdText.ButFound) + this.describeAt(this.pos),
    );
  }

  /** `invalid number: expected <what>, found <the character here>`. */
  failNumber(what: string): JsonValue | null {
    return this.fail(
      coldText(ColdText.InvalidNumber) + what + coldText(ColdText.CommaFound) + this.describeAt(this.pos),
    );
  }

  /** The character at `at` for a message: 'x' for printable ASCII, else U+XXXX, or end of input. */
  describeAt(at: i32): string {
    if (at >= this.text.length) return coldText(ColdText.EndOfInput);
    const c = this.text.charCodeAt(at);
    if (c >= 0x20 && c < 0x7f && c != 0x27)
      return coldText(ColdText.CharacterQuote) + String.fromCharCode(c) + "'";
    return coldText(ColdText.CharacterU) + hex4(c);
  }

  peek(): i32 {
    return this.pos < this.text.length ? this.text.charCodeAt(this.pos) : -1;
  }

  skipWhitespace(): void {
    const text = this.text;
    while (this.pos < text.length) {
      const c = text.charCodeAt(this.pos);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) return;
      this.pos++;
    }
  }

  parseValue(depth: i32): JsonValue | null {
    const c = this.peek();
    if (c == 0x7b) return this.parseObject(depth); // {
    if (c == 0x5b) return this.parseArray(depth); // [
    if (c == 0x22) {
      const s = this.parseString();
      if (s == null) return null;
      const value = new JsonValue();
      value.kind = JsonKind.String;
      value.text = s;
      return value;
    }
    if (c == 0x2d || isDigit(c)) return this.parseNumber();
    if (this.matchLiteral("true")) return literal(JsonKind.Bool, true);
    if (this.matchLiteral("false")) return literal(JsonKind.Bool, false);
    if (this.matchLiteral(coldText(ColdText.Null))) return literal(JsonKind.Null, false);
    return this.fail(coldText(ColdText.Unexpected) + this.describeAt(this.pos));
  }

  matchLiteral(word: string): bool {
    const n = word.length;
    if (this.pos + n > this.text.length) return false;
    for (let i = 0; i < n; i++) {
      if (this.text.charCodeAt(this.pos + i) != word.charCodeAt(i)) return false;
    }
    this.pos += n;
    return true;
  }

  parseNumber(): JsonValue | null {
    const text = this.text;
    const start = this.pos;
    if (this.peek() == 0x2d) this.pos++;
    if (this.peek() == 0x30) {
      this.pos++;
    } else if (isDigit(this.peek())) {
      while (isDigit(this.peek())) this.pos++;
    } else {
      return this.failNumber(coldText(ColdText.ADigit));
    }
    if (this.peek() == 0x2e) {
      this.pos++;
      if (!isDigit(this.peek())) {
        return this.failNumber(coldText(ColdText.ADigitAfterPoint));
      }
      while (isDigit(this.peek())) this.pos++;
    }
    const e = this.peek();
    if (e == 0x65 || e == 0x45) {
      this.pos++;
      const sign = this.peek();
      if (sign == 0x2b || sign == 0x2d) this.pos++;
      if (!isDigit(this.peek())) {
        return this.failNumber(coldText(ColdText.AnExponentDigit));
      }
      while (isDigit(this.peek())) this.pos++;
    }
    const value = new JsonValue();
    value.kind = JsonKind.Number;
    value.text = text.substring(start, this.pos);
    value.number = numberValue(text, start, this.pos);
    return value;
  }

  /** Parses a string starting at its opening quote; null (with the error set) if malformed. */
  parseString(): string | null {
    const text = this.text;
    this.pos++; // opening quote
    let result = "";
    let runStart = this.pos;
    while (true) {
      if (this.pos >= text.length) {
        this.fail(coldText(ColdText.UnterminatedString));
        return null;
      }
      const c = text.charCodeAt(this.pos);
      if (c == 0x22) {
        result += text.substring(runStart, this.pos);
        this.pos++;
        return result;
      }
      if (c < 0x20) {
        this.fail(coldText(ColdText.ControlCharacter) + hex4(c) + coldText(ColdText.InAString));
        return null;
      }
      if (c != 0x5c) {
        this.pos++;
        continue;
      }
      result += text.substring(runStart, this.pos);
      this.pos++; // backslash
      const escaped = this.peek();
      let decoded: i32 = -1;
      if (escaped == 0x22) decoded = 0x22;
      else if (escaped == 0x5c) decoded = 0x5c;
      else if (escaped == 0x2f) decoded = 0x2f;
      else if (escaped == 0x62) decoded = 0x08;
      else if (escaped == 0x66) decoded = 0x0c;
      else if (escaped == 0x6e) decoded = 0x0a;
      else if (escaped == 0x72) decoded = 0x0d;
      else if (escaped == 0x74) decoded = 0x09;
      else if (escaped == 0x75) decoded = this.parseHex4();
      if (decoded < 0) {
        this.fail(coldText(ColdText.InvalidEscape));
        return null;
      }
      result += String.fromCharCode(decoded);
      if (escaped != 0x75) this.pos++;
      runStart = this.pos;
    }
  }

  /** Reads the 4 hex digits after `\u` (pos at the `u`); -1 if they are not 4 hex digits. */
  parseHex4(): i32 {
    if (this.pos + 5 > this.text.length) return -1;
    let code = 0;
    for (let i = 1; i <= 4; i++) {
      const digit = hexValue(this.text.charCodeAt(this.pos + i));
      if (digit < 0) return -1;
      code = (code << 4) | digit;
    }
    this.pos += 5;
    return code;
  }

  enter(depth: i32): bool {
    if (depth > this.maxDepth) {
      this.fail(coldText(ColdText.NestedDeeperThan) + decimalText(this.maxDepth) + coldText(ColdText.Levels));
      return false;
    }
    return true;
  }

  parseArray(depth: i32): JsonValue | null {
    if (!this.enter(depth)) return null;
    this.pos++; // [
    const items = new Array<JsonValue>();
    this.skipWhitespace();
    if (this.peek() == 0x5d) {
      this.pos++;
      return container(JsonKind.Array, items, null);
    }
    while (true) {
      this.skipWhitespace();
      const item = this.parseValue(depth + 1);
      if (item == null) return null;
      items.push(item);
      this.skipWhitespace();
      const c = this.peek();
      this.pos++;
      if (c == 0x5d) return container(JsonKind.Array, items, null);
      if (c != 0x2c) {
        this.pos--;
        return this.failExpected(coldText(ColdText.CommaOrBracket));
      }
    }
  }

  parseObject(depth: i32): JsonValue | null {
    if (!this.enter(depth)) return null;
    this.pos++; // {
    const keys = new Array<string>();
    const items = new Array<JsonValue>();
    this.skipWhitespace();
    if (this.peek() == 0x7d) {
      this.pos++;
      return container(JsonKind.Object, items, keys);
    }
    while (true) {
      this.skipWhitespace();
      if (this.peek() != 0x22) {
        return this.failExpected(coldText(ColdText.MemberName));
      }
      const key = this.parseString();
      if (key == null) return null;
      this.skipWhitespace();
      if (this.peek() != 0x3a) return this.failExpected(coldText(ColdText.Colon));
      this.pos++;
      this.skipWhitespace();
      const item = this.parseValue(depth + 1);
      if (item == null) return null;
      keys.push(key);
      items.push(item);
      this.skipWhitespace();
      const c = this.peek();
      this.pos++;
      if (c == 0x7d) return container(JsonKind.Object, items, keys);
      if (c != 0x2c) {
        this.pos--;
        return this.failExpected(coldText(ColdText.CommaOrBrace));
      }
    }
  }
}

function literal(kind: JsonKind, flag: bool): JsonValue {
  const value = new JsonValue();
  value.kind = kind;
  value.bool = flag;
  return value;
}

function container(kind: JsonKind, items: JsonValue[], keys: string[] | null): JsonValue {
  const value = new JsonValue();
  value.kind = kind;
  value.items = items;
  value.keys = keys;
  return value;
}
