#!/usr/bin/env node
// Thin launcher: the CLI is built into dist/ by `npm ci` (prepare) or `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('ear-guard: dist/cli.js is missing; run `npm run build` (npm ci does it for you).\n');
  process.exit(2);
}
const { main } = await import(cli);
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  // Every command answers bad input with its own message and exit code; anything that still escapes is reported
  // in one line (no stack trace, which could carry request details), with the exit code for "cannot complete".
  process.stderr.write(`ear-guard: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 4;
}
