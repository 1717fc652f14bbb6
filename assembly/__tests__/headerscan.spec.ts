import {
  HeaderScan,
  HeaderWants,
  scanHeaderPairs,
  scanHeaderPairsInto,
  serializeHeaderPairs,
} from "../headerscan";

/** Every kept value of `slot` in header order, read where the scan kept them. */
function everyValue(s: HeaderScan, slot: i32): string[] {
  const values = new Array<string>();
  for (let i = 0; i < s.keptCount; i++) {
    if (s.keptSlot(i) == slot) values.push(String.UTF8.decodeUnsafe(s.keptAt(i), s.keptLength(i)));
  }
  return values;
}

/** `[name, value]` entries in the pairs format proxy_get_header_map_pairs returns. */
function pairs(entries: string[][]): ArrayBuffer {
  const names = new Array<string>(entries.length);
  const values = new Array<string>(entries.length);
  for (let i = 0; i < entries.length; i++) {
    names[i] = entries[i][0];
    values[i] = entries[i][1];
  }
  return serializeHeaderPairs(names, values);
}

function bytesOf(buffer: ArrayBuffer): string {
  const view = Uint8Array.wrap(buffer);
  const out = new Array<string>(view.length);
  for (let i = 0; i < view.length; i++) out[i] = view[i].toString();
  return out.join(",");
}

function scan(buffer: ArrayBuffer, wants: HeaderWants): HeaderScan {
  return scanHeaderPairs(
    changetype<usize>(buffer),
    <u32>buffer.byteLength,
    wants,
    String.UTF8.encode("x-kwt-"),
  );
}

describe("scanHeaderPairs", () => {
  it("finds wanted headers, counts repeats and keeps the first value", () => {
    const wants = new HeaderWants();
    const ua = wants.add("user-agent");
    const kpr = wants.add("k-proxy-request");
    const missing = wants.add("k-network-probe");
    const buffer = pairs([
      [":path", "/"],
      ["user-agent", "curl/8"],
      ["k-proxy-request", "activator"],
      ["user-agent", "second"],
    ]);
    const s = scan(buffer, wants);
    expect<bool>(s.wellFormed).toBe(true);
    expect<string | null>(s.value(ua)).toBe("curl/8");
    expect<i32>(s.counts[ua]).toBe(2);
    expect<string | null>(s.value(kpr)).toBe("activator");
    expect<bool>(s.has(missing)).toBe(false);
    expect<string | null>(s.value(missing)).toBeNull();
    expect<i32>(s.prefixed.length).toBe(0);
  });

  it("keeps every value of slots that want them", () => {
    const wants = new HeaderWants();
    const tp = wants.add("traceparent", true);
    const s = scan(
      pairs([
        ["traceparent", "a"],
        ["x", "y"],
        ["traceparent", "b"],
      ]),
      wants,
    );
    expect<string>(everyValue(s, tp).join("|")).toBe("a|b");
    expect<i32>(everyValue(s, 99).length).toBe(0);
  });

  it("lists other names with the prefix", () => {
    const wants = new HeaderWants();
    const entry = wants.add("x-kwt-entry");
    const s = scan(
      pairs([
        ["x-kwt-entry", "1"],
        ["x-kwt-other", "2"],
        ["x-kwt-", "3"],
        ["x-kw", "4"],
      ]),
      wants,
    );
    expect<bool>(s.has(entry)).toBe(true);
    expect<string>(s.prefixed.join(",")).toBe("x-kwt-other,x-kwt-");
  });

  it("reads empty values and an empty map", () => {
    const wants = new HeaderWants();
    const a = wants.add("a");
    expect<string | null>(scan(pairs([["a", ""]]), wants).value(a)).toBe("");
    const empty = scan(pairs([]), wants);
    expect<bool>(empty.wellFormed).toBe(true);
    expect<bool>(empty.has(a)).toBe(false);
    const none = scanHeaderPairs(0, 0, wants, null);
    expect<bool>(none.wellFormed).toBe(true);
  });

  it("refuses malformed buffers without reading past them", () => {
    const wants = new HeaderWants();
    const a = wants.add("a");
    const good = pairs([["a", "1"]]);
    // Truncated: the declared lengths run past the end.
    const truncated = good.slice(0, good.byteLength - 2);
    const t = scan(truncated, wants);
    expect<bool>(t.wellFormed).toBe(false);
    expect<bool>(t.has(a)).toBe(false);
    // A count far larger than the buffer.
    const bogus = new ArrayBuffer(8);
    store<u32>(changetype<usize>(bogus), 0x7fffffff);
    expect<bool>(scan(bogus, wants).wellFormed).toBe(false);
    // A value length that overflows 32 bits when added.
    const overflow = pairs([["a", "1"]]);
    store<u32>(changetype<usize>(overflow) + 8, 0xffffffff);
    expect<bool>(scan(overflow, wants).wellFormed).toBe(false);
    // Too short to hold a count.
    expect<bool>(scan(new ArrayBuffer(3), wants).wellFormed).toBe(false);
  });

  it("decodes values that are not valid UTF-8 without failing", () => {
    const wants = new HeaderWants();
    const a = wants.add("a");
    const buffer = pairs([["a", "xyz"]]);
    // Overwrite the value bytes with a stray continuation byte, an invalid lead byte and a cut
    // two-byte sequence.
    const value = changetype<usize>(buffer) + 4 + 8 + 2;
    store<u8>(value, 0x80);
    store<u8>(value + 1, 0xff);
    store<u8>(value + 2, 0xc3);
    const s = scan(buffer, wants);
    expect<bool>(s.wellFormed).toBe(true);
    expect<bool>(s.has(a)).toBe(true);
    expect<i32>(s.value(a)!.length).toBeLessThanOrEqual(3);
  });

  it("gives stable slots for names added twice", () => {
    const wants = new HeaderWants();
    expect<i32>(wants.add("a")).toBe(0);
    expect<i32>(wants.add("b")).toBe(1);
    expect<i32>(wants.add("a")).toBe(0);
    expect<i32>(wants.slot("b")).toBe(1);
    expect<i32>(wants.slot("c")).toBe(-1);
    expect<i32>(wants.size).toBe(2);
  });
});

