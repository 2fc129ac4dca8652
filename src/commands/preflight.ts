// `ear-guard preflight --project <groupId> [--role-id <roleId> | --principal <objectId>] [--key <keyIdentifier>]`:
// the seed's "verify before you PATCH encryptionAtRest". Each check passes or fails with the exact az command that
// fixes a failure; --fix applies the grants with the reconcile loop's own plan (planRestore) and act step.
import type { AtlasAzureServicePrincipal, AtlasCloudProviderAccess, AtlasEncryptionAtRest } from '../atlas/client.js';
import { ATLAS_AZURE_APP_ID, type AtlasTarget } from '../atlas/target.js';
import { classifyError } from '../azure/errors.js';
import { parseKeyIdentifier } from '../core/documents.js';
import { READER_ON_VAULT } from '../core/evaluate.js';
import { fixCommands } from '../core/fix.js';
import type { Requirement, Verdict } from '../core/types.js';
import {
  applyRestorePlan,
  inspectTarget,
  planRestore,
  type ActionRecord,
  type Inspection,
  type PlannedAction,
} from '../loop/index.js';
import { keyFixCommands, keyState, type KeyState } from './check.js';
import { connect, type Connected } from './cli/connect.js';
import { EXIT, runGuarded, usageError } from './cli/errors.js';
import { defaultIo, type CliIo } from './cli/io.js';
import { COMMON_HELP, flag, GUID, parseOptions, requireGroupId, str } from './cli/options.js';
import { table, writeJson } from './cli/output.js';

export const PREFLIGHT_HELP = `Usage: ear-guard preflight --project <groupId> [--role-id <roleId> | --principal <objectId>]
                           [--key <keyIdentifier>] [--subscription <id>] [--resource-group <name>] [--fix] [--json]

Verify before you PATCH encryptionAtRest (the secretless Azure Key Vault setup): is the Atlas app's service
principal (appId ${ATLAS_AZURE_APP_ID}) registered with the project (cloudProviderAccess), does it hold
Reader (RBAC vaults) and get/encrypt/decrypt (plus wrapKey/unwrapKey, recommended) in the permission model the vault
actually uses, is the key present, enabled and unexpired, and does requirePrivateNetworking make Atlas's
validation asynchronous. Each check prints pass/fail and the az command that fixes a failure.

  --project <groupId>     the Atlas project
  --role-id <roleId>      the cloudProviderAccess roleId to check (default: the roleId in the EAR configuration,
                          else the project's one registered Atlas service principal)
  --principal <objectId>  check this service principal object ID instead (before it is registered)
  --key <keyIdentifier>   https://<vault>.vault.azure.net/keys/<name>[/<version>] (default: the EAR configuration's)
  --subscription <id>     the vault's subscription (default: the EAR configuration's subscriptionID)
  --resource-group <rg>   the vault's resource group (default: the EAR configuration's resourceGroupName)
  --fix                   apply the missing grants with the same restore code the app uses (only the missing
                          grants, only for the Atlas principal), then check again

Examples:
  ear-guard preflight --project 5f1e2d3c4b5a69788796a5b4
  ear-guard preflight --project 5f1e2d3c4b5a69788796a5b4 --principal 2b7c... \\
      --key https://kv-prod.vault.azure.net/keys/atlas-ear/0123abcd --resource-group rg-prod
  ear-guard preflight --project 5f1e2d3c4b5a69788796a5b4 --fix --json

Atlas role: Project Read Only (the spec's x-rolesRequirements for the encryptionAtRest and cloudProviderAccess reads);
service account (ATLAS_CLIENT_ID/SECRET, preferred) or API key.
Azure: Reader on the vault; --fix needs the remediator's write roles on the vault.
Exit status: 0 every check passed, 1 a check failed, 3 a check could not be judged, 4 cannot reach Azure/Atlas.

${COMMON_HELP}`;

export type CheckStatus = 'pass' | 'fail' | 'warn' | 'unknown';

export interface PreflightCheck {
  id: string;
  title: string;
  status: CheckStatus;
  detail: string;
  fix?: string[];
}

