// `ear-guard migrate --project <groupId> [--dry-run]`: the seed's migration from static credentials to the
// secretless Atlas-managed service principal, made safe: find the principal (or register it with POST
// cloudProviderAccess), grant with the app's own restore code, run the preflight, and only when every check
// passes PATCH encryptionAtRest with the roleId; then poll `valid` and say what Atlas did. If Atlas's validation
// fails it keeps the static credentials.
import type { AtlasEncryptionAtRest } from '../atlas/client.js';
import { ATLAS_ACCEPT } from '../atlas/client.js';
import { ATLAS_AZURE_APP_ID } from '../atlas/target.js';
import { roleAssignmentName } from '../azure/guid.js';
import { planRestore, type PlannedAction } from '../reconcile.js';
import { connect, type Connected } from './cli/connect.js';
import { EXIT, explainServiceError, runGuarded, usageError } from './cli/errors.js';
import { defaultIo, type CliIo } from './cli/io.js';
import { COMMON_HELP, flag, GUID, parseDuration, parseOptions, requireGroupId, str } from './cli/options.js';
import { MASK, writeJson } from './cli/output.js';
import { applyPreflightFix, preflight, renderPreflight, type PreflightReport } from './preflight.js';

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

Atlas API key role: Project Owner (POST cloudProviderAccess and PATCH encryptionAtRest require it).
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

