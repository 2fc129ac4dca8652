import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { runExplain } from '../../src/commands/explain.js';
import { FIXTURES, SUB, exampleBody } from './core/fixtures.js';
import { builtDist } from '../helpers/dist.js';

const SP = '3f0c2a8e-5b6d-4e1f-9a7b-2c4d6e8f0a1b';
const KEY_URL = 'https://kv-atlas.vault.azure.net/keys/atlas-ear/0123456789abcdef0123456789abcdef';
const KEY_ID = `${SUB}/resourceGroups/rg-atlas/providers/Microsoft.KeyVault/vaults/kv-atlas/keys/atlas-ear`;
const f = (name: string) => join(FIXTURES, name);

async function run(args: string[], stdin?: string) {
  let out = '';
  let err = '';
  const code = await runExplain(args, {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    stdin: stdin === undefined ? undefined : Readable.from([stdin]),
  });
  return { code, out, err };
}

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'explain-'));
  writeFileSync(join(tmp, 'bad.json'), '{"id": ');
  writeFileSync(join(tmp, 'empty.json'), '');
  writeFileSync(join(tmp, 'getVault.json'), JSON.stringify(exampleBody('arm-keyvault-2024-11-01-getVault.json')));
});

describe('ear-guard explain (runExplain)', () => {
  it('az shapes, granted: exit 0, one line per permission with its grant path', async () => {
    const r = await run([
      '--principal',
      SP,
      '--key',
      KEY_URL,
      '--vault',
      f('az/keyvault-show-rbac.json'),
      '--assignments',
      f('az/role-assignment-list-granted.json'),
    ]);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toMatch(/^Verdict: +GRANTED/);
    expect(r.out).toMatch(
      /^ +get +granted +via role assignment \S+5d1e2f3a\S+ \(Key Vault Crypto User\) at \/subscriptions\/.*\/vaults\/kv-atlas$/m,
    );
    expect(r.out).toMatch(/^ +Reader on the vault +granted +via role assignment \S+ \(Reader\)/m);
    expect(r.out).toMatch(/Nothing to fix\./);
  });

  it('ARM shapes with a key resource ID, granted: exit 0', async () => {
    const r = await run([
      '--principal',
      SP,
      '--key',
      KEY_ID,
      '--vault',
      f('arm/vault-rbac.json'),
      '--assignments',
      f('arm/role-assignments-granted.json'),
    ]);
    expect(r.code).toBe(0);
  });

  it('missing: exit 1 and prints the az role assignment create to run', async () => {
    const r = await run([
      '--principal',
      SP,
      '--key',
      KEY_URL,
      '--vault',
      f('az/keyvault-show-rbac.json'),
      '--assignments',
      f('az/role-assignment-list-drift.json'),
    ]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^Verdict: +MISSING: get, encrypt, decrypt/);
    expect(r.out).toMatch(/^ +decrypt +MISSING$/m);
    expect(r.out).toContain(
      `az role assignment create --assignee-object-id ${SP} --assignee-principal-type ServicePrincipal --role "Key Vault Crypto User" --scope ${SUB}/resourceGroups/rg-atlas/providers/Microsoft.KeyVault/vaults/kv-atlas`,
    );
    expect(r.out).toMatch(/kv-atlas2 does not contain the key/);
  });

  it('custom role from --definitions: decrypt missing, exit 1; without definitions: indeterminate, exit 3', async () => {
    const base = [
      '--principal',
      SP,
      '--key',
      KEY_URL,
      '--vault',
      f('az/keyvault-show-rbac.json'),
      '--assignments',
      f('az/role-assignment-list-custom.json'),
    ];
    const withDefs = await run([...base, '--definitions', f('az/role-definition-list-custom.json'), '--json']);
    expect(withDefs.code).toBe(1);
    expect(JSON.parse(withDefs.out)).toMatchObject({ verdict: 'missing', model: 'rbac', missing: ['decrypt'] });
    expect((await run(base)).code).toBe(3);
  });

  it('conditional assignment: exit 3, --json verdict says indeterminate', async () => {
    const r = await run([
      '--principal',
      SP,
      '--key',
      KEY_URL,
      '--vault',
      f('az/keyvault-show-rbac.json'),
      '--assignments',
      f('az/role-assignment-list-conditional.json'),
      '--json',
    ]);
    expect(r.code).toBe(3);
    const v = JSON.parse(r.out);
    expect(v).toMatchObject({
      verdict: 'indeterminate',
      model: 'rbac',
      missing: [],
      indeterminate: ['get', 'encrypt', 'decrypt'],
      fix: [],
    });
  });

  it('deny assignment file (ARM): exit 1, decrypt denied', async () => {
    const r = await run([
      '--principal',
      SP,
      '--key',
      KEY_URL,
      '--vault',
      f('az/keyvault-show-rbac.json'),
      '--assignments',
      f('az/role-assignment-list-granted.json'),
      '--deny',
      f('arm/deny-assignments-everyone.json'),
    ]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^ +decrypt +DENIED/m);
  });

  it('access policies from az keyvault show: exit 0 without --assignments; sovereign host accepted', async () => {
    const r = await run([
      '--principal',
      SP,
      '--key',
      'https://kv-atlas.vault.azure.cn/keys/atlas-ear',
      '--vault',
      f('az/keyvault-show-accesspolicy.json'),
    ]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/access policy for object 3f0c2a8e\S+ \(tenant \S+\) lists 'Get'/);
  });

  it('access policies, principal absent: exit 1 with the set-policy command', async () => {
    const r = await run([
      '--principal',
      '11111111-2222-3333-4444-555555555555',
      '--key',
      'https://sample-vault.vault.azure.net/keys/k',
      '--vault',
      join(tmp, 'getVault.json'),
    ]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      /az keyvault set-policy --subscription 00000000-0000-0000-0000-000000000000 --resource-group sample-resource-group --name sample-vault --object-id 11111111-2222-3333-4444-555555555555 --key-permissions get encrypt decrypt wrapKey unwrapKey/,
    );
  });

  it('reads a file from stdin with -', async () => {
    const r = await run(
      ['--principal', SP, '--key', KEY_URL, '--vault', f('az/keyvault-show-rbac.json'), '--assignments', '-'],
      readFileSync(f('az/role-assignment-list-granted.json'), 'utf8'),
    );
    expect(r.code).toBe(0);
  });

  it.each([
    ['missing --vault', ['--principal', SP, '--key', KEY_URL], /--vault is required/],
    [
      'unknown flag',
      ['--principal', SP, '--key', KEY_URL, '--vault', f('arm/vault-rbac.json'), '--bogus'],
      /Unknown option '--bogus'/,
    ],
    [
      'principal not a GUID',
      ['--principal', 'atlas', '--key', KEY_URL, '--vault', f('arm/vault-rbac.json')],
      /--principal 'atlas' is not an object ID/,
    ],
    [
      'unreadable file',
      ['--principal', SP, '--key', KEY_URL, '--vault', '/nonexistent/vault.json'],
      /\/nonexistent\/vault\.json: cannot read --vault file \(ENOENT\)/,
    ],
    ['malformed JSON', ['--principal', SP, '--key', KEY_URL, '--vault', 'BAD'], /bad\.json: not valid JSON/],
    ['empty file', ['--principal', SP, '--key', KEY_URL, '--vault', 'EMPTY'], /empty\.json: is empty/],
    [
      'unknown shape (assignments file given as vault)',
      ['--principal', SP, '--key', KEY_URL, '--vault', f('az/role-assignment-list-granted.json')],
      /role-assignment-list-granted\.json: expected exactly one vault/,
    ],
    [
      'vault file given as assignments',
      [
        '--principal',
        SP,
        '--key',
        KEY_URL,
        '--vault',
        f('arm/vault-rbac.json'),
        '--assignments',
        f('arm/vault-rbac.json'),
      ],
      /vault-rbac\.json: properties\.roleDefinitionId: expected the role definition ID/,
    ],
    [
      'key in another vault (URL)',
      [
        '--principal',
        SP,
        '--key',
        'https://kv-atlas2.vault.azure.net/keys/atlas-ear',
        '--vault',
        f('arm/vault-rbac.json'),
      ],
      /--key names vault 'kv-atlas2'.*describes vault 'kv-atlas'/,
    ],
    [
      'key in another vault (resource ID)',
      ['--principal', SP, '--key', KEY_ID.replace('kv-atlas', 'kv-atlas2'), '--vault', f('arm/vault-rbac.json')],
      /--key is in vault .*kv-atlas2 but .* describes vault .*kv-atlas$/m,
    ],
    [
      'Managed HSM key',
      ['--principal', SP, '--key', 'https://hsm1.managedhsm.azure.net/keys/k', '--vault', f('arm/vault-rbac.json')],
      /--key: .*Managed HSM/,
    ],
    [
      'RBAC vault without --assignments',
      ['--principal', SP, '--key', KEY_URL, '--vault', f('arm/vault-rbac.json')],
      /uses Azure RBAC .*pass --assignments/,
    ],
  ])('bad input (%s): exit 2, message names it, no stack trace', async (_n, args, msg) => {
    const fixed = args.map((a) => (a === 'BAD' ? join(tmp, 'bad.json') : a === 'EMPTY' ? join(tmp, 'empty.json') : a));
    const r = await run(fixed);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^ear-guard explain: /);
    expect(r.err).toMatch(msg);
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});

describe('ear-guard explain (built bin)', () => {
  beforeAll(() => {
    builtDist();
  });
  const bin = (args: string[]) =>
    spawnSync(process.execPath, ['bin/ear-guard.js', 'explain', ...args], { encoding: 'utf8' });

  it.each([
    ['granted', ['--assignments', f('az/role-assignment-list-granted.json')], 0],
    ['missing', ['--assignments', f('az/role-assignment-list-drift.json')], 1],
    ['indeterminate', ['--assignments', f('az/role-assignment-list-conditional.json')], 3],
    ['bad input', ['--assignments', f('az/keyvault-show-rbac.json')], 2],
  ])('%s -> exit %i', (_n, extra, code) => {
    const r = bin(['--principal', SP, '--key', KEY_URL, '--vault', f('az/keyvault-show-rbac.json'), ...extra]);
    expect(r.status).toBe(code);
    if (code === 2) {
      expect(r.stderr).toMatch(/keyvault-show-rbac\.json: properties\.roleDefinitionId/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('pipes az output on stdin', () => {
    const r = spawnSync(
      process.execPath,
      [
        'bin/ear-guard.js',
        'explain',
        '--principal',
        SP,
        '--key',
        KEY_URL,
        '--vault',
        '-',
        '--assignments',
        f('az/role-assignment-list-granted.json'),
        '--json',
      ],
      {
        encoding: 'utf8',
        input: readFileSync(f('az/keyvault-show-rbac.json'), 'utf8'),
      },
    );
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).verdict).toBe('granted');
  });

  it('explain --help and the top-level help mention explain', () => {
    expect(bin(['--help']).stdout).toMatch(/--principal <objectId>/);
    expect(execFileSync(process.execPath, ['bin/ear-guard.js', '--help'], { encoding: 'utf8' })).toMatch(/explain/);
  });
});

describe('ear-guard explain: issue 17 (paging, document kinds, groups)', () => {
  const base = ['--principal', SP, '--key', KEY_URL, '--vault', f('az/keyvault-show-rbac.json')];

  it('an assignment list with nextLink: exit 3, and the note names the incomplete file', async () => {
    const r = await run([...base, '--assignments', f('arm/role-assignments-paged.json')]);
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/role-assignments-paged\.json.*nextLink/);
  });

  it('a deny list with nextLink turns granted into indeterminate (exit 3)', async () => {
    const r = await run([
      ...base,
      '--assignments',
      f('az/role-assignment-list-granted.json'),
      '--deny',
      f('arm/deny-assignments-paged.json'),
    ]);
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/deny-assignments-paged\.json.*nextLink/);
  });

  it('PIM role assignment schedules given as --assignments: exit 2 naming what was expected', async () => {
    writeFileSync(
      join(tmp, 'schedules.json'),
      JSON.stringify(exampleBody('arm-authorization-2020-10-01-GetRoleAssignmentSchedulesByScope.json')),
    );
    const r = await run([...base, '--assignments', join(tmp, 'schedules.json')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/schedules\.json: value\[0\]\.type: expected Microsoft\.Authorization\/roleAssignments/);
    expect(r.out).toBe('');
  });

  it('a group grant: exit 3 without --groups, exit 0 with a transitiveMemberOf that lists the group', async () => {
    const args = [...base, '--assignments', f('arm/role-assignments-group.json')];
    const unknown = await run(args);
    expect(unknown.code).toBe(3);
    expect(unknown.out).toMatch(/--groups/);
    const known = await run([...args, '--groups', f('graph/sp-transitive-memberof.json')]);
    expect(known.code).toBe(0);
    expect(known.out).toMatch(/through group 9b2e4c6a-7d1f-4a3b-8c5e-0f1a2b3c4d5e/);
    const other = await run([...args, '--groups', f('graph/sp-transitive-memberof-other.json')]);
    expect(other.code).toBe(3);
    expect(other.out).toMatch(/sp-transitive-memberof-other\.json.*nextLink/);
  });

  it('a deny aimed at a group the principal belongs to: exit 1, decrypt denied', async () => {
    const r = await run([
      ...base,
      '--assignments',
      f('az/role-assignment-list-granted.json'),
      '--deny',
      f('arm/deny-assignments-group.json'),
      '--groups',
      f('graph/sp-transitive-memberof.json'),
      '--json',
    ]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toMatchObject({ verdict: 'missing', missing: ['decrypt'] });
  });

  it('Crypto User at the tenant root group (ID = the vault tenant): exit 0, the path names the group', async () => {
    const granted = JSON.parse(readFileSync(f('az/role-assignment-list-granted.json'), 'utf8')) as Record<
      string,
      unknown
    >[];
    const vault = JSON.parse(readFileSync(f('az/keyvault-show-rbac.json'), 'utf8')) as {
      properties: { tenantId: string };
    };
    const root = `/providers/Microsoft.Management/managementGroups/${vault.properties.tenantId}`;
    const atRoot = granted.map((a) => ({
      ...a,
      scope: root,
      id: `${root}/providers/Microsoft.Authorization/roleAssignments/${String(a.name)}`,
    }));
    writeFileSync(join(tmp, 'root.json'), JSON.stringify(atRoot));
    const r = await run([...base, '--assignments', join(tmp, 'root.json')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^ +decrypt +granted +via role assignment \S+ \(Key Vault Crypto User\) at \/providers\/Microsoft\.Management\/managementGroups\/72f988bf/m,
    );
  });

  it('a bad --groups file: exit 2 naming the field', async () => {
    const r = await run([
      ...base,
      '--assignments',
      f('arm/role-assignments-group.json'),
      '--groups',
      f('graph/sp-transitive-memberof-bad.json'),
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/sp-transitive-memberof-bad\.json: value\[0\]\.id: expected/);
  });
});
