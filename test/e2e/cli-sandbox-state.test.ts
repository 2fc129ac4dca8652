// The CLI on a running local stack with nothing but `--sandbox <file>`: the built `ear-guard sandbox --seed demo
// --out <file>` runs in its own process (emulator + its Azurite), and status, history, intent and check --fix
// in other processes find the state table through the file. A drift made with `sandbox act` is restored by
// `check --fix` and recorded; `ear-guard start --sandbox <file>` writes its sweep to the same state.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtDist } from '../helpers/dist.js';

const run = promisify(execFile);
const BIN = resolve('bin/ear-guard.js');
let dir: string;
let file: string;
let sandbox: ChildProcess;
let projects: string[];

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  try {
    const r = await run(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, ...env },
      encoding: 'utf8',
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
  }
}

/** Spawns the built CLI and resolves with the first JSON line it prints (--json). */
function spawnReady(args: string[]): Promise<{ child: ChildProcess; ready: Record<string, unknown> }> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`not ready in time; stderr:\n${err}`)), 90_000);
    child.stdout!.on('data', (c) => {
      out += c;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) {
        clearTimeout(t);
        res({ child, ready: JSON.parse(line) as Record<string, unknown> });
      }
    });
    child.on('exit', (code) => rej(new Error(`exited ${code}; stderr:\n${err}`)));
  });
}

async function stop(child: ChildProcess | undefined): Promise<number | null> {
  if (!child || child.exitCode !== null) return child?.exitCode ?? null;
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  child.kill('SIGTERM');
  return exited;
}

beforeAll(async () => {
  builtDist();
  dir = await mkdtemp(join(tmpdir(), 'ear-guard-cli-state-'));
  file = join(dir, 'sandbox.json');
  const started = await spawnReady(['sandbox', '--seed', 'demo', '--json', '--out', file]);
  sandbox = started.child;
  const demo = started.ready.demo as { vaults: { projectId?: string }[] };
  projects = demo.vaults.flatMap((v) => (v.projectId ? [v.projectId] : []));
}, 120_000);

afterAll(async () => {
  expect(await stop(sandbox)).toBe(0);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the CLI on the local stack through --sandbox <file> alone', () => {
  it('the sandbox file names the state table of its Azurite', async () => {
    const d = JSON.parse(await readFile(file, 'utf8')) as { stateConnection?: string };
    expect(d.stateConnection).toMatch(/TableEndpoint=http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1;QueueEndpoint=/);
    expect(projects).toHaveLength(2);
  });

  it('status answers from that state (empty before anything ran) and exits 0', async () => {
    const r = await cli(['status', '--sandbox', file, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ exitCode: 0, projects: [] });
  });

  it('check --fix restores a drift made with sandbox act; history and status record it', async () => {
    const [p] = projects;
    const act = await cli(['sandbox', 'act', '--sandbox', file, '--as', 'alice', 'delete-assignment', '--project', p!]);
    expect(act.code).toBe(0);
    expect((JSON.parse(act.stdout) as { result: { deleted: string[] } }).result.deleted).toHaveLength(1);
    const before = await cli(['check', '--project', p!, '--sandbox', file, '--json']);
    expect(before.code).toBe(1);

    const fix = await cli(['check', '--project', p!, '--sandbox', file, '--fix', '--json']);
    expect(fix.stderr).toBe('');
    expect(fix.code).toBe(0);
    const fixed = (JSON.parse(fix.stdout) as { projects: { result: string; reconcile: { outcome: string } }[] })
      .projects[0]!;
    expect(fixed.result).toBe('granted');
    expect(fixed.reconcile.outcome).toBe('restored');

    const history = await cli(['history', p!, '--sandbox', file, '--json']);
    expect(history.code).toBe(0);
    const rows = (JSON.parse(history.stdout) as { rows: { kind: string; trigger: string }[] }).rows;
    expect(rows.map((r) => r.kind)).toEqual(expect.arrayContaining(['detection', 'action', 'verification']));
    expect(rows.every((r) => r.trigger === 'cli')).toBe(true);

    const status = await cli(['status', '--sandbox', file, '--json']);
    expect(status.code).toBe(0);
    expect((JSON.parse(status.stdout) as { projects: { projectId: string; status: string }[] }).projects).toEqual([
      expect.objectContaining({ projectId: p, status: 'restored' }),
    ]);
  }, 60_000);

  it('intent records a deliberate revocation in the same state', async () => {
    const p = projects[1]!;
    const r = await cli(['intent', p, 'revoked', '--reason', 'offboarding test', '--sandbox', file, '--json']);
    expect(r.code).toBe(0);
    const status = await cli(['status', '--sandbox', file, '--json']);
    const rows = (JSON.parse(status.stdout) as { projects: { projectId: string; intent: string }[] }).projects;
    expect(rows.find((x) => x.projectId === p)?.intent).toBe('revoked');
    await cli(['intent', p, 'granted', '--reason', 'test done', '--sandbox', file]);
  });

  it('ear-guard start --sandbox <file> sweeps into the same state the CLI reads', async () => {
    const { child } = await spawnReady(['start', '--sandbox', file, '--port', '0', '--json']);
    try {
      const r = await cli(['status', '--sandbox', file, '--json']);
      expect(r.code).toBe(0);
      const body = JSON.parse(r.stdout) as { lastSweep: { projects: number } | null; projects: unknown[] };
      expect(body.projects).toHaveLength(2);
      expect(body.lastSweep?.projects).toBe(2);
    } finally {
      expect(await stop(child)).toBe(0);
    }
  }, 120_000);

  it('with neither --sandbox nor EAR_GUARD_STORAGE, status still says what to set', async () => {
    const r = await cli(['status']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/status needs the state table: set EAR_GUARD_STORAGE/);
  });
});
