import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';

describe('ear-guard --help (built bin)', () => {
  it('prints usage and exits 0', () => {
    const out = execFileSync(process.execPath, ['bin/ear-guard.js', '--help'], { encoding: 'utf8' });
    expect(out).toMatch(/Usage: ear-guard <command>/);
  });
});