describe("a reused scan", () => {
  it("forgets the last scan's values and reads each value in place", () => {
    const wants = new HeaderWants();
    const hop = wants.add("x-kwt-hop");
    const pod = wants.add("x-kwt-pod");
    const parent = wants.add("traceparent", true);
    const prefix = String.UTF8.encode("x-kwt-");
    const reused = new HeaderScan(wants.size);
    const first = pairs([
      ["x-kwt-pod", "p"],
      ["traceparent", "a"],
      ["traceparent", "b"],
      ["x-pad-1", "v"],
    ]);
    scanHeaderPairsInto(reused, changetype<usize>(first), <u32>first.byteLength, wants, prefix);
    expect<string>(everyValue(reused, parent).join("|")).toBe("a|b");
    expect<string | null>(reused.value(pod)).toBe("p");
    const second = pairs([
      ["x-kwt-hop", "1;c=a;r=b;t=5"],
      ["x-pad-9", "x-kwt-pod"],
    ]);
    scanHeaderPairsInto(reused, changetype<usize>(second), <u32>second.byteLength, wants, prefix);
    expect<bool>(reused.has(pod)).toBe(false);
    expect<string | null>(reused.value(pod)).toBeNull();
    expect<i32>(everyValue(reused, parent).length).toBe(0);
    expect<usize>(reused.valueAt(pod)).toBe(0);
    expect<u32>(reused.valueLength(hop)).toBe(13);
    expect<string>(String.UTF8.decodeUnsafe(reused.valueAt(hop), reused.valueLength(hop))).toBe(
      "1;c=a;r=b;t=5",
    );
    expect<string | null>(reused.value(hop)).toBe("1;c=a;r=b;t=5");
  });

  it("finds names that share a length by their bytes", () => {
    const wants = new HeaderWants();
    const hop = wants.add("x-kwt-hop");
    const pod = wants.add("x-kwt-pod");
    const buffer = pairs([
      ["x-pad-99", "1"],
      ["y-kwt-pod", "2"],
      ["x-kwt-pod", "3"],
      ["x-kwt-hoq", "4"],
    ]);
    const found = scan(buffer, wants);
    expect<bool>(found.has(hop)).toBe(false);
    expect<string | null>(found.value(pod)).toBe("3");
    expect<i32>(found.prefixed.length).toBe(1);
  });
});

