import { decodeStamp, encodeStamp, isStampKey, isStampValue, StampField, MAX_STAMP_FIELDS } from "../stamp";

function field(key: string, value: string): StampField {
  return new StampField(key, value);
}

function repeat(text: string, count: i32): string {
  let out = "";
  for (let i = 0; i < count; i++) out += text;
  return out;
}

describe("decodeStamp", () => {
  it("reads a hop stamp", () => {
    const stamp = decodeStamp("1;c=cluster-a;r=eu-west1;t=1700000000123");
    expect(stamp).not.toBeNull();
    const s = stamp!;
    expect<i32>(s.version).toBe(1);
    expect<i32>(s.fields.length).toBe(3);
    expect<string | null>(s.get("c")).toBe("cluster-a");
    expect<string | null>(s.get("r")).toBe("eu-west1");
    expect<string | null>(s.get("t")).toBe("1700000000123");
    expect<string | null>(s.get("x")).toBeNull();
  });

  it("reads a pod stamp with an empty value", () => {
    const s = decodeStamp("1;cs=1;w=;c=a;r=b;n=default;s=hello;v=hello-00001")!;
    expect<string | null>(s.get("cs")).toBe("1");
    expect<string | null>(s.get("w")).toBe("");
    expect<string | null>(s.get("v")).toBe("hello-00001");
  });

  it("accepts a bare version and the whole value charset", () => {
    expect<i32>(decodeStamp("1")!.fields.length).toBe(0);
    expect<string | null>(decodeStamp("1;k=AZaz09_.:/-")!.get("k")).toBe("AZaz09_.:/-");
  });

  it("reads later versions with the same grammar and keeps unknown keys readable", () => {
    const s = decodeStamp("2;c=a;zz=new")!;
    expect<i32>(s.version).toBe(2);
    expect<string | null>(s.get("c")).toBe("a");
    expect<string | null>(s.get("zz")).toBe("new");
    expect<i32>(decodeStamp("999;c=a")!.version).toBe(999);
  });

  it("refuses malformed stamps", () => {
    const bad: string[] = [
      "", // empty
      ";c=a", // no version
      "0;c=a", // version 0
      "01;c=a", // leading zero
      "1000;c=a", // more than 3 digits
      "v1;c=a", // not a number
      "1.0;c=a",
      "1;", // trailing separator
      "1;c=a;", // trailing separator
      "1;;c=a", // empty field
      "1;c", // no "="
      "1;=a", // empty key
      "1;C=a", // upper-case key
      "1;c1=a", // digit in key
      "1;toolongkey=a", // key over 8 letters
      "1;c=a=b", // "=" in value
      "1;c=a b", // space in value
      "1;c= a", // leading space
      "1 ;c=a", // space after version
      "1;c=a,b", // comma
      "1;c=caf\u00e9", // non-ASCII
      "1;c=a\u0000", // NUL
      "1;c=a;c=b", // duplicate key
      "1;c=" + repeat("x", 64), // value over 63
    ];
    for (let i = 0; i < bad.length; i++) {
      const text = unchecked(bad[i]);
      const stamp = decodeStamp(text);
      if (stamp != null) throw new Error("accepted malformed stamp: " + text);
    }
  });

  it("bounds the number of fields", () => {
    const keys = "abcdefghijklmnopq";
    let atLimit = "1";
    for (let i = 0; i < MAX_STAMP_FIELDS; i++) atLimit += ";" + keys.charAt(i) + "=x";
    expect<i32>(decodeStamp(atLimit)!.fields.length).toBe(16);
    expect(decodeStamp(atLimit + ";q=x")).toBeNull();
  });

  it("accepts exactly 512 characters and refuses 513", () => {
    const longValue = repeat("v", 63);
    let text = "1";
    for (let i = 0; i < 7; i++) text += ";" + "abcdefg".charAt(i) + "=" + longValue;
    text += ";z=" + repeat("v", 46); // 463 + 3 + 46 = 512
    expect<i32>(text.length).toBe(512);
    expect(decodeStamp(text)).not.toBeNull();
    expect(decodeStamp(text + "v")).toBeNull();
  });
});

describe("encodeStamp", () => {
  it("writes version 1 and fields in order", () => {
    const text = encodeStamp([field("c", "cluster-a"), field("r", "eu-west1"), field("t", "1700000000123")]);
    expect<string | null>(text).toBe("1;c=cluster-a;r=eu-west1;t=1700000000123");
  });

  it("round-trips through decodeStamp", () => {
    const text = encodeStamp([field("cs", "0"), field("w", ""), field("n", "ns")])!;
    const s = decodeStamp(text)!;
    expect<string | null>(s.get("cs")).toBe("0");
    expect<string | null>(s.get("w")).toBe("");
    expect<string | null>(s.get("n")).toBe("ns");
  });

  it("writes a bare version for no fields", () => {
    expect<string | null>(encodeStamp([])).toBe("1");
  });

  it("refuses what it would not read back", () => {
    expect<string | null>(encodeStamp([field("c", "a;b")])).toBeNull();
    expect<string | null>(encodeStamp([field("c", "a=b")])).toBeNull();
    expect<string | null>(encodeStamp([field("Cluster", "a")])).toBeNull();
    expect<string | null>(encodeStamp([field("c", "a"), field("c", "b")])).toBeNull();
    expect<string | null>(encodeStamp([field("c", repeat("x", 64))])).toBeNull();
  });
});

describe("stamp keys and values", () => {
  it("checks keys", () => {
    expect<bool>(isStampKey("c")).toBe(true);
    expect<bool>(isStampKey("abcdefgh")).toBe(true);
    expect<bool>(isStampKey("abcdefghi")).toBe(false);
    expect<bool>(isStampKey("")).toBe(false);
    expect<bool>(isStampKey("a-b")).toBe(false);
  });

  it("checks values", () => {
    expect<bool>(isStampValue("")).toBe(true);
    expect<bool>(isStampValue(repeat("a", 63))).toBe(true);
    expect<bool>(isStampValue(repeat("a", 64))).toBe(false);
    expect<bool>(isStampValue("us-east1")).toBe(true);
    expect<bool>(isStampValue("a;b")).toBe(false);
    expect<bool>(isStampValue("a\tb")).toBe(false);
  });
});
