// Objects by a u32 id (the streams by their context id): open addressing on the id with linear
// probing, and removal by moving the entries after a removed one back (no tombstones). So streams
// that come and go never make the table rebuild or allocate: it grows, doubling, only when more
// are open at once than it has room for. (AssemblyScript's Map appends every addition to its
// entries and rebuilds them once they are full, a few streams apart when one or two are open.)
// Pure: no host calls.

/** Slots of a new table; a power of two. */
const INITIAL_SLOTS: i32 = 16;

export class IdTable<T> {
  private ids: StaticArray<u32> = new StaticArray<u32>(INITIAL_SLOTS);
  private used: StaticArray<bool> = new StaticArray<bool>(INITIAL_SLOTS);
  private values: StaticArray<T | null> = new StaticArray<T | null>(INITIAL_SLOTS);
  /** Ids held. */
  size: i32 = 0;

  /** The value of `id`; null when it holds none. */
  get(id: u32): T | null {
    const slot = this.slotOf(id);
    return slot < 0 ? null : unchecked(this.values[slot]);
  }

  /** Sets the value of `id`, adding it if new. */
  set(id: u32, value: T): void {
    let slot = this.slotOf(id);
    if (slot < 0) {
      // At most half full, so a probe soon finds a free slot.
      if ((this.size + 1) * 2 > this.ids.length) this.grow();
      slot = this.freeSlotFor(id);
      unchecked((this.ids[slot] = id));
      unchecked((this.used[slot] = true));
      this.size++;
    }
    unchecked((this.values[slot] = value));
  }

  /** Removes `id`; returns the value it had (null when it held none). */
  delete(id: u32): T | null {
    const slot = this.slotOf(id);
    if (slot < 0) return null;
    const value = unchecked(this.values[slot]);
    const ids = this.ids;
    const used = this.used;
    const values = this.values;
    const mask = ids.length - 1;
    // Each entry after the hole that its probe would no longer reach moves into it.
    let hole = slot;
    let next = (hole + 1) & mask;
    while (unchecked(used[next])) {
      const home = homeSlot(unchecked(ids[next]), mask);
      if (((next - home) & mask) >= ((next - hole) & mask)) {
        unchecked((ids[hole] = ids[next]));
        unchecked((values[hole] = values[next]));
        hole = next;
      }
      next = (next + 1) & mask;
    }
    unchecked((used[hole] = false));
    unchecked((values[hole] = null));
    this.size--;
    return value;
  }

  /** The slot holding `id`, or -1. */
  private slotOf(id: u32): i32 {
    const ids = this.ids;
    const used = this.used;
    const mask = ids.length - 1;
    let slot = homeSlot(id, mask);
    while (unchecked(used[slot])) {
      if (unchecked(ids[slot]) == id) return slot;
      slot = (slot + 1) & mask;
    }
    return -1;
  }

  /** The first free slot of `id`'s probe. */
  private freeSlotFor(id: u32): i32 {
    const used = this.used;
    const mask = used.length - 1;
    let slot = homeSlot(id, mask);
    while (unchecked(used[slot])) slot = (slot + 1) & mask;
    return slot;
  }

  private grow(): void {
    const ids = this.ids;
    const used = this.used;
    const values = this.values;
    const slots = ids.length << 1;
    this.ids = new StaticArray<u32>(slots);
    this.used = new StaticArray<bool>(slots);
    this.values = new StaticArray<T | null>(slots);
    for (let i = 0; i < ids.length; i++) {
      if (!unchecked(used[i])) continue;
      const slot = this.freeSlotFor(unchecked(ids[i]));
      unchecked((this.ids[slot] = ids[i]));
      unchecked((this.used[slot] = true));
      unchecked((this.values[slot] = values[i]));
    }
  }
}

/** Where `id`'s probe starts: Fibonacci hashing, so ids a constant step apart spread over the slots. */
function homeSlot(id: u32, mask: i32): i32 {
  const hash = id * 0x9e3779b1;
  return (<i32>(hash ^ (hash >>> 16))) & mask;
}
