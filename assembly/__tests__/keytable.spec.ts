import { KeyedObjects, KeyTable, hashText } from "../keytable";

/** writeKeyUtf8 of `key` held with `value`, checked against keyLengthOf, decoded; null when none. */
function utf8Of(table: KeyTable, key: string, value: u32): string | null {
  const hash = hashText(key, key.length);
  const length = table.keyLengthOf(hash, value);
  if (length < 0) {
    expect<i32>(table.writeKeyUtf8(hash, value, 0)).toBe(-1);
    return null;
  }
  expect<i32>(length).toBe(key.length);
  const buffer = new ArrayBuffer(length * 3);
  const bytes = table.writeKeyUtf8(hash, value, changetype<usize>(buffer));
  expect<i32>(bytes).toBe(String.UTF8.byteLength(key));
  return String.UTF8.decodeUnsafe(changetype<usize>(buffer), bytes);
}

describe("KeyTable", () => {
  it("finds a key from its ASCII bytes, also the start of longer bytes, never from other bytes", () => {
    const table = new KeyTable();
    table.set("alpha;t=1", 1);
    table.set("beta", 2);
    table.set("caf\u00e9", 3);
    table.set("\u4e16", 4);
    const bytes = String.UTF8.encode("alpha;t=1;x");
    const at = changetype<usize>(bytes);
    expect<u32>(table.getBytes(at, 9, 0, 0)).toBe(1);
    expect<u32>(table.getBytes(at, 5, 0, 0)).toBe(0);
    expect<u32>(table.getBytes(at, 11, 0, 0)).toBe(0);
    const beta = String.UTF8.encode("beta");
    expect<u32>(table.getBytes(changetype<usize>(beta), 4, 0, 0)).toBe(2);
    // Not ASCII: never found from bytes (its UTF-8 is not its characters); the text finds it.
    const cafe = String.UTF8.encode("caf\u00e9");
    expect<u32>(table.getBytes(changetype<usize>(cafe), cafe.byteLength, 9, 9)).toBe(9);
    expect<u32>(table.get("caf\u00e9", 0)).toBe(3);
    const wide = String.UTF8.encode("\u4e16");
    expect<u32>(table.getBytes(changetype<usize>(wide), wide.byteLength, 9, 9)).toBe(9);
  });

  it("finds each start of a text from its bytes, and wide keys that differ only above their low bytes", () => {
    // Keys are hashed four characters a step, then one at a time: every length up to three steps.
    const text = "rev=hello-00001;ns=default";
    const bytes = String.UTF8.encode(text);
    const table = new KeyTable();
    for (let n = 1; n <= 14; n++) table.set(text.substring(0, n), <u32>n);
    for (let n = 1; n <= 14; n++) {
      expect<u32>(table.getBytes(changetype<usize>(bytes), n, 0, 0)).toBe(<u32>n);
      expect<u32>(table.get(text, 0, n)).toBe(<u32>n);
    }
    table.set("\u0161\u0162\u0163\u0164\u0165", 100);
    table.set("\u0261\u0262\u0263\u0264\u0265", 200);
    table.set("abcde", 300);
    expect<u32>(table.get("\u0161\u0162\u0163\u0164\u0165", 0)).toBe(100);
    expect<u32>(table.get("\u0261\u0262\u0263\u0264\u0265", 0)).toBe(200);
    expect<u32>(table.get("abcde", 0)).toBe(300);
  });

  it("hashes keys apart: sequential names, pod-stamp-like texts, and wide keys alike in their low bytes", () => {
    // The table compares whole keys, so a collision costs probes, not answers: only the hash can
    // show it. 20,000 keys of each shape against 2^32 values: a collision is all but impossible
    // for a hash that mixes every character in.
    const shapes = ["key", "rev=hello-", "hello-"];
    const suffixes = ["", ";ns=default;c=east;r=us-east1", "-deployment"];
    for (let s = 0; s < shapes.length; s++) {
      const seen = new Set<u32>();
      for (let i = 0; i < 20_000; i++) {
        const key = shapes[s] + i.toString() + suffixes[s];
        const hash = hashText(key, key.length);
        if (seen.has(hash)) throw new Error("hash collision at " + key);
        seen.add(hash);
      }
    }
    const a = "\u0161\u0162\u0163\u0164abcd";
    const b = "abcd\u6101\u6201\u6301\u6401";
    expect<bool>(hashText(a, a.length) != hashText(b, b.length)).toBe(true);
    const c = "\u0161\u0162\u0163\u0164";
    const d = "\u0261\u0262\u0263\u0264";
    expect<bool>(hashText(c, c.length) != hashText(d, d.length)).toBe(true);
  });

  it("gives back the key holding a value, narrow or wide, and none for a removed or unknown one", () => {
    const table = new KeyTable();
    table.set("alpha", 1);
    table.set("caf\u00e9", 2);
    table.set("\u4e16\u754c", 3);
    table.set("gone", 4);
    table.deleteValue(hashText("gone", 4), 4);
    expect<string | null>(table.keyOf(hashText("alpha", "alpha".length), 1)).toBe("alpha");
    expect<string | null>(table.keyOf(hashText("caf\u00e9", "caf\u00e9".length), 2)).toBe("caf\u00e9");
    expect<string | null>(table.keyOf(hashText("\u4e16\u754c", "\u4e16\u754c".length), 3)).toBe(
      "\u4e16\u754c",
    );
    expect<string | null>(table.keyOf(hashText("gone", 4), 4)).toBeNull();
    expect<string | null>(table.keyOf(hashText("alpha", 5), 5)).toBeNull();
    expect<string | null>(table.keyOf(hashText("beta", 4), 1)).toBeNull();
  });

  it("writes the key holding a value as UTF-8 with its length in characters, narrow or wide", () => {
    const table = new KeyTable();
    table.set("east/demo/hello-00001", 1);
    table.set("caf\u00e9/\u4e16\u754c", 2);
    table.set("gone", 3);
    table.deleteValue(hashText("gone", 4), 3);
    // Narrow, but not ASCII: each of these characters is one byte in the table, two in UTF-8.
    table.set("east/caf\u00e9/r-1", 4);
    table.set("\u{1F600}", 5);
    expect<string | null>(utf8Of(table, "east/demo/hello-00001", 1)).toBe("east/demo/hello-00001");
    expect<string | null>(utf8Of(table, "caf\u00e9/\u4e16\u754c", 2)).toBe("caf\u00e9/\u4e16\u754c");
    expect<string | null>(utf8Of(table, "east/caf\u00e9/r-1", 4)).toBe("east/caf\u00e9/r-1");
    expect<string | null>(utf8Of(table, "\u{1F600}", 5)).toBe("\u{1F600}");
    expect<string | null>(utf8Of(table, "gone", 3)).toBeNull();
    expect<string | null>(utf8Of(table, "east/demo/hello-00001", 2)).toBeNull();
  });

  it("maps keys to values and tells a missing key", () => {
    const table = new KeyTable();
    table.set("alpha", 1);
    table.set("beta", 2);
    expect<u32>(table.get("alpha", 0)).toBe(1);
    expect<u32>(table.get("beta", 0)).toBe(2);
    expect<u32>(table.get("gamma", 99)).toBe(99);
    expect<u32>(table.get("alph", 0)).toBe(0);
    expect<u32>(table.get("alphaa", 0)).toBe(0);
    expect<i32>(table.size).toBe(2);
  });

  it("replaces the value of a key it holds", () => {
    const table = new KeyTable();
    table.set("k", 1);
    table.set("k", 7);
    expect<u32>(table.get("k", 0)).toBe(7);
    expect<i32>(table.size).toBe(1);
  });

  it("looks up and adds the start of a longer text", () => {
    const table = new KeyTable();
    const text = "1;c=east;v=hello-00001;t=123";
    const start = text.lastIndexOf(";t=");
    table.set(text, 5, start);
    expect<u32>(table.get("1;c=east;v=hello-00001", 0)).toBe(5);
    expect<u32>(table.get("1;c=east;v=hello-00001;t=999", 0, start)).toBe(5);
    expect<u32>(table.get(text, 0)).toBe(0);
  });

  it("tells keys apart that differ only above U+00FF or only in the high byte", () => {
    const table = new KeyTable();
    table.set("r\u0101", 1);
    table.set("r\u0001", 2);
    table.set("r\u00e9", 3);
    expect<u32>(table.get("r\u0101", 0)).toBe(1);
    expect<u32>(table.get("r\u0001", 0)).toBe(2);
    expect<u32>(table.get("r\u00e9", 0)).toBe(3);
    expect<u32>(table.get("r\u0201", 0)).toBe(0);
  });

  it("keeps every key through its growth", () => {
    const table = new KeyTable();
    for (let i = 0; i < 5000; i++) table.set("series-" + i.toString() + "-" + "x".repeat(i % 90), <u32>i + 1);
    expect<i32>(table.size).toBe(5000);
    for (let i = 0; i < 5000; i++) {
      expect<u32>(table.get("series-" + i.toString() + "-" + "x".repeat(i % 90), 0)).toBe(<u32>i + 1);
    }
    expect<u32>(table.get("series-5000-", 0)).toBe(0);
  });

  it("forgets removed keys and keeps the others while keys come and go", () => {
    const table = new KeyTable();
    const kept = 50;
    for (let i = 0; i < 3000; i++) {
      table.set("k" + i.toString(), <u32>i + 1);
      if (i >= kept) {
        const gone = "k" + (i - kept).toString();
        table.deleteValue(hashText(gone, gone.length), <u32>(i - kept) + 1);
      }
    }
    expect<i32>(table.size).toBe(kept);
    for (let i = 0; i < 3000 - kept; i++) expect<u32>(table.get("k" + i.toString(), 0)).toBe(0);
    for (let i = 3000 - kept; i < 3000; i++) expect<u32>(table.get("k" + i.toString(), 0)).toBe(<u32>i + 1);
    table.deleteValue(hashText("absent", 6), 1);
    expect<i32>(table.size).toBe(kept);
  });

  it("agrees with a plain list of keys through 5,000 random adds and removals", () => {
    // Few slots for many keys: removals land in the middle of long probe chains, where a key moved
    // up into a removed one's slot must still be found, and a removed one never.
    const pool = 300;
    const held = new StaticArray<u32>(pool);
    const table = new KeyTable();
    let state: u32 = 12345;
    let size = 0;
    for (let step = 0; step < 5000; step++) {
      state = state * 1103515245 + 12345;
      const k = <i32>((state >> 8) % <u32>pool);
      const key = "pod-" + k.toString() + (k % 3 == 0 ? "-longer" : "");
      if (((state >> 20) & 3) == 0 && held[k] != 0) {
        table.deleteValue(hashText(key, key.length), held[k]);
        held[k] = 0;
        size--;
      } else if (held[k] == 0) {
        const value = <u32>step + 1;
        table.set(key, value);
        held[k] = value;
        size++;
      }
      if (step % 251 == 0) {
        for (let j = 0; j < pool; j++) {
          const other = "pod-" + j.toString() + (j % 3 == 0 ? "-longer" : "");
          expect<u32>(table.get(other, 0)).toBe(held[j]);
        }
      }
    }
    expect<i32>(table.size).toBe(size);
  });

  it("puts a new key in the place and bytes of a removed one as long, so keys coming and going do not grow it", () => {
    const table = new KeyTable();
    const live = 60;
    // Three lengths, as stamps of revisions with names of three lengths.
    const keyOf = (i: i32): string => "stamp-" + "r".repeat(i % 3) + ";rd=" + (1000000 + i).toString();
    for (let i = 0; i < live; i++) table.set(keyOf(i), <u32>i + 1);
    const bytes = table.storedBytes;
    for (let i = live; i < 3000; i++) {
      const gone = keyOf(i - live);
      table.deleteValue(hashText(gone, gone.length), <u32>(i - live) + 1);
      table.set(keyOf(i), <u32>i + 1);
    }
    expect<i32>(table.storedBytes).toBe(bytes);
    expect<i32>(table.size).toBe(live);
    for (let i = 3000 - live; i < 3000; i++) expect<u32>(table.get(keyOf(i), 0)).toBe(<u32>i + 1);
    expect<u32>(table.get(keyOf(3000 - live - 1), 0)).toBe(0);
    // A length no removed key had takes new bytes.
    table.set("a key of a new length", 1);
    expect<i32>(table.storedBytes).toBe(bytes + 21);
  });

  it("reuses a removed key's bytes for a new key they hold, narrow or wide, up to 1,023 bytes", () => {
    const table = new KeyTable();
    const wide = "\u0100\u0101"; // 4 bytes as UTF-16
    table.set(wide, 1);
    table.set("x".repeat(1023), 2);
    table.set("y".repeat(1024), 3);
    table.set("z".repeat(20), 4);
    let bytes = table.storedBytes;
    expect<i32>(bytes).toBe(4 + 1023 + 1024 + 20);
    table.deleteValue(hashText(wide, 2), 1);
    table.set("abcd", 5);
    expect<i32>(table.storedBytes).toBe(bytes);
    expect<u32>(table.get("abcd", 0)).toBe(5);
    expect<u32>(table.get(wide, 0)).toBe(0);
    const longest = "x".repeat(1023);
    table.deleteValue(hashText(longest, 1023), 2);
    table.set("w".repeat(1023), 6);
    expect<i32>(table.storedBytes).toBe(bytes);
    // 1,024 bytes and more wait for a rebuild.
    const tooLong = "y".repeat(1024);
    table.deleteValue(hashText(tooLong, 1024), 3);
    table.set("v".repeat(1024), 7);
    bytes += 1024;
    expect<i32>(table.storedBytes).toBe(bytes);
    // A shorter key takes the bytes of a longer removed one (up to 32 more); a longer, new bytes.
    const twenty = "z".repeat(20);
    table.deleteValue(hashText(twenty, 20), 4);
    table.set("s".repeat(60), 8);
    bytes += 60;
    expect<i32>(table.storedBytes).toBe(bytes);
    table.set("t".repeat(18), 9);
    expect<i32>(table.storedBytes).toBe(bytes);
    expect<u32>(table.get("t".repeat(18), 0)).toBe(9);
    expect<u32>(table.get("v".repeat(1024), 0)).toBe(7);
    expect<u32>(table.get("w".repeat(1023), 0)).toBe(6);
  });

  it("removes a key by its hash and value, and only that key", () => {
    const table = new KeyTable();
    table.set("a", 1);
    table.set("b", 2);
    table.deleteValue(hashText("a", 1), 2);
    expect<i32>(table.size).toBe(2);
    table.deleteValue(hashText("a", 1), 1);
    expect<u32>(table.get("a", 0)).toBe(0);
    expect<u32>(table.get("b", 0)).toBe(2);
    expect<i32>(table.size).toBe(1);
    table.deleteValue(hashText("a", 1), 1);
    expect<i32>(table.size).toBe(1);
  });

  it("hashes the characters, not where they are", () => {
    const a = "same text";
    const b = "same " + "text";
    expect<u32>(hashText(a, a.length)).toBe(hashText(b, b.length));
    expect<u32>(hashText("abc", 2)).toBe(hashText("ab", 2));
  });
});

