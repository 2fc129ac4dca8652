// `ear-guard check --project <groupId> | --all [--fix]`: a live check (Atlas API + ARM) with the reconcile loop's
// own observation and evaluator: the verdict per permission with grant paths, the key's state, Atlas's `valid`
// flag and the fix commands. Nothing is written unless --fix, which runs the app's reconcile loop in remediate
// mode for the project (so a recorded revocation is honoured and the restore is recorded in history).
import { checkAtlasPrincipal, type AtlasTarget, type TargetResult } from '../atlas/target.js';
import type { KeyRecord } from '../azure/arm.js';
import { fixCommands } from '../core/fix.js';
import type { Requirement, Verdict } from '../core/types.js';
import { BLOCKING_FLAGS } from '../loop/judge.js';
import { standbyApplies, standbyNotice } from '../loop/standby.js';
import { inspectTarget, type ActionRecord, type Inspection } from '../loop/index.js';
import type { ProjectRecord } from '../state/store.js';
import { renderHuman } from './explain.js';
import { connect, type Connected } from './cli/connect.js';
import { EXIT, explainServiceError, runGuarded, usageError, worstExit, type ExitCode } from './cli/errors.js';
import { defaultIo, type CliIo } from './cli/io.js';
import { COMMON_HELP, flag, list, parseOptions, requireGroupId, type Values } from './cli/options.js';
import { table, writeJson } from './cli/output.js';
import { mapLimit } from '../shared/concurrency.js';

export const CHECK_HELP = `Usage: ear-guard check --project <groupId> [--project <groupId> ...] | --all [--fix] [--json]

Live check of Atlas encryption at rest on Azure Key Vault: reads the project's EAR configuration from the Atlas
Admin API and the vault, key and role assignments from ARM, then prints the verdict per permission (get, encrypt,
decrypt; wrapKey, unwrapKey and Reader recommended) with the grant path, the key's state (enabled, expiry, current
version vs the version in Atlas's keyIdentifier), Atlas's own azureKeyVault.valid flag, and the az commands that
fix anything missing. Nothing is written unless --fix.

  --project <groupId>  an Atlas project ID (repeatable)
  --all                every project in ATLAS_PROJECT_IDS, else every project the Atlas key can see
  --fix                restore missing grants with the app's reconcile loop (mode remediate): only the missing
                       grants, only for the Atlas principal; a recorded 'intent revoked' is honoured. Needs
                       EAR_GUARD_STORAGE (the restore is recorded in the project's history)
  --concurrency <n>    projects checked at once with --all (default 4)

Examples:
  ear-guard check --project 5f1e2d3c4b5a69788796a5b4
  ear-guard check --all --json | jq '.projects[] | select(.result != "granted")'
  ear-guard check --project 5f1e2d3c4b5a69788796a5b4 --fix
  ear-guard check --sandbox /tmp/sandbox.json --all

Atlas role: Project Read Only (the spec's x-rolesRequirements for GET encryptionAtRest and GET cloudProviderAccess);
service account (ATLAS_CLIENT_ID/SECRET, preferred) or API key.
Azure: Reader on the vault's subscription or resource group; --fix also needs the remediator's write roles.
Exit status (worst project): 0 granted, 1 missing/degraded/check failed, 3 indeterminate, 4 cannot reach
Azure/Atlas, 2 usage.

${COMMON_HELP}`;

export type CheckResult = 'granted' | 'missing' | 'indeterminate' | 'degraded' | 'unsupported' | 'invalid' | 'error';

export interface KeyState {
  name: string;
  exists: boolean;
  enabled?: boolean;
  expires?: string;
  notBefore?: string;
  currentVersion?: string;
  /** The version pinned in Atlas's keyIdentifier (undefined: versionless). */
  atlasVersion?: string;
  versionMatches?: boolean;
}

export interface ProjectCheck {
  projectId: string;
  result: CheckResult;
  exitCode: number;
  reason?: string;
  target?: Pick<
    AtlasTarget,
    | 'principalObjectId'
    | 'tenantId'
    | 'vaultId'
    | 'keyName'
    | 'keyIdentifier'
    | 'credentials'
    | 'roleId'
    | 'requirePrivateNetworking'
    | 'azureEnvironment'
  >;
  atlasValid?: boolean;
  key?: KeyState;
  verdict?: Verdict;
  flags?: string[];
  fix?: string[];
  intent?: { intent: string; by?: string; reason?: string; at?: string };
  /** What the standby grant (EAR_GUARD_STANDBY_GRANT) is for this project, when it is set. */
  standby?: string;
  /** With --fix: what the reconcile loop did. */
  reconcile?: { outcome: string; status: string; reason?: string; actions: ActionRecord[] };
}

