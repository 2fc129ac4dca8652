// What to run to restore exactly what is missing (and nothing more). Shared by `explain`, reconcile and alerts.
// Commands follow the seed's documented grants: RBAC = "Key Vault Crypto User" (+ "Reader") on the vault;
// access policies = `az keyvault set-policy --key-permissions ...`.
import { canonicalPermission } from './actions.js';
import { READER_ON_VAULT } from './evaluate.js';
import { parseVaultId } from './scopes.js';
import type { Requirement, Verdict } from './types.js';

const quote = (s: string) => (/^[A-Za-z0-9_./:=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/**
 * Shell commands (Azure CLI) that grant what the verdict says is missing. Empty when nothing is missing.
 * Indeterminate permissions get no command (they may already be granted through a conditional assignment);
 * permissions removed by a deny assignment get a `#` comment, since no grant can beat a deny.
 */
export function fixCommands(verdict: Verdict, requirement: Requirement): string[] {
  const vaultId = requirement.key.vaultId;
  const principal = requirement.principalId;
  const missingRecommendedPerms = verdict.missingRecommended.filter((m) => m !== READER_ON_VAULT);
  const wanted = [...verdict.missing, ...missingRecommendedPerms];
  const denied = wanted.filter((p) => (verdict.permissions[p]?.deniedBy ?? []).length > 0);
  const unsure = (p: string) =>
    verdict.indeterminate.includes(p) || (verdict.permissions[p]?.conditionalVia ?? []).length > 0;
  const grantable = wanted.filter((p) => !denied.includes(p) && !unsure(p));
  const out: string[] = [];
  for (const p of denied) {
    out.push(
      `# ${p} is removed by deny assignment ${verdict.permissions[p].deniedBy!.join(', ')}: no grant can override it`,
    );
  }
  if (verdict.model === 'rbac') {
    const needsCrypto = grantable.length > 0;
    if (needsCrypto) {
      out.push(
        `az role assignment create --assignee-object-id ${quote(principal)} --assignee-principal-type ServicePrincipal --role "Key Vault Crypto User" --scope ${quote(vaultId)}`,
      );
    }
    const readerUnsure = (verdict.readerOnVault?.conditionalVia ?? []).length > 0;
    if (
      verdict.missingRecommended.includes(READER_ON_VAULT) &&
      !readerUnsure &&
      !(verdict.readerOnVault?.deniedBy ?? []).length
    ) {
      out.push(
        `az role assignment create --assignee-object-id ${quote(principal)} --assignee-principal-type ServicePrincipal --role "Reader" --scope ${quote(vaultId)}`,
      );
    }
    return out;
  }
  if (grantable.length === 0) return out;
  // `az keyvault set-policy` replaces the key permission list of an existing entry, so pass the union of what
  // the principal holds today and what is missing: nothing it has is dropped.
  const current = verdict.accessPolicyKeyPermissions ?? [];
  const union: string[] = [];
  for (const p of [...current, ...grantable].map(canonicalPermission)) {
    if (!union.some((u) => u.toLowerCase() === p.toLowerCase())) union.push(p);
  }
  const { subscriptionId, resourceGroup, vaultName } = parseVaultId(vaultId);
  out.push(
    `az keyvault set-policy --subscription ${quote(subscriptionId)} --resource-group ${quote(resourceGroup)} --name ${quote(vaultName)} --object-id ${quote(principal)} --key-permissions ${union.map(quote).join(' ')}`,
  );
  return out;
}