class Box {
  constructor(public label: string) {}
}

describe("KeyedObjects", () => {
  it("gives back each object by its exact key, and null for a key it has none of", () => {
    const objects = new KeyedObjects<Box>();
    expect<i32>(objects.size).toBe(0);
    expect<Box | null>(objects.get("east")).toBeNull();
    const east = new Box("east");
    objects.add("east", east);
    objects.add("caf\u00e9", new Box("cafe"));
    expect<i32>(objects.size).toBe(2);
    expect<bool>(objects.get("east") === east).toBe(true);
    expect<string>(objects.get("caf\u00e9")!.label).toBe("cafe");
    expect<Box | null>(objects.get("eas")).toBeNull();
    expect<Box | null>(objects.get("east2")).toBeNull();
  });

  it("finds an object by the start of a text, by ASCII bytes, and by the index add gave it", () => {
    const objects = new KeyedObjects<Box>();
    const text = "1;c=west;r=eu-west1;t=100";
    expect<i32>(objects.add(text, new Box("west"), 19)).toBe(0);
    expect<i32>(objects.add("caf\u00e9", new Box("cafe"))).toBe(1);
    expect<string>(objects.get("1;c=west;r=eu-west1;t=250", 19)!.label).toBe("west");
    expect<Box | null>(objects.get(text)).toBeNull();
    const bytes = String.UTF8.encode("1;c=west;r=eu-west1;t=7");
    expect<string>(objects.getBytes(changetype<usize>(bytes), 19)!.label).toBe("west");
    expect<Box | null>(objects.getBytes(changetype<usize>(bytes), 18)).toBeNull();
    // Not ASCII: its UTF-8 is not its characters, so only the text finds it.
    const cafe = String.UTF8.encode("caf\u00e9");
    expect<Box | null>(objects.getBytes(changetype<usize>(cafe), cafe.byteLength)).toBeNull();
    expect<i32>(objects.indexOf("caf\u00e9")).toBe(1);
    expect<i32>(objects.indexOf("cafe")).toBe(-1);
    expect<string>(objects.at(1).label).toBe("cafe");
  });

  it("keeps every object as the table grows past its first room", () => {
    const objects = new KeyedObjects<Box>();
    for (let i = 0; i < 100; i++) objects.add("cluster-" + i.toString(), new Box(i.toString()));
    expect<i32>(objects.size).toBe(100);
    for (let i = 0; i < 100; i++)
      expect<string>(objects.get("cluster-" + i.toString())!.label).toBe(i.toString());
  });
});
