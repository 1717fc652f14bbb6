/**
 * A table of UTF-8 texts laid end to end, as generated AssemblyScript declares it for
 * assembly/utf8table.ts: the bytes and where each text ends.
 */
export interface Utf8Table {
  bytes: number[];
  ends: number[];
}

export function utf8Table(texts: readonly string[]): Utf8Table {
  const bytes: number[] = [];
  const ends: number[] = [];
  for (const text of texts) {
    bytes.push(...Buffer.from(text, "utf8"));
    ends.push(bytes.length);
  }
  if (bytes.length > 0xffff) throw new Error("UTF-8 table: over 65,535 bytes no longer fits its u16 ends");
  return { bytes, ends };
}

/** The two declarations of `table`: `<prefix>_BYTES` and `<prefix>_ENDS`. */
export function utf8TableDeclarations(prefix: string, table: Utf8Table): string[] {
  return [
    `const ${prefix}_BYTES: usize = memory.data<u8>([${table.bytes.join(", ")}]);`,
    `const ${prefix}_ENDS: usize = memory.data<u16>([${table.ends.join(", ")}]);`,
  ];
}
