// `ear-guard sandbox`: run the Azure + Atlas emulator until SIGINT/SIGTERM (`--json` prints exactly one JSON
// line when ready, `--out` also writes it to a file), and `ear-guard sandbox act`: drive a running sandbox
// from another process as a named user ("alice deletes the Atlas principal's role assignment").
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ROLE_IDS } from '../core/builtinRoles.js';
import {
  connectSandbox,
  SandboxConnectError,
  sandboxFileFrom,
  type SandboxConnection,
  type SandboxFileContents,
} from '../sandbox/connect.js';
import { startLocalStorage, type LocalStorage } from '../local/azurite.js';
import { parseDuration } from '../sandbox/propagation.js';
import { startSandbox, type Sandbox, type SandboxOptions } from '../sandbox/index.js';
import type { ProjectTarget } from '../sandbox/control.js';

export const SANDBOX_HELP = `Usage: ear-guard sandbox [--seed demo] [--json] [--out <file>] [--time-scale <n>] [--no-rate-limit]
                         [--propagation-delay <duration>] [--validation-interval <duration>]
       ear-guard sandbox act --sandbox <file> --as <actor> <action> [options]

Runs the Azure (ARM, Event Grid) + Atlas Admin API emulator on https://localhost:<free port> until
SIGINT/SIGTERM, with an in-memory Azurite (tables + queue) for the state. Everything it writes lives in a
temporary folder removed on exit.

  --seed demo       one RBAC vault and one access-policy vault, each with an Atlas project whose EAR uses a key in it
  --json            print exactly one JSON line when ready: armEndpoint, atlasBaseUrl, caCertPath, tenantId,
                    subscriptionId, atlasPublicKey, atlasPrivateKey, atlasClientId, atlasClientSecret (a service
                    account with Project Read Only on the demo projects), controlUrl, controlToken,
                    stateConnection (the Azurite), ...
  --out <file>      also write that JSON to <file> (other commands take --sandbox <file> or EAR_GUARD_SANDBOX:
                    status, history, intent and check --fix use its state table)
  --time-scale <n>  real seconds per sandbox second for delays (Retry-After, event retries); default 1
  --no-rate-limit   turn off ARM's per-subscription token bucket
  --propagation-delay <duration>   how long a new grant takes to reach Key Vault's data plane and Atlas's
                    \`valid\` (e.g. 4s, 10m; sandbox time); a removal is seen at once. Default 0
  --validation-interval <duration>   Atlas's periodic KMS validation (sandbox time); default 15m

Actions (act): each takes --project <atlasProjectId> or --vault <name>; the principal defaults to the Atlas one.
  delete-assignment  delete the principal's role assignments at or under the vault (all but Reader; --role <name>
                     for one role; --scope vault|key for one scope, e.g. one half of a standby pair;
                     --id <assignmentId> for exactly one)
  strip-policy       remove key permissions from the principal's access policy (--permissions get,encrypt; default all)
  set-model <rbac|accessPolicy>   switch the vault's permission model
  downgrade-role     replace Key Vault Crypto User by Crypto Service Encryption User (no encrypt/decrypt)
  disable-key | enable-key | rotate-key | expire-key [--in <seconds>]   (data plane: no ARM event)
  deny               add a deny assignment on the key's data actions for the principal
  grant-role --role <name>        assign a role to the principal at the vault
  grant-role --role <name> --group <name>   assign a role to a group at the vault
  grant-role --role <name> --scope <scope>  assign a role to the principal at any scope (a management group:
                     /providers/Microsoft.Management/managementGroups/<id>; the tenant root group's ID is the tenant ID)
  add-to-group --group <name>     the principal joins the group (created if absent); no ARM event, as in Azure
  assign-policy --definition <name|id> [--scope <scope>] [--effect <Deny|Modify|Audit|...>] [--do-not-enforce]
                     assign an Azure Policy at the vault (or --scope, management groups included): a built-in by
                     name or display name (e.g. "Azure Key Vault should use RBAC permission model"), or a set ID
  counts             print request counts per operation and caller
  fault --route <operation|path> --status <code> [--times <n>] [--retry-after <s>]   |   clear-faults
`;

export interface SandboxIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  /** Resolves when the command should stop (default: SIGINT or SIGTERM). */
  stopSignal?: Promise<void>;
  /** Called once the sandbox is up (tests use it to reach the instance). */
  onReady?: (sb: Sandbox) => void;
}

