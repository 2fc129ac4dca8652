// Shared CLI pieces: configuration precedence, messages that say what to do, masking, tables, exit codes, help.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClassifiedError } from '../../src/azure/errors.js';
import { CHECK_HELP, runCheck } from '../../src/commands/check.js';
import { resolveRawSettings } from '../../src/commands/cli/config.js';
import { EXIT, explainServiceError, worstExit } from '../../src/commands/cli/errors.js';
import { type CliIo } from '../../src/commands/cli/io.js';
import { parseDuration } from '../../src/commands/cli/options.js';
import { maskSecrets, maskText, table } from '../../src/commands/cli/output.js';
import { runHistory } from '../../src/commands/history.js';
import { runIntent } from '../../src/commands/intent.js';
import { runMigrate } from '../../src/commands/migrate.js';
import { runPreflight } from '../../src/commands/preflight.js';
import { runStatus } from '../../src/commands/status.js';
import { runSweepCommand } from '../../src/commands/sweep.js';
import { runTriage } from '../../src/commands/triage.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ear-guard-cli-unit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function io(env: Record<string, string> = {}): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: { HOME: dir, ...env },
    out: () => out,
    err: () => err,
  };
}

describe('configuration: flags > environment > config file', () => {
  it('merges in that order', async () => {
    const file = join(dir, 'config.json');
    await writeFile(
      file,
      JSON.stringify({
        ATLAS_PUBLIC_KEY: 'from-file',
        EAR_GUARD_STORAGE: 'file-conn',
        EAR_GUARD_TABLE_PREFIX: 'filepfx',
        ATLAS_PROJECT_IDS: ['a', 'b'],
      }),
    );
    const raw = resolveRawSettings(
      { config: file, 'table-prefix': 'flagpfx' },
      io({ EAR_GUARD_STORAGE: 'env-conn', EAR_GUARD_TABLE_PREFIX: 'envpfx' }),
    );
    expect(raw.ATLAS_PUBLIC_KEY).toBe('from-file');
    expect(raw.EAR_GUARD_STORAGE).toBe('env-conn');
    expect(raw.EAR_GUARD_TABLE_PREFIX).toBe('flagpfx');
    expect(raw.ATLAS_PROJECT_IDS).toBe('a,b');
  });

  it('reads ~/.config/ear-guard/config.json (XDG) when present; EAR_GUARD_CONFIG names another', async () => {
    const xdg = join(dir, 'xdg');
    await import('node:fs/promises').then((f) => f.mkdir(join(xdg, 'ear-guard'), { recursive: true }));
    await writeFile(join(xdg, 'ear-guard', 'config.json'), JSON.stringify({ ATLAS_PUBLIC_KEY: 'xdg-key' }));
    expect(resolveRawSettings({}, io({ XDG_CONFIG_HOME: xdg })).ATLAS_PUBLIC_KEY).toBe('xdg-key');
    const other = join(dir, 'other.json');
    await writeFile(other, JSON.stringify({ ATLAS_PUBLIC_KEY: 'other-key' }));
    expect(resolveRawSettings({}, io({ XDG_CONFIG_HOME: xdg, EAR_GUARD_CONFIG: other })).ATLAS_PUBLIC_KEY).toBe(
      'other-key',
    );
  });

  it('a config file with an unknown key or bad JSON is an error naming the file and key', async () => {
    const bad = join(dir, 'typo.json');
    await writeFile(bad, JSON.stringify({ ATLAS_PUBLIK_KEY: 'x' }));
    expect(() => resolveRawSettings({ config: bad }, io())).toThrow(/unknown setting 'ATLAS_PUBLIK_KEY'/);
    const notJson = join(dir, 'broken.json');
    await writeFile(notJson, '{');
    expect(() => resolveRawSettings({ config: notJson }, io())).toThrow(/broken\.json': not valid JSON/);
    expect(() => resolveRawSettings({ config: join(dir, 'nope.json') }, io())).toThrow(/does not exist/);
  });

  it('a missing Atlas credential names what to set (exit 2), and no private key flag exists', async () => {
    const i = io();
    const code = await runCheck(['--project', 'a'.repeat(24)], i);
    expect(code).toBe(EXIT.usage);
    expect(i.err()).toMatch(/ATLAS_CLIENT_ID.*set ATLAS_CLIENT_ID and ATLAS_CLIENT_SECRET/);
    const j = io();
    expect(await runCheck(['--project', 'a'.repeat(24), '--atlas-private-key', 'x'], j)).toBe(EXIT.usage);
    expect(j.err()).toMatch(/Unknown option '--atlas-private-key'/);
  });
});

describe('messages that say what to do', () => {
  it('ARM 403 names the permission the caller lacks', () => {
    const e = new ClassifiedError(
      'terminal',
      'arm',
      "The client 'x' with object id 'y' does not have authorization to perform action 'Microsoft.Authorization/roleAssignments/write' over scope '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv' or the scope is invalid.",
      403,
      'AuthorizationFailed',
    );
    const x = explainServiceError(e, 'arm');
    expect(x.exitCode).toBe(EXIT.unreachable);
    expect(x.message).toBe(
      "Azure denied the request (403 AuthorizationFailed): the caller lacks the permission 'Microsoft.Authorization/roleAssignments/write' on scope /subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv",
    );
  });

  it('Atlas 401 names the credential settings; Atlas 403 names the roles', () => {
    expect(explainServiceError(new ClassifiedError('terminal', 'atlas', 'x', 401), 'atlas').message).toMatch(
      /^Atlas rejected the credential \(401\): check ATLAS_CLIENT_ID \/ ATLAS_CLIENT_SECRET/,
    );
    expect(explainServiceError(new ClassifiedError('terminal', 'atlas', 'x', 403), 'atlas').message).toMatch(
      /Project Read Only.*Project Owner/,
    );
    // The client's own message (setting and the spec's role for the operation) is kept.
    const own =
      'Atlas refused PATCH /groups/x (403): the credential in ATLAS_PUBLIC_KEY / ATLAS_PRIVATE_KEY needs Project Owner';
    expect(explainServiceError(new ClassifiedError('terminal', 'atlas', own, 403), 'atlas').message).toBe(own);
  });

  it('no Azure credential names the AZURE_* variables or az login', () => {
    const err = Object.assign(new Error('EnvironmentCredential is unavailable'), {
      name: 'CredentialUnavailableError',
    });
    const x = explainServiceError(err, 'arm');
    expect(x.exitCode).toBe(EXIT.unreachable);
    expect(x.message).toMatch(/AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET/);
    expect(x.message).toMatch(/az login/);
  });

  it('network failures are "cannot reach" (exit 4); other terminal errors exit 1', () => {
    const net = explainServiceError(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }), 'atlas');
    expect(net).toMatchObject({ exitCode: EXIT.unreachable });
    expect(net.message).toMatch(/^cannot reach Atlas/);
    expect(explainServiceError(new ClassifiedError('terminal', 'arm', 'bad', 400, 'BadRequest'), 'arm').exitCode).toBe(
      EXIT.failed,
    );
  });
});