const BLOCKING: readonly string[] = BLOCKING_FLAGS;

export function keyState(t: AtlasTarget, key: KeyRecord | undefined): KeyState {
  if (!key) return { name: t.keyName, exists: false, atlasVersion: t.keyVersion };
  return {
    name: key.name,
    exists: true,
    enabled: key.enabled,
    expires: key.expires,
    notBefore: key.notBefore,
    currentVersion: key.currentVersion,
    atlasVersion: t.keyVersion,
    versionMatches:
      t.keyVersion && key.currentVersion ? t.keyVersion.toLowerCase() === key.currentVersion.toLowerCase() : undefined,
  };
}

/** az commands for the key-side problems the permission fix commands cannot address. */
export function keyFixCommands(t: AtlasTarget, flags: string[]): string[] {
  const out: string[] = [];
  const kv = `--vault-name ${t.vaultName} --name ${t.keyName}`;
  if (flags.includes('key-not-found')) {
    out.push(
      `# the key '${t.keyName}' does not exist in vault ${t.vaultName}: recover it (az keyvault key recover ${kv}) or point Atlas at another key`,
    );
  }
  if (flags.includes('key-disabled')) out.push(`az keyvault key set-attributes ${kv} --enabled true`);
  if (flags.includes('key-expired')) {
    out.push(
      `az keyvault key set-attributes ${kv} --expires <a later UTC date, e.g. ${new Date(Date.now() + 365 * 86_400_000).toISOString().slice(0, 19)}Z>`,
    );
  }
  if (flags.includes('atlas-invalid-while-azure-granted')) {
    out.push(
      '# Atlas reports azureKeyVault.valid=false although Azure grants access: RBAC changes take up to 10 minutes to reach the data plane; check again shortly',
    );
  }
  return out;
}

export function targetSummary(t: AtlasTarget): NonNullable<ProjectCheck['target']> {
  return {
    principalObjectId: t.principalObjectId,
    tenantId: t.tenantId,
    vaultId: t.vaultId,
    keyName: t.keyName,
    keyIdentifier: t.keyIdentifier,
    credentials: t.credentials,
    ...(t.roleId ? { roleId: t.roleId } : {}),
    requirePrivateNetworking: t.requirePrivateNetworking,
    azureEnvironment: t.azureEnvironment,
  };
}

function intentOf(row: ProjectRecord | undefined): ProjectCheck['intent'] {
  if (!row) return undefined;
  return {
    intent: row.intent,
    ...(row.intentBy ? { by: row.intentBy } : {}),
    ...(row.intentReason ? { reason: row.intentReason } : {}),
    ...(row.intentAt ? { at: row.intentAt } : {}),
  };
}

/**
 * The project's target as the app sees it: a secretless principal other than the one pinned for its tenant
 * (EAR_GUARD_ATLAS_PRINCIPALS, in the policy the composition root built) is a PrincipalMismatch.
 */
async function loadPinnedTarget(conn: Connected, projectId: string): Promise<TargetResult> {
  const target = await conn.atlas!.loadTarget(projectId);
  if (target.kind !== 'target') return target;
  const pin = checkAtlasPrincipal(target.target, conn.policy.atlasPrincipals ?? {});
  return pin.ok ? target : { kind: 'invalid', reason: pin.reason, code: 'PrincipalMismatch' };
}

function resultOf(v: Verdict, blocking: string[]): CheckResult {
  if (v.verdict === 'missing') return 'missing';
  if (v.verdict === 'indeterminate') return 'indeterminate';
  return blocking.length ? 'degraded' : 'granted';
}

function exitFor(result: CheckResult): ExitCode {
  if (result === 'granted') return EXIT.ok;
  return result === 'indeterminate' ? EXIT.indeterminate : EXIT.failed;
}

/** The check of a target Atlas names, from the loop's own inspection of the vault and key. */
/** The standby grant's state from the check's flags, or why it has no effect (restoreScope key). */
function standbyLine(policy: Connected['policy'], flags: string[]): string | undefined {
  if (!standbyApplies(policy)) return standbyNotice(policy);
  const missing = flags.filter((f) => f.startsWith('standby-missing:')).map((f) => f.split(':')[1]);
  return missing.length
    ? `missing at the ${missing.join(' and the ')}: access holds through the other assignment; the loop re-adds it in remediate mode (check --fix)`
    : 'held at both the vault and the key: deleting either leaves Atlas an already propagated grant';
}

