/**
 * Generated regions inside hand-written files: the lines between a BEGIN and an END marker comment
 * belong to `npm run generate`; everything around them is left as it is.
 */

export type CommentStyle = "markdown" | "yaml";

function markers(name: string, style: CommentStyle): { begin: string; end: string } {
  const begin = `BEGIN generated ${name} (npm run generate)`;
  const end = `END generated ${name}`;
  return style === "markdown"
    ? { begin: `<!-- ${begin} -->`, end: `<!-- ${end} -->` }
    : { begin: `# ${begin}`, end: `# ${end}` };
}

/**
 * `text` with every region named `name` holding `lines` (indented like its BEGIN marker). A file
 * without the region is an error that names it, so a lost marker is noticed, not skipped.
 */
export function replaceRegion(
  text: string,
  file: string,
  name: string,
  style: CommentStyle,
  lines: readonly string[],
): string {
  const { begin, end } = markers(name, style);
  const input = text.split("\n");
  const output: string[] = [];
  let found = 0;
  for (let i = 0; i < input.length; i++) {
    const line = input[i] ?? "";
    output.push(line);
    if (line.trim() !== begin) continue;
    const indent = line.slice(0, line.indexOf(begin));
    const close = input.findIndex((candidate, at) => at > i && candidate.trim() === end);
    if (close < 0) throw new Error(`${file}: "${begin}" has no "${end}" after it`);
    output.push(...lines.map((content) => (content === "" ? "" : indent + content)), input[close] ?? "");
    i = close;
    found++;
  }
  if (found === 0) throw new Error(`${file}: no "${begin}" marker; put the marker pair where ${name} goes`);
  return output.join("\n");
}
