// `ear-guard migrate --project <groupId> [--dry-run]`: the seed's migration from static credentials to the
// secretless Atlas-managed service principal, made safe: find the principal (or register it with POST
// cloudProviderAccess), grant with the app's own restore code, run the preflight, and only when every check
// passes PATCH encryptionAtRest with the roleId; then poll `valid` and say what Atlas did. If Atlas's validation
// fails it keeps the static credentials.
import { ATLAS_ACCEPT, type AtlasClient, type AtlasEncryptionAtRest } from '../atlas/client.js';
import { ATLAS_AZURE_APP_ID } from '../atlas/target.js';
import { roleAssignmentName } from '../azure/guid.js';
import { planRestore, type ActionRecord, type PlannedAction } from '../loop/index.js';
import { connect, type Connected } from './cli/connect.js';
import { EXIT, explainServiceError, runGuarded, usageError } from './cli/errors.js';
import { defaultIo, type CliIo } from './cli/io.js';
import {
  COMMON_HELP,
  flag,
  GUID,
  parseDuration,
  parseOptions,
  requireGroupId,
  str,
  type Values,
} from './cli/options.js';
import { MASK, writeJson } from './cli/output.js';
import {
  applyPreflightFix,
  preflight,
  renderPreflight,
  type PreflightReport,
  type PreflightState,
} from './preflight.js';

export const MIGRATE_HELP = `Usage: ear-guard migrate --project <groupId> [--principal <objectId>] [--tenant <tenantId>] [--key <keyIdentifier>]
                         [--dry-run] [--timeout 10m] [--poll 15s] [--json]

Moves a project's encryption at rest on Azure Key Vault from static credentials (tenant ID, client ID, secret)
to the secretless Atlas-managed service principal, safely:
  1. find the Atlas service principal registered with the project, or register it
     (POST /groups/{groupId}/cloudProviderAccess with --principal, the object ID of the Atlas app's
     service principal in your tenant: az ad sp list --filter "appId eq '${ATLAS_AZURE_APP_ID}'")
  2. grant it what is missing on the key (Key Vault Crypto User + Reader on RBAC vaults; get, encrypt, decrypt,
     wrapKey, unwrapKey on access-policy vaults) with the same restore code the app uses
  3. run the preflight; stop here unless every check passes
  4. PATCH /groups/{groupId}/encryptionAtRest with the roleId (Atlas validates; if validation fails Atlas keeps
     the static credentials)
  5. poll azureKeyVault.valid until true or --timeout, and report what Atlas did

  --principal <objectId>  the Atlas app's service principal object ID (needed only when none is registered)
  --tenant <tenantId>     its tenant (default: azureKeyVault.tenantID)
  --key <keyIdentifier>   the key to use (default: the current keyIdentifier)
  --dry-run               write nothing: print the plan and the exact request bodies (secrets masked)
  --timeout <duration>    how long to wait for valid: true (default 10m)
  --poll <duration>       how often to read encryptionAtRest while waiting (default 15s)

Examples:
  ear-guard migrate --project 5f1e2d3c4b5a69788796a5b4 --dry-run
  ear-guard migrate --project 5f1e2d3c4b5a69788796a5b4 --principal 2b7c0000-0000-0000-0000-000000000000
  ear-guard migrate --sandbox /tmp/sandbox.json --project 5f1e2d3c4b5a69788796a5b4 --json

Atlas role: Project Owner (the spec's x-rolesRequirements for POST cloudProviderAccess and PATCH encryptionAtRest).
Azure: Reader on the vault and the right to write role assignments (or access policies) for the Atlas principal.
Exit status: 0 migrated and validated (or, with --dry-run, a feasible plan), 1 preflight failed or Atlas rejected
the change, 3 the change was accepted but validation was not confirmed in time, 4 cannot reach Azure/Atlas.

${COMMON_HELP}`;

interface Step {
  step: string;
  status: 'done' | 'would do' | 'skipped' | 'already done' | 'failed';
  detail: string;
  request?: { method: string; url: string; headers?: Record<string, string>; body?: unknown };
}

export interface MigrateReport {
  projectId: string;
  dryRun: boolean;
  result: 'migrated' | 'already-secretless' | 'planned' | 'not-ready' | 'rejected' | 'unconfirmed';
  exitCode: number;
  message: string;
  roleId?: string;
  principalId?: string;
  before?: AtlasEncryptionAtRest['azureKeyVault'];
  after?: AtlasEncryptionAtRest['azureKeyVault'];
  steps: Step[];
  preflight?: PreflightReport;
}

