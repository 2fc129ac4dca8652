// The ARM port the reconcile loop uses: reads return the normalized documents the evaluator judges, writes add
// exactly one grant each. Every SDK error leaves here classified (errors.ts). Concurrency is bounded per
// subscription (ARM throttles per principal and subscription; the SDK retries 429 with Retry-After).
import type { KeyVaultManagementClient } from '@azure/arm-keyvault';
import {
  parseDenyAssignments,
  parseRoleAssignments,
  parseRoleDefinitions,
  parseVault,
  roleDefinitionGuid,
} from '../core/documents.js';
import { findBuiltinRole } from '../core/builtinRoles.js';
import { vaultNetworkOf } from '../core/network.js';
import type { PolicyAssignmentDoc, PolicySetDoc } from '../core/policy.js';
import { keyScope, parseVaultId } from '../core/scopes.js';
import type { DenyAssignmentDoc, RoleAssignmentDoc, RoleDefinitionDoc, VaultDoc } from '../core/types.js';
import { AzureClientFactory, type SubscriptionClients } from './clients.js';
import { ClassifiedError, classifyError } from './errors.js';
import { roleAssignmentName } from './guid.js';
import { Semaphore } from '../shared/concurrency.js';

/** The key's ARM record, as far as access and Atlas care. */
export interface KeyRecord {
  name: string;
  enabled: boolean;
  /** Expiry, ISO, when set. */
  expires?: string;
  notBefore?: string;
  /** `https://{vault}.vault.azure.net/keys/{name}/{version}` of the current version. */
  keyUriWithVersion?: string;
  currentVersion?: string;
}

export interface RoleAssignmentRequest {
  scope: string;
  roleDefinitionGuid: string;
  principalId: string;
  /** Default ServicePrincipal (the Atlas principal is one; it also avoids ARM's replication-delay lookup). */
  principalType?: 'ServicePrincipal' | 'User' | 'Group';
}

export interface RoleAssignmentResult {
  id: string;
  name: string;
  /** false when ARM answered 409 RoleAssignmentExists (the grant is there: done). */
  created: boolean;
}

export interface AccessPolicyAddRequest {
  vaultId: string;
  tenantId: string;
  objectId: string;
  /** Only the missing key permissions. */
  keys: string[];
}

/** An active PIM role assignment that ends (RoleAssignmentScheduleInstances, 2020-10-01). */
export interface TimeBoundAssignment {
  /** The role assignment it is (`originRoleAssignmentId`), as the role assignment list names it. */
  assignmentId: string;
  scope: string;
  roleDefinitionId: string;
  principalId: string;
  /** ISO end of the assignment. */
  endDateTime: string;
}

