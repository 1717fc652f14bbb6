import {
  parseTraceState,
  putLeftmost,
  formatTraceState,
  isTraceStateKey,
  isTraceStateValue,
  TraceStateMember,
} from "../tracestate";

function repeat(text: string, count: i32): string {
  let out = "";
  for (let i = 0; i < count; i++) out += text;
  return out;
}

function pad2(n: i32): string {
  return n < 10 ? "0" + n.toString() : n.toString();
}

/** Parses and re-formats without a member of ours: what a valid list looks like normalised. */
function normalised(values: string[]): string | null {
  const members = parseTraceState(values);
  if (members == null) return null;
  return formatTraceState(members);
}

function members(text: string): TraceStateMember[] {
  return parseTraceState([text])!;
}

const OWN = new TraceStateMember("kwt", "cluster-a;eu-west1");

describe("parseTraceState: valid lists", () => {
  it("reads members in order", () => {
    expect<string | null>(normalised(["foo=1,bar=2"])).toBe("foo=1,bar=2");
    expect<string | null>(normalised(["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"])).toBe(
      "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
    );
  });

  it("joins several headers into one list, in order", () => {
    expect<string | null>(normalised(["foo=1,bar=2", "rojo=1,congo=2", "baz=3"])).toBe(
      "foo=1,bar=2,rojo=1,congo=2,baz=3",
    );
  });

  it("accepts empty headers and empty members", () => {
    expect<string | null>(normalised([""])).toBe("");
    expect<string | null>(normalised(["foo=1", ""])).toBe("foo=1");
    expect<string | null>(normalised(["", "foo=1"])).toBe("foo=1");
    expect<string | null>(normalised([",,foo=1, ,\t,bar=2,"])).toBe("foo=1,bar=2");
    expect<string | null>(normalised([])).toBe("");
  });

  it("ignores spaces and tabs around members, keeps leading spaces of values", () => {
    expect<string | null>(normalised(["foo=1 \t , \t bar=2, \t baz=3"])).toBe("foo=1,bar=2,baz=3");
    expect<string | null>(normalised(["foo=1\t \t,\t \tbar=2,\t \tbaz=3"])).toBe("foo=1,bar=2,baz=3");
    expect<string | null>(normalised([" foo=1"])).toBe("foo=1");
    expect<string | null>(normalised(["\tfoo=1"])).toBe("foo=1");
    expect<string | null>(normalised(["foo=1 "])).toBe("foo=1");
    expect<string | null>(normalised(["foo=1\t"])).toBe("foo=1");
    expect<string | null>(normalised(["\t foo=1 \t"])).toBe("foo=1");
    expect<string | null>(normalised(["foo=  1"])).toBe("foo=  1");
  });

  it("accepts every allowed character", () => {
    const key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    const keyWithVendor = key + "@a-z0-9_-*/";
    let value = "";
    for (let c = 0x20; c <= 0x7e; c++) {
      if (c != 0x2c && c != 0x3d) value += String.fromCharCode(c);
    }
    expect<string | null>(normalised([key + "=" + value])).toBe(key + "=" + value);
    expect<string | null>(normalised([keyWithVendor + "=" + value])).toBe(keyWithVendor + "=" + value);
  });

  it("accepts keys with at signs anywhere but first", () => {
    expect<string | null>(normalised(["foo@=1,bar=2"])).toBe("foo@=1,bar=2");
    expect<string | null>(normalised(["foo@@bar=1,bar=2"])).toBe("foo@@bar=1,bar=2");
    expect<string | null>(normalised(["foo@bar@baz=1,bar=2"])).toBe("foo@bar@baz=1,bar=2");
    expect<string | null>(normalised(["t@" + repeat("v", 15) + "=1"])).toBe("t@" + repeat("v", 15) + "=1");
    expect<string | null>(normalised([repeat("t", 241) + "@" + repeat("v", 14) + "=1"])).not.toBeNull();
    expect<string | null>(normalised([repeat("t", 242) + "@v=1"])).not.toBeNull();
  });

  it("accepts keys of 256 and values of 256 characters", () => {
    expect<string | null>(normalised(["foo=1", repeat("z", 256) + "=1"])).toBe(
      "foo=1," + repeat("z", 256) + "=1",
    );
    expect<i32>(members("foo=" + repeat("v", 256))[0].value.length).toBe(256);
  });

  it("counts empty list-members towards the 32: the 33rd discards the list, however long the header", () => {
    let empties = "";
    for (let i = 0; i < 31; i++) empties += " \t,";
    expect<string | null>(normalised([empties + "foo=1"])).toBe("foo=1");
    expect(parseTraceState([empties + "foo=1,"])).toBeNull();
    let huge = "";
    for (let i = 0; i < 20000; i++) huge += " \t,";
    expect(parseTraceState([huge])).toBeNull();
    expect(parseTraceState(["foo=1", empties + " "])).toBeNull();
  });

  it("accepts 32 members across headers", () => {
    let a = "";
    for (let i = 1; i <= 10; i++) a += (i > 1 ? "," : "") + "bar" + pad2(i) + "=" + pad2(i);
    let b = "";
    for (let i = 11; i <= 20; i++) b += (i > 11 ? "," : "") + "bar" + pad2(i) + "=" + pad2(i);
    let c = "";
    for (let i = 21; i <= 30; i++) c += (i > 21 ? "," : "") + "bar" + pad2(i) + "=" + pad2(i);
    const list = parseTraceState([a, b, c, "bar31=31,bar32=32"])!;
    expect<i32>(list.length).toBe(32);
    expect<string>(list[0].key).toBe("bar01");
    expect(parseTraceState([a, b, c, "bar31=31,bar32=32,bar33=33"])).toBeNull();
  });

  it("keeps the first of duplicated keys", () => {
    expect<string | null>(normalised(["foo=1,foo=1"])).toBe("foo=1");
    expect<string | null>(normalised(["foo=1,foo=2"])).toBe("foo=1");
    expect<string | null>(normalised(["foo=1", "foo=2"])).toBe("foo=1");
    expect<string | null>(normalised(["a=1,foo=1,b=2", "foo=2,c=3"])).toBe("a=1,foo=1,b=2,c=3");
  });
});