const ROLE_ASSIGNMENTS_API = '2022-04-01';
const KEYVAULT_API = '2024-11-01';

function armRequest(armBase: string, subscription: string, a: PlannedAction): Step['request'] {
  if (a.kind === 'roleAssignment') {
    const name = roleAssignmentName(a.scope!, a.roleDefinitionGuid!, a.principalId);
    return {
      method: 'PUT',
      url: `${armBase}${a.scope}/providers/Microsoft.Authorization/roleAssignments/${name}?api-version=${ROLE_ASSIGNMENTS_API}`,
      body: {
        properties: {
          roleDefinitionId: `/subscriptions/${subscription}/providers/Microsoft.Authorization/roleDefinitions/${a.roleDefinitionGuid}`,
          principalId: a.principalId,
          principalType: 'ServicePrincipal',
        },
      },
    };
  }
  return {
    method: 'PUT',
    url: `${armBase}${a.vaultId}/accessPolicies/add?api-version=${KEYVAULT_API}`,
    body: {
      properties: {
        accessPolicies: [{ tenantId: a.tenantId, objectId: a.principalId, permissions: { keys: a.keys } }],
      },
    },
  };
}

function render(r: MigrateReport): string {
  const out: string[] = [`Migration of project ${r.projectId}${r.dryRun ? ' (dry run: nothing is written)' : ''}`, ''];
  r.steps.forEach((s, i) => {
    out.push(`${i + 1}. [${s.status}] ${s.step}: ${s.detail}`);
    if (s.request) {
      out.push(`     ${s.request.method} ${s.request.url}`);
      for (const [h, v] of Object.entries(s.request.headers ?? {})) out.push(`     ${h}: ${v}`);
      if (s.request.body !== undefined) {
        out.push(
          ...JSON.stringify(s.request.body, null, 2)
            .split('\n')
            .map((l) => `     ${l}`),
        );
      }
    }
  });
  if (r.preflight && !r.preflight.ready) out.push('', renderPreflight(r.preflight).trimEnd());
  out.push('', r.message);
  return out.join('\n') + '\n';
}

/** Never prints a secret: the static secret and the Atlas private key appear only as a mask. */
function maskedAkv(akv: AtlasEncryptionAtRest['azureKeyVault']): AtlasEncryptionAtRest['azureKeyVault'] {
  if (!akv) return akv;
  const copy = { ...(akv as Record<string, unknown>) };
  if ('secret' in copy) copy.secret = MASK;
  return copy as AtlasEncryptionAtRest['azureKeyVault'];
}

interface MigrateArgs {
  projectId: string;
  dryRun: boolean;
  principal?: string;
  tenant?: string;
  key?: string;
  timeoutMs: number;
  pollMs: number;
}

function migrateArgs(values: Values, io: CliIo): MigrateArgs {
  const projectId = requireGroupId(str(values, 'project'), '--project');
  const principal = str(values, 'principal');
  if (principal && !GUID.test(principal))
    throw usageError(`--principal '${principal}' is not an object ID (expected a GUID)`);
  const tenant = str(values, 'tenant');
  if (tenant && !GUID.test(tenant)) throw usageError(`--tenant '${tenant}' is not a tenant ID (expected a GUID)`);
  const timeoutMs = parseDuration(str(values, 'timeout') ?? '10m', '--timeout');
  const pollMs = io.tuning?.pollMs ?? parseDuration(str(values, 'poll') ?? '15s', '--poll');
  const key = str(values, 'key');
  return {
    projectId,
    dryRun: flag(values, 'dry-run'),
    ...(principal ? { principal } : {}),
    ...(tenant ? { tenant } : {}),
    ...(key ? { key } : {}),
    timeoutMs,
    pollMs,
  };
}

/** One migration run: its arguments, where it sends requests, and the steps taken so far. */
interface MigrationRun {
  conn: Connected;
  args: MigrateArgs;
  client: AtlasClient;
  atlasBase: string;
  armBase: string;
  /** What the printed Atlas requests show for authentication (never the private key). */
  authHeader: Record<string, string>;
  steps: Step[];
}

