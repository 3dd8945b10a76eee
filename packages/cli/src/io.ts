import type { Readable, Writable } from 'node:stream';

/**
 * Everything a command may print goes through here: human text on stdout,
 * problems on stderr, and `--output json` as one document on stdout.
 */
export interface Io {
  /** Standard input, for `-f -`; absent where nothing can be read (tests that do not need it). */
  in?: Readable;
  out: Writable;
  err: Writable;
  env: NodeJS.ProcessEnv;
  /** Registers what to do on a reload request (the bin: SIGHUP); absent where none can come. */
  onReload?: (listener: () => void) => void;
}

export function printLine(io: Io, text = ''): void {
  io.out.write(`${text}\n`);
}

export function printError(io: Io, text: string): void {
  io.err.write(`${text}\n`);
}

/** Progress for steps that can take over a second; only on a terminal, so scripts and error output stay clean. */
export function printProgress(io: Io, text: string): void {
  if ((io.err as { isTTY?: boolean }).isTTY === true) io.err.write(`${text}\n`);
}

export function printJson(io: Io, value: unknown): void {
  io.out.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Renders rows as a kubectl-style table: upper-case headings, columns padded with two spaces. */
export function formatTable(headings: string[], rows: string[][]): string {
  const widths = headings.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const render = (cells: string[]) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ');
  return [render(headings), ...rows.map(render)].join('\n');
}

export type OutputFormat = 'human' | 'json';