const defaultIo = (): SandboxIo => ({ stdout: process.stdout, stderr: process.stderr });

/** What `ear-guard sandbox` was asked for: help, a usage error (exit 2), or a run. */
type SandboxRequest =
  | { kind: 'help' }
  | { kind: 'usage'; text: string }
  | { kind: 'run'; opts: SandboxOptions; json: boolean; out?: string };

function parseSandboxArgs(argv: string[]): SandboxRequest {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        seed: { type: 'string' },
        json: { type: 'boolean' },
        out: { type: 'string' },
        'time-scale': { type: 'string' },
        'no-rate-limit': { type: 'boolean' },
        'propagation-delay': { type: 'string' },
        'validation-interval': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    return { kind: 'usage', text: `${(e as Error).message}\n${SANDBOX_HELP}` };
  }
  if (values.help) return { kind: 'help' };
  if (values.seed !== undefined && values.seed !== 'demo') {
    return { kind: 'usage', text: `--seed: expected 'demo', got '${values.seed}'\n` };
  }
  const opts: SandboxOptions = {};
  if (values.seed === 'demo') opts.seed = 'demo';
  if (values['time-scale'] !== undefined) {
    const n = Number(values['time-scale']);
    if (!Number.isFinite(n) || n <= 0) {
      return { kind: 'usage', text: `--time-scale: expected a positive number, got '${values['time-scale']}'\n` };
    }
    opts.timeScale = n;
  }
  if (values['no-rate-limit']) opts.rateLimit = false;
  const durations = durationOptions(values);
  if (typeof durations === 'string') return { kind: 'usage', text: durations };
  Object.assign(opts, durations);
  return { kind: 'run', opts, json: !!values.json, out: typeof values.out === 'string' ? values.out : undefined };
}

/** --propagation-delay and --validation-interval as sandbox options, or the usage text naming the flag. */
function durationOptions(
  values: Record<string, string | boolean | undefined>,
): Pick<SandboxOptions, 'propagationDelayMs' | 'atlasValidationIntervalMs'> | string {
  const out: Pick<SandboxOptions, 'propagationDelayMs' | 'atlasValidationIntervalMs'> = {};
  for (const [flag, key] of [
    ['propagation-delay', 'propagationDelayMs'],
    ['validation-interval', 'atlasValidationIntervalMs'],
  ] as const) {
    const text = values[flag];
    if (typeof text !== 'string') continue;
    const ms = parseDuration(text);
    if (ms === undefined) return `--${flag}: expected a duration such as 4s, 10m or 250ms, got '${text}'\n`;
    out[key] = ms;
  }
  return out;
}

export async function runSandbox(argv: string[], io: SandboxIo = defaultIo()): Promise<number> {
  if (argv[0] === 'act') return runSandboxAct(argv.slice(1), io);
  const request = parseSandboxArgs(argv);
  if (request.kind === 'usage') {
    io.stderr.write(`ear-guard sandbox: ${request.text}`);
    return 2;
  }
  if (request.kind === 'help') {
    io.stdout.write(SANDBOX_HELP);
    return 0;
  }
  const stop =
    io.stopSignal ??
    new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
  const started = await startEmulator(request.opts, io);
  if (!started) return 1;
  const { sb, state } = started;
  try {
    const description: SandboxFileContents = { ...sb.describe(), stateConnection: state.connectionString };
    const line = JSON.stringify(description);
    if (request.out !== undefined && !(await writeOut(request.out, line, io))) return 2;
    io.stdout.write(request.json ? line + '\n' : readyText(sb, state, request.out));
    io.onReady?.(sb);
    await stop;
    return 0;
  } finally {
    await state.close();
    await sb.close();
  }
}

/** The emulator and, beside it, a state table, so the CLI's state commands and `ear-guard start --sandbox`
 *  share it. Undefined (after saying why) when either cannot start. */
async function startEmulator(
  opts: SandboxOptions,
  io: SandboxIo,
): Promise<{ sb: Sandbox; state: LocalStorage } | undefined> {
  let sb: Sandbox;
  try {
    sb = await startSandbox(opts);
  } catch (e) {
    io.stderr.write(`ear-guard sandbox: could not start: ${(e as Error).message}\n`);
    return undefined;
  }
  try {
    return { sb, state: await startLocalStorage({ queue: true }) };
  } catch (e) {
    await sb.close();
    io.stderr.write(`ear-guard sandbox: could not start Azurite: ${(e as Error).message}\n`);
    return undefined;
  }
}

