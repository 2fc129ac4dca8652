import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { builtDist } from '../helpers/dist.js';

// The bin runs dist/cli.js: built once per run (it was only there when another file or `npm ci` had built it).
beforeAll(() => builtDist(), 300_000);

describe('ear-guard --help (built bin)', () => {
  it('prints usage and exits 0', () => {
    const out = execFileSync(process.execPath, ['bin/ear-guard.js', '--help'], { encoding: 'utf8' });
    expect(out).toMatch(/Usage: ear-guard <command>/);
  });
});