type Ending = Omit<MigrateReport, 'projectId' | 'dryRun' | 'steps'>;

function reportOf(run: MigrationRun, r: Ending): MigrateReport {
  return { projectId: run.args.projectId, dryRun: run.args.dryRun, steps: run.steps, ...r };
}

function startRun(conn: Connected, args: MigrateArgs): MigrationRun {
  return {
    conn,
    args,
    client: conn.atlasClient!,
    atlasBase: conn.settings.ATLAS_BASE_URL.replace(/\/+$/, ''),
    armBase: (conn.sandbox?.armEndpoint ?? 'https://management.azure.com').replace(/\/+$/, ''),
    authHeader: {
      Accept: ATLAS_ACCEPT,
      Authorization: `Digest username="${conn.settings.ATLAS_PUBLIC_KEY}", response="${MASK}" (HTTP digest; the private key is never sent or printed)`,
    },
    steps: [],
  };
}

type AtlasKeyVault = NonNullable<AtlasEncryptionAtRest['azureKeyVault']>;

/** Step 1: the static-credential configuration to migrate, or the report that there is nothing to do. */
async function readStaticConfig(run: MigrationRun): Promise<{ akv: AtlasKeyVault } | { done: MigrateReport }> {
  const { projectId } = run.args;
  const akv = (await run.client.getEncryptionAtRest(projectId)).azureKeyVault;
  if (!akv?.enabled) {
    throw usageError(
      `project ${projectId}: encryption at rest with Azure Key Vault is not enabled, so there are no static credentials to migrate (configure it with the roleId directly; 'ear-guard preflight' checks the key first)`,
    );
  }
  if (akv.roleId) {
    run.steps.push({
      step: 'read encryptionAtRest',
      status: 'already done',
      detail: `already secretless (roleId ${akv.roleId})`,
    });
    const message = `Nothing to migrate: project ${projectId} already uses the Atlas-managed service principal (roleId ${akv.roleId}). 'ear-guard check --project ${projectId}' verifies its access.`;
    return {
      done: reportOf(run, {
        result: 'already-secretless',
        exitCode: EXIT.ok,
        message,
        roleId: akv.roleId,
        before: maskedAkv(akv),
      }),
    };
  }
  run.steps.push({
    step: 'read encryptionAtRest',
    status: 'done',
    detail: `static credentials: tenantID ${akv.tenantID ?? '?'}, clientID ${akv.clientID ?? '?'}, secret held by Atlas (never returned); vault ${akv.keyVaultName}, key ${akv.keyIdentifier}`,
  });
  return { akv };
}

interface Principal {
  roleId?: string;
  principalId?: string;
}

/** Step 2: the Atlas service principal, registered with the project (POST cloudProviderAccess) when it is not. */
async function registerPrincipal(run: MigrationRun, tenantId: string): Promise<Principal> {
  const { projectId, principal: principalArg, dryRun } = run.args;
  const cpa = await run.client.getCloudProviderAccess(projectId);
  const found = (cpa.azureServicePrincipals ?? []).find(
    (s) =>
      (!s.atlasAzureAppId || s.atlasAzureAppId.toLowerCase() === ATLAS_AZURE_APP_ID) &&
      (!s.tenantId || s.tenantId.toLowerCase() === tenantId.toLowerCase()) &&
      (!principalArg || (s.servicePrincipalId ?? '').toLowerCase() === principalArg.toLowerCase()),
  );
  const principalId = found?.servicePrincipalId ?? principalArg;
  if (found?._id) {
    const detail = `registered: roleId ${found._id} -> ${principalId}`;
    run.steps.push({ step: 'find the Atlas service principal', status: 'already done', detail });
    return { roleId: found._id, principalId };
  }
  if (!principalId) {
    throw usageError(
      `no Atlas service principal is registered with project ${projectId} for tenant ${tenantId}: find or create it in the tenant (az ad sp list --filter "appId eq '${ATLAS_AZURE_APP_ID}'" --query "[].id" -o tsv, or az ad sp create --id ${ATLAS_AZURE_APP_ID}) and pass its object ID with --principal <objectId>`,
    );
  }
  const body = {
    providerName: 'AZURE' as const,
    tenantId,
    servicePrincipalId: principalId,
    atlasAzureAppId: ATLAS_AZURE_APP_ID,
  };
  const url = `${run.atlasBase}/groups/${projectId}/cloudProviderAccess`;
  const step = 'register the Atlas service principal';
  if (dryRun) {
    const request = { method: 'POST', url, headers: run.authHeader, body };
    run.steps.push({ step, status: 'would do', detail: `POST cloudProviderAccess; Atlas returns the roleId`, request });
    return { principalId };
  }
  const sp = await run.client.createCloudProviderAccess(projectId, body);
  const registered = { roleId: sp._id, principalId: sp.servicePrincipalId ?? principalId };
  const detail = `POST cloudProviderAccess: roleId ${registered.roleId} -> ${registered.principalId}`;
  run.steps.push({ step, status: 'done', detail, request: { method: 'POST', url, body } });
  return registered;
}

