// The emulated Atlas organization's projects: lookup, the registered Azure service principals
// (cloudProviderAccess), the views Atlas answers with, and `azureKeyVault.valid` computed the way Atlas does it:
// can the registered principal use the key right now in the emulated vault (ctx.checkKeyAccess).
import type { KeyAccessAnswer, SandboxContext } from '../contract.js';
import { AtlasError, atlasDate, objectId, validationError } from './http.js';
import type {
  AlertConfigState,
  AtlasProjectSnapshot,
  AtlasProjectTarget,
  AzureKeyVaultConfig,
  AzureServicePrincipalRole,
  ProjectState,
} from './types.js';

/** The Atlas-managed Azure application (BRIEF): atlasAzureAppId when a registration does not name one. */
export const ATLAS_AZURE_APP_ID = '9efedfcc-2eca-4b27-a613-0cad1e114cb7';
export const BASE = '/api/atlas/v2';
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const OBJECT_ID_RE = /^[a-f0-9]{24}$/;
export const KEY_ID_RE =
  /^https:\/\/([a-z0-9-]+)\.vault\.azure\.(?:net|cn|us)\/keys\/([A-Za-z0-9-]+)(?:\/([A-Za-z0-9]+))?\/?$/i;

type ServicePrincipalInput = { servicePrincipalId: string; tenantId: string; atlasAzureAppId?: string };

export class AtlasProjects {
  readonly projects = new Map<string, ProjectState>();
  readonly alertConfigs = new Map<string, AlertConfigState[]>();

  constructor(
    private readonly ctx: SandboxContext,
    readonly orgId: string,
  ) {}

  create(name: string, orgId = this.orgId): string {
    const id = objectId();
    this.projects.set(id, { id, name, orgId, created: atlasDate(), servicePrincipals: [] });
    return id;
  }

  /** The project, or 400 INVALID_GROUP_ID / 404 GROUP_NOT_FOUND as Atlas answers them. */
  find(groupId: string): ProjectState {
    if (!OBJECT_ID_RE.test(groupId)) {
      throw new AtlasError(400, 'INVALID_GROUP_ID', `The specified group ID ${groupId} is invalid.`, [groupId]);
    }
    const p = this.projects.get(groupId);
    if (!p) throw new AtlasError(404, 'GROUP_NOT_FOUND', `No group with ID ${groupId} exists.`, [groupId]);
    return p;
  }

  /** Projects with EAR on Azure Key Vault enabled (the periodic validation's list). */
  enabledIds(): string[] {
    return [...this.projects.values()].filter((p) => p.azureKeyVault?.enabled).map((p) => p.id);
  }

  principalFor(p: ProjectState, akv: AzureKeyVaultConfig): { principalId: string; tenantId: string } | undefined {
    if (akv.roleId) {
      const sp = p.servicePrincipals.find((s) => s._id === akv.roleId);
      return sp ? { principalId: sp.servicePrincipalId, tenantId: akv.tenantID ?? sp.tenantId } : undefined;
    }
    // Secret-based credentials name an application, not an object: the sandbox checks that ID as given.
    if (akv.clientID) return { principalId: akv.clientID, tenantId: akv.tenantID ?? this.ctx.tenantId };
    return undefined;
  }

  /** Atlas's KMS check: the configured principal can use the key in the emulated vault right now. */
  checkAccess(p: ProjectState, akv: AzureKeyVaultConfig | undefined): KeyAccessAnswer {
    if (!akv?.enabled) return { valid: false, reason: 'Encryption at rest with Azure Key Vault is not enabled.' };
    const who = this.principalFor(p, akv);
    if (!who) return { valid: false, reason: `No Azure service principal with roleId ${akv.roleId} is registered.` };
    if (!akv.subscriptionID || !akv.resourceGroupName || !akv.keyVaultName || !akv.keyIdentifier) {
      return { valid: false, reason: 'The Azure Key Vault configuration is incomplete.' };
    }
    return this.ctx.checkKeyAccess({
      principalId: who.principalId,
      tenantId: who.tenantId,
      subscriptionId: akv.subscriptionID,
      resourceGroupName: akv.resourceGroupName,
      keyVaultName: akv.keyVaultName,
      keyIdentifier: akv.keyIdentifier,
      projectId: p.id,
      privateNetworking: akv.requirePrivateNetworking === true,
    });
  }

  /** The periodic check's answer for a project ID. */
  checkGroup(groupId: string): KeyAccessAnswer {
    const p = this.projects.get(groupId);
    return p ? this.checkAccess(p, p.azureKeyVault) : { valid: false, reason: `no project ${groupId}` };
  }