function judged(projectId: string, t: AtlasTarget, ins: Inspection, policy: Connected['policy']): ProjectCheck {
  const requirement: Requirement = {
    principalId: t.principalObjectId,
    key: { vaultId: t.vaultId, keyName: t.keyName },
    recommendReaderOnVault: true,
  };
  const v = ins.verdict;
  const blocking = ins.flags.filter((f) => BLOCKING.includes(f));
  const result = resultOf(v, blocking);
  return {
    projectId,
    result,
    exitCode: exitFor(result),
    ...(blocking.length && result !== 'missing' ? { reason: `permissions are intact but ${blocking.join(', ')}` } : {}),
    target: targetSummary(t),
    atlasValid: t.atlasValid,
    key: keyState(t, ins.key),
    verdict: v,
    flags: ins.flags,
    ...(standbyLine(policy, ins.flags) ? { standby: standbyLine(policy, ins.flags) } : {}),
    fix: [...fixCommands(v, requirement), ...keyFixCommands(t, ins.flags)],
  };
}

async function checkTarget(conn: Connected, t: AtlasTarget, row: ProjectRecord | undefined): Promise<ProjectCheck> {
  try {
    const ins = await inspectTarget(t, { azure: conn.azure!, atlas: conn.atlas, policy: conn.policy }, row?.model);
    return judged(t.projectId, t, ins, conn.policy);
  } catch (e) {
    const x = explainServiceError(e, 'arm');
    return {
      projectId: t.projectId,
      result: 'error',
      exitCode: x.exitCode,
      reason: x.message,
      target: targetSummary(t),
      atlasValid: t.atlasValid,
    };
  }
}

async function checkOne(conn: Connected, projectId: string, explicit: boolean): Promise<ProjectCheck> {
  const row = conn.state ? await conn.state.getProject(projectId).catch(() => undefined) : undefined;
  let target: TargetResult;
  try {
    target = await loadPinnedTarget(conn, projectId);
  } catch (e) {
    const x = explainServiceError(e, 'atlas');
    return { projectId, result: 'error', exitCode: x.exitCode, reason: x.message };
  }
  if (target.kind === 'unsupported') {
    return {
      projectId,
      result: 'unsupported',
      exitCode: explicit ? EXIT.indeterminate : EXIT.ok,
      reason: target.reason,
    };
  }
  if (target.kind === 'invalid') return { projectId, result: 'invalid', exitCode: EXIT.failed, reason: target.reason };
  const checked = await checkTarget(conn, target.target, row);
  if (checked.result === 'error') return checked;
  const intent = intentOf(row);
  return { ...checked, ...(intent ? { intent } : {}) };
}

function renderKey(k: KeyState | undefined): string {
  if (!k) return '-';
  if (!k.exists) return `${k.name}: NOT FOUND`;
  const parts = [
    k.enabled ? 'enabled' : 'DISABLED',
    k.expires ? `expires ${k.expires}${Date.parse(k.expires) <= Date.now() ? ' (EXPIRED)' : ''}` : 'no expiry',
    `current version ${k.currentVersion ?? '?'}`,
    k.atlasVersion
      ? `Atlas uses ${k.atlasVersion}${k.versionMatches === false ? ' (an older version: still usable while enabled)' : ''}`
      : 'Atlas uses the versionless identifier',
  ];
  return `${k.name}: ${parts.join(', ')}`;
}

function atlasLine(c: ProjectCheck): string | undefined {
  if (!c.target) return undefined;
  const creds = c.target.credentials === 'secretless' ? `secretless (roleId ${c.target.roleId})` : 'static credentials';
  const pn = c.target.requirePrivateNetworking ? ', requirePrivateNetworking (validation is asynchronous)' : '';
  return `Atlas:      ${creds}, azureKeyVault.valid: ${c.atlasValid ?? 'not reported'}${pn}`;
}

function intentLine(c: ProjectCheck): string | undefined {
  if (!c.intent) return undefined;
  const by = c.intent.by ? ` (by ${c.intent.by}${c.intent.reason ? `: ${c.intent.reason}` : ''})` : '';
  return `Intent:     ${c.intent.intent}${by}`;
}

function reconcileLines(c: ProjectCheck): string[] {
  const r = c.reconcile;
  if (!r) return [];
  return [
    `--fix:      ${r.outcome} (status ${r.status})${r.reason ? `: ${r.reason}` : ''}`,
    ...r.actions.map((a) => `            ${a.description}: ${a.result}${a.error ? ` (${a.error})` : ''}`),
  ];
}