const GRANT = 'grant access on the key';

/** Step 3 (dry run): the grants the loop's planRestore would make, as the ARM requests they are. */
function planGrants(run: MigrationRun, st: PreflightState): void {
  const { conn } = run;
  const plan =
    st.target && st.inspection
      ? planRestore(st.target, st.inspection.verdict, st.inspection.docs.vault.tenantId, {
          restoreScope: conn.policy.restoreScope,
          roles: conn.policy.roles,
        })
      : { plan: [], blocked: [] };
  if (plan.blocked.length) {
    run.steps.push({ step: GRANT, status: 'failed', detail: plan.blocked.join('; ') });
    return;
  }
  if (plan.plan.length === 0) {
    run.steps.push({ step: GRANT, status: 'already done', detail: 'the principal already holds what is required' });
    return;
  }
  for (const a of plan.plan) {
    const request = armRequest(run.armBase, st.target!.subscriptionId, a);
    run.steps.push({ step: GRANT, status: 'would do', detail: a.description, request });
  }
}

function actionStatus(a: ActionRecord): Step['status'] {
  if (a.result === 'failed') return 'failed';
  return a.result === 'alreadyExists' ? 'already done' : 'done';
}

/** Step 3: the missing grants, written by the loop's act step (preflight --fix). */
async function applyGrants(run: MigrationRun, st: PreflightState): Promise<void> {
  const fix = await applyPreflightFix(run.conn, st);
  if (fix.blocked.length) {
    run.steps.push({ step: GRANT, status: 'failed', detail: fix.blocked.join('; ') });
  } else if (fix.plan.length === 0) {
    run.steps.push({ step: GRANT, status: 'already done', detail: 'the principal already holds what is required' });
  }
  for (const a of fix.actions) {
    const detail = `${a.description}: ${a.result}${a.error ? ` (${a.error})` : ''}`;
    run.steps.push({ step: GRANT, status: actionStatus(a), detail });
  }
}

/** Step 4: the PATCH that switches Atlas to the roleId, keeping the vault and key. */
function patchRequestFor(run: MigrationRun, akv: AtlasKeyVault, st: PreflightState, roleId?: string) {
  const t = st.target;
  const body: AtlasEncryptionAtRest = {
    azureKeyVault: {
      enabled: true,
      roleId: roleId ?? '<roleId returned by POST cloudProviderAccess>',
      subscriptionID: t?.subscriptionId ?? akv.subscriptionID,
      resourceGroupName: t?.resourceGroup ?? akv.resourceGroupName,
      keyVaultName: t?.vaultName ?? akv.keyVaultName,
      keyIdentifier: t?.keyIdentifier ?? akv.keyIdentifier,
      azureEnvironment: akv.azureEnvironment ?? 'AZURE',
    },
  };
  return {
    method: 'PATCH',
    url: `${run.atlasBase}/groups/${run.args.projectId}/encryptionAtRest`,
    headers: run.authHeader,
    body,
  };
}

type PatchRequest = ReturnType<typeof patchRequestFor>;

