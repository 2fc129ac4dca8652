// `ear-guard explain`: judge offline, from what `az` (or ARM REST) prints, whether a principal holds the
// required permissions on a Key Vault key; print each permission with its grant path and what to run to fix it.
// Exit codes: 0 granted, 1 missing, 3 indeterminate, 2 bad input.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { DocumentError } from '../core/errors.js';
import {
  nextLinkOf,
  parseDenyAssignments,
  parseGroupMemberships,
  parseKeyIdentifier,
  parseKeyResourceId,
  parseRoleAssignments,
  parseRoleDefinitions,
  parseVault,
} from '../core/documents.js';
import { describePath, evaluate, READER_ON_VAULT } from '../core/evaluate.js';
import { fixCommands } from '../core/fix.js';
import { scopeEquals } from '../core/scopes.js';
import type { ObservedDocuments, PermissionResult, Requirement, VaultDoc, Verdict } from '../core/types.js';

export const EXPLAIN_HELP = `Usage: ear-guard explain --principal <objectId> --key <key URL | key resource ID> --vault <file>
                         [--assignments <file>] [--definitions <file>] [--deny <file>] [--groups <file>]
                         [--json]

Judge offline whether a principal (the Atlas service principal's object ID) holds get, encrypt and decrypt
on a Key Vault key, from JSON that az or the ARM REST API prints. Any file may be '-' for stdin (one at most).

  --principal    object ID of the service principal
  --key          https://<vault>.vault.azure.net/keys/<name>[/<version>] (also vault.azure.cn,
                 vault.usgovcloudapi.net) or /subscriptions/.../vaults/<vault>/keys/<name>
  --vault        az keyvault show --name <vault>      (or ARM Vaults_Get)
  --assignments  az role assignment list --all --assignee <objectId>   (required when the vault uses RBAC)
  --definitions  az role definition list --custom-role-only true   (built-in roles ship with ear-guard)
  --deny         ARM deny assignments list (GET .../providers/Microsoft.Authorization/denyAssignments)
  --groups       the principal's groups: Microsoft Graph transitiveMemberOf
                 (az rest --url https://graph.microsoft.com/v1.0/servicePrincipals/<objectId>/transitiveMemberOf)
                 Without it, grants and denies aimed at groups are indeterminate.
  An ARM list that has a nextLink is one page of several: what it cannot rule out is indeterminate.
  --json         print the verdict as JSON

Exit status: 0 granted, 1 missing, 3 indeterminate, 2 bad input.
`;

export interface ExplainIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  /** Read when a file argument is '-'. Default: process.stdin. */
  stdin?: AsyncIterable<Buffer | string>;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

class InputError extends Error {}