export interface PreflightInput {
  projectId: string;
  roleId?: string;
  principal?: string;
  key?: string;
  subscription?: string;
  resourceGroup?: string;
}

export interface PreflightReport {
  projectId: string;
  ready: boolean;
  exitCode: number;
  principal?: { objectId: string; tenantId?: string; roleId?: string; registered: boolean };
  vaultId?: string;
  keyIdentifier?: string;
  model?: string;
  key?: KeyState;
  checks: PreflightCheck[];
  /** With --fix: what was planned, blocked and done. */
  fix?: { plan: PlannedAction[]; blocked: string[]; actions: ActionRecord[] };
}

/** What preflight learned, for --fix and migrate. */
export interface PreflightState {
  report: PreflightReport;
  ear: AtlasEncryptionAtRest;
  cpa: AtlasCloudProviderAccess;
  target?: AtlasTarget;
  inspection?: Inspection;
  registration?: AtlasAzureServicePrincipal;
}

const atlasSps = (cpa: AtlasCloudProviderAccess) => cpa.azureServicePrincipals ?? [];

export function registerCommand(projectId: string, tenantId: string, objectId: string): string {
  return `POST /api/atlas/v2/groups/${projectId}/cloudProviderAccess {"providerName":"AZURE","tenantId":"${tenantId}","servicePrincipalId":"${objectId}","atlasAzureAppId":"${ATLAS_AZURE_APP_ID}"}   (or: ear-guard migrate --project ${projectId} --principal ${objectId})`;
}

function finish(report: PreflightReport): PreflightReport {
  const fail = report.checks.some((c) => c.status === 'fail');
  const unknown = report.checks.some((c) => c.status === 'unknown');
  report.ready = !fail && !unknown;
  report.exitCode = fail ? EXIT.failed : unknown ? EXIT.indeterminate : EXIT.ok;
  return report;
}

type AtlasKeyVault = NonNullable<AtlasEncryptionAtRest['azureKeyVault']>;

/** Where the key is: from the flags, else from Atlas's EAR configuration. */
interface KeyLocation {
  keyIdentifier: string;
  key: ReturnType<typeof parseKeyIdentifier>;
  subscriptionId: string;
  resourceGroup: string;
  vaultId: string;
}

/** Who gets access: the registered Atlas service principal (or the one named before it is registered). */
interface PrincipalChoice {
  sp?: AtlasAzureServicePrincipal;
  principalId?: string;
  tenantId?: string;
  /** Why the principal is not (yet) registered with the project. */
  notRegistered?: string;
}

const REGISTERED_TITLE = 'Atlas service principal registered with the project';

function earConfigCheck(akv: AtlasKeyVault): PreflightCheck {
  let detail = 'not enabled yet';
  if (akv.enabled) {
    detail = akv.roleId
      ? `enabled, secretless (roleId ${akv.roleId})`
      : `enabled with static credentials (clientID ${akv.clientID ?? 'unknown'}); migrate with 'ear-guard migrate'`;
  }
  return {
    id: 'atlas-ear-config',
    title: 'Atlas encryption at rest (Azure Key Vault) configuration',
    status: 'pass',
    detail,
  };
}

/** Step 1: the key, its vault and where the vault lives; a missing piece is a usage error naming the flag. */
export function locateKey(input: PreflightInput, akv: AtlasKeyVault): KeyLocation {
  const keyIdentifier = input.key ?? akv.keyIdentifier;
  if (!keyIdentifier) {
    throw usageError(
      `--key is required: project ${input.projectId} has no Azure Key Vault key configured in Atlas yet`,
    );
  }
  const key = parseKeyIdentifier(keyIdentifier, input.key ? '--key' : 'azureKeyVault.keyIdentifier');
  const sameVault = (akv.keyVaultName ?? '').toLowerCase() === key.vaultName.toLowerCase();
  const subscriptionId = input.subscription ?? akv.subscriptionID;
  const resourceGroup = input.resourceGroup ?? (sameVault ? akv.resourceGroupName : undefined);
  if (!subscriptionId)
    throw usageError(`--subscription is required: Atlas names no subscriptionID for project ${input.projectId}`);
  if (!GUID.test(subscriptionId))
    throw usageError(`--subscription '${subscriptionId}' is not a subscription ID (expected a GUID)`);
  if (!resourceGroup) {
    throw usageError(
      `--resource-group is required: the resource group of vault '${key.vaultName}' is not in the project's EAR configuration`,
    );
  }
  const vaultId = `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.KeyVault/vaults/${key.vaultName}`;
  return { keyIdentifier, key, subscriptionId, resourceGroup, vaultId };
}

