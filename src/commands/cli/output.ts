// What a command prints: JSON with secrets masked (the one redactor, observability/redact.ts), aligned tables and a
// progress bar.
import { maskFields, redactText } from '../../observability/redact.js';
import type { CliIo } from './io.js';

export const MASK = '********';

/** A deep copy with every secret-looking field masked. */
export function maskSecrets<T>(v: T): T {
  return maskFields(v, MASK);
}

/** Masks secrets that may hide in free text (connection-string keys, SAS signatures, digest headers, tokens). */
export function maskText(s: string): string {
  return redactText(s, MASK);
}

export function writeJson(io: CliIo, v: unknown): void {
  io.stdout.write(JSON.stringify(maskSecrets(v), null, 2) + '\n');
}

/** An aligned table: columns padded to the widest cell, two spaces apart. */
export function table(headers: string[], rows: (string | number | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === undefined || c === '' ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return (
    cells
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]!)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** A progress bar on a TTY (stderr, redrawn in place), plain lines otherwise. */
export function progress(io: CliIo, total: number, label: string) {
  const tty = io.stderr.isTTY === true;
  return {
    tick(done: number, text: string) {
      if (tty) {
        const width = 24;
        const filled = total ? Math.round((done / total) * width) : width;
        io.stderr.write(
          `\r\x1b[2K${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${text}`,
        );
      } else {
        io.stderr.write(`${label} ${done}/${total} ${text}\n`);
      }
    },
    end() {
      if (tty) io.stderr.write('\r\x1b[2K');
    },
  };
}