describe('output helpers', () => {
  it('masks secret fields deeply and secrets in free text', () => {
    const m = maskSecrets({
      a: { secret: 's3cr3t', clientID: 'c', list: [{ privateKey: 'pk' }] },
      token: '',
      AccountKey: 'k',
    });
    expect(m).toEqual({
      a: { secret: '********', clientID: 'c', list: [{ privateKey: '********' }] },
      token: '',
      AccountKey: '********',
    });
    expect(maskText('AccountName=a;AccountKey=abc==;TableEndpoint=x')).toBe(
      'AccountName=a;AccountKey=********;TableEndpoint=x',
    );
    expect(maskText('Digest username="u", response="deadbeef"')).toBe('Digest ********');
  });

  it('aligns table columns', () => {
    expect(
      table(
        ['A', 'LONGER'],
        [
          ['xxxx', 1],
          ['y', undefined],
        ],
      ),
    ).toBe('A     LONGER\nxxxx  1\ny     -\n');
  });

  it('parses durations and picks the worst exit code', () => {
    expect(parseDuration('7d', '--since')).toBe(7 * 86_400_000);
    expect(parseDuration('15m', '--x')).toBe(900_000);
    expect(() => parseDuration('7 days', '--since')).toThrow(/--since '7 days' is not a duration/);
    expect(worstExit([0, 3, 4])).toBe(4);
    expect(worstExit([0, 3, 1, 4])).toBe(1);
    expect(worstExit([0, 3])).toBe(3);
    expect(worstExit([])).toBe(0);
  });
});

describe('--help', () => {
  const commands: [string, (argv: string[], io: CliIo) => Promise<number>][] = [
    ['check', runCheck],
    ['preflight', runPreflight],
    ['migrate', runMigrate],
    ['sweep', runSweepCommand],
    ['status', runStatus],
    ['history', runHistory],
    ['intent', runIntent],
    ['triage', runTriage],
  ];
  for (const [name, fn] of commands) {
    it(`${name} --help prints usage with examples and exit codes, exit 0`, async () => {
      const i = io();
      expect(await fn(['--help'], i)).toBe(0);
      expect(i.out()).toMatch(new RegExp(`^Usage: ear-guard ${name}`));
      expect(i.out()).toMatch(/Examples:\n {2}ear-guard /);
      expect(i.out()).toMatch(/Exit status/);
      expect(i.out()).toMatch(/--sandbox <file>/);
    });
  }
  it('check help names the least Atlas role its reads need', () => {
    expect(CHECK_HELP).toMatch(/Atlas role: Project Read Only/);
    expect(CHECK_HELP).not.toMatch(/Project Owner/);
  });
});