/** Writes the sandbox description for other commands; false (after saying why) when it cannot. */
async function writeOut(out: string, line: string, io: SandboxIo): Promise<boolean> {
  try {
    await writeFile(out, line + '\n', { mode: 0o600 });
    return true;
  } catch (e) {
    io.stderr.write(
      `ear-guard sandbox: --out: cannot write '${out}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`,
    );
    return false;
  }
}

function readyText(sb: Sandbox, state: LocalStorage, out: string | undefined): string {
  const vaults = (sb.demo?.vaults ?? [])
    .map((v) => `  vault:      ${v.vaultName} (${v.model})${v.projectId ? ` project ${v.projectId}` : ''}\n`)
    .join('');
  return (
    `sandbox ready\n  ARM:        ${sb.armEndpoint}\n  Atlas:      ${sb.atlasBaseUrl}\n  CA:         ${sb.caCertPath}\n` +
    `  tenant:     ${sb.tenantId}\n  subscription: ${sb.subscriptionId}\n` +
    `  state:      Azurite ${state.tableEndpoint}\n` +
    vaults +
    (out !== undefined ? `  details (with keys and control token): ${out}\n` : '') +
    'Ctrl-C to stop.\n'
  );
}

// ---------- act ----------

interface Target {
  vault: string;
  resourceGroup?: string;
  key?: string;
  principalId: string;
}

async function resolveTarget(
  conn: SandboxConnection,
  v: Record<string, string | boolean | undefined>,
): Promise<Target> {
  const principal = typeof v.principal === 'string' ? v.principal : undefined;
  if (typeof v.project === 'string') {
    const t = await conn.call<ProjectTarget>('arm', 'projectTarget', { projectId: v.project });
    return {
      vault: t.keyVaultName,
      resourceGroup: t.resourceGroupName,
      key: typeof v.key === 'string' ? v.key : t.keyName,
      principalId: principal ?? t.principalId,
    };
  }
  if (typeof v.vault === 'string') {
    const atlas = conn.description.atlasPrincipalId;
    return {
      vault: v.vault,
      ...(typeof v.key === 'string' ? { key: v.key } : {}),
      principalId: principal ?? atlas,
    };
  }
  throw new ActError('name the target: --project <atlasProjectId> or --vault <name>');
}

class ActError extends Error {}

type Assignment = { id: string; properties: { roleDefinitionId: string; principalId: string; scope: string } };

const guidOf = (roleDefinitionId: string) => roleDefinitionId.split('/').pop()!.toLowerCase();