describe("parseTraceState: invalid lists are discarded", () => {
  it("refuses illegal keys", () => {
    expect(parseTraceState(["foo =1"])).toBeNull();
    expect(parseTraceState(["FOO=1"])).toBeNull();
    expect(parseTraceState(["foo.bar=1"])).toBeNull();
    expect(parseTraceState(["@foo=1,bar=2"])).toBeNull();
    expect(parseTraceState(["_foo=1"])).toBeNull();
    expect(parseTraceState(["=1"])).toBeNull();
    expect(parseTraceState(["foo=1", repeat("z", 257) + "=1"])).toBeNull();
  });

  it("refuses illegal values", () => {
    expect(parseTraceState(["foo=bar=baz"])).toBeNull();
    expect(parseTraceState(["foo=,bar=3"])).toBeNull();
    expect(parseTraceState(["foo"])).toBeNull();
    expect(parseTraceState(["foo=\u00e9"])).toBeNull();
    expect(parseTraceState(["foo=a\u007f"])).toBeNull();
    expect(parseTraceState(["foo=a\nb"])).toBeNull();
    expect(parseTraceState(["foo=" + repeat("v", 257)])).toBeNull();
  });
});

describe("keys and values", () => {
  it("checks the grammar directly", () => {
    expect<bool>(isTraceStateKey("kwt")).toBe(true);
    expect<bool>(isTraceStateKey("0vendor")).toBe(true);
    expect<bool>(isTraceStateKey("")).toBe(false);
    expect<bool>(isTraceStateKey("-x")).toBe(false);
    expect<bool>(isTraceStateValue("a b")).toBe(true);
    expect<bool>(isTraceStateValue(" a")).toBe(true);
    expect<bool>(isTraceStateValue("a ")).toBe(false);
    expect<bool>(isTraceStateValue("")).toBe(false);
  });
});

