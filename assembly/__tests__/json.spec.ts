import { JsonKind, parseJson } from "../json";

function repeat(text: string, count: i32): string {
  let out = "";
  for (let i = 0; i < count; i++) out += text;
  return out;
}

describe("parseJson", () => {
  it("parses objects, arrays and scalars", () => {
    const result = parseJson(' { "a": [1, -2.5e1, true, false, null], "b": {"c": "d"} } ');
    expect<string>(result.error).toBe("");
    const root = result.value!;
    expect<JsonKind>(root.kind).toBe(JsonKind.Object);
    const a = root.member("a")!;
    expect<JsonKind>(a.kind).toBe(JsonKind.Array);
    const items = a.items!;
    expect<i32>(items.length).toBe(5);
    expect<f64>(items[0].number).toBe(1);
    expect<f64>(items[1].number).toBe(-25);
    expect<string>(items[1].text).toBe("-2.5e1");
    expect<bool>(items[2].bool).toBe(true);
    expect<JsonKind>(items[4].kind).toBe(JsonKind.Null);
    expect<string>(root.member("b")!.member("c")!.text).toBe("d");
    expect(root.member("missing")).toBeNull();
  });

  it("decodes string escapes, including \\u and surrogate pairs", () => {
    const value = parseJson('"a\\"b\\\\c\\/d\\n\\t\\u0041\\ud83d\\ude00"').value!;
    expect<string>(value.text).toBe('a"b\\c/d\n\tA\u{1F600}');
  });

  it("returns the last of duplicate keys, as JSON.parse does", () => {
    expect<f64>(parseJson('{"k": 1, "k": 2}').value!.member("k")!.number).toBe(2);
  });

  it("reports what is wrong and where", () => {
    expect<string>(parseJson("").error).toBe("unexpected end of input at offset 0");
    expect<string>(parseJson("x").error).toBe("unexpected character 'x' at offset 0");
    expect<string>(parseJson("{").error).toBe(
      "expected a member name in double quotes but found end of input at offset 1",
    );
    expect<string>(parseJson('{"a" 1}').error).toBe("expected ':' but found character '1' at offset 5");
    expect<string>(parseJson("[1 2]").error).toBe("expected ',' or ']' but found character '2' at offset 3");
    expect<string>(parseJson('{"a":1,}').error).toBe(
      "expected a member name in double quotes but found character '}' at offset 7",
    );
    expect<string>(parseJson("01").error).toBe("unexpected character '1' after the value at offset 1");
    expect<string>(parseJson("1.").error).toBe(
      "invalid number: expected a digit after '.', found end of input at offset 2",
    );
    expect<string>(parseJson("1e+").error).toBe(
      "invalid number: expected an exponent digit, found end of input at offset 3",
    );
    expect<string>(parseJson("-").error).toBe(
      "invalid number: expected a digit, found end of input at offset 1",
    );
    expect<string>(parseJson('"abc').error).toBe("unterminated string at offset 4");
    expect<string>(parseJson('"a\nb"').error).toBe("control character U+000A in a string at offset 2");
    expect<string>(parseJson('"\\x"').error).toBe("invalid escape sequence at offset 2");
    expect<string>(parseJson('"\\u12"').error).toBe("invalid escape sequence at offset 2");
    expect<string>(parseJson("tru").error).toBe("unexpected character 't' at offset 0");
    expect<string>(parseJson("\u00e9").error).toBe("unexpected character U+00E9 at offset 0");
    expect<string>(parseJson("{} {}").error).toBe("unexpected character '{' after the value at offset 3");
  });

  it("bounds nesting instead of recursing without end", () => {
    const deep = repeat("[", 100000) + repeat("]", 100000);
    expect<string>(parseJson(deep, 32).error).toBe("nested deeper than 32 levels at offset 32");
    expect<string>(parseJson(repeat("[", 32) + repeat("]", 32), 32).error).toBe("");
  });

  it("parses large numbers to infinity rather than failing", () => {
    expect<bool>(isFinite(parseJson("1e400").value!.number)).toBe(false);
    expect<f64>(parseJson("-1e400").value!.number).toBe(-Infinity);
    expect<f64>(parseJson("1" + repeat("0", 400)).value!.number).toBe(Infinity);
    expect<f64>(parseJson("1e99999999999").value!.number).toBe(Infinity);
    expect<f64>(parseJson("1e-99999999999").value!.number).toBe(0);
  });

  it("may be a unit in the last place off past 15 significant digits", () => {
    // JSON.parse gives 0.9012174110403111; settings never need that precision.
    const parsed = parseJson("0.9012174110403111").value!.number;
    expect<f64>(Math.abs(parsed - 0.9012174110403111)).toBeLessThanOrEqual(2.3e-16);
  });

  it("parses numbers of up to 15 significant digits to the f64 JSON.parse gives", () => {
    const cases: string[] = [
      "0",
      "7",
      "-0.5",
      "0.001",
      "0.1",
      "0.49",
      "2.5E+3",
      "100000.5",
      "1.5e-7",
      "8012",
    ];
    const values: f64[] = [0, 7, -0.5, 0.001, 0.1, 0.49, 2500, 100000.5, 1.5e-7, 8012];
    for (let i = 0; i < cases.length; i++) expect<f64>(parseJson(cases[i]).value!.number).toBe(values[i]);
    expect<f64>(parseJson("0.30000000000000004").value!.number).toBe(0.30000000000000004);
    expect<f64>(parseJson("1e22").value!.number).toBe(1e22);
    expect<f64>(parseJson("123456789012345678901234567890").value!.number).toBeCloseTo(1.2345678901234568e29);
    expect<f64>(parseJson("0." + repeat("0", 400) + "1").value!.number).toBe(0);
    expect<f64>(parseJson("1e-400").value!.number).toBe(0);
    // Zeros in the digits offset a written exponent of any size a configuration can hold.
    expect<f64>(parseJson("0." + repeat("0", 20_000) + "1e20001").value!.number).toBe(1);
    expect<f64>(parseJson("-0").value!.number).toBe(-0.0);
  });
});
