import { isTraceStateKey, isTraceStateKeyAt, OwnMember, TraceStateList } from "../tracestate";

function repeat(text: string, count: i32): string {
  let out = "";
  for (let i = 0; i < count; i++) out += text;
  return out;
}

function pad2(n: i32): string {
  return n < 10 ? "0" + n.toString() : n.toString();
}

/** The lists read these buffers in place: held here so they live as long as the spec. */
const held: ArrayBuffer[] = [];

function bytesOf(text: string): ArrayBuffer {
  const bytes = String.UTF8.encode(text);
  held.push(bytes);
  return bytes;
}

const OWN = new OwnMember("kwt", "cluster-a;eu-west1");

/** A list with every value added in order, as the filter adds a request's tracestate headers. */
function listOf(values: string[], own: OwnMember = OWN): TraceStateList {
  const list = new TraceStateList(own);
  list.clear();
  for (let i = 0; i < values.length; i++) {
    const bytes = bytesOf(values[i]);
    list.add(changetype<usize>(bytes), <u32>bytes.byteLength);
  }
  return list;
}

function outText(list: TraceStateList, length: i32): string {
  return String.UTF8.decodeUnsafe(list.outAt, <usize>length);
}

/** Reads and re-writes without a member of ours (what a valid list looks like normalised); null when invalid. */
function normalised(values: string[]): string | null {
  const list = listOf(values);
  if (!list.valid) return null;
  return outText(list, list.writeWithoutOwn());
}

/** The list written with OWN leftmost. */
function withOwnLeftmost(values: string[], own: OwnMember = OWN): string {
  const list = listOf(values, own);
  return outText(list, list.writeOwnLeftmost());
}

function isValid(values: string[]): bool {
  return listOf(values).valid;
}

function isKey(text: string): bool {
  const bytes = bytesOf(text);
  return isTraceStateKeyAt(changetype<usize>(bytes), bytes.byteLength);
}

describe("TraceStateList: valid lists", () => {
  it("reads members in order", () => {
    expect<string | null>(normalised(["foo=1,bar=2"])).toBe("foo=1,bar=2");
    expect<string | null>(normalised(["rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"])).toBe(
      "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
    );
    expect<i32>(listOf(["foo=1,bar=2"]).size).toBe(2);
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
    expect<bool>(isValid([repeat("t", 241) + "@" + repeat("v", 14) + "=1"])).toBe(true);
    expect<bool>(isValid([repeat("t", 242) + "@v=1"])).toBe(true);
  });

  it("accepts keys of 256 and values of 256 characters", () => {
    expect<string | null>(normalised(["foo=1", repeat("z", 256) + "=1"])).toBe(
      "foo=1," + repeat("z", 256) + "=1",
    );
    expect<string | null>(normalised(["foo=" + repeat("v", 256)])).toBe("foo=" + repeat("v", 256));
  });

  it("counts empty list-members towards the 32: the 33rd discards the list, however long the header", () => {
    let empties = "";
    for (let i = 0; i < 31; i++) empties += " \t,";
    expect<string | null>(normalised([empties + "foo=1"])).toBe("foo=1");
    expect<bool>(isValid([empties + "foo=1,"])).toBe(false);
    let huge = "";
    for (let i = 0; i < 20000; i++) huge += " \t,";
    expect<bool>(isValid([huge])).toBe(false);
    expect<bool>(isValid(["foo=1", empties + " "])).toBe(false);
  });

  it("accepts 32 members across headers", () => {
    let a = "";
    for (let i = 1; i <= 10; i++) a += (i > 1 ? "," : "") + "bar" + pad2(i) + "=" + pad2(i);
    let b = "";
    for (let i = 11; i <= 20; i++) b += (i > 11 ? "," : "") + "bar" + pad2(i) + "=" + pad2(i);
    let c = "";
    for (let i = 21; i <= 30; i++) c += (i > 21 ? "," : "") + "bar" + pad2(i) + "=" + pad2(i);
    const list = listOf([a, b, c, "bar31=31,bar32=32"]);
    expect<bool>(list.valid).toBe(true);
    expect<i32>(list.size).toBe(32);
    expect<string>(outText(list, list.writeWithoutOwn())).toBe(a + "," + b + "," + c + ",bar31=31,bar32=32");
    expect<bool>(isValid([a, b, c, "bar31=31,bar32=32,bar33=33"])).toBe(false);
  });

  it("keeps the first of duplicated keys", () => {
    expect<string | null>(normalised(["foo=1,foo=1"])).toBe("foo=1");
    expect<string | null>(normalised(["foo=1,foo=2"])).toBe("foo=1");
    expect<string | null>(normalised(["foo=1", "foo=2"])).toBe("foo=1");
    expect<string | null>(normalised(["a=1,foo=1,b=2", "foo=2,c=3"])).toBe("a=1,foo=1,b=2,c=3");
    // Keys are compared whole: a prefix of another key is another key.
    expect<string | null>(normalised(["foo=1,fo=2,foox=3"])).toBe("foo=1,fo=2,foox=3");
    expect<i32>(listOf(["a=1,foo=1,b=2", "foo=2,c=3"]).size).toBe(4);
  });

  it("forgets the last request's list on clear", () => {
    const bad = bytesOf("FOO=1");
    const good = bytesOf("foo=1");
    const list = new TraceStateList(OWN);
    list.add(changetype<usize>(bad), <u32>bad.byteLength);
    expect<bool>(list.valid).toBe(false);
    list.clear();
    expect<bool>(list.valid).toBe(true);
    expect<i32>(list.size).toBe(0);
    expect<bool>(list.add(changetype<usize>(good), <u32>good.byteLength)).toBe(true);
    expect<string>(outText(list, list.writeWithoutOwn())).toBe("foo=1");
  });
});