  azureKeyVaultView(p: ProjectState, akv: AzureKeyVaultConfig | undefined): Record<string, unknown> {
    if (!akv) return { enabled: false, requirePrivateNetworking: false, valid: false };
    // The spec marks `secret` writeOnly: it never leaves the sandbox.
    const { secret: _secret, ...shown } = akv;
    return {
      ...shown,
      requirePrivateNetworking: akv.requirePrivateNetworking ?? false,
      valid: this.checkAccess(p, akv).valid,
    };
  }

  earView(p: ProjectState): Record<string, unknown> {
    return {
      awsKms: { enabled: false, requirePrivateNetworking: false, valid: false },
      azureKeyVault: this.azureKeyVaultView(p, p.azureKeyVault),
      enabledForSearchNodes: false,
      googleCloudKms: { enabled: false, valid: false },
    };
  }

  groupView(p: ProjectState): Record<string, unknown> {
    return {
      clusterCount: 0,
      created: p.created,
      id: p.id,
      links: [{ href: `${this.ctx.baseUrl()}${BASE}/groups/${p.id}`, rel: 'self' }],
      name: p.name,
      orgId: p.orgId,
      tags: [],
      withDefaultAlertsSettings: true,
    };
  }

  snapshot(p: ProjectState): AtlasProjectSnapshot {
    return {
      groupId: p.id,
      name: p.name,
      orgId: p.orgId,
      created: p.created,
      servicePrincipals: p.servicePrincipals.map((s) => ({ ...s })),
      encryptionAtRest: this.earView(p),
    };
  }

  /** Registers a service principal once per principal and tenant (a repeat answers the existing role). */
  registerSp(p: ProjectState, sp: ServicePrincipalInput): AzureServicePrincipalRole {
    const existing = p.servicePrincipals.find(
      (s) =>
        s.servicePrincipalId.toLowerCase() === sp.servicePrincipalId.toLowerCase() &&
        s.tenantId.toLowerCase() === sp.tenantId.toLowerCase(),
    );
    if (existing) return existing;
    const now = atlasDate();
    const role: AzureServicePrincipalRole = {
      _id: objectId(),
      providerName: 'AZURE',
      atlasAzureAppId: sp.atlasAzureAppId ?? ATLAS_AZURE_APP_ID,
      servicePrincipalId: sp.servicePrincipalId,
      tenantId: sp.tenantId,
      createdDate: now,
      lastUpdatedDate: now,
      featureUsages: [],
    };
    p.servicePrincipals.push(role);
    return role;
  }

  /** Where a project's EAR points (vault, key, principal), read from its Azure Key Vault configuration. */
  target(projectId: string): AtlasProjectTarget | undefined {
    const p = this.projects.get(projectId);
    const akv = p?.azureKeyVault;
    if (!p || !akv?.enabled || !akv.resourceGroupName || !akv.keyVaultName || !akv.keyIdentifier) return undefined;
    const who = this.principalFor(p, akv);
    const keyName = KEY_ID_RE.exec(akv.keyIdentifier)?.[2];
    if (!who || !keyName) return undefined;
    return {
      projectId,
      resourceGroupName: akv.resourceGroupName,
      keyVaultName: akv.keyVaultName,
      keyName,
      principalId: who.principalId,
    };
  }
}

/** `POST /groups/{groupId}/cloudProviderAccess` for Azure: the body checked field by field, then registered. */
export function createCloudProviderAccess(
  store: AtlasProjects,
  p: ProjectState,
  body: Record<string, unknown>,
): AzureServicePrincipalRole {
  if (body.providerName !== 'AZURE') {
    throw validationError(
      'providerName',
      "'AZURE' (the sandbox emulates Azure service principals only)",
      body.providerName,
    );
  }
  for (const k of ['servicePrincipalId', 'tenantId'] as const) {
    if (typeof body[k] !== 'string' || !UUID_RE.test(body[k] as string)) throw validationError(k, 'a UUID', body[k]);
  }
  if (
    body.atlasAzureAppId !== undefined &&
    (typeof body.atlasAzureAppId !== 'string' || !UUID_RE.test(body.atlasAzureAppId))
  ) {
    throw validationError('atlasAzureAppId', 'a UUID', body.atlasAzureAppId);
  }
  return store.registerSp(p, {
    servicePrincipalId: body.servicePrincipalId as string,
    tenantId: body.tenantId as string,
    ...(typeof body.atlasAzureAppId === 'string' ? { atlasAzureAppId: body.atlasAzureAppId } : {}),
  });
}
