// Deny assignments held between checks. Nobody can create a deny assignment directly: Azure creates them for
// managed applications, Blueprints and deployment stacks with deny settings, and removes them with their owner
// (learn.microsoft.com/azure/role-based-access-control/deny-assignments). So a vault's list changes rarely and only
// through those owners' writes. This AzurePort decorator answers a single check's deny read from the last list of
// the vault, at most `ttlMs` old (default 5 minutes, the sweep's schedule); each sweep re-reads every vault it touches
// (`refreshing()`), and an event about a deployment stack, managed application, blueprint assignment or deny
// assignment drops the whole cache (`forgetDenyAssignments`). A deny assignment created while a list is held is
// therefore seen within `ttlMs`, at the next sweep, or at the next event about its owner, whichever comes first.
import type { AzurePort, KeyRecord } from '../azure/arm.js';
import type { DenyAssignmentDoc, RoleAssignmentDoc, VaultDoc } from '../core/types.js';
import { relevantTo, vaultOf } from './sharedReads.js';

export const DENY_TTL_MS = 5 * 60_000;

/** ARM writes that can create, change or remove a deny assignment. */
const DENY_OWNERS =
  /Microsoft\.(Resources\/deploymentStacks|Solutions\/applications|Blueprint\/blueprintAssignments|Authorization\/denyAssignments)\b/i;

interface Entry {
  list: Promise<DenyAssignmentDoc[]>;
  until: number;
}

export class DenyAssignmentCache implements AzurePort {
  private readonly entries = new Map<string, Entry>();
  /** Underlying deny reads made (for the benchmark and tests). */
  reads = 0;

  constructor(
    /** The port underneath (ARM). */
    readonly inner: AzurePort,
    private readonly ttlMs = DENY_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  private load(vault: string): Promise<DenyAssignmentDoc[]> {
    this.reads++;
    const list = this.inner.listDenyAssignments(vault);
    const entry = { list, until: this.now() + this.ttlMs };
    this.entries.set(vault, entry);
    // A failed read is not held: the next check reads again.
    list.catch(() => {
      if (this.entries.get(vault) === entry) this.entries.delete(vault);
    });
    return list;
  }

  async listDenyAssignments(scope: string, fresh = false): Promise<DenyAssignmentDoc[]> {
    const vault = vaultOf(scope);
    if (!vault) return this.inner.listDenyAssignments(scope);
    const e = this.entries.get(vault);
    const all = !fresh && e && e.until > this.now() ? await e.list : await this.load(vault);
    return all.filter((d) => relevantTo(d.scope, vault, scope));
  }

  /** Drops every held list (an event about a deny assignment's owner: its scope may be anywhere above the vault). */
  forget(): void {
    this.entries.clear();
  }

  /** The same port, but every deny read goes to ARM and refreshes the held list (the sweep's reads). */
  refreshing(): AzurePort {
    return Object.assign(Object.create(this) as DenyAssignmentCache, {
      listDenyAssignments: (scope: string) => this.listDenyAssignments(scope, true),
    });
  }

  getVault(vaultId: string): Promise<VaultDoc> {
    return this.inner.getVault(vaultId);
  }

  listPrincipalAssignments(scope: string, principalId: string): Promise<RoleAssignmentDoc[]> {
    return this.inner.listPrincipalAssignments(scope, principalId);
  }

  getRoleDefinitions(ids: string[]) {
    return this.inner.getRoleDefinitions(ids);
  }

  getKey(vaultId: string, keyName: string): Promise<KeyRecord> {
    return this.inner.getKey(vaultId, keyName);
  }

  get listKeys(): AzurePort['listKeys'] {
    return this.inner.listKeys?.bind(this.inner);
  }

  // The optional reads pass through as the inner port has them (a missing one must stay missing, not become empty).
  get listDenyAssignmentsFor(): AzurePort['listDenyAssignmentsFor'] {
    return this.inner.listDenyAssignmentsFor?.bind(this.inner);
  }

  get getKeyVersion(): AzurePort['getKeyVersion'] {
    return this.inner.getKeyVersion?.bind(this.inner);
  }

  get listTimeBoundAssignments(): AzurePort['listTimeBoundAssignments'] {
    return this.inner.listTimeBoundAssignments?.bind(this.inner);
  }

  get listPolicyAssignments(): AzurePort['listPolicyAssignments'] {
    return this.inner.listPolicyAssignments?.bind(this.inner);
  }

  get getPolicySetDefinition(): AzurePort['getPolicySetDefinition'] {
    return this.inner.getPolicySetDefinition?.bind(this.inner);
  }

  createRoleAssignment(req: Parameters<AzurePort['createRoleAssignment']>[0]) {
    return this.inner.createRoleAssignment(req);
  }

  addAccessPolicy(req: Parameters<AzurePort['addAccessPolicy']>[0]) {
    return this.inner.addAccessPolicy(req);
  }
}

/** The port a sweep reads through: deny reads go to ARM and refresh a held list. */
export function sweepReads(port: AzurePort): AzurePort {
  return port instanceof DenyAssignmentCache ? port.refreshing() : port;
}

/** Drops the held deny lists when an event is about something that owns deny assignments. */
export function forgetDenyAssignments(
  port: AzurePort,
  events: { subject?: string; type?: string; data?: Record<string, unknown> }[],
): boolean {
  if (!(port instanceof DenyAssignmentCache)) return false;
  const hit = events.some((e) =>
    [e.subject, e.type, e.data?.operationName, e.data?.resourceUri].some(
      (s) => typeof s === 'string' && DENY_OWNERS.test(s),
    ),
  );
  if (hit) port.forget();
  return hit;
}