/** The dry run's ending: the rest of the plan, and whether anything would stop it before the PATCH. */
function plannedReport(
  run: MigrationRun,
  st: PreflightState,
  patch: PatchRequest,
  p: Principal,
  before: AtlasKeyVault,
) {
  const { pollMs, timeoutMs } = run.args;
  // Checks that the planned grants will fix are not blockers of the plan itself.
  const grantable = new Set(['key-permissions', 'reader-on-vault', 'principal-registered']);
  const blockers = st.report.checks.filter(
    (c) => (c.status === 'fail' || c.status === 'unknown') && !grantable.has(c.id),
  );
  const failedSteps = run.steps.filter((s) => s.status === 'failed');
  run.steps.push(
    {
      step: 'run the preflight',
      status: 'would do',
      detail: 'after the grants; the PATCH happens only if every check passes',
    },
    {
      step: 'PATCH encryptionAtRest with the roleId',
      status: 'would do',
      detail: 'Atlas validates access with the service principal; on failure it keeps the static credentials',
      request: patch,
    },
    {
      step: 'poll azureKeyVault.valid',
      status: 'would do',
      detail: `every ${Math.round(pollMs / 1000)} s, up to ${Math.round(timeoutMs / 1000)} s`,
    },
  );
  const ok = blockers.length === 0 && failedSteps.length === 0;
  const stops = [...blockers.map((c) => `${c.title}: ${c.detail}`), ...failedSteps.map((s) => s.detail)];
  return reportOf(run, {
    result: 'planned',
    exitCode: ok ? EXIT.ok : EXIT.failed,
    message: ok
      ? 'Dry run: the plan above is feasible; run without --dry-run to apply it.'
      : `Dry run: the migration would stop before the PATCH: ${stops.join('; ')}`,
    ...(p.roleId ? { roleId: p.roleId } : {}),
    ...(p.principalId ? { principalId: p.principalId } : {}),
    before: maskedAkv(before),
    preflight: st.report,
  });
}

/**
 * Step 5: the preflight must pass before anything touches Atlas's EAR configuration (a principal registered in this
 * run counts as registered). Returns the not-ready report, or undefined to go on.
 */
function requireReady(run: MigrationRun, st: PreflightState, ending: Ending): MigrateReport | undefined {
  const failing = st.report.checks.filter((c) => c.status === 'fail' || c.status === 'unknown');
  run.steps.push({
    step: 'run the preflight',
    status: failing.length ? 'failed' : 'done',
    detail: failing.length ? failing.map((c) => `${c.title}: ${c.detail}`).join('; ') : 'every check passed',
  });
  if (!failing.length) return undefined;
  return reportOf(run, {
    ...ending,
    result: 'not-ready',
    exitCode: failing.some((c) => c.status === 'fail') ? EXIT.failed : EXIT.indeterminate,
    message: `Not migrated: the preflight did not pass, so encryptionAtRest was not changed; Atlas keeps using the static credentials.`,
  });
}

/** Step 6: PATCH encryptionAtRest; a rejection is a report, an unreachable Atlas an error. */
async function patchAtlas(
  run: MigrationRun,
  patch: PatchRequest,
  ending: Ending,
): Promise<{ accepted: AtlasEncryptionAtRest } | { done: MigrateReport }> {
  const step = 'PATCH encryptionAtRest with the roleId';
  const request = { ...patch, headers: undefined };
  try {
    const accepted = await run.client.updateEncryptionAtRest(run.args.projectId, patch.body);
    run.steps.push({ step, status: 'done', detail: 'accepted by Atlas', request });
    return { accepted };
  } catch (e) {
    const x = explainServiceError(e, 'atlas');
    run.steps.push({ step, status: 'failed', detail: x.message, request });
    if (x.exitCode === EXIT.unreachable) throw e;
    const message = `Atlas rejected the change (${x.message}); Atlas keeps using the static credentials.`;
    return { done: reportOf(run, { ...ending, result: 'rejected', exitCode: EXIT.failed, message }) };
  }
}

/** Step 7: poll azureKeyVault.valid (with requirePrivateNetworking, the data nodes validate afterwards). */
async function pollValid(
  run: MigrationRun,
  accepted: AtlasEncryptionAtRest,
  roleId: string | undefined,
): Promise<{ after?: AtlasKeyVault; confirmed: boolean }> {
  const { pollMs, timeoutMs, projectId } = run.args;
  const deadline = Date.now() + timeoutMs;
  const isValid = (a?: AtlasKeyVault) => a?.valid === true && a.roleId === roleId;
  let after = accepted.azureKeyVault;
  while (!isValid(after) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
    after = (await run.client.getEncryptionAtRest(projectId)).azureKeyVault;
  }
  const confirmed = isValid(after);
  run.steps.push({
    step: 'poll azureKeyVault.valid',
    status: confirmed ? 'done' : 'failed',
    detail: confirmed ? 'valid: true' : `valid is ${String(after?.valid)} after ${Math.round(timeoutMs / 1000)} s`,
  });
  return { after, confirmed };
}