describe("TraceStateList: invalid lists are discarded", () => {
  it("refuses illegal keys", () => {
    expect<bool>(isValid(["foo =1"])).toBe(false);
    expect<bool>(isValid(["FOO=1"])).toBe(false);
    expect<bool>(isValid(["foo.bar=1"])).toBe(false);
    expect<bool>(isValid(["@foo=1,bar=2"])).toBe(false);
    expect<bool>(isValid(["_foo=1"])).toBe(false);
    expect<bool>(isValid(["=1"])).toBe(false);
    expect<bool>(isValid(["foo=1", repeat("z", 257) + "=1"])).toBe(false);
  });

  it("refuses illegal values", () => {
    expect<bool>(isValid(["foo=bar=baz"])).toBe(false);
    expect<bool>(isValid(["foo=,bar=3"])).toBe(false);
    expect<bool>(isValid(["foo"])).toBe(false);
    expect<bool>(isValid(["foo=\u00e9"])).toBe(false);
    expect<bool>(isValid(["foo=a\u007f"])).toBe(false);
    expect<bool>(isValid(["foo=a\nb"])).toBe(false);
    expect<bool>(isValid(["foo=" + repeat("v", 257)])).toBe(false);
  });

  it("stops reading at the first bad member and adds no later value", () => {
    const list = listOf(["foo=1,BAD=2"]);
    const later = bytesOf("bar=1");
    expect<bool>(list.add(changetype<usize>(later), <u32>later.byteLength)).toBe(false);
    expect<bool>(list.valid).toBe(false);
    expect<i32>(list.size).toBe(0);
  });

  it("leaves only the filter's member when it writes an invalid list, and nothing without it", () => {
    const list = listOf(["foo=1,BAD=2"]);
    expect<string>(outText(list, list.writeOwnLeftmost())).toBe("kwt=cluster-a;eu-west1");
    expect<i32>(list.writeWithoutOwn()).toBe(0);
  });
});

describe("keys and values", () => {
  it("checks the grammar directly", () => {
    expect<bool>(isKey("kwt")).toBe(true);
    expect<bool>(isKey("0vendor")).toBe(true);
    expect<bool>(isKey("")).toBe(false);
    expect<bool>(isKey("-x")).toBe(false);
  });

  it("checks values in a list: spaces inside, OWS only around", () => {
    expect<string | null>(normalised(["k=a b"])).toBe("k=a b");
    expect<string | null>(normalised(["k= a"])).toBe("k= a");
    expect<string | null>(normalised(["k=a  \t ,j=1"])).toBe("k=a,j=1");
    expect<bool>(isValid(["k=a\tb"])).toBe(false);
    expect<bool>(isValid(["k=  "])).toBe(false);
    expect<bool>(isValid(["k="])).toBe(false);
    expect<bool>(isValid(["k=a,j"])).toBe(false);
  });

  it("checks a configured key as its UTF-8 bytes", () => {
    expect<bool>(isTraceStateKey("kwt@vendor")).toBe(true);
    expect<bool>(isTraceStateKey("kwt\u00e9")).toBe(false);
    expect<bool>(isTraceStateKey("Kwt")).toBe(false);
  });
});

