/** Colours and progress only for a person at a terminal; plain lines for pipes, logs and CI. */
export function isInteractive(stream: NodeJS.WriteStream = process.stdout): boolean {
  return Boolean(stream.isTTY) && !process.env.CI && !process.env.NO_COLOR;
}

const codes = { red: 31, green: 32, yellow: 33, bold: 1, dim: 2 } as const;
export type Style = keyof typeof codes;

export function style(text: string, name: Style, stream: NodeJS.WriteStream = process.stdout): string {
  return isInteractive(stream) ? `\u001b[${codes[name]}m${text}\u001b[0m` : text;
}

/** Renders rows as aligned columns; the first row is the header. */
export function renderTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** A one-line progress indicator on a terminal; elsewhere each step is one plain line. */
export class Progress {
  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  step(message: string): void {
    if (isInteractive(this.stream)) this.stream.write(`\r\u001b[2K${message}`);
    else this.stream.write(`${message}\n`);
  }

  done(): void {
    if (isInteractive(this.stream)) this.stream.write("\r\u001b[2K");
  }
}
