// The built CLI (`npm run build`, then `node bin/ear-guard.js ...`) in its own process against the sandbox, pointed
// at it by the file `ear-guard sandbox --out` would write (--sandbox <file> and EAR_GUARD_SANDBOX).
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtDist } from '../helpers/dist.js';
import { startWorld, type World } from '../helpers/world.js';

const run = promisify(execFile);
let world: World;
let dir: string;
let sandboxFile: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

// Async: the sandbox lives in this process and must keep answering while the child runs.
async function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  try {
    const r = await run(process.execPath, ['bin/ear-guard.js', ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: dir, ...env },
      encoding: 'utf8',
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

beforeAll(async () => {
  builtDist();
  world = await startWorld();
  dir = await mkdtemp(join(tmpdir(), 'ear-guard-bin-'));
  sandboxFile = join(dir, 'sandbox.json');
  await writeFile(sandboxFile, JSON.stringify(world.sandbox.describe()) + '\n', { mode: 0o600 });
}, 180_000);

afterAll(async () => {
  await world?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('bin/ear-guard.js against the sandbox', () => {
  it('check --sandbox <file>: granted, exit 0, JSON on stdout', async () => {
    const p = await world.addProject({ model: 'rbac' });
    const r = await cli(['check', '--sandbox', sandboxFile, '--project', p.projectId, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).projects[0]).toMatchObject({ projectId: p.projectId, result: 'granted' });
  });

  it('preflight via EAR_GUARD_SANDBOX: a missing grant fails (exit 1) with the az command', async () => {
    const p = await world.addProject({ model: 'accessPolicy', grants: 'none' });
    const r = await cli(['preflight', '--project', p.projectId], { EAR_GUARD_SANDBOX: sandboxFile });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL +get, encrypt, decrypt on the key/);
    expect(r.stdout).toContain(`az keyvault set-policy`);
    expect(r.stdout).toMatch(/NOT READY/);
  });

  it('a usage error exits 2 with one line and no stack; --help lists the commands', async () => {
    const r = await cli(['history']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ear-guard history: name one project/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const h = await cli(['--help']);
    expect(h.code).toBe(0);
    for (const c of ['check', 'preflight', 'migrate', 'sweep', 'status', 'history', 'intent', 'triage']) {
      expect(h.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    }
  });
});