async function migrate(conn: Connected, values: Parameters<typeof str>[0], io: CliIo): Promise<MigrateReport> {
  const projectId = requireGroupId(str(values, 'project'), '--project');
  const dryRun = flag(values, 'dry-run');
  const principalArg = str(values, 'principal');
  if (principalArg && !GUID.test(principalArg))
    throw usageError(`--principal '${principalArg}' is not an object ID (expected a GUID)`);
  const tenantArg = str(values, 'tenant');
  if (tenantArg && !GUID.test(tenantArg))
    throw usageError(`--tenant '${tenantArg}' is not a tenant ID (expected a GUID)`);
  const timeoutMs = parseDuration(str(values, 'timeout') ?? '10m', '--timeout');
  const pollMs = io.tuning?.pollMs ?? parseDuration(str(values, 'poll') ?? '15s', '--poll');
  const client = conn.atlasClient!;
  const atlasBase = conn.settings.ATLAS_BASE_URL.replace(/\/+$/, '');
  const armBase = (conn.sandbox?.armEndpoint ?? 'https://management.azure.com').replace(/\/+$/, '');
  const authHeader = {
    Accept: ATLAS_ACCEPT,
    Authorization: `Digest username="${conn.settings.ATLAS_PUBLIC_KEY}", response="${MASK}" (HTTP digest; the private key is never sent or printed)`,
  };
  const steps: Step[] = [];
  const report = (r: Omit<MigrateReport, 'projectId' | 'dryRun' | 'steps'>): MigrateReport => ({
    projectId,
    dryRun,
    steps,
    ...r,
  });

  const ear = await client.getEncryptionAtRest(projectId);
  const akv = ear.azureKeyVault;
  const before = maskedAkv(akv);
  if (!akv?.enabled) {
    throw usageError(
      `project ${projectId}: encryption at rest with Azure Key Vault is not enabled, so there are no static credentials to migrate (configure it with the roleId directly; 'ear-guard preflight' checks the key first)`,
    );
  }
  if (akv.roleId) {
    steps.push({
      step: 'read encryptionAtRest',
      status: 'already done',
      detail: `already secretless (roleId ${akv.roleId})`,
    });
    return report({
      result: 'already-secretless',
      exitCode: EXIT.ok,
      message: `Nothing to migrate: project ${projectId} already uses the Atlas-managed service principal (roleId ${akv.roleId}). 'ear-guard check --project ${projectId}' verifies its access.`,
      roleId: akv.roleId,
      before,
    });
  }
  steps.push({
    step: 'read encryptionAtRest',
    status: 'done',
    detail: `static credentials: tenantID ${akv.tenantID ?? '?'}, clientID ${akv.clientID ?? '?'}, secret held by Atlas (never returned); vault ${akv.keyVaultName}, key ${akv.keyIdentifier}`,
  });
  const tenantId = tenantArg ?? akv.tenantID;
  if (!tenantId) throw usageError('--tenant is required: the EAR configuration names no tenantID');

  // 1. The principal.
  const cpa = await client.getCloudProviderAccess(projectId);
  const candidates = (cpa.azureServicePrincipals ?? []).filter(
    (s) =>
      (!s.atlasAzureAppId || s.atlasAzureAppId.toLowerCase() === ATLAS_AZURE_APP_ID) &&
      (!s.tenantId || s.tenantId.toLowerCase() === tenantId.toLowerCase()) &&
      (!principalArg || (s.servicePrincipalId ?? '').toLowerCase() === principalArg.toLowerCase()),
  );
  let roleId = candidates[0]?._id;
  let principalId = candidates[0]?.servicePrincipalId ?? principalArg;
  const registerBody = principalId
    ? { providerName: 'AZURE' as const, tenantId, servicePrincipalId: principalId, atlasAzureAppId: ATLAS_AZURE_APP_ID }
    : undefined;
  if (roleId) {
    steps.push({
      step: 'find the Atlas service principal',
      status: 'already done',
      detail: `registered: roleId ${roleId} -> ${principalId}`,
    });
  } else if (!registerBody) {
    throw usageError(
      `no Atlas service principal is registered with project ${projectId} for tenant ${tenantId}: find or create it in the tenant (az ad sp list --filter "appId eq '${ATLAS_AZURE_APP_ID}'" --query "[].id" -o tsv, or az ad sp create --id ${ATLAS_AZURE_APP_ID}) and pass its object ID with --principal <objectId>`,
    );
  } else if (dryRun) {
    steps.push({
      step: 'register the Atlas service principal',
      status: 'would do',
      detail: `POST cloudProviderAccess; Atlas returns the roleId`,
      request: {
        method: 'POST',
        url: `${atlasBase}/groups/${projectId}/cloudProviderAccess`,
        headers: authHeader,
        body: registerBody,
      },
    });
  } else {
    const sp = await client.createCloudProviderAccess(projectId, registerBody);
    roleId = sp._id;
    principalId = sp.servicePrincipalId ?? principalId;
    steps.push({
      step: 'register the Atlas service principal',
      status: 'done',
      detail: `POST cloudProviderAccess: roleId ${roleId} -> ${principalId}`,
      request: { method: 'POST', url: `${atlasBase}/groups/${projectId}/cloudProviderAccess`, body: registerBody },
    });
  }

  // 2. Grant (plan from the loop's planRestore; written by its act step).
  const input = { projectId, principal: principalId!, ...(str(values, 'key') ? { key: str(values, 'key') } : {}) };
  let st = await preflight(conn, input);
  if (dryRun) {
    const plan =
      st.target && st.inspection
        ? planRestore(st.target, st.inspection.verdict, st.inspection.docs.vault.tenantId, {
            restoreScope: conn.policy.restoreScope,
            roles: conn.policy.roles,
          })
        : { plan: [], blocked: [] };
    if (plan.blocked.length) {
      steps.push({ step: 'grant access on the key', status: 'failed', detail: plan.blocked.join('; ') });
    } else if (plan.plan.length === 0) {
      steps.push({
        step: 'grant access on the key',
        status: 'already done',
        detail: 'the principal already holds what is required',
      });
    } else {
      for (const a of plan.plan) {
        steps.push({
          step: 'grant access on the key',
          status: 'would do',
          detail: a.description,
          request: armRequest(armBase, st.target!.subscriptionId, a),
        });
      }
    }
  } else {
    const fix = await applyPreflightFix(conn, st);
    if (fix.blocked.length) {
      steps.push({ step: 'grant access on the key', status: 'failed', detail: fix.blocked.join('; ') });
    } else if (fix.plan.length === 0) {
      steps.push({
        step: 'grant access on the key',
        status: 'already done',
        detail: 'the principal already holds what is required',
      });
    }
    for (const a of fix.actions) {
      steps.push({
        step: 'grant access on the key',
        status: a.result === 'failed' ? 'failed' : a.result === 'alreadyExists' ? 'already done' : 'done',
        detail: `${a.description}: ${a.result}${a.error ? ` (${a.error})` : ''}`,
      });
    }
    // 3. Preflight again, against what is there now.
    st = await preflight(conn, input);
  }

  const t = st.target;
  const patchBody: AtlasEncryptionAtRest = {
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
  const patchRequest = {
    method: 'PATCH',
    url: `${atlasBase}/groups/${projectId}/encryptionAtRest`,
    headers: authHeader,
    body: patchBody,
  };

  if (dryRun) {
    // Checks that the planned grants will fix are not blockers of the plan itself.
    const grantable = new Set(['key-permissions', 'reader-on-vault', 'principal-registered']);
    const blockers = st.report.checks.filter(
      (c) => (c.status === 'fail' || c.status === 'unknown') && !grantable.has(c.id),
    );
    const blockedGrant = steps.some((s) => s.status === 'failed');
    steps.push({
      step: 'run the preflight',
      status: 'would do',
      detail: 'after the grants; the PATCH happens only if every check passes',
    });
    steps.push({
      step: 'PATCH encryptionAtRest with the roleId',
      status: 'would do',
      detail: 'Atlas validates access with the service principal; on failure it keeps the static credentials',
      request: patchRequest,
    });
    steps.push({
      step: 'poll azureKeyVault.valid',
      status: 'would do',
      detail: `every ${Math.round(pollMs / 1000)} s, up to ${Math.round(timeoutMs / 1000)} s`,
    });
    const ok = blockers.length === 0 && !blockedGrant;
    return report({
      result: 'planned',
      exitCode: ok ? EXIT.ok : EXIT.failed,
      message: ok
        ? 'Dry run: the plan above is feasible; run without --dry-run to apply it.'
        : `Dry run: the migration would stop before the PATCH: ${[...blockers.map((c) => `${c.title}: ${c.detail}`), ...steps.filter((s) => s.status === 'failed').map((s) => s.detail)].join('; ')}`,
      ...(roleId ? { roleId } : {}),
      ...(principalId ? { principalId } : {}),
      before,
      preflight: st.report,
    });
  }

  // The preflight must pass before anything touches Atlas's EAR configuration. A principal registered in this run
  // counts as registered.
  const failing = st.report.checks.filter((c) => c.status === 'fail' || c.status === 'unknown');
  steps.push({
    step: 'run the preflight',
    status: failing.length ? 'failed' : 'done',
    detail: failing.length ? failing.map((c) => `${c.title}: ${c.detail}`).join('; ') : 'every check passed',
  });
  if (failing.length) {
    return report({
      result: 'not-ready',
      exitCode: failing.some((c) => c.status === 'fail') ? EXIT.failed : EXIT.indeterminate,
      message: `Not migrated: the preflight did not pass, so encryptionAtRest was not changed; Atlas keeps using the static credentials.`,
      roleId,
      principalId,
      before,
      preflight: st.report,
    });
  }

  let accepted: AtlasEncryptionAtRest;
  try {
    accepted = await client.updateEncryptionAtRest(projectId, patchBody);
  } catch (e) {
    const x = explainServiceError(e, 'atlas');
    steps.push({
      step: 'PATCH encryptionAtRest with the roleId',
      status: 'failed',
      detail: x.message,
      request: { ...patchRequest, headers: undefined },
    });
    if (x.exitCode === EXIT.unreachable) throw e;
    return report({
      result: 'rejected',
      exitCode: EXIT.failed,
      message: `Atlas rejected the change (${x.message}); Atlas keeps using the static credentials.`,
      roleId,
      principalId,
      before,
      preflight: st.report,
    });
  }
  steps.push({
    step: 'PATCH encryptionAtRest with the roleId',
    status: 'done',
    detail: 'accepted by Atlas',
    request: { ...patchRequest, headers: undefined },
  });

  // Poll valid (with requirePrivateNetworking, the data nodes validate afterwards).
  const deadline = Date.now() + timeoutMs;
  let after = accepted.azureKeyVault;
  while (!(after?.valid === true && after.roleId === roleId) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(0, deadline - Date.now()))));
    after = (await client.getEncryptionAtRest(projectId)).azureKeyVault;
  }
  const confirmed = after?.valid === true && after.roleId === roleId;
  steps.push({
    step: 'poll azureKeyVault.valid',
    status: confirmed ? 'done' : 'failed',
    detail: confirmed ? 'valid: true' : `valid is ${String(after?.valid)} after ${Math.round(timeoutMs / 1000)} s`,
  });
  if (!confirmed) {
    return report({
      result: 'unconfirmed',
      exitCode: EXIT.indeterminate,
      message: `Atlas accepted the roleId but has not confirmed valid: true within ${Math.round(timeoutMs / 1000)} s${akv.requirePrivateNetworking ? ' (requirePrivateNetworking: the data nodes validate asynchronously)' : ''}. If validation fails, Atlas keeps the static credentials. Watch it with 'ear-guard check --project ${projectId}'.`,
      roleId,
      principalId,
      before,
      after: maskedAkv(after),
      preflight: st.report,
    });
  }
  const staticGone = !after?.clientID;
  return report({
    result: 'migrated',
    exitCode: EXIT.ok,
    message: `Migrated: Atlas validated Key Vault access with the service principal ${principalId} (roleId ${roleId}) and now authenticates with short-lived Azure AD tokens${staticGone ? `; the static credentials (clientID ${akv.clientID ?? '?'}) are gone from the configuration` : `; note: Atlas still lists clientID ${after?.clientID}`}. Consider removing the old app registration's access and secret in Azure.`,
    roleId,
    principalId,
    before,
    after: maskedAkv(after),
    preflight: st.report,
  });
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
