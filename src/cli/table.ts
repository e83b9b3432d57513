/**
 * Renders rows as a plain, column-aligned text table for terminals and `grep`/`awk`. It must never
 * let a cell break the layout: control characters and newlines in cells are flattened to spaces.
 */

/** Aligns `rows` under `headers`, two spaces between columns, no trailing spaces. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const cleaned = rows.map((row) => headers.map((_, i) => flatten(row[i] ?? '')));
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...cleaned.map((row) => row[i]?.length ?? 0)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cleaned.map(line)].join('\n');
}

/** Aligned `label  value` lines for a single record; a multi-line value is indented under its first line. */
export function renderFields(fields: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...fields.map(([label]) => label.length));
  const indent = ' '.repeat(width + 2);
  return fields
    .map(([label, value]) => `${label.padEnd(width)}  ${value.split('\n').join(`\n${indent}`)}`.trimEnd())
    .join('\n');
}

// Function authors control descriptions and outputs; a stray newline or escape would corrupt the table.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

function flatten(text: string): string {
  return text.replace(CONTROL, ' ');
}