/** What the loop needs from Azure. Implemented by ArmAdapter; nothing else talks to ARM. */
export interface AzurePort {
  getVault(vaultId: string): Promise<VaultDoc>;
  /**
   * The principal's assignments at, above and below `scope`, including those of the groups it is a (transitive)
   * member of (`assignedTo('{objectId}')`, what `az role assignment list --include-groups` uses).
   */
  listPrincipalAssignments(scope: string, principalId: string): Promise<RoleAssignmentDoc[]>;
  /** Definitions of the non-built-in roles referenced (built-ins resolve from shipped data); cached. */
  getRoleDefinitions(roleDefinitionIds: string[]): Promise<RoleDefinitionDoc[]>;
  listDenyAssignments(scope: string): Promise<DenyAssignmentDoc[]>;
  /**
   * Deny assignments that name the principal or a group it is a transitive member of (`assignedTo('{objectId}')`).
   * Read only when a deny at the scope names a group whose membership is not otherwise known.
   */
  listDenyAssignmentsFor?(scope: string, principalId: string): Promise<DenyAssignmentDoc[]>;
  getKey(vaultId: string, keyName: string): Promise<KeyRecord>;
  /**
   * Every key of a vault in one paged read (Keys_List): enabled, expiry, not-before; the current version is not in
   * the list (`keyUriWithVersion` only comes from Keys_Get). Lets a sweep read a shared vault's keys once.
   */
  listKeys?(vaultId: string): Promise<KeyRecord[]>;
  /** One version of a key (Keys_GetVersion): the version Atlas pins, when it is not the current one. */
  getKeyVersion?(vaultId: string, keyName: string, version: string): Promise<KeyRecord>;
  /**
   * Active PIM assignment instances at, above and below `scope` for the principal and its groups that have an end
   * (`assignedTo()`): read by periodic checks only, not on the event path.
   */
  listTimeBoundAssignments?(scope: string, principalId: string): Promise<TimeBoundAssignment[]>;
  /**
   * Azure Policy assignments at and above the vault (`$filter=atScope()`, management groups included): read by
   * periodic checks only. Needs `Microsoft.Authorization/policyAssignments/read` (Reader has it).
   */
  listPolicyAssignments?(vaultId: string): Promise<PolicyAssignmentDoc[]>;
  /**
   * A policy set definition (initiative) an assignment on `vaultId` references (built-in, subscription or management
   * group; undefined when gone); cached.
   */
  getPolicySetDefinition?(id: string, vaultId: string): Promise<PolicySetDoc | undefined>;
  createRoleAssignment(req: RoleAssignmentRequest): Promise<RoleAssignmentResult>;
  addAccessPolicy(req: AccessPolicyAddRequest): Promise<void>;
}

/** Key Vault attributes carry Unix seconds (or Dates from the SDK's deserializer). */
function isoTime(s?: number | Date): string | undefined {
  return s === undefined || s === null ? undefined : new Date(typeof s === 'number' ? s * 1000 : s).toISOString();
}

/** The SDK wants scopes without the leading `/` (it adds one: `//subscriptions/...` otherwise). */
function sdkScope(scope: string): string {
  return scope.replace(/^\/+/, '').replace(/\/+$/, '');
}

export interface ArmAdapterOptions {
  /** Concurrent ARM calls per subscription. Default 8. */
  concurrencyPerSubscription?: number;
  /** How long a fetched custom role definition (or policy set definition) is reused. Default 10 minutes. */
  roleDefinitionTtlMs?: number;
}

type Rec = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** A policy assignment from the SDK (properties flattened) or REST (`properties`), normalized. */
export function policyAssignmentOf(raw: unknown): PolicyAssignmentDoc {
  const o = (raw ?? {}) as Rec;
  const p = (typeof o.properties === 'object' && o.properties ? o.properties : o) as Rec;
  return {
    id: str(o.id) ?? '',
    name: str(o.name),
    displayName: str(p.displayName),
    scope: str(p.scope) ?? '',
    policyDefinitionId: str(p.policyDefinitionId) ?? '',
    enforcementMode: str(p.enforcementMode),
    notScopes: Array.isArray(p.notScopes) ? p.notScopes.map(String) : undefined,
    parameters: (p.parameters ?? undefined) as PolicyAssignmentDoc['parameters'],
    overrides: (p.overrides ?? undefined) as PolicyAssignmentDoc['overrides'],
  };
}

/** A policy set definition from the SDK or REST, normalized. */
export function policySetOf(raw: unknown): PolicySetDoc {
  const o = (raw ?? {}) as Rec;
  const p = (typeof o.properties === 'object' && o.properties ? o.properties : o) as Rec;
  return {
    id: str(o.id) ?? '',
    displayName: str(p.displayName),
    parameters: (p.parameters ?? undefined) as PolicySetDoc['parameters'],
    policyDefinitions: (Array.isArray(p.policyDefinitions)
      ? p.policyDefinitions
      : []) as PolicySetDoc['policyDefinitions'],
  };
}