/** The project's one registered Atlas-app principal, when no roleId or principal says which. */
function onlyAtlasPrincipal(input: PreflightInput, cpa: AtlasCloudProviderAccess): PrincipalChoice {
  const atlasOnes = atlasSps(cpa).filter(
    (s) => !s.atlasAzureAppId || s.atlasAzureAppId.toLowerCase() === ATLAS_AZURE_APP_ID,
  );
  if (atlasOnes.length > 1) {
    throw usageError(
      `project ${input.projectId} has ${atlasOnes.length} registered Azure service principals (roleIds ${atlasOnes.map((s) => s._id).join(', ')}): pick one with --role-id`,
    );
  }
  const sp = atlasOnes[0];
  return sp
    ? { sp }
    : { notRegistered: 'no Atlas service principal is registered with the project (cloudProviderAccess)' };
}

function byRoleId(cpa: AtlasCloudProviderAccess, roleId: string, what: string): PrincipalChoice {
  const sp = atlasSps(cpa).find((s) => s._id === roleId);
  return sp
    ? { sp }
    : { notRegistered: `${what} ${roleId} is not among the project's cloudProviderAccess azureServicePrincipals` };
}

function byPrincipal(cpa: AtlasCloudProviderAccess, principal: string): PrincipalChoice {
  const sp = atlasSps(cpa).find((s) => (s.servicePrincipalId ?? '').toLowerCase() === principal.toLowerCase());
  return sp
    ? { sp, principalId: principal }
    : {
        principalId: principal,
        notRegistered: `service principal ${principal} is not registered with the project (cloudProviderAccess)`,
      };
}

/** Step 2: which principal: --role-id, --principal, the EAR configuration's roleId, else the only Atlas one. */
export function choosePrincipal(
  input: PreflightInput,
  akv: AtlasKeyVault,
  cpa: AtlasCloudProviderAccess,
): PrincipalChoice {
  let c: PrincipalChoice;
  if (input.roleId) c = byRoleId(cpa, input.roleId, 'roleId');
  else if (input.principal) c = byPrincipal(cpa, input.principal);
  else if (akv.roleId) c = byRoleId(cpa, akv.roleId, "the EAR configuration's roleId");
  else c = onlyAtlasPrincipal(input, cpa);
  const principalId = c.sp?.servicePrincipalId ?? c.principalId;
  const tenantId = c.sp?.tenantId ?? akv.tenantID;
  return { ...c, ...(principalId ? { principalId } : {}), ...(tenantId ? { tenantId } : {}) };
}

function noPrincipalCheck(projectId: string, who: PrincipalChoice): PreflightCheck {
  return {
    id: 'principal-registered',
    title: REGISTERED_TITLE,
    status: 'fail',
    detail: who.notRegistered ?? 'no service principal',
    fix: [
      `az ad sp list --filter "appId eq '${ATLAS_AZURE_APP_ID}'" --query "[].id" -o tsv   # or: az ad sp create --id ${ATLAS_AZURE_APP_ID}`,
      `ear-guard preflight --project ${projectId} --principal <that object ID>   # then register it: ear-guard migrate`,
    ],
  };
}

