// Atlas's EAR configuration -> what must hold on Azure for one project. A project whose EAR is not on Azure Key
// Vault, or that uses static credentials without a configured principal, is reported as such with the reason.
import { parseKeyIdentifier } from '../core/documents.js';
import type { AtlasAddresses } from '../core/network.js';
import type {
  AtlasClient,
  AtlasCloudProviderAccess,
  AtlasControlPlaneIpAddresses,
  AtlasEncryptionAtRest,
  AtlasGroupIpAddresses,
} from './client.js';

/** The Atlas-managed Azure application (one service principal per tenant): `atlasAzureAppId`. */
export const ATLAS_AZURE_APP_ID = '9efedfcc-2eca-4b27-a613-0cad1e114cb7';

export interface AtlasTarget {
  projectId: string;
  /** Object ID of the Atlas service principal in the customer's tenant. */
  principalObjectId: string;
  tenantId: string;
  subscriptionId: string;
  resourceGroup: string;
  vaultName: string;
  keyName: string;
  /** The version in Atlas's keyIdentifier (undefined: versionless identifier). */
  keyVersion?: string;
  keyIdentifier: string;
  /** Atlas's spelling: AZURE, AZURE_CHINA, AZURE_GERMANY. */
  azureEnvironment: string;
  requirePrivateNetworking: boolean;
  /** Atlas's own `azureKeyVault.valid` (undefined when Atlas did not say). */
  atlasValid?: boolean;
  /** `secretless` (roleId) or `static` (clientID + secret; principal from EAR_GUARD_STATIC_PRINCIPALS). */
  credentials: 'secretless' | 'static';
  roleId?: string;
  /** `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{v}` */
  vaultId: string;
  /** Secretless: the cloudProviderAccess registration the principal came from, and whether it was reused. */
  registration?: AtlasRegistration & { reused: boolean };
}

/**
 * What a secretless project's cloudProviderAccess registration says (roleId -> service principal), as last read.
 * Atlas can re-point a registration (`authorizeGroupCloudProviderAccessRole` takes servicePrincipalId and tenantId), so
 * a caller reuses it only for a bounded time, and only while Atlas still says the key is valid (see loadTarget).
 */
export interface AtlasRegistration {
  roleId: string;
  principalObjectId: string;
  /** The registration's own tenantId (the target's comes from azureKeyVault.tenantID first). */
  tenantId?: string;
}

export type TargetResult =
  | { kind: 'target'; target: AtlasTarget }
  /** Nothing for this product to watch (not Azure EAR; static credentials with no principal configured). */
  | { kind: 'unsupported'; reason: string }
  /**
   * Azure EAR is on but Atlas's configuration is broken (roleId not registered, fields missing), or names a principal
   * that must not be granted anything (`code: 'PrincipalMismatch'`).
   */
  | { kind: 'invalid'; reason: string; code?: 'PrincipalMismatch' };

export interface MapOptions {
  /** Static-credential projects: projectId -> principal object ID (EAR_GUARD_STATIC_PRINCIPALS). */
  staticPrincipals?: Record<string, string>;
  /**
   * Pinned Atlas service principals: tenantId (lower case) -> object ID (EAR_GUARD_ATLAS_PRINCIPALS, parsed by
   * parseAtlasPrincipals). When given, a secretless target naming another principal maps to `invalid` with code
   * PrincipalMismatch (the reconcile loop does the same check, plus trust on first use, from its policy).
   */
  atlasPrincipals?: Record<string, string>;
}

/** Parses EAR_GUARD_ATLAS_PRINCIPALS entries (`tenantId=objectId`) into lower-cased tenantId -> objectId. */
export function parseAtlasPrincipals(entries: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const [t, o] = e.split('=').map((s) => s.trim().toLowerCase());
    if (!t || !o) throw new Error(`EAR_GUARD_ATLAS_PRINCIPALS: '${e}' is not tenantId=objectId`);
    out[t] = o;
  }
  return out;
}

export type PrincipalCheck =
  { ok: true; basis: 'pinned' | 'recorded' | 'first-use' | 'static' } | { ok: false; reason: string };

/**
 * Is the principal Atlas names for this target the one the product may grant to? Static-credential principals are
 * the operator's own setting. A secretless principal must be the pinned one for the target's tenant; with no pins
 * configured at all, it must be the one recorded for the project before (`recorded`; trust on first use). (That the
 * registration is for the Atlas app, when Atlas says which app, mapTarget checks always.)
 */
