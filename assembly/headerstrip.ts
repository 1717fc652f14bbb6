// Removing many headers at once: Envoy's remove_header_map_value scans the whole map for one name,
// so n forged headers removed one by one cost n host calls of O(map) each. Instead the glue writes
// the map back once without them (proxy_set_header_map_pairs). Pure: builds the pairs buffer.
//
// The input is a pairs buffer as the host serialises it (headerscan.ts describes the format); one
// whose lengths do not fit its size is refused (null), and the glue removes the names one by one.

import { startsWithBytes } from "./headerscan";

function matchesAny(at: usize, length: u32, names: ArrayBuffer[]): bool {
  for (let i = 0; i < names.length; i++) {
    const name = unchecked(names[i]);
    if (<u32>name.byteLength == length && memory.compare(changetype<usize>(name), at, length) == 0)
      return true;
  }
  return false;
}

/**
 * The `size` bytes of pairs at `base` without every pair whose name is one of `names` or starts
 * with `prefix`, in the same order and format.
 */
export function pairsWithout(
  base: usize,
  size: u32,
  names: ArrayBuffer[],
  prefix: ArrayBuffer,
): ArrayBuffer | null {
  const count = size >= 4 ? load<u32>(base) : 0;
  if (<u64>size < 4 + <u64>count * 8) return null;
  const keep = new StaticArray<bool>(<i32>count);
  let kept: u32 = 0;
  let keptBytes: usize = 0;
  let at = base + 4 + <usize>count * 8;
  let data: u64 = 4 + <u64>count * 8;
  for (let i: u32 = 0; i < count; i++) {
    const nameLength = load<u32>(base + 4 + i * 8);
    const valueLength = load<u32>(base + 8 + i * 8);
    data += <u64>nameLength + 1 + <u64>valueLength + 1;
    if (data > <u64>size) return null;
    const dropped = matchesAny(at, nameLength, names) || startsWithBytes(at, nameLength, prefix);
    unchecked((keep[i] = !dropped));
    if (!dropped) {
      kept++;
      keptBytes += <usize>nameLength + 1 + <usize>valueLength + 1;
    }
    at += <usize>nameLength + 1 + <usize>valueLength + 1;
  }
  const out = new ArrayBuffer(<i32>(4 + <usize>kept * 8 + keptBytes));
  const outBase = changetype<usize>(out);
  store<u32>(outBase, kept);
  let lengthAt = outBase + 4;
  let dataAt = outBase + 4 + <usize>kept * 8;
  at = base + 4 + <usize>count * 8;
  for (let i: u32 = 0; i < count; i++) {
    const nameLength = load<u32>(base + 4 + i * 8);
    const valueLength = load<u32>(base + 8 + i * 8);
    const bytes = <usize>nameLength + 1 + <usize>valueLength + 1;
    if (unchecked(keep[i])) {
      store<u32>(lengthAt, nameLength);
      store<u32>(lengthAt + 4, valueLength);
      lengthAt += 8;
      memory.copy(dataAt, at, bytes);
      dataAt += bytes;
    }
    at += bytes;
  }
  return out;
}
