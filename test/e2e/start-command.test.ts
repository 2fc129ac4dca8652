// `npm start` on a fresh machine: the built CLI starts the sandbox, Azurite and the local host, prints one JSON
// line when ready (--json), answers on its API with the printed key, and stops cleanly on SIGTERM.
import { describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { builtDist } from '../helpers/dist.js';

describe('ear-guard start', () => {
  it('serves the demo sandbox end to end and exits 0 on SIGTERM', async () => {
    builtDist();
    const cwd = mkdtempSync(join(tmpdir(), 'earguard-start-'));
    const child = spawn(process.execPath, [resolve('bin/ear-guard.js'), 'start', '--port', '0', '--json'], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: cwd },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    const ready = await new Promise<Record<string, unknown>>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`not ready in time; stderr:\n${err}`)), 60_000);
      child.stdout.on('data', (c) => {
        out += c;
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) {
          clearTimeout(t);
          res(JSON.parse(line));
        }
      });
      child.on('exit', (code) => rej(new Error(`exited ${code}; stderr:\n${err}`)));
    });
    try {
      expect(out.trim().split('\n')).toHaveLength(1);
      expect(ready.firstSweep).toEqual({ converged: 2 });
      const sandboxFile = join(cwd, '.sandbox', 'sandbox.json');
      expect(existsSync(sandboxFile)).toBe(true);
      expect(JSON.parse(readFileSync(sandboxFile, 'utf8')).armEndpoint).toMatch(/^https:\/\/localhost:\d+$/);
      const list = await fetch(`${ready.api}?code=${ready.functionKey}`);
      expect(list.status).toBe(200);
      expect(((await list.json()) as { projects: unknown[] }).projects).toHaveLength(2);
      expect((await fetch(String(ready.api))).status).toBe(401);
      expect((await fetch(String(ready.health))).status).toBe(200);
      // The CLI reads the state of this stack with the sandbox file alone (exit 0, or execFile rejects).
      const { stdout: status } = await promisify(execFile)(
        process.execPath,
        [resolve('bin/ear-guard.js'), 'status', '--sandbox', '.sandbox/sandbox.json', '--json'],
        { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd }, encoding: 'utf8' },
      );
      expect((JSON.parse(status) as { projects: unknown[] }).projects).toHaveLength(2);
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(0);
  }, 90_000);
});
