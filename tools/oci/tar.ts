/**
 * A minimal ustar writer and reader: enough for a one-file image layer, and for reading the
 * layers istio-agent reads (regular files; directories and links are skipped).
 */

const BLOCK = 512;

export interface TarFile {
  name: string;
  content: Uint8Array;
}

/** Octal field of `width` bytes: digits, then a NUL, as POSIX ustar expects. */
function octal(value: number, width: number): string {
  const digits = value.toString(8);
  if (digits.length > width - 1)
    throw new Error(`tar: value ${value} does not fit in ${width - 1} octal digits`);
  return digits.padStart(width - 1, "0") + "\0";
}

function writeAscii(block: Uint8Array, offset: number, text: string): void {
  for (let i = 0; i < text.length; i++) block[offset + i] = text.charCodeAt(i);
}

/**
 * One header block. Everything that could vary between machines is fixed: mode 0644,
 * owner 0:0 with no user/group names, mtime 0 (1970-01-01), so the same files give the same bytes.
 */
function header(file: TarFile): Uint8Array {
  if (!/^[\x21-\x7e]{1,100}$/.test(file.name) || file.name.startsWith("/")) {
    throw new Error(`tar: '${file.name}' must be a relative name of 1 to 100 printable ASCII characters`);
  }
  const block = new Uint8Array(BLOCK);
  writeAscii(block, 0, file.name);
  writeAscii(block, 100, octal(0o644, 8));
  writeAscii(block, 108, octal(0, 8));
  writeAscii(block, 116, octal(0, 8));
  writeAscii(block, 124, octal(file.content.length, 12));
  writeAscii(block, 136, octal(0, 12));
  writeAscii(block, 148, " ".repeat(8)); // the checksum is summed with its own field as spaces
  writeAscii(block, 156, "0"); // regular file
  writeAscii(block, 257, "ustar\0");
  writeAscii(block, 263, "00");
  const checksum = block.reduce((sum, byte) => sum + byte, 0);
  writeAscii(block, 148, checksum.toString(8).padStart(6, "0") + "\0 ");
  return block;
}

function paddedLength(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** The archive of `files` in the order given, ended by the two zero blocks POSIX requires. */
export function writeTar(files: readonly TarFile[]): Uint8Array {
  const total = files.reduce((sum, f) => sum + BLOCK + paddedLength(f.content.length), 0) + 2 * BLOCK;
  const archive = new Uint8Array(total);
  let offset = 0;
  for (const file of files) {
    archive.set(header(file), offset);
    archive.set(file.content, offset + BLOCK);
    offset += BLOCK + paddedLength(file.content.length);
  }
  return archive;
}

function readAscii(block: Uint8Array, offset: number, width: number): string {
  const field = block.subarray(offset, offset + width);
  const end = field.indexOf(0);
  return String.fromCharCode(...(end === -1 ? field : field.subarray(0, end)));
}

function readOctal(block: Uint8Array, offset: number, width: number, what: string): number {
  const text = readAscii(block, offset, width).trim();
  if (!/^[0-7]*$/.test(text)) throw new Error(`tar: ${what} field '${text}' is not octal`);
  return text === "" ? 0 : parseInt(text, 8);
}

/**
 * The regular files in a tar archive, in archive order. ustar `prefix` names are joined;
 * other entry types (directories, links, pax headers) are skipped, as Go's reader exposes them
 * but carry no file content istio-agent would pick.
 */
export function readTar(archive: Uint8Array): TarFile[] {
  const files: TarFile[] = [];
  let offset = 0;
  while (offset + BLOCK <= archive.length) {
    const block = archive.subarray(offset, offset + BLOCK);
    if (block.every((byte) => byte === 0)) break;
    const stored = readOctal(block, 148, 8, "checksum");
    const computed = block.reduce((sum, byte, i) => sum + (i >= 148 && i < 156 ? 32 : byte), 0);
    if (stored !== computed) throw new Error(`tar: header at offset ${offset} has a bad checksum`);
    const size = readOctal(block, 124, 12, "size");
    const type = String.fromCharCode(block[156] ?? 0);
    const prefix = readAscii(block, 345, 155);
    const name = (prefix ? `${prefix}/` : "") + readAscii(block, 0, 100);
    const start = offset + BLOCK;
    if (start + size > archive.length) throw new Error(`tar: '${name}' runs past the end of the archive`);
    if (type === "0" || type === "\0")
      files.push({ name, content: new Uint8Array(archive.subarray(start, start + size)) });
    offset = start + paddedLength(size);
  }
  return files;
}