describe("putLeftmost", () => {
  it("adds the own member to the left and keeps the others in order", () => {
    expect<string>(formatTraceState(putLeftmost(members("rojo=1,congo=2"), OWN))).toBe(
      "kwt=cluster-a;eu-west1,rojo=1,congo=2",
    );
    expect<string>(formatTraceState(putLeftmost([], OWN))).toBe("kwt=cluster-a;eu-west1");
  });

  it("moves an existing own member to the left with its new value", () => {
    expect<string>(formatTraceState(putLeftmost(members("rojo=1,kwt=old,congo=2"), OWN))).toBe(
      "kwt=cluster-a;eu-west1,rojo=1,congo=2",
    );
  });

  it("drops from the right beyond 32 members", () => {
    let text = "";
    for (let i = 1; i <= 32; i++) text += (i > 1 ? "," : "") + "m" + pad2(i) + "=" + pad2(i);
    const list = putLeftmost(members(text), OWN);
    expect<i32>(list.length).toBe(32);
    expect<string>(list[0].key).toBe("kwt");
    expect<string>(list[1].key).toBe("m01");
    expect<string>(list[31].key).toBe("m31");
  });

  it("keeps 32 when the own key was among them", () => {
    let text = "kwt=old";
    for (let i = 2; i <= 32; i++) text += ",m" + pad2(i) + "=" + pad2(i);
    const list = putLeftmost(members(text), OWN);
    expect<i32>(list.length).toBe(32);
    expect<string>(list[31].key).toBe("m32");
  });
});

describe("formatTraceState truncation", () => {
  it("keeps a list of exactly 512 characters and truncates one of 513", () => {
    const value = repeat("v", 123); // "a0N=" + 123 = 127 characters
    const list = [
      new TraceStateMember("a01", value),
      new TraceStateMember("a02", value),
      new TraceStateMember("a03", value),
      new TraceStateMember("a04", value + "v"),
    ];
    // 127 * 3 + 128 + 3 commas = 512
    expect<i32>(formatTraceState(list).length).toBe(512);
    list[3] = new TraceStateMember("a04", value + "vv"); // 129: now the long one goes
    expect<string>(formatTraceState(list)).toBe("a01=" + value + ",a02=" + value + ",a03=" + value);
  });

  it("removes members longer than 128 characters first, from the right", () => {
    const long = repeat("L", 200); // member of 204 characters
    const list = [
      OWN,
      new TraceStateMember("aa", "1"),
      new TraceStateMember("ll1", long),
      new TraceStateMember("bb", "2"),
      new TraceStateMember("ll2", long),
      new TraceStateMember("cc", "3"),
      new TraceStateMember("ll3", long),
    ];
    // 22 + 4 + 204 + 4 + 204 + 4 + 204 + 6 commas = 652: removing ll3 gives 447.
    expect<string>(formatTraceState(list)).toBe(
      "kwt=cluster-a;eu-west1,aa=1,ll1=" + long + ",bb=2,ll2=" + long + ",cc=3",
    );
  });

  it("then removes from the right", () => {
    const value = repeat("x", 100); // members of 104 characters
    const list = [
      OWN,
      new TraceStateMember("m01", value),
      new TraceStateMember("m02", value),
      new TraceStateMember("m03", value),
      new TraceStateMember("m04", value),
      new TraceStateMember("m05", value),
    ];
    // 22 + 5 * 104 + 5 = 547 > 512: drop m05 -> 442.
    expect<string>(formatTraceState(list)).toBe(
      "kwt=cluster-a;eu-west1,m01=" + value + ",m02=" + value + ",m03=" + value + ",m04=" + value,
    );
  });

  it("removes long members before short ones even when a short one is rightmost", () => {
    const long = repeat("L", 250);
    const list = [
      OWN,
      new TraceStateMember("big", long),
      new TraceStateMember("big2", long),
      new TraceStateMember("s", "1"),
    ];
    expect<string>(formatTraceState(list)).toBe("kwt=cluster-a;eu-west1,big=" + long + ",s=1");
  });

  it("never removes the first member", () => {
    const big = new TraceStateMember("kwt", repeat("k", 200));
    expect<string>(formatTraceState([big, new TraceStateMember("x", "1")], 100)).toBe(
      "kwt=" + repeat("k", 200),
    );
  });

  it("honours a smaller limit", () => {
    expect<string>(formatTraceState(members("a=1,b=2,c=3"), 7)).toBe("a=1,b=2");
  });
});

describe("TraceStateMember.asTraceState", () => {
  it("is the member alone as formatTraceState writes it, made once", () => {
    const member = new TraceStateMember("kwt", "c:east");
    expect<string>(member.asTraceState).toBe(formatTraceState([member]));
    expect<string>(member.asTraceState).toBe("kwt=c:east");
    expect<bool>(changetype<usize>(member.asTraceState) == changetype<usize>(member.asTraceState)).toBe(true);
  });
});