export class ArmAdapter implements AzurePort {
  private readonly limiters = new Map<string, Semaphore>();
  private readonly roleCache = new Map<string, { doc: RoleDefinitionDoc; until: number }>();
  private readonly setCache = new Map<string, { doc: Promise<PolicySetDoc | undefined>; until: number }>();

  constructor(
    private readonly factory: AzureClientFactory,
    private readonly opts: ArmAdapterOptions = {},
  ) {}

  private async call<T>(subscriptionId: string, fn: (c: SubscriptionClients) => Promise<T>): Promise<T> {
    const key = subscriptionId.toLowerCase();
    let lim = this.limiters.get(key);
    if (!lim) this.limiters.set(key, (lim = new Semaphore(this.opts.concurrencyPerSubscription ?? 8)));
    try {
      return await lim.run(() => fn(this.factory.forSubscription(subscriptionId)));
    } catch (err) {
      throw classifyError(err, 'arm');
    }
  }

  private kv(c: SubscriptionClients): KeyVaultManagementClient {
    return c.keyVault;
  }

  async getVault(vaultId: string): Promise<VaultDoc> {
    const { subscriptionId, resourceGroup, vaultName } = parseVaultId(vaultId);
    const raw = await this.call(subscriptionId, (c) => this.kv(c).vaults.get(resourceGroup, vaultName));
    return { ...parseVault(raw as never, `vault ${vaultId}`), network: vaultNetworkOf(raw) };
  }

  async listPrincipalAssignments(scope: string, principalId: string): Promise<RoleAssignmentDoc[]> {
    const sub = subscriptionOf(scope);
    const raw = await this.call(sub, async (c) => {
      const out: unknown[] = [];
      for await (const a of c.authorization.roleAssignments.listForScope(sdkScope(scope), {
        // assignedTo() includes the assignments of the principal's groups (transitively); principalId eq does not.
        filter: `assignedTo('${principalId}')`,
      })) {
        out.push(a);
      }
      return out;
    });
    return parseRoleAssignments(raw as never, `role assignments at ${scope}`);
  }

  async getRoleDefinitions(roleDefinitionIds: string[]): Promise<RoleDefinitionDoc[]> {
    const now = Date.now();
    const ttl = this.opts.roleDefinitionTtlMs ?? 10 * 60_000;
    const wanted = [...new Map(roleDefinitionIds.map((id) => [roleDefinitionGuid(id), id])).entries()];
    const out: RoleDefinitionDoc[] = [];
    await Promise.all(
      wanted.map(async ([guid, id]) => {
        if (findBuiltinRole(guid)) return; // shipped data, never fetched
        const cached = this.roleCache.get(guid);
        if (cached && cached.until > now) {
          out.push(cached.doc);
          return;
        }
        // A custom role lives at a subscription (or management group) scope; its ID names it.
        const m = /^(.*)\/providers\/Microsoft\.Authorization\/roleDefinitions\/[^/]+$/i.exec(id);
        const scope = m && m[1] ? m[1] : undefined;
        const sub = scope ? subscriptionOf(scope, true) : undefined;
        if (!scope || !sub) return; // unknown scope: the evaluator reports the role as unresolved
        try {
          const raw = await this.call(sub, (c) => c.authorization.roleDefinitions.get(sdkScope(scope), guid));
          const [doc] = parseRoleDefinitions(raw as never, `role definition ${id}`);
          if (doc) {
            this.roleCache.set(guid, { doc, until: now + ttl });
            out.push(doc);
          }
        } catch (err) {
          const c = classifyError(err, 'arm');
          if (c.status === 404) return; // deleted custom role: grants nothing; the evaluator says so
          throw c;
        }
      }),
    );
    return out;
  }

  async listDenyAssignments(scope: string): Promise<DenyAssignmentDoc[]> {
    const raw = await this.call(subscriptionOf(scope), async (c) => {
      const out: unknown[] = [];
      for await (const d of c.authorization.denyAssignments.listForScope(sdkScope(scope))) out.push(d);
      return out;
    });
    return raw.length ? parseDenyAssignments(raw as never, `deny assignments at ${scope}`) : [];
  }