export function checkAtlasPrincipal(t: AtlasTarget, pins: Record<string, string>, recorded?: string): PrincipalCheck {
  if (t.credentials === 'static') return { ok: true, basis: 'static' };
  const principal = t.principalObjectId.toLowerCase();
  if (Object.keys(pins).length > 0) {
    const pinned = pins[t.tenantId.toLowerCase()];
    if (!pinned) {
      return {
        ok: false,
        reason: `tenant ${t.tenantId} has no pinned Atlas principal in EAR_GUARD_ATLAS_PRINCIPALS; Atlas names ${t.principalObjectId}: nothing is granted`,
      };
    }
    if (pinned.toLowerCase() !== principal) {
      return {
        ok: false,
        reason: `Atlas names principal ${t.principalObjectId} for tenant ${t.tenantId}, but EAR_GUARD_ATLAS_PRINCIPALS pins ${pinned}: nothing is granted`,
      };
    }
    return { ok: true, basis: 'pinned' };
  }
  if (recorded && recorded.toLowerCase() !== principal) {
    return {
      ok: false,
      reason: `Atlas now names principal ${t.principalObjectId}, but this project was first seen with ${recorded} (trust on first use; pin the principal in EAR_GUARD_ATLAS_PRINCIPALS to accept a change): nothing is granted`,
    };
  }
  return { ok: true, basis: recorded ? 'recorded' : 'first-use' };
}

/** Why a project has no target: unsupported, or invalid. */
type NoTarget = Exclude<TargetResult, { kind: 'target' }>;
type AzureKeyVault = NonNullable<AtlasEncryptionAtRest['azureKeyVault']>;
type ParsedKey = ReturnType<typeof parseKeyIdentifier>;
type Principal = Pick<AtlasTarget, 'principalObjectId' | 'tenantId' | 'credentials' | 'registration'>;

function notOnAzure(ear: AtlasEncryptionAtRest): NoTarget {
  const other = ear.awsKms?.enabled ? 'AWS KMS' : ear.googleCloudKms?.enabled ? 'Google Cloud KMS' : undefined;
  return {
    kind: 'unsupported',
    reason: other
      ? `encryption at rest uses ${other}, not Azure Key Vault`
      : 'encryption at rest with Azure Key Vault is not enabled for this project',
  };
}

/** The key Atlas names, checked against the vault it names. */
function keyOf(akv: AzureKeyVault): ParsedKey | NoTarget {
  const missing = (['subscriptionID', 'resourceGroupName', 'keyVaultName', 'keyIdentifier'] as const).filter(
    (f) => !akv[f],
  );
  if (missing.length) return { kind: 'invalid', reason: `azureKeyVault is missing ${missing.join(', ')}` };
  let key: ParsedKey;
  try {
    key = parseKeyIdentifier(akv.keyIdentifier!, 'azureKeyVault.keyIdentifier');
  } catch (e) {
    return { kind: 'invalid', reason: (e as Error).message };
  }
  if (key.vaultName.toLowerCase() !== akv.keyVaultName!.toLowerCase()) {
    return {
      kind: 'invalid',
      reason: `azureKeyVault.keyIdentifier names vault '${key.vaultName}' but keyVaultName is '${akv.keyVaultName}'`,
    };
  }
  return key;
}

/** Secretless: the principal registered under the roleId, which must belong to the Atlas app. */
function secretlessPrincipal(akv: AzureKeyVault, cpa: AtlasCloudProviderAccess | undefined): Principal | NoTarget {
  const sp = (cpa?.azureServicePrincipals ?? []).find((p) => p._id === akv.roleId);
  if (!sp) {
    return {
      kind: 'invalid',
      reason: `roleId ${akv.roleId} is not among the project's cloudProviderAccess azureServicePrincipals`,
    };
  }
  if (!sp.servicePrincipalId) {
    return { kind: 'invalid', reason: `cloudProviderAccess role ${akv.roleId} has no servicePrincipalId` };
  }
  // A registration for another application's principal is never the Atlas principal, pinned or not.
  if (sp.atlasAzureAppId && sp.atlasAzureAppId.toLowerCase() !== ATLAS_AZURE_APP_ID) {
    return {
      kind: 'invalid',
      code: 'PrincipalMismatch',
      reason: `cloudProviderAccess role ${akv.roleId} registers principal ${sp.servicePrincipalId ?? '?'} of app ${sp.atlasAzureAppId}, not the Atlas app ${ATLAS_AZURE_APP_ID}: nothing is granted`,
    };
  }
  return {
    credentials: 'secretless',
    principalObjectId: sp.servicePrincipalId,
    tenantId: akv.tenantID ?? sp.tenantId ?? '',
    registration: { roleId: sp._id, principalObjectId: sp.servicePrincipalId, tenantId: sp.tenantId, reused: false },
  };
}