describe("passing over other headers by their first bytes", () => {
  it("finds every wanted name among hundreds of others, whichever probe slots their heads share", () => {
    // 24 wanted names with distinct heads fill many of the 64 slot bits; the others have heads
    // of every kind: in a wanted name's slot or not, equal to a wanted head, or the prefix's.
    const wants = new HeaderWants();
    const wanted = new Array<string>();
    for (let i = 0; i < 24; i++) {
      const name = String.fromCharCode(0x61 + i) + "w" + i.toString() + "-wanted";
      wanted.push(name);
      wants.add(name);
    }
    const entries = new Array<string[]>();
    const prefixed = new Array<string>();
    for (let i = 0; i < 400; i++) {
      const head = String.fromCharCode(0x61 + (i % 26)) + String.fromCharCode(0x61 + ((i * 7) % 26));
      entries.push([head + "zz-" + i.toString(), "other"]);
      if (i % 25 == 0) entries.push([wanted[(i / 25) % 24] + "-not", "near"]);
      if (i % 40 == 0) {
        const name = "x-kwt-forged-" + i.toString();
        prefixed.push(name);
        entries.push([name, "forged"]);
      }
      if (i % 16 == 0 && i / 16 < 24) entries.push([wanted[i / 16], "value-" + (i / 16).toString()]);
    }
    const found = scan(pairs(entries), wants);
    expect<bool>(found.wellFormed).toBe(true);
    expect<i32>(found.keptCount).toBe(24);
    for (let i = 0; i < 24; i++) {
      expect<string | null>(found.value(wants.slot(wanted[i]))).toBe("value-" + i.toString(), wanted[i]);
    }
    expect<string>(found.prefixed.join(",")).toBe(prefixed.join(","));
  });

  it("lists the prefix's names whichever probe slot the prefix's head has", () => {
    // One wanted name, so the prefix's head (`x-kw`) most likely has a probe slot of its own; and
    // a prefix of four NUL bytes, whose head is 0 like no name's but a NUL one's.
    const wants = new HeaderWants();
    const trace = wants.add("traceparent");
    const found = scan(
      pairs([
        ["x-kwt-forged", "1"],
        ["traceparent", "2"],
        ["x-kwt-hop", "3"],
      ]),
      wants,
    );
    expect<string | null>(found.value(trace)).toBe("2");
    expect<string>(found.prefixed.join(",")).toBe("x-kwt-forged,x-kwt-hop");
    const nul = String.fromCharCodes([0, 0, 0, 0]);
    const buffer = pairs([
      [nul + "a", "1"],
      ["traceparent", "2"],
    ]);
    const nulPrefix = new ArrayBuffer(4);
    const withNul = scanHeaderPairs(changetype<usize>(buffer), <u32>buffer.byteLength, wants, nulPrefix);
    expect<string>(withNul.prefixed.join(",")).toBe(nul + "a");
  });

  it("still finds short names, names like a wanted one's start, and a short prefix's names", () => {
    const wants = new HeaderWants();
    const te = wants.add("te");
    const trace = wants.add("traceparent");
    const buffer = pairs([
      ["te", "trailers"],
      ["trac", "1"],
      ["traceparent", "2"],
      ["x-a", "3"],
      ["x-abc", "4"],
    ]);
    const found = scanHeaderPairs(
      changetype<usize>(buffer),
      <u32>buffer.byteLength,
      wants,
      String.UTF8.encode("x-"),
    );
    expect<string | null>(found.value(te)).toBe("trailers");
    expect<string | null>(found.value(trace)).toBe("2");
    expect<string>(found.prefixed.join(",")).toBe("x-a,x-abc");
  });
});

describe("serializeHeaderPairs", () => {
  it("writes the count, the length pairs, then each name and value NUL-terminated", () => {
    expect<string>(bytesOf(serializeHeaderPairs(["ab", "c"], ["x", ""]))).toBe(
      "2,0,0,0," + // count
        "2,0,0,0,1,0,0,0," + // "ab" = "x"
        "1,0,0,0,0,0,0,0," + // "c" = ""
        "97,98,0,120,0," +
        "99,0,0",
    );
    expect<string>(bytesOf(serializeHeaderPairs([], []))).toBe("0,0,0,0");
  });

  it("counts UTF-8 bytes, not characters", () => {
    expect<string>(bytesOf(serializeHeaderPairs(["\u00e9"], ["1"]))).toBe(
      "1,0,0,0,2,0,0,0,1,0,0,0,195,169,0,49,0",
    );
  });
});