function registrationCheck(projectId: string, who: PrincipalChoice, principalId: string): PreflightCheck {
  const { sp, tenantId } = who;
  if (!sp) {
    return {
      id: 'principal-registered',
      title: REGISTERED_TITLE,
      status: 'fail',
      detail: `${who.notRegistered}; the Azure checks below are for ${principalId}`,
      fix: [registerCommand(projectId, tenantId ?? '<tenant-id>', principalId)],
    };
  }
  const foreignApp = sp.atlasAzureAppId && sp.atlasAzureAppId.toLowerCase() !== ATLAS_AZURE_APP_ID;
  return {
    id: 'principal-registered',
    title: REGISTERED_TITLE,
    status: foreignApp ? 'warn' : 'pass',
    detail: `roleId ${sp._id} -> service principal ${principalId}${tenantId ? ` in tenant ${tenantId}` : ''}${foreignApp ? `; atlasAzureAppId ${sp.atlasAzureAppId} is not the Atlas app ${ATLAS_AZURE_APP_ID}` : ''}`,
  };
}

/** Step 3: the target the loop would watch once the PATCH is made. */
function targetFor(
  projectId: string,
  akv: AtlasKeyVault,
  where: KeyLocation,
  who: PrincipalChoice,
  principalId: string,
): AtlasTarget {
  return {
    projectId,
    principalObjectId: principalId,
    tenantId: who.tenantId ?? '',
    subscriptionId: where.subscriptionId,
    resourceGroup: where.resourceGroup,
    vaultName: where.key.vaultName,
    keyName: where.key.keyName,
    keyVersion: where.key.version,
    keyIdentifier: where.keyIdentifier,
    azureEnvironment: akv.azureEnvironment ?? 'AZURE',
    requirePrivateNetworking: akv.requirePrivateNetworking === true,
    atlasValid: typeof akv.valid === 'boolean' ? akv.valid : undefined,
    credentials: akv.roleId ? 'secretless' : 'static',
    ...(who.sp ? { roleId: who.sp._id } : {}),
    vaultId: where.vaultId,
  };
}

/** Step 4: the loop's own inspection of the vault and key; a vault that is not there is a failed check. */
async function inspectVault(
  conn: Connected,
  target: AtlasTarget,
): Promise<{ inspection: Inspection } | { missing: PreflightCheck }> {
  try {
    return { inspection: await inspectTarget(target, { azure: conn.azure!, policy: conn.policy }) };
  } catch (e) {
    const c = classifyError(e, 'arm');
    if (c.status !== 404) throw e;
    return {
      missing: {
        id: 'vault',
        title: 'Key vault exists',
        status: 'fail',
        detail: `vault ${target.vaultId} was not found (${c.describe()})`,
        fix: [
          `az keyvault show --name ${target.vaultName} --query id -o tsv   # then pass --subscription / --resource-group`,
        ],
      },
    };
  }
}

function modelCheck(v: Verdict): PreflightCheck {
  return {
    id: 'permission-model',
    title: 'Permission model the vault uses',
    status: 'pass',
    detail:
      v.model === 'rbac'
        ? 'Azure RBAC (enableRbacAuthorization: true): access policies are ignored'
        : 'access policies (enableRbacAuthorization false or absent): RBAC data roles are ignored',
  };
}

function readerDetail(r: Verdict['readerOnVault'], unsure: boolean): string {
  if (r?.granted) return 'granted';
  if (unsure) return 'granted only through a conditional assignment: cannot be judged offline';
  return (r?.deniedBy ?? []).length ? `denied by ${r!.deniedBy!.join(', ')}` : 'missing';
}

function readerCheck(v: Verdict, readerFix: string[]): PreflightCheck {
  const r = v.readerOnVault;
  const unsure = !r?.granted && (r?.conditionalVia ?? []).length > 0;
  return {
    id: 'reader-on-vault',
    title: 'Reader on the vault (Atlas reads the vault metadata)',
    status: r?.granted ? 'pass' : unsure ? 'unknown' : 'fail',
    detail: readerDetail(r, unsure),
    ...(readerFix.length ? { fix: readerFix } : {}),
  };
}