/** Static credentials: the principal the operator configured for the project (EAR_GUARD_STATIC_PRINCIPALS). */
function staticPrincipal(projectId: string, akv: AzureKeyVault, opts: MapOptions): Principal | NoTarget {
  const principalObjectId = opts.staticPrincipals?.[projectId];
  if (!principalObjectId) {
    return {
      kind: 'unsupported',
      reason: `encryption at rest uses static credentials (clientID ${akv.clientID ?? 'unknown'}, no roleId); set EAR_GUARD_STATIC_PRINCIPALS=${projectId}=<objectId> to watch it, or migrate to the secretless roleId`,
    };
  }
  return { credentials: 'static', principalObjectId, tenantId: akv.tenantID ?? '' };
}

const failed = <T extends object>(r: T | NoTarget): r is NoTarget => 'kind' in r;

function targetOf(projectId: string, akv: AzureKeyVault, key: ParsedKey, p: Principal): AtlasTarget {
  return {
    projectId,
    principalObjectId: p.principalObjectId,
    tenantId: p.tenantId,
    subscriptionId: akv.subscriptionID!,
    resourceGroup: akv.resourceGroupName!,
    vaultName: akv.keyVaultName!,
    keyName: key.keyName,
    keyVersion: key.version,
    keyIdentifier: akv.keyIdentifier!,
    azureEnvironment: akv.azureEnvironment ?? 'AZURE',
    requirePrivateNetworking: akv.requirePrivateNetworking === true,
    atlasValid: typeof akv.valid === 'boolean' ? akv.valid : undefined,
    credentials: p.credentials,
    roleId: akv.roleId,
    ...(p.registration ? { registration: p.registration } : {}),
    vaultId: `/subscriptions/${akv.subscriptionID}/resourceGroups/${akv.resourceGroupName}/providers/Microsoft.KeyVault/vaults/${akv.keyVaultName}`,
  };
}

/** Pure mapping of the two Atlas documents: the key, then the principal, then (when pinned) the pin. */
export function mapTarget(
  projectId: string,
  ear: AtlasEncryptionAtRest,
  cpa: AtlasCloudProviderAccess | undefined,
  opts: MapOptions = {},
): TargetResult {
  const akv = ear.azureKeyVault;
  if (!akv || akv.enabled !== true) return notOnAzure(ear);
  const key = keyOf(akv);
  if (failed(key)) return key;
  const principal = akv.roleId ? secretlessPrincipal(akv, cpa) : staticPrincipal(projectId, akv, opts);
  if (failed(principal)) return principal;
  if (!principal.tenantId) {
    return { kind: 'invalid', reason: 'no tenant ID in azureKeyVault.tenantID or the service principal' };
  }
  const target = targetOf(projectId, akv, key, principal);
  if (opts.atlasPrincipals) {
    const check = checkAtlasPrincipal(target, opts.atlasPrincipals);
    if (!check.ok) return { kind: 'invalid', reason: check.reason, code: 'PrincipalMismatch' };
  }
  return { kind: 'target', target };
}

/** Parses EAR_GUARD_STATIC_PRINCIPALS entries (`projectId=objectId`). */
export function parseStaticPrincipals(entries: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) {
    const [p, o] = e.split('=').map((s) => s.trim());
    if (!p || !o) throw new Error(`EAR_GUARD_STATIC_PRINCIPALS: '${e}' is not projectId=objectId`);
    out[p] = o;
  }
  return out;
}

/**
 * A registration read before, as cloudProviderAccess would list it (the app ID was checked when it was read): what
 * mapTarget gets instead of a fresh list.
 */