export function renderCheck(c: ProjectCheck): string {
  const out: (string | undefined)[] = [
    `== Project ${c.projectId}: ${c.result.toUpperCase()} ==`,
    c.reason ? `Reason:     ${c.reason}` : undefined,
    atlasLine(c),
    c.key ? `Key state:  ${renderKey(c.key)}` : undefined,
    intentLine(c),
    c.flags?.length ? `Flags:      ${c.flags.join(', ')}` : undefined,
    c.standby ? `Standby:    ${c.standby}` : undefined,
    ...reconcileLines(c),
    '',
  ];
  if (c.verdict && c.target) out.push(renderHuman(c.verdict, c.fix ?? [], c.target.keyIdentifier));
  return out.filter((l) => l !== undefined).join('\n') + '\n';
}

interface CheckArgs {
  projects: string[];
  all: boolean;
  fix: boolean;
  concurrency: number;
}

function checkArgs(values: Values): CheckArgs {
  const projects = list(values, 'project').map((p) => requireGroupId(p, '--project'));
  const all = flag(values, 'all');
  if (!all && projects.length === 0) throw usageError('name the projects: --project <groupId> (repeatable) or --all');
  if (all && projects.length) throw usageError('--all and --project exclude each other');
  const concurrency = Number(values.concurrency ?? 4);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw usageError(`--concurrency '${String(values.concurrency)}' is not a positive integer`);
  }
  return { projects, all, fix: flag(values, 'fix'), concurrency };
}

/** --fix: the app's reconcile first, then the check of what it left. */
async function fixOne(conn: Connected, id: string, explicit: boolean): Promise<ProjectCheck> {
  const outcome = await conn.engine!.reconcile(id, { kind: 'cli' });
  const after = await checkOne(conn, id, explicit);
  after.reconcile = {
    outcome: outcome.kind,
    status: outcome.status,
    ...('reason' in outcome ? { reason: outcome.reason } : {}),
    actions: outcome.actions,
  };
  return after;
}

function renderSummary(results: ProjectCheck[]): string {
  return table(
    ['PROJECT', 'RESULT', 'MISSING', 'FLAGS'],
    results.map((r) => [
      r.projectId,
      r.result,
      r.verdict?.missing.join(',') ?? '',
      r.flags?.join(',') ?? (r.result === 'error' || r.result === 'unsupported' ? r.reason : ''),
    ]),
  );
}

function printChecks(io: CliIo, values: Values, results: ProjectCheck[], all: boolean, exitCode: number): void {
  if (flag(values, 'json')) {
    writeJson(io, { exitCode, projects: results });
    return;
  }
  for (const r of results) io.stdout.write(renderCheck(r) + '\n');
  if (results.length > 1 || all) io.stdout.write(renderSummary(results));
  if (results.length === 0) io.stdout.write('No projects to check.\n');
}

/** The projects to check; a failure to list them is printed and becomes the exit code. */
async function projectIds(conn: Connected, io: CliIo, a: CheckArgs): Promise<string[] | number> {
  if (!a.all) return a.projects;
  try {
    return conn.settings.ATLAS_PROJECT_IDS.length
      ? conn.settings.ATLAS_PROJECT_IDS
      : await conn.atlas!.listProjectIds();
  } catch (e) {
    const x = explainServiceError(e, 'atlas');
    io.stderr.write(`ear-guard check: listing projects: ${x.message}\n`);
    return x.exitCode;
  }
}

export async function runCheck(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  return runGuarded('check', io, async () => {
    const { values } = parseOptions(
      'check',
      argv,
      {
        project: { type: 'string', multiple: true },
        all: { type: 'boolean' },
        fix: { type: 'boolean' },
        concurrency: { type: 'string' },
      },
      CHECK_HELP,
    );
    if (flag(values, 'help')) {
      io.stdout.write(CHECK_HELP);
      return EXIT.ok;
    }
    const a = checkArgs(values);
    const conn = await connect(values, io, {
      cloud: true,
      state: a.fix ? 'required' : 'optional',
      engine: a.fix,
      policy: a.fix ? { mode: 'remediate' } : undefined,
      stateFor: '--fix (the restore is recorded, and a recorded revocation is honoured)',
    });
    try {
      const ids = await projectIds(conn, io, a);
      if (typeof ids === 'number') return ids;
      const one = a.fix ? fixOne : checkOne;
      const results = await mapLimit(ids, a.concurrency, (id) => one(conn, id, !a.all));
      const exitCode = worstExit(results.map((r) => r.exitCode));
      printChecks(io, values, results, a.all, exitCode);
      return exitCode;
    } finally {
      await conn.close();
    }
  });
}