  async listDenyAssignmentsFor(scope: string, principalId: string): Promise<DenyAssignmentDoc[]> {
    const raw = await this.call(subscriptionOf(scope), async (c) => {
      const out: unknown[] = [];
      const filter = `assignedTo('${principalId}')`;
      for await (const d of c.authorization.denyAssignments.listForScope(sdkScope(scope), { filter })) out.push(d);
      return out;
    });
    return raw.length ? parseDenyAssignments(raw as never, `deny assignments for ${principalId} at ${scope}`) : [];
  }

  async listTimeBoundAssignments(scope: string, principalId: string): Promise<TimeBoundAssignment[]> {
    return this.call(subscriptionOf(scope), async (c) => {
      const out: TimeBoundAssignment[] = [];
      const filter = `assignedTo('${principalId}')`;
      for await (const i of c.authorization.roleAssignmentScheduleInstances.listForScope(sdkScope(scope), { filter })) {
        const end = i.endDateTime ? new Date(i.endDateTime).toISOString() : undefined;
        if (!end || !i.originRoleAssignmentId) continue;
        out.push({
          assignmentId: i.originRoleAssignmentId,
          scope: i.scope ?? '',
          roleDefinitionId: i.roleDefinitionId ?? '',
          principalId: i.principalId ?? '',
          endDateTime: end,
        });
      }
      return out;
    });
  }

  async listPolicyAssignments(vaultId: string): Promise<PolicyAssignmentDoc[]> {
    const { subscriptionId, resourceGroup, vaultName } = parseVaultId(vaultId);
    return this.call(subscriptionId, async (c) => {
      const out: PolicyAssignmentDoc[] = [];
      // atScope(): the assignments that apply to the vault (at it and above, management groups included).
      const list = c.policy.policyAssignments.listForResource(
        resourceGroup,
        'Microsoft.KeyVault',
        '',
        'vaults',
        vaultName,
        {
          filter: 'atScope()',
        },
      );
      for await (const a of list) out.push(policyAssignmentOf(a));
      return out;
    });
  }

  getPolicySetDefinition(id: string, vaultId: string): Promise<PolicySetDoc | undefined> {
    const key = id.toLowerCase();
    const cached = this.setCache.get(key);
    if (cached && cached.until > Date.now()) return cached.doc;
    const doc = this.readPolicySet(id, subscriptionOf(vaultId));
    this.setCache.set(key, { doc, until: Date.now() + (this.opts.roleDefinitionTtlMs ?? 10 * 60_000) });
    doc.catch(() => this.setCache.delete(key));
    return doc;
  }

  private async readPolicySet(id: string, vaultSubscription: string): Promise<PolicySetDoc | undefined> {
    const m =
      /^(?:\/subscriptions\/([^/]+)|\/providers\/Microsoft\.Management\/managementGroups\/([^/]+))?\/providers\/Microsoft\.Authorization\/policySetDefinitions\/([^/]+)$/i.exec(
        id,
      );
    if (!m) return undefined;
    const [, sub, mg, name] = m;
    try {
      // Built-ins and management-group sets need no subscription: the vault's client reads them.
      const raw = await this.call(sub ?? vaultSubscription, (c) => {
        const sets = c.policy.policySetDefinitions;
        if (sub) return sets.get(name);
        return mg ? sets.getAtManagementGroup(mg, name) : sets.getBuiltIn(name);
      });
      return policySetOf(raw);
    } catch (err) {
      const c = classifyError(err, 'arm');
      if (c.status === 404) return undefined; // deleted: its members are unknown, the caller notes it
      throw c;
    }
  }