function listedAs(known: AtlasRegistration): AtlasCloudProviderAccess {
  const { roleId, principalObjectId, tenantId } = known;
  return {
    azureServicePrincipals: [
      { _id: roleId, servicePrincipalId: principalObjectId, atlasAzureAppId: ATLAS_AZURE_APP_ID, tenantId },
    ],
  };
}

/** Whether Atlas's EAR configuration lets a known registration stand in for reading cloudProviderAccess again. */
export function registrationStands(ear: AtlasEncryptionAtRest, known: AtlasRegistration): boolean {
  const akv = ear.azureKeyVault;
  return akv?.enabled === true && akv.roleId === known.roleId && akv.valid === true;
}

/** The port the loop uses: load a project's target. */
export interface AtlasPort {
  /**
   * Both documents in parallel; with `known`, the EAR configuration alone while it still names that roleId and Atlas
   * says the key is valid (a re-pointed registration that broke access makes Atlas say invalid: then both are read).
   */
  loadTarget(projectId: string, known?: AtlasRegistration): Promise<TargetResult>;
  listProjectIds(): Promise<string[]>;
  /** The addresses Atlas reaches the project's vault from; read only when the vault has a firewall. */
  loadAddresses?(projectId: string): Promise<AtlasAddresses>;
}

/** Control-plane outbound addresses (every cloud and region: Atlas does not say which one validates KMS). */
export function controlPlaneOutbound(r: AtlasControlPlaneIpAddresses): string[] {
  const out = r.outbound ?? {};
  return [out.aws, out.azure, out.gcp].flatMap((byRegion) => Object.values(byRegion ?? {}).flat());
}

/** The project's cluster outbound addresses (the clusters talk to the KMS too). */
export function projectOutbound(r: AtlasGroupIpAddresses): string[] {
  return (r.services?.clusters ?? []).flatMap((c) => c.outbound ?? []);
}

/** How long Atlas's published addresses are reused: they change rarely, and only firewalled vaults need them. */
const ADDRESSES_TTL_MS = 10 * 60_000;

/** A target mapped from a known registration says so (the loop keeps the registration's read time). */
function reused(r: TargetResult): TargetResult {
  if (r.kind !== 'target' || !r.target.registration) return r;
  return { kind: 'target', target: { ...r.target, registration: { ...r.target.registration, reused: true } } };
}

export class AtlasAdapter implements AtlasPort {
  constructor(
    private readonly client: AtlasClient,
    private readonly opts: MapOptions = {},
  ) {}

  async loadTarget(projectId: string, known?: AtlasRegistration): Promise<TargetResult> {
    if (known) {
      const ear = await this.client.getEncryptionAtRest(projectId);
      if (registrationStands(ear, known)) return reused(mapTarget(projectId, ear, listedAs(known), this.opts));
      return mapTarget(projectId, ear, await this.client.getCloudProviderAccess(projectId), this.opts);
    }
    const [ear, cpa] = await Promise.all([
      this.client.getEncryptionAtRest(projectId),
      this.client.getCloudProviderAccess(projectId),
    ]);
    return mapTarget(projectId, ear, cpa, this.opts);
  }

  async listProjectIds(): Promise<string[]> {
    return (await this.client.listGroups()).map((g) => g.id);
  }

  private controlPlane?: { value: Promise<string[]>; until: number };
  private readonly projectAddresses = new Map<string, { value: Promise<string[]>; until: number }>();

  async loadAddresses(projectId: string): Promise<AtlasAddresses> {
    const now = Date.now();
    if (!this.controlPlane || this.controlPlane.until <= now) {
      const value = this.client.getControlPlaneIpAddresses().then(controlPlaneOutbound);
      this.controlPlane = { value, until: now + ADDRESSES_TTL_MS };
      value.catch(() => (this.controlPlane = undefined));
    }
    let p = this.projectAddresses.get(projectId);
    if (!p || p.until <= now) {
      p = { value: this.client.getGroupIpAddresses(projectId).then(projectOutbound), until: now + ADDRESSES_TTL_MS };
      this.projectAddresses.set(projectId, p);
      p.value.catch(() => this.projectAddresses.delete(projectId));
    }
    const [controlPlane, project] = await Promise.all([this.controlPlane.value, p.value]);
    return { controlPlane, project };
  }
}
