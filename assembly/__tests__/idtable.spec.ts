import { IdTable } from "../idtable";

class Box {
  constructor(public readonly n: i32) {}
}

describe("IdTable", () => {
  it("finds what was set, overwrites, and forgets what was deleted", () => {
    const table = new IdTable<Box>();
    expect(table.get(7)).toBeNull();
    table.set(7, new Box(1));
    table.set(0, new Box(2));
    expect<i32>(table.get(7)!.n).toBe(1);
    expect<i32>(table.get(0)!.n).toBe(2);
    table.set(7, new Box(3));
    expect<i32>(table.get(7)!.n).toBe(3);
    expect<i32>(table.size).toBe(2);
    expect<i32>(table.delete(7)!.n).toBe(3);
    expect(table.get(7)).toBeNull();
    expect(table.delete(7)).toBeNull();
    expect<i32>(table.get(0)!.n).toBe(2);
    expect<i32>(table.size).toBe(1);
  });

  it("grows past its first slots and keeps every id", () => {
    const table = new IdTable<Box>();
    for (let i = 0; i < 1_000; i++) table.set(<u32>i * 3 + 1, new Box(i));
    expect<i32>(table.size).toBe(1_000);
    for (let i = 0; i < 1_000; i++) {
      const box = table.get(<u32>i * 3 + 1);
      if (box == null || box.n != i) throw new Error("lost " + i.toString());
    }
    expect(table.get(2)).toBeNull();
  });

  it("agrees with a Map under streams that come and go, colliding ids included", () => {
    const table = new IdTable<Box>();
    const model = new Map<u32, i32>();
    let seed: u32 = 12345;
    for (let step = 0; step < 20_000; step++) {
      seed = seed * 1103515245 + 12345;
      // 48 possible ids over a table of 16 to 128 slots: probes cross and wrap.
      const id: u32 = (seed >>> 16) % 48;
      if (((seed >>> 8) & 3) == 0) {
        const removed = table.delete(id);
        if (model.has(id) != (removed != null)) throw new Error("delete " + id.toString());
        if (removed != null && removed.n != model.get(id)) throw new Error("value " + id.toString());
        model.delete(id);
      } else {
        table.set(id, new Box(step));
        model.set(id, step);
      }
      if (table.size != model.size) throw new Error("size at step " + step.toString());
      for (let k: u32 = 0; k < 48; k++) {
        const box = table.get(k);
        if (model.has(k) != (box != null))
          throw new Error("id " + k.toString() + " at step " + step.toString());
        if (box != null && box.n != model.get(k)) throw new Error("value of " + k.toString());
      }
    }
  });
});