/** Step 5a: the permissions the principal holds in the vault's model, with the az commands for what is missing. */
function permissionChecks(target: AtlasTarget, v: Verdict): PreflightCheck[] {
  const requirement: Requirement = {
    principalId: target.principalObjectId,
    key: { vaultId: target.vaultId, keyName: target.keyName },
    recommendReaderOnVault: true,
  };
  const fix = fixCommands(v, requirement);
  const readerFix = fix.filter((c) => /--role "Reader"/.test(c));
  const permFix = fix.filter((c) => !readerFix.includes(c));
  const recommended = v.missingRecommended.filter((p) => p !== READER_ON_VAULT);
  return [
    modelCheck(v),
    permissionCheck(v, permFix),
    ...(v.model === 'rbac' ? [readerCheck(v, readerFix)] : []),
    {
      id: 'wrap-unwrap',
      title: 'wrapKey and unwrapKey (recommended)',
      status: recommended.length ? 'warn' : 'pass',
      detail: recommended.length ? `missing ${recommended.join(', ')}` : 'granted',
      ...(recommended.length && permFix.length ? { fix: permFix } : {}),
    },
  ];
}

function expiryCheck(k: KeyState, ins: Inspection, keyFix: (flag: string) => string[]): PreflightCheck {
  const expired = ins.flags.includes('key-expired');
  const soon = ins.flags.includes('key-near-expiry');
  const notYet = k.notBefore && Date.parse(k.notBefore) > Date.now();
  let detail = k.expires ? `expires ${k.expires}${soon ? ' (soon)' : ''}` : 'no expiry set';
  if (notYet) detail = `not valid before ${k.notBefore}`;
  if (expired) detail = `expired at ${k.expires}`;
  return {
    id: 'key-unexpired',
    title: 'Key unexpired and active',
    status: expired || notYet ? 'fail' : soon ? 'warn' : 'pass',
    detail,
    ...(expired ? { fix: keyFix('key-expired') } : {}),
  };
}

/** Step 5b: the key exists, is enabled, unexpired, and which version Atlas will use. */
function keyChecks(target: AtlasTarget, k: KeyState, ins: Inspection): PreflightCheck[] {
  const keyFix = (flagName: string) => keyFixCommands(target, [flagName]);
  const title = 'Key exists';
  if (!k.exists) {
    const detail = `key ${target.keyName} not found in vault ${target.vaultName}`;
    return [{ id: 'key-exists', title, status: 'fail', detail, fix: keyFix('key-not-found') }];
  }
  const out: PreflightCheck[] = [
    { id: 'key-exists', title, status: 'pass', detail: `${k.name} (current version ${k.currentVersion ?? '?'})` },
    k.enabled
      ? { id: 'key-enabled', title: 'Key enabled', status: 'pass', detail: 'enabled' }
      : {
          id: 'key-enabled',
          title: 'Key enabled',
          status: 'fail',
          detail: 'the key is disabled',
          fix: keyFix('key-disabled'),
        },
    expiryCheck(k, ins, keyFix),
  ];
  if (target.keyVersion && k.versionMatches === false) {
    out.push({
      id: 'key-version',
      title: 'Key version in the identifier',
      status: 'warn',
      detail: `the identifier pins version ${target.keyVersion}; the current version is ${k.currentVersion}: Atlas will use the pinned version`,
    });
  }
  return out;
}

function privateNetworkingCheck(target: AtlasTarget): PreflightCheck {
  return {
    id: 'private-networking',
    title: 'Validation timing (requirePrivateNetworking)',
    status: target.requirePrivateNetworking ? 'warn' : 'pass',
    detail: target.requirePrivateNetworking
      ? 'requirePrivateNetworking is on: Atlas accepts the PATCH and the data nodes validate Key Vault access afterwards (asynchronously); a misconfiguration shows up later and can end in cluster shutdown, so every check above must pass first'
      : 'requirePrivateNetworking is off: Atlas validates Key Vault access when the PATCH is made',
  };
}