export async function runSandboxAct(argv: string[], io: SandboxIo = defaultIo()): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        sandbox: { type: 'string' },
        as: { type: 'string' },
        project: { type: 'string' },
        vault: { type: 'string' },
        key: { type: 'string' },
        principal: { type: 'string' },
        role: { type: 'string' },
        group: { type: 'string' },
        scope: { type: 'string' },
        id: { type: 'string' },
        permissions: { type: 'string' },
        in: { type: 'string' },
        route: { type: 'string' },
        status: { type: 'string' },
        times: { type: 'string' },
        'retry-after': { type: 'string' },
        definition: { type: 'string' },
        effect: { type: 'string' },
        'do-not-enforce': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (e) {
    io.stderr.write(`ear-guard sandbox act: ${(e as Error).message}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(SANDBOX_HELP);
    return 0;
  }
  const [action, arg] = positionals;
  if (!action) {
    io.stderr.write('ear-guard sandbox act: an action is required (e.g. delete-assignment). See --help.\n');
    return 2;
  }
  let conn: SandboxConnection | undefined;
  try {
    const file = sandboxFileFrom(typeof values.sandbox === 'string' ? ['--sandbox', values.sandbox] : []);
    if (!file)
      throw new ActError(
        '--sandbox <file> (or EAR_GUARD_SANDBOX) is required: the JSON `ear-guard sandbox --out` wrote',
      );
    conn = await connectSandbox(file);
    const as = typeof values.as === 'string' ? values.as : 'admin';
    const result = await act(conn, as, action, arg, values);
    io.stdout.write(JSON.stringify({ action, as, result }) + '\n');
    return 0;
  } catch (e) {
    const known = e instanceof ActError || e instanceof SandboxConnectError;
    io.stderr.write(`ear-guard sandbox act: ${known ? e.message : `failed: ${(e as Error).message}`}\n`);
    return known && e instanceof ActError ? 2 : 1;
  } finally {
    await conn?.close();
  }
}

type ActValues = Record<string, string | boolean | undefined>;

/** What every action gets: who acts, the positional argument, the flags, and the sandbox's ARM control. */
interface ActContext {
  conn: SandboxConnection;
  arm: <T>(method: string, a?: unknown) => Promise<T>;
  as: string;
  action: string;
  arg?: string;
  v: ActValues;
}

/** What an action on a vault gets besides: the resolved target and the vault's ARM ID. */
interface VaultActContext extends ActContext {
  t: Target;
  vaultRef: { vault: string; resourceGroup?: string };
  vaultId: string;
  /** The target's key; an ActError when the action needs one and none was given. */
  needKey(): string;
  /** The principal's role assignments at or below the vault. */
  assignmentsOnVault(): Promise<Assignment[]>;
}

type SandboxAction = (cx: ActContext) => Promise<unknown>;
type VaultAction = (cx: VaultActContext) => Promise<unknown>;

/** Actions on the sandbox itself: no target. */
const sandboxActions = new Map<string, SandboxAction>([
  ['counts', ({ arm }) => arm('counts')],
  ['clear-faults', ({ arm }) => arm('clearFaults')],
  ['fault', setFault],
]);

/** Actions on one vault (by --project or --vault) and the principal's access to it. */
const vaultActions = new Map<string, VaultAction>([
  ['delete-assignment', deleteAssignments],
  ['strip-policy', stripPolicy],
  ['set-model', setModel],
  ['downgrade-role', downgradeRole],
  ['grant-role', grantRoleAction],
  ['add-to-group', addToGroup],
  ['assign-policy', assignPolicy],
  ['disable-key', setKeyEnabled],
  ['enable-key', setKeyEnabled],
  ['rotate-key', ({ arm, vaultRef, needKey }) => arm('rotateKey', { ...vaultRef, key: needKey() })],
  ['expire-key', expireKey],
  ['deny', addDenyAssignment],
]);

async function act(
  conn: SandboxConnection,
  as: string,
  action: string,
  arg: string | undefined,
  v: ActValues,
): Promise<unknown> {
  const arm = <T>(method: string, a?: unknown) => conn.call<T>('arm', method, a);
  const cx: ActContext = { conn, arm, as, action, arg, v };
  const onSandbox = sandboxActions.get(action);
  if (onSandbox) return onSandbox(cx);
  if (action === 'delete-assignment' && typeof v.id === 'string') {
    return { deleted: await arm<boolean>('deleteAssignment', { as, id: v.id }), id: v.id };
  }
  const vcx = await vaultContext(cx);
  const onVault = vaultActions.get(action);
  if (!onVault) throw new ActError(`unknown action '${action}'. See 'ear-guard sandbox --help'.`);
  return onVault(vcx);
}

async function vaultContext(cx: ActContext): Promise<VaultActContext> {
  const { conn, arm, action, v } = cx;
  const t = await resolveTarget(conn, v);
  const vaultRef = { vault: t.vault, ...(t.resourceGroup ? { resourceGroup: t.resourceGroup } : {}) };
  const vaultDoc = await arm<{ id: string }>('getVault', vaultRef);
  return {
    ...cx,
    t,
    vaultRef,
    vaultId: vaultDoc.id,
    needKey: () => {
      if (!t.key) throw new ActError(`${action} needs --key <name> (or --project)`);
      return t.key;
    },
    assignmentsOnVault: async () =>
      (await arm<Assignment[]>('roleAssignments', { scope: vaultDoc.id, principalId: t.principalId })).filter((a) =>
        a.properties.scope.toLowerCase().startsWith(vaultDoc.id.toLowerCase()),
      ),
  };
}

async function setFault({ arm, v }: ActContext): Promise<unknown> {
  const status = Number(v.status);
  if (typeof v.route !== 'string' || !Number.isInteger(status)) {
    throw new ActError('fault needs --route <operation|path prefix> and --status <http status>');
  }
  const fault = {
    kind: 'error',
    status,
    ...(v['retry-after'] !== undefined ? { retryAfterSeconds: Number(v['retry-after']) } : {}),
  };
  return arm('setFault', { matcher: v.route, fault, ...(v.times !== undefined ? { times: Number(v.times) } : {}) });
}

/** All of the principal's assignments on the vault but Reader, or only those of --role. */
/** `--scope vault|key|<ID>` of delete-assignment: the one scope whose assignments go (undefined: all on the vault). */
function deleteScope({ v, vaultId, needKey }: VaultActContext): string | undefined {
  if (typeof v.scope !== 'string') return undefined;
  if (v.scope === 'vault') return vaultId;
  if (v.scope === 'key') return `${vaultId}/keys/${needKey()}`;
  if (v.scope.startsWith('/')) return v.scope;
  throw new ActError(`delete-assignment --scope takes vault, key or a scope ID starting with '/', not '${v.scope}'`);
}

async function deleteAssignments(cx: VaultActContext): Promise<unknown> {
  const { conn, arm, as, v, assignmentsOnVault } = cx;
  const wanted = typeof v.role === 'string' ? await roleGuid(conn, v.role) : undefined;
  const scope = deleteScope(cx)?.toLowerCase();
  const victims = (await assignmentsOnVault()).filter(
    (a) =>
      (wanted
        ? guidOf(a.properties.roleDefinitionId) === wanted
        : guidOf(a.properties.roleDefinitionId) !== ROLE_IDS.reader) &&
      (!scope || a.properties.scope.toLowerCase() === scope),
  );
  for (const a of victims) await arm('deleteAssignment', { as, id: a.id });
  return { deleted: victims.map((a) => a.id) };
}

/** Every key permission an access policy can hold: what strip-policy removes by default. */
const ALL_KEY_PERMISSIONS = [
  'all',
  'get',
  'list',
  'create',
  'update',
  'import',
  'delete',
  'backup',
  'restore',
  'recover',
  'purge',
  'encrypt',
  'decrypt',
  'wrapKey',
  'unwrapKey',
  'sign',
  'verify',
  'release',
  'rotate',
  'getrotationpolicy',
  'setrotationpolicy',
];

async function stripPolicy({ arm, as, v, t, vaultRef }: VaultActContext): Promise<unknown> {
  const perms =
    typeof v.permissions === 'string'
      ? v.permissions
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [...ALL_KEY_PERMISSIONS];
  await arm('setAccessPolicy', { ...vaultRef, as, objectId: t.principalId, keys: perms, op: 'remove' });
  return { removed: perms, objectId: t.principalId, vault: t.vault };
}

async function setModel({ arm, as, arg, t, vaultRef }: VaultActContext): Promise<unknown> {
  if (arg !== 'rbac' && arg !== 'accessPolicy') throw new ActError("set-model takes 'rbac' or 'accessPolicy'");
  await arm('setPermissionModel', { ...vaultRef, as, model: arg });
  return { vault: t.vault, model: arg };
}

/** Replaces Key Vault Crypto User by Crypto Service Encryption User (no encrypt/decrypt). */
async function downgradeRole({ arm, as, t, vaultId, assignmentsOnVault }: VaultActContext): Promise<unknown> {
  const strong = (await assignmentsOnVault()).filter(
    (a) => guidOf(a.properties.roleDefinitionId) === ROLE_IDS.keyVaultCryptoUser,
  );
  for (const a of strong) await arm('deleteAssignment', { as, id: a.id });
  const weak = await arm('assignRole', {
    as,
    scope: vaultId,
    role: ROLE_IDS.keyVaultCryptoServiceEncryptionUser,
    principalId: t.principalId,
    principalType: 'ServicePrincipal',
  });
  return { deleted: strong.map((a) => a.id), assigned: weak };
}

/** grant-role: a role for the principal at the vault or at --scope, or for --group (created if absent) at the vault. */
async function grantRoleAction({ conn, as, v, t, vaultId }: VaultActContext): Promise<unknown> {
  return grantRole(conn, as, vaultId, t.principalId, v);
}

/** add-to-group: the principal joins --group (created if absent); Azure emits no event for it. */
async function addToGroup({ conn, v, t }: VaultActContext): Promise<unknown> {
  if (typeof v.group !== 'string') throw new ActError('add-to-group needs --group <name>');
  const g = await conn.call<{ objectId: string }>('tenant', 'addToGroup', {
    group: v.group,
    principalId: t.principalId,
  });
  return { group: v.group, groupId: g.objectId, member: t.principalId };
}

/** assign-policy: an Azure Policy assignment at the vault or --scope (an ARM PUT, as Azure Policy's portal makes). */
async function assignPolicy({ conn, as, v, vaultId }: VaultActContext): Promise<unknown> {
  if (typeof v.definition !== 'string') throw new ActError('assign-policy needs --definition <built-in name or ID>');
  return conn.call('tenant', 'assignPolicy', {
    as,
    definition: v.definition,
    scope: typeof v.scope === 'string' ? v.scope : vaultId,
    ...(typeof v.effect === 'string' ? { effect: v.effect } : {}),
    ...(v['do-not-enforce'] === true ? { enforcementMode: 'DoNotEnforce' } : {}),
  });
}

/** disable-key and enable-key. */
async function setKeyEnabled({ arm, action, t, vaultRef, needKey }: VaultActContext): Promise<unknown> {
  await arm('setKeyEnabled', { ...vaultRef, key: needKey(), enabled: action === 'enable-key' });
  return { vault: t.vault, key: t.key, enabled: action === 'enable-key' };
}

async function expireKey({ arm, v, t, vaultRef, needKey }: VaultActContext): Promise<unknown> {
  const delta = v.in === undefined ? -60 : Number(v.in);
  if (!Number.isFinite(delta)) throw new ActError('--in takes seconds from now (negative: already expired)');
  const exp = Math.floor(Date.now() / 1000) + delta;
  await arm('setKeyExpiry', { ...vaultRef, key: needKey(), exp });
  return { vault: t.vault, key: t.key, exp };
}

async function addDenyAssignment({ arm, as, t, vaultId, needKey }: VaultActContext): Promise<unknown> {
  return arm('addDenyAssignment', {
    as,
    scope: `${vaultId}/keys/${needKey()}`,
    principals: [{ id: t.principalId, type: 'ServicePrincipal' }],
    dataActions: ['Microsoft.KeyVault/vaults/keys/*'],
  });
}

/** `grant-role`: to the principal at the vault, to a group at the vault (--group), or to the principal at --scope. */
async function grantRole(
  conn: SandboxConnection,
  as: string,
  vaultId: string,
  principalId: string,
  v: Record<string, string | boolean | undefined>,
): Promise<unknown> {
  if (typeof v.role !== 'string') throw new ActError('grant-role needs --role <name or GUID>');
  if (typeof v.group === 'string' && typeof v.scope === 'string') {
    throw new ActError('grant-role takes --group or --scope, not both');
  }
  if (typeof v.group === 'string') {
    const g = await conn.call<{ objectId: string }>('tenant', 'ensureGroup', { group: v.group });
    return conn.call('arm', 'assignRole', {
      as,
      scope: vaultId,
      role: v.role,
      principalId: g.objectId,
      principalType: 'Group',
    });
  }
  const scope = typeof v.scope === 'string' ? v.scope : vaultId;
  return conn.call('arm', 'assignRole', { as, scope, role: v.role, principalId, principalType: 'ServicePrincipal' });
}

async function roleGuid(conn: SandboxConnection, role: string): Promise<string> {
  const alias = (ROLE_IDS as Record<string, string>)[role];
  if (alias) return alias;
  if (/^[0-9a-f-]{36}$/i.test(role)) return role.toLowerCase();
  const byName: Record<string, string> = {
    'key vault crypto user': ROLE_IDS.keyVaultCryptoUser,
    'key vault crypto service encryption user': ROLE_IDS.keyVaultCryptoServiceEncryptionUser,
    'key vault crypto officer': ROLE_IDS.keyVaultCryptoOfficer,
    'key vault administrator': ROLE_IDS.keyVaultAdministrator,
    reader: ROLE_IDS.reader,
  };
  const g = byName[role.toLowerCase()];
  if (!g) throw new ActError(`unknown role '${role}' (give a GUID or a built-in Key Vault role name)`);
  void conn;
  return g;
}
