// `ear-guard start` prints the function key only when it generated it: a key chosen through LOCAL_FUNCTION_KEY is
// the operator's secret and stays out of the banner (terminal scrollback, CI logs), which shows a placeholder.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runStart } from '../../src/commands/start.js';

async function banner(env: Record<string, string>, json = false): Promise<{ code: number; out: string }> {
  const cwd = mkdtempSync(join(tmpdir(), 'earguard-banner-'));
  let out = '';
  const code = await runStart(['--port', '0', ...(json ? ['--json'] : [])], {
    stdout: (s) => (out += s),
    stderr: () => undefined,
    env: { PATH: process.env.PATH ?? '', HOME: cwd, ...env },
    cwd,
    until: Promise.resolve(),
  });
  return { code, out };
}

describe('ear-guard start banner', () => {
  it('never prints a key set through LOCAL_FUNCTION_KEY', async () => {
    const key = 'operator-chosen-key-0123456789abcdef';
    const text = await banner({ LOCAL_FUNCTION_KEY: key });
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/status page/);
    expect(text.out).not.toContain(key);
    expect(text.out).toContain('code=<LOCAL_FUNCTION_KEY>');
    const json = await banner({ LOCAL_FUNCTION_KEY: key }, true);
    expect(json.out).not.toContain(key);
  }, 60_000);

  it('prints a generated key, so the first run is usable', async () => {
    const text = await banner({});
    expect(text.code).toBe(0);
    const key = /function key {2}(\S+) {3}\(generated/.exec(text.out)?.[1];
    expect(key).toBeTruthy();
    expect(text.out).toContain(`code=${key}`);
  }, 60_000);
});