/** Runs every check (reads only): Atlas's configuration, the principal, then the vault and key on Azure. */
export async function preflight(conn: Connected, input: PreflightInput): Promise<PreflightState> {
  const client = conn.atlasClient!;
  const [ear, cpa] = await Promise.all([
    client.getEncryptionAtRest(input.projectId),
    client.getCloudProviderAccess(input.projectId),
  ]);
  const akv = ear.azureKeyVault ?? {};
  const report: PreflightReport = { projectId: input.projectId, ready: false, exitCode: EXIT.failed, checks: [] };
  const state: PreflightState = { report, ear, cpa };
  const done = (...checks: PreflightCheck[]): PreflightState => {
    report.checks.push(...checks);
    return { ...state, report: finish(report) };
  };
  report.checks.push(earConfigCheck(akv));
  const where = locateKey(input, akv);
  report.vaultId = where.vaultId;
  report.keyIdentifier = where.keyIdentifier;

  const who = choosePrincipal(input, akv, cpa);
  const principalId = who.principalId;
  if (!principalId) return done(noPrincipalCheck(input.projectId, who));
  if (!GUID.test(principalId)) throw usageError(`--principal '${principalId}' is not an object ID (expected a GUID)`);
  state.registration = who.sp;
  report.principal = {
    objectId: principalId,
    ...(who.tenantId ? { tenantId: who.tenantId } : {}),
    ...(who.sp ? { roleId: who.sp._id } : {}),
    registered: !!who.sp,
  };
  report.checks.push(registrationCheck(input.projectId, who, principalId));

  const target = targetFor(input.projectId, akv, where, who, principalId);
  state.target = target;
  const inspected = await inspectVault(conn, target);
  if ('missing' in inspected) return done(inspected.missing);
  const ins = inspected.inspection;
  state.inspection = ins;
  if (!target.tenantId) target.tenantId = ins.docs.vault.tenantId;
  report.model = ins.verdict.model;
  report.key = keyState(target, ins.key);
  return done(
    ...permissionChecks(target, ins.verdict),
    ...keyChecks(target, report.key, ins),
    privateNetworkingCheck(target),
  );
}

function permissionCheck(v: Verdict, fix: string[]): PreflightCheck {
  const required = v.requiredPermissions ?? ['get', 'encrypt', 'decrypt'];
  const title = `${required.join(', ')} on the key`;
  if (v.missing.length) {
    const denied = v.missing.filter((p) => (v.permissions[p]?.deniedBy ?? []).length);
    return {
      id: 'key-permissions',
      title,
      status: 'fail',
      detail: `missing ${v.missing.join(', ')} (${v.model === 'rbac' ? 'Azure RBAC' : 'access policies'})${denied.length ? `; ${denied.join(', ')} removed by a deny assignment` : ''}`,
      ...(fix.length ? { fix } : {}),
    };
  }
  if (v.indeterminate.length) {
    return {
      id: 'key-permissions',
      title,
      status: 'unknown',
      detail: `${v.indeterminate.join(', ')} granted only through conditional assignments: cannot be judged offline`,
    };
  }
  return { id: 'key-permissions', title, status: 'pass', detail: 'granted' };
}

/** --fix: plan with the loop's planRestore and write with its act step. */
export async function applyPreflightFix(
  conn: Connected,
  st: PreflightState,
): Promise<{ plan: PlannedAction[]; blocked: string[]; actions: ActionRecord[] }> {
  if (!st.target || !st.inspection)
    return { plan: [], blocked: ['nothing to grant: the principal or the vault is unknown'], actions: [] };
  const { plan, blocked } = planRestore(st.target, st.inspection.verdict, st.inspection.docs.vault.tenantId, {
    restoreScope: conn.policy.restoreScope,
    roles: conn.policy.roles,
  });
  if (blocked.length || plan.length === 0) return { plan, blocked, actions: [] };
  const actions = await applyRestorePlan(st.target, plan, {
    azure: conn.azure!,
    ...(conn.state ? { state: conn.state } : {}),
  });
  return { plan, blocked, actions };
}

const MARK: Record<CheckStatus, string> = { pass: 'PASS', fail: 'FAIL', warn: 'WARN', unknown: '????' };

function renderHeader(r: PreflightReport): string[] {
  const out = [
    `Preflight for project ${r.projectId}${r.principal ? `, service principal ${r.principal.objectId}` : ''}`,
  ];
  if (r.vaultId) {
    const model = r.model ? ` (${r.model === 'rbac' ? 'Azure RBAC' : 'access policies'})` : '';
    out.push(`Vault: ${r.vaultId}${model}`);
  }
  if (r.keyIdentifier) out.push(`Key:   ${r.keyIdentifier}`);
  return out;
}

