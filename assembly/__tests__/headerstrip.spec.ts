import { scanHeaderPairs, serializeHeaderPairs, HeaderWants } from "../headerscan";
import { pairsWithout } from "../headerstrip";

const PREFIX = String.UTF8.encode("x-kwt-");

function namesOf(pairs: ArrayBuffer): string[] {
  const wants = new HeaderWants();
  wants.add(":path");
  wants.add("k-proxy-request");
  wants.add("my-entry");
  const scan = scanHeaderPairs(changetype<usize>(pairs), <u32>pairs.byteLength, wants, PREFIX);
  expect<bool>(scan.wellFormed).toBe(true);
  const out: string[] = [];
  for (let slot = 0; slot < wants.size; slot++) if (scan.has(slot)) out.push(wants.names[slot]);
  for (let i = 0; i < scan.prefixed.length; i++) out.push(scan.prefixed[i]);
  return out;
}

describe("pairsWithout", () => {
  it("drops the named pairs and every prefixed one, keeping the rest and their values in order", () => {
    const pairs = serializeHeaderPairs(
      [":path", "x-kwt-a", "my-entry", "k-proxy-request", "x-kwt-b", "accept"],
      ["/", "1", "2", "activator", "3", "*/*"],
    );
    const names = [String.UTF8.encode("my-entry"), String.UTF8.encode("k-proxy-request")];
    const out = pairsWithout(changetype<usize>(pairs), <u32>pairs.byteLength, names, PREFIX)!;
    expect<ArrayBuffer>(out).toStrictEqual(serializeHeaderPairs([":path", "accept"], ["/", "*/*"]));
    expect<string[]>(namesOf(out)).toStrictEqual([":path"]);
  });

  it("gives an empty map when everything goes", () => {
    const pairs = serializeHeaderPairs(["x-kwt-a"], ["1"]);
    const out = pairsWithout(changetype<usize>(pairs), <u32>pairs.byteLength, [], PREFIX)!;
    expect<i32>(out.byteLength).toBe(4);
    expect<u32>(load<u32>(changetype<usize>(out))).toBe(0);
  });

  it("refuses a buffer whose lengths do not fit its size (the glue then removes by name)", () => {
    const pairs = serializeHeaderPairs(["x-kwt-a", "accept"], ["1", "*/*"]);
    expect<ArrayBuffer | null>(
      pairsWithout(changetype<usize>(pairs), <u32>pairs.byteLength - 2, [], PREFIX),
    ).toBeNull();
    const count = new ArrayBuffer(4);
    store<u32>(changetype<usize>(count), 1000);
    expect<ArrayBuffer | null>(pairsWithout(changetype<usize>(count), 4, [], PREFIX)).toBeNull();
  });
});