async function readJson(file: string, flag: string, io: ExplainIo): Promise<unknown> {
  const label = file === '-' ? `${flag} (stdin)` : file;
  let text: string;
  try {
    if (file === '-') {
      let s = '';
      for await (const chunk of io.stdin ?? process.stdin)
        s += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      text = s;
    } else {
      text = await readFile(file, 'utf8');
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(`${label}: cannot read ${flag} file${code ? ` (${code})` : ''}`);
  }
  const body = text.replace(/^\uFEFF/, '');
  if (body.trim() === '') throw new InputError(`${label}: is empty (expected JSON)`);
  try {
    return JSON.parse(body);
  } catch (e) {
    throw new InputError(`${label}: not valid JSON (${(e as Error).message})`);
  }
}

export async function runExplain(
  argv: string[],
  io: ExplainIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  try {
    return await explain(argv, io);
  } catch (e) {
    if (e instanceof InputError || e instanceof DocumentError) {
      io.stderr.write(`ear-guard explain: ${e.message}\n`);
      return 2;
    }
    io.stderr.write(`ear-guard explain: unexpected error: ${(e as Error)?.message ?? String(e)}\n`);
    return 2;
  }
}

type Values = {
  principal?: string;
  key?: string;
  vault?: string;
  assignments?: string;
  definitions?: string;
  deny?: string;
  groups?: string;
  json?: boolean;
  help?: boolean;
};

const FILE_FLAGS = ['vault', 'assignments', 'definitions', 'deny', 'groups'] as const;

function parseExplainArgs(argv: string[]): Values {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        principal: { type: 'string' },
        key: { type: 'string' },
        vault: { type: 'string' },
        assignments: { type: 'string' },
        definitions: { type: 'string' },
        deny: { type: 'string' },
        groups: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (e) {
    throw new InputError(`${(e as Error).message}\n\n${EXPLAIN_HELP}`);
  }
}

function checkArgs(values: Values): string {
  for (const f of ['principal', 'key', 'vault'] as const) {
    if (!values[f]) throw new InputError(`--${f} is required\n\n${EXPLAIN_HELP}`);
  }
  const principal = values.principal!.trim();
  if (!GUID.test(principal)) throw new InputError(`--principal '${principal}' is not an object ID (expected a GUID)`);
  const stdinUsers = FILE_FLAGS.filter((f) => values[f] === '-');
  if (stdinUsers.length > 1)
    throw new InputError(`only one file can be '-' (stdin); got ${stdinUsers.map((f) => `--${f}`).join(', ')}`);
  return principal;
}

function parseKeyArg(keyArg: string) {
  return /^https?:\/\//i.test(keyArg)
    ? { kind: 'url' as const, ...parseKeyIdentifier(keyArg, '--key') }
    : { kind: 'id' as const, ...parseKeyResourceId(keyArg, '--key') };
}

function checkKeyInVault(key: ReturnType<typeof parseKeyArg>, vault: VaultDoc, vaultFile: string): void {
  if (key.kind === 'url' && key.vaultName.toLowerCase() !== vault.name.toLowerCase()) {
    throw new InputError(
      `--key names vault '${key.vaultName}' (${key.vaultHost}) but ${vaultFile} describes vault '${vault.name}' (${vault.id})`,
    );
  }
  if (key.kind === 'id' && !scopeEquals(key.vaultId, vault.id)) {
    throw new InputError(`--key is in vault ${key.vaultId} but ${vaultFile} describes vault ${vault.id}`);
  }
}

const sourceOf = (f: string, flag: string) => (f === '-' ? `${flag} (stdin)` : f);

/** Reads the optional files into `docs`; an ARM page with a nextLink marks its list incomplete. */
async function readOptional(values: Values, docs: ObservedDocuments, io: ExplainIo): Promise<void> {
  if (values.assignments) {
    const src = sourceOf(values.assignments, '--assignments');
    const json = await readJson(values.assignments, '--assignments', io);
    docs.roleAssignments = parseRoleAssignments(json, src);
    if (nextLinkOf(json)) docs.incomplete = { ...docs.incomplete, roleAssignments: src };
  }
  if (values.definitions) {
    const json = await readJson(values.definitions, '--definitions', io);
    docs.roleDefinitions = parseRoleDefinitions(json, sourceOf(values.definitions, '--definitions'));
  }
  if (values.deny) {
    const src = sourceOf(values.deny, '--deny');
    const json = await readJson(values.deny, '--deny', io);
    docs.denyAssignments = parseDenyAssignments(json, src);
    if (nextLinkOf(json)) docs.incomplete = { ...docs.incomplete, denyAssignments: src };
  }
  if (values.groups) {
    const src = sourceOf(values.groups, '--groups');
    docs.principalGroups = parseGroupMemberships(await readJson(values.groups, '--groups', io), src);
  }
}

async function explain(argv: string[], io: ExplainIo): Promise<number> {
  const values = parseExplainArgs(argv);
  if (values.help) {
    io.stdout.write(EXPLAIN_HELP);
    return 0;
  }
  const principal = checkArgs(values);
  const keyArg = values.key!.trim();
  const key = parseKeyArg(keyArg);
  const vaultFile = values.vault!;
  const vault = parseVault(await readJson(vaultFile, '--vault', io), sourceOf(vaultFile, '--vault'));
  checkKeyInVault(key, vault, vaultFile);
  if (!values.assignments && vault.enableRbacAuthorization === true) {
    throw new InputError(
      `${vaultFile} describes a vault that uses Azure RBAC (enableRbacAuthorization: true): pass --assignments (az role assignment list --all --assignee ${principal})`,
    );
  }
  const docs: ObservedDocuments = { vault, roleAssignments: [] };
  await readOptional(values, docs, io);

  const requirement: Requirement = { principalId: principal, key: { vaultId: vault.id, keyName: key.keyName } };
  const verdict = evaluate(requirement, docs);
  const fix = fixCommands(verdict, requirement);
  if (values.json) io.stdout.write(JSON.stringify({ ...verdict, fix }, null, 2) + '\n');
  else io.stdout.write(renderHuman(verdict, fix, keyArg));
  return verdict.verdict === 'granted' ? 0 : verdict.verdict === 'missing' ? 1 : 3;
}

function stateOf(r: PermissionResult): string {
  if (r.granted) return 'granted';
  if ((r.deniedBy ?? []).length > 0) return 'DENIED ';
  // A possible deny makes only an existing grant unsure; with no grant the permission is missing either way.
  const possiblyDenied = r.via.length > 0 && (r.possiblyDeniedBy ?? []).length > 0;
  const unsure = possiblyDenied || [r.conditionalVia, r.unknown].some((l) => (l ?? []).length > 0);
  return unsure ? 'UNSURE ' : 'MISSING';
}

function line(name: string, r: PermissionResult | undefined, width: number): string[] {
  const pad = name.padEnd(width);
  if (!r) return [`  ${pad}  missing`];
  const out: string[] = [];
  const paths = [
    ...r.via.map((p) => `via ${describePath(p)}`),
    ...(r.conditionalVia ?? []).map((p) => `only if: ${describePath(p)}`),
  ];
  out.push(`  ${pad}  ${stateOf(r)}${paths.length ? `  ${paths[0]}` : ''}`);
  const more = [
    ...paths.slice(1),
    ...(r.deniedBy ?? []).map((d) => `denied by ${d}`),
    ...(r.possiblyDeniedBy ?? []).map((d) => `may be denied by ${d}`),
    ...(r.unknown ?? []).map((u) => `not read: ${u}`),
  ];
  for (const p of more) out.push(`  ${' '.repeat(width)}           ${p}`);
  return out;
}

function headline(v: Verdict): string {
  if (v.verdict === 'granted') return 'GRANTED: the principal holds every required permission';
  if (v.verdict === 'missing') return `MISSING: ${v.missing.join(', ')}`;
  return `INDETERMINATE: ${v.indeterminate.join(', ')} cannot be judged offline`;
}

export function renderHuman(v: Verdict, fix: string[], keyArg: string): string {
  const recommendedPerms = v.recommendedPermissions ?? [];
  const requiredPerms =
    v.requiredPermissions ?? Object.keys(v.permissions).filter((p) => !recommendedPerms.includes(p));
  const width = Math.max(10, ...Object.keys(v.permissions).map((p) => p.length), READER_ON_VAULT.length);
  const out: string[] = [];
  out.push(`Verdict:    ${headline(v)}`);
  out.push(`Principal:  ${v.principalId}`);
  out.push(`Key:        ${keyArg}`);
  out.push(`Vault:      ${v.key.vaultId}`);
  out.push(
    `Model:      ${v.model === 'rbac' ? 'Azure RBAC (enableRbacAuthorization: true)' : 'access policies (enableRbacAuthorization false or absent)'}`,
  );
  out.push('', 'Required:');
  for (const p of requiredPerms) out.push(...line(p, v.permissions[p], width));
  if (recommendedPerms.length > 0 || v.readerOnVault) {
    out.push('', 'Recommended:');
    for (const p of recommendedPerms) out.push(...line(p, v.permissions[p], width));
    if (v.readerOnVault) out.push(...line(READER_ON_VAULT, v.readerOnVault, width));
  }
  if (v.notes.length > 0) {
    out.push('', 'Notes:');
    for (const n of v.notes) out.push(`  - ${n}`);
  }
  out.push('');
  if (fix.length > 0) {
    out.push('To fix, run:');
    for (const c of fix) out.push(`  ${c}`);
  } else {
    out.push(v.verdict === 'indeterminate' ? 'Nothing to run: check the conditions above by hand.' : 'Nothing to fix.');
  }
  return out.join('\n') + '\n';
}