  async getKeyVersion(vaultId: string, keyName: string, version: string): Promise<KeyRecord> {
    const { subscriptionId, resourceGroup, vaultName } = parseVaultId(vaultId);
    const k = await this.call(subscriptionId, (c) =>
      this.kv(c).keys.getVersion(resourceGroup, vaultName, keyName, version),
    );
    const attrs = k.attributes ?? {};
    return {
      name: k.name ?? keyName,
      enabled: attrs.enabled !== false,
      expires: isoTime(attrs.expires),
      notBefore: isoTime(attrs.notBefore),
      keyUriWithVersion: k.keyUriWithVersion,
      currentVersion: version,
    };
  }

  async listKeys(vaultId: string): Promise<KeyRecord[]> {
    const { subscriptionId, resourceGroup, vaultName } = parseVaultId(vaultId);
    return this.call(subscriptionId, async (c) => {
      const out: KeyRecord[] = [];
      for await (const k of this.kv(c).keys.list(resourceGroup, vaultName)) {
        const attrs = k.attributes ?? {};
        out.push({
          name: k.name ?? '',
          enabled: attrs.enabled !== false,
          expires: isoTime(attrs.expires),
          notBefore: isoTime(attrs.notBefore),
        });
      }
      return out;
    });
  }

  async getKey(vaultId: string, keyName: string): Promise<KeyRecord> {
    const { subscriptionId, resourceGroup, vaultName } = parseVaultId(vaultId);
    const k = await this.call(subscriptionId, (c) => this.kv(c).keys.get(resourceGroup, vaultName, keyName));
    const attrs = k.attributes ?? {};
    const uri = k.keyUriWithVersion;
    return {
      name: k.name ?? keyName,
      enabled: attrs.enabled !== false,
      expires: isoTime(attrs.expires),
      notBefore: isoTime(attrs.notBefore),
      keyUriWithVersion: uri,
      currentVersion: uri ? uri.replace(/\/+$/, '').split('/').pop() : undefined,
    };
  }

  async createRoleAssignment(req: RoleAssignmentRequest): Promise<RoleAssignmentResult> {
    const sub = subscriptionOf(req.scope);
    const name = roleAssignmentName(req.scope, req.roleDefinitionGuid, req.principalId);
    const id = `${'/' + sdkScope(req.scope)}/providers/Microsoft.Authorization/roleAssignments/${name}`;
    try {
      const res = await this.call(sub, (c) =>
        c.authorization.roleAssignments.create(sdkScope(req.scope), name, {
          roleDefinitionId: `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${req.roleDefinitionGuid}`,
          principalId: req.principalId,
          principalType: req.principalType ?? 'ServicePrincipal',
        }),
      );
      return { id: res.id ?? id, name, created: true };
    } catch (err) {
      const c = err as ClassifiedError;
      if (c.status === 409 && c.code === 'RoleAssignmentExists') return { id, name, created: false };
      throw c;
    }
  }

  async addAccessPolicy(req: AccessPolicyAddRequest): Promise<void> {
    if (req.keys.length === 0) return;
    const { subscriptionId, resourceGroup, vaultName } = parseVaultId(req.vaultId);
    // `add` merges into the principal's entry; never `replace` (drops others) and never a vault PUT.
    await this.call(subscriptionId, (c) =>
      this.kv(c).vaults.updateAccessPolicy(resourceGroup, vaultName, 'add', {
        properties: {
          accessPolicies: [
            { tenantId: req.tenantId, objectId: req.objectId, permissions: { keys: req.keys as never } },
          ],
        },
      }),
    );
  }
}

/** The subscription a scope lives in (scopes above a subscription have none). */
export function subscriptionOf(scope: string): string;
export function subscriptionOf(scope: string, optional: true): string | undefined;
export function subscriptionOf(scope: string, optional?: boolean): string | undefined {
  const m = /^\/?subscriptions\/([^/]+)/i.exec(scope);
  if (!m) {
    if (optional) return undefined;
    throw new ClassifiedError('terminal', 'arm', `scope '${scope}' is not inside a subscription`);
  }
  return m[1];
}

export { keyScope };