function renderFix(fix: NonNullable<PreflightReport['fix']>): string[] {
  const out = ['', '--fix:', ...fix.blocked.map((b) => `  blocked: ${b}`)];
  if (!fix.plan.length && !fix.blocked.length) out.push('  nothing to grant');
  for (const a of fix.actions) out.push(`  ${a.description}: ${a.result}${a.error ? ` (${a.error})` : ''}`);
  return out;
}

function renderFixCommands(r: PreflightReport): string[] {
  const fixes = r.checks.filter(
    (c) => c.fix?.length && (c.status === 'fail' || c.status === 'warn' || c.status === 'unknown'),
  );
  if (!fixes.length) return [];
  return ['', 'To fix, run:', ...fixes.flatMap((c) => c.fix!.map((f) => `  ${f}`))];
}

function verdictLine(r: PreflightReport): string {
  if (r.ready)
    return 'READY: every check passed; PATCH encryptionAtRest with the roleId is safe (ear-guard migrate does it).';
  return r.exitCode === EXIT.indeterminate
    ? 'NOT SURE: some checks cannot be judged offline; do not PATCH encryptionAtRest until they are confirmed.'
    : 'NOT READY: do not PATCH encryptionAtRest yet.';
}

export function renderPreflight(r: PreflightReport): string {
  const checks = table(
    ['', 'CHECK', 'DETAIL'],
    r.checks.map((c) => [MARK[c.status], c.title, c.detail]),
  ).trimEnd();
  const out = [
    ...renderHeader(r),
    '',
    checks,
    ...(r.fix ? renderFix(r.fix) : []),
    ...renderFixCommands(r),
    '',
    verdictLine(r),
  ];
  return out.join('\n') + '\n';
}

export async function runPreflight(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  return runGuarded('preflight', io, async () => {
    const { values } = parseOptions(
      'preflight',
      argv,
      {
        project: { type: 'string' },
        'role-id': { type: 'string' },
        principal: { type: 'string' },
        key: { type: 'string' },
        subscription: { type: 'string' },
        'resource-group': { type: 'string' },
        fix: { type: 'boolean' },
      },
      PREFLIGHT_HELP,
    );
    if (flag(values, 'help')) {
      io.stdout.write(PREFLIGHT_HELP);
      return EXIT.ok;
    }
    const input = preflightInput(values);
    const conn = await connect(values, io, { cloud: true, state: 'optional' });
    try {
      let st = await preflight(conn, input);
      if (flag(values, 'fix')) {
        const fix = await applyPreflightFix(conn, st);
        st = await preflight(conn, input);
        st.report.fix = fix;
      }
      if (flag(values, 'json')) writeJson(io, st.report);
      else io.stdout.write(renderPreflight(st.report));
      return st.report.exitCode;
    } finally {
      await conn.close();
    }
  });
}

export function preflightInput(values: Record<string, unknown>): PreflightInput {
  const v = values as Parameters<typeof str>[0];
  const projectId = requireGroupId(str(v, 'project'), '--project');
  const roleId = str(v, 'role-id');
  const principal = str(v, 'principal');
  if (roleId && principal) throw usageError('--role-id and --principal exclude each other');
  if (roleId && !/^[0-9a-f]{24}$/i.test(roleId))
    throw usageError(`--role-id '${roleId}' is not a roleId (expected 24 hex characters)`);
  if (principal && !GUID.test(principal))
    throw usageError(`--principal '${principal}' is not an object ID (expected a GUID)`);
  return {
    projectId,
    ...(roleId ? { roleId } : {}),
    ...(principal ? { principal } : {}),
    ...(str(v, 'key') ? { key: str(v, 'key') } : {}),
    ...(str(v, 'subscription') ? { subscription: str(v, 'subscription') } : {}),
    ...(str(v, 'resource-group') ? { resourceGroup: str(v, 'resource-group') } : {}),
  };
}