describe("the filter's member leftmost", () => {
  it("adds the own member to the left and keeps the others in order", () => {
    expect<string>(withOwnLeftmost(["rojo=1,congo=2"])).toBe("kwt=cluster-a;eu-west1,rojo=1,congo=2");
    expect<string>(withOwnLeftmost([])).toBe("kwt=cluster-a;eu-west1");
  });

  it("moves an existing own member to the left with its new value", () => {
    expect<string>(withOwnLeftmost(["rojo=1,kwt=old,congo=2"])).toBe("kwt=cluster-a;eu-west1,rojo=1,congo=2");
    expect<string>(withOwnLeftmost(["kwt=old", "rojo=1,kwt=older"])).toBe("kwt=cluster-a;eu-west1,rojo=1");
  });

  it("drops from the right beyond 32 members", () => {
    let text = "";
    for (let i = 1; i <= 32; i++) text += (i > 1 ? "," : "") + "m" + pad2(i) + "=" + pad2(i);
    let expected = "kwt=cluster-a;eu-west1";
    for (let i = 1; i <= 31; i++) expected += ",m" + pad2(i) + "=" + pad2(i);
    expect<string>(withOwnLeftmost([text])).toBe(expected);
  });

  it("keeps 32 when the own key was among them", () => {
    let text = "kwt=old";
    let expected = "kwt=cluster-a;eu-west1";
    for (let i = 2; i <= 32; i++) {
      text += ",m" + pad2(i) + "=" + pad2(i);
      expected += ",m" + pad2(i) + "=" + pad2(i);
    }
    expect<string>(withOwnLeftmost([text])).toBe(expected);
  });
});

describe("the filter's member taken out", () => {
  it("removes it wherever it is and keeps the others in order", () => {
    expect<string | null>(normalised(["rojo=1,kwt=old,congo=2"])).toBe("rojo=1,congo=2");
    expect<string | null>(normalised(["kwt=old"])).toBe("");
  });

  it("tells whether the list holds it", () => {
    expect<bool>(listOf(["rojo=1", "kwt=x;y"]).hasOwnMember()).toBe(true);
    expect<bool>(listOf(["rojo=1,kwtx=1,kw=2"]).hasOwnMember()).toBe(false);
    expect<bool>(listOf([]).hasOwnMember()).toBe(false);
  });
});

describe("truncation to 512 bytes", () => {
  it("keeps a list of exactly 512 characters and truncates one of 513", () => {
    const value = repeat("v", 123); // "a0N=" + 123 = 127 characters
    const first = "a01=" + value + ",a02=" + value + ",a03=" + value;
    // 127 * 3 + 128 + 3 commas = 512
    const exact = normalised([first + ",a04=" + value + "v"])!;
    expect<i32>(exact.length).toBe(512);
    expect<string>(exact).toBe(first + ",a04=" + value + "v");
    // a04 of 129: now the long one goes
    expect<string | null>(normalised([first + ",a04=" + value + "vv"])).toBe(first);
  });

  it("removes members longer than 128 characters first, from the right", () => {
    const long = repeat("L", 200); // member of 204 characters
    // 22 + 4 + 204 + 4 + 204 + 4 + 204 + 6 commas = 652: removing ll3 gives 447.
    expect<string>(withOwnLeftmost(["aa=1,ll1=" + long, "bb=2,ll2=" + long + ",cc=3,ll3=" + long])).toBe(
      "kwt=cluster-a;eu-west1,aa=1,ll1=" + long + ",bb=2,ll2=" + long + ",cc=3",
    );
  });

  it("then removes from the right", () => {
    const value = repeat("x", 100); // members of 104 characters
    let text = "";
    for (let i = 1; i <= 5; i++) text += (i > 1 ? "," : "") + "m" + pad2(i) + "=" + value;
    // 22 + 5 * 104 + 5 = 547 > 512: drop m05 -> 442.
    expect<string>(withOwnLeftmost([text])).toBe(
      "kwt=cluster-a;eu-west1,m01=" + value + ",m02=" + value + ",m03=" + value + ",m04=" + value,
    );
  });

  it("removes long members before short ones even when a short one is rightmost", () => {
    const long = repeat("L", 250);
    expect<string>(withOwnLeftmost(["big=" + long + ",big2=" + long + ",s=1"])).toBe(
      "kwt=cluster-a;eu-west1,big=" + long + ",s=1",
    );
  });

  it("never removes the first member", () => {
    const ownAlone = new OwnMember("kwt", repeat("k", 600));
    expect<string>(withOwnLeftmost(["x=1"], ownAlone)).toBe("kwt=" + repeat("k", 600));
    // The longest member the grammar allows, 513 characters, first without the filter's member.
    const longest = repeat("z", 256) + "=" + repeat("v", 256);
    expect<string | null>(normalised([longest + ",x=1"])).toBe(longest);
  });
});

describe("OwnMember", () => {
  it("is `key=value` in UTF-8, the whole tracestate of a new trace", () => {
    const member = new OwnMember("kwt", "c:east");
    expect<string>(String.UTF8.decodeUnsafe(member.at, <usize>member.length)).toBe("kwt=c:east");
    expect<i32>(member.keyLength).toBe(3);
    expect<i32>(new OwnMember("kwt", "z\u00fcrich;eu").length).toBe(14);
  });
});