/** Step 8: migrated, or accepted but not (yet) confirmed. */
function finalReport(
  run: MigrationRun,
  akv: AtlasKeyVault,
  polled: { after?: AtlasKeyVault; confirmed: boolean },
  ending: Ending,
): MigrateReport {
  const { after } = polled;
  // `after` comes before the preflight report in the JSON, as it always has.
  const { preflight: preflightReport, ...head } = ending;
  const secs = Math.round(run.args.timeoutMs / 1000);
  if (!polled.confirmed) {
    const pn = akv.requirePrivateNetworking
      ? ' (requirePrivateNetworking: the data nodes validate asynchronously)'
      : '';
    return reportOf(run, {
      ...head,
      result: 'unconfirmed',
      exitCode: EXIT.indeterminate,
      message: `Atlas accepted the roleId but has not confirmed valid: true within ${secs} s${pn}. If validation fails, Atlas keeps the static credentials. Watch it with 'ear-guard check --project ${run.args.projectId}'.`,
      after: maskedAkv(after),
      preflight: preflightReport,
    });
  }
  const staticNote = !after?.clientID
    ? `; the static credentials (clientID ${akv.clientID ?? '?'}) are gone from the configuration`
    : `; note: Atlas still lists clientID ${after?.clientID}`;
  return reportOf(run, {
    ...head,
    result: 'migrated',
    exitCode: EXIT.ok,
    message: `Migrated: Atlas validated Key Vault access with the service principal ${ending.principalId} (roleId ${ending.roleId}) and now authenticates with short-lived Azure AD tokens${staticNote}. Consider removing the old app registration's access and secret in Azure.`,
    after: maskedAkv(after),
    preflight: preflightReport,
  });
}

/** read -> register -> grant -> preflight -> PATCH -> poll; a dry run stops after planning the grants. */
async function migrate(conn: Connected, values: Values, io: CliIo): Promise<MigrateReport> {
  const run = startRun(conn, migrateArgs(values, io));
  const read = await readStaticConfig(run);
  if ('done' in read) return read.done;
  const { akv } = read;
  const tenantId = run.args.tenant ?? akv.tenantID;
  if (!tenantId) throw usageError('--tenant is required: the EAR configuration names no tenantID');

  const p = await registerPrincipal(run, tenantId);
  const input = {
    projectId: run.args.projectId,
    principal: p.principalId!,
    ...(run.args.key ? { key: run.args.key } : {}),
  };
  let st = await preflight(conn, input);
  if (run.args.dryRun) {
    planGrants(run, st);
    return plannedReport(run, st, patchRequestFor(run, akv, st, p.roleId), p, akv);
  }
  await applyGrants(run, st);
  st = await preflight(conn, input);
  const patch = patchRequestFor(run, akv, st, p.roleId);
  // Keys in the order the report has always had them (JSON output).
  const ending: Ending = {
    result: 'not-ready',
    exitCode: EXIT.failed,
    message: '',
    roleId: p.roleId,
    principalId: p.principalId,
    before: maskedAkv(akv),
    preflight: st.report,
  };
  const notReady = requireReady(run, st, ending);
  if (notReady) return notReady;
  const patched = await patchAtlas(run, patch, ending);
  if ('done' in patched) return patched.done;
  return finalReport(run, akv, await pollValid(run, patched.accepted, p.roleId), ending);
}

export async function runMigrate(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  return runGuarded('migrate', io, async () => {
    const { values } = parseOptions(
      'migrate',
      argv,
      {
        project: { type: 'string' },
        principal: { type: 'string' },
        tenant: { type: 'string' },
        key: { type: 'string' },
        'dry-run': { type: 'boolean' },
        timeout: { type: 'string' },
        poll: { type: 'string' },
      },
      MIGRATE_HELP,
    );
    if (flag(values, 'help')) {
      io.stdout.write(MIGRATE_HELP);
      return EXIT.ok;
    }
    requireGroupId(str(values, 'project'), '--project');
    const conn = await connect(values, io, { cloud: true, state: 'optional' });
    try {
      const r = await migrate(conn, values, io);
      if (flag(values, 'json')) writeJson(io, r);
      else io.stdout.write(render(r));
      return r.exitCode;
    } finally {
      await conn.close();
    }
  });
}
