// Reads shared across the projects of one sweep or one event batch: a vault's reads (the vault, the principal's
// assignments, deny assignments, its keys, its policy assignments) are made once and answer every project whose key lives in it. Entries
// live a bounded time, and a vault's entries are dropped after any write to it, so a restore is verified fresh.
import type { AzurePort, KeyRecord } from '../azure/arm.js';
import { scopeCovers } from '../core/scopes.js';
import type { DenyAssignmentDoc, RoleAssignmentDoc, VaultDoc } from '../core/types.js';

export function vaultOf(scope: string): string | undefined {
  return /^(\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.KeyVault\/vaults\/[^/]+)/i
    .exec(scope)?.[1]
    ?.toLowerCase();
}

/** What a listing at `scope` returns out of a listing at its vault: everything above the vault, and below it only what covers `scope`. */
export function relevantTo(itemScope: string, vault: string, scope: string): boolean {
  return !scopeCovers(vault, itemScope) || scopeCovers(itemScope, scope);
}

/**
 * An AzurePort that answers vault-level reads from one read per vault (per sweep). A key-scope listing is
 * answered from the vault-scope listing (which holds everything at, above and below the vault) filtered to what
 * covers the key: the same set a key-scope listing returns. Writes pass through and invalidate their vault.
 */
export class SharedVaultReads implements AzurePort {
  private readonly entries = new Map<string, { value: Promise<unknown>; until: number }>();
  /** Underlying reads made (for the benchmark and tests). */
  reads = 0;

  constructor(
    private readonly inner: AzurePort,
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  private memo<T>(key: string, load: () => Promise<T>): Promise<T> {
    const t = this.now();
    const e = this.entries.get(key);
    if (e && e.until > t) return e.value as Promise<T>;
    this.reads++;
    const value = load();
    this.entries.set(key, { value, until: t + this.ttlMs });
    // A failed read is not cached: the next project retries it.
    value.catch(() => {
      if (this.entries.get(key)?.value === value) this.entries.delete(key);
    });
    return value;
  }

  private invalidate(vaultId: string): void {
    const v = vaultId.toLowerCase();
    for (const k of [...this.entries.keys()]) if (k.endsWith(`|${v}`) || k.includes(`|${v}|`)) this.entries.delete(k);
  }

  getVault(vaultId: string): Promise<VaultDoc> {
    return this.memo(`vault|${vaultId.toLowerCase()}`, () => this.inner.getVault(vaultId));
  }

  async listPrincipalAssignments(scope: string, principalId: string): Promise<RoleAssignmentDoc[]> {
    const vault = vaultOf(scope);
    if (!vault) return this.inner.listPrincipalAssignments(scope, principalId);
    const all = await this.memo(`ra|${vault}|${principalId.toLowerCase()}`, () =>
      this.inner.listPrincipalAssignments(vault, principalId),
    );
    return all.filter((a) => relevantTo(a.scope, vault, scope));
  }

  getRoleDefinitions(ids: string[]) {
    return this.inner.getRoleDefinitions(ids);
  }

  async listDenyAssignments(scope: string): Promise<DenyAssignmentDoc[]> {
    const vault = vaultOf(scope);
    if (!vault) return this.inner.listDenyAssignments(scope);
    const all = await this.memo(`deny|${vault}`, () => this.inner.listDenyAssignments(vault));
    return all.filter((d) => relevantTo(d.scope, vault, scope));
  }

  async listDenyAssignmentsFor(scope: string, principalId: string): Promise<DenyAssignmentDoc[]> {
    const inner = this.inner;
    if (!inner.listDenyAssignmentsFor) return [];
    const vault = vaultOf(scope);
    if (!vault) return inner.listDenyAssignmentsFor(scope, principalId);
    const all = await this.memo(`denyfor|${vault}|${principalId.toLowerCase()}`, () =>
      inner.listDenyAssignmentsFor!(vault, principalId),
    );
    return all.filter((d) => relevantTo(d.scope, vault, scope));
  }

  async listTimeBoundAssignments(scope: string, principalId: string) {
    const inner = this.inner;
    if (!inner.listTimeBoundAssignments) return [];
    const vault = vaultOf(scope);
    if (!vault) return inner.listTimeBoundAssignments(scope, principalId);
    const all = await this.memo(`pim|${vault}|${principalId.toLowerCase()}`, () =>
      inner.listTimeBoundAssignments!(vault, principalId),
    );
    return all.filter((a) => relevantTo(a.scope, vault, scope));
  }

  /** One policy read per vault per sweep: every project whose key is in the vault shares it. */
  get listPolicyAssignments(): AzurePort['listPolicyAssignments'] {
    const inner = this.inner;
    if (!inner.listPolicyAssignments) return undefined;
    return (vaultId: string) =>
      this.memo(`policy|${vaultId.toLowerCase()}`, () => inner.listPolicyAssignments!(vaultId));
  }

  get getPolicySetDefinition(): AzurePort['getPolicySetDefinition'] {
    const inner = this.inner;
    if (!inner.getPolicySetDefinition) return undefined;
    return (id: string, vaultId: string) =>
      this.memo(`policyset|${id.toLowerCase()}`, () => inner.getPolicySetDefinition!(id, vaultId));
  }

  getKeyVersion(vaultId: string, keyName: string, version: string): Promise<KeyRecord> {
    const inner = this.inner;
    return inner.getKeyVersion ? inner.getKeyVersion(vaultId, keyName, version) : inner.getKey(vaultId, keyName);
  }

  /**
   * A vault's keys are listed once per sweep and shared (one paged read per vault instead of one GET per project).
   * The list has no current version, so the version-vs-Atlas check is left to the event path (KeyNewVersionCreated
   * triggers a reconcile that GETs the key); a key missing from the list is GET directly (a real 404 if gone).
   */
  async getKey(vaultId: string, keyName: string): Promise<KeyRecord> {
    const inner = this.inner;
    if (!inner.listKeys) return inner.getKey(vaultId, keyName);
    const keys = await this.memo(`keys|${vaultId.toLowerCase()}`, () => inner.listKeys!(vaultId));
    return keys.find((k) => k.name.toLowerCase() === keyName.toLowerCase()) ?? inner.getKey(vaultId, keyName);
  }

  async createRoleAssignment(req: Parameters<AzurePort['createRoleAssignment']>[0]) {
    const vault = vaultOf(req.scope);
    try {
      return await this.inner.createRoleAssignment(req);
    } finally {
      if (vault) this.invalidate(vault);
    }
  }

  async addAccessPolicy(req: Parameters<AzurePort['addAccessPolicy']>[0]) {
    try {
      return await this.inner.addAccessPolicy(req);
    } finally {
      this.invalidate(req.vaultId);
    }
  }
}
