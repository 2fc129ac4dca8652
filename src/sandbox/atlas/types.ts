// The Atlas emulator's types: its options, control surface and stored state (shared by atlas.ts and atlas/*.ts,
// kept here so the modules that use them need not import atlas.ts, which imports them).
import type { KeyAccessAnswer, RouteHandler } from '../contract.js';
import type { TokenPolicy } from './oauth.js';
import type { ValidationRecord } from './validation.js';

export interface AtlasOptions {
  publicKey?: string;
  privateKey?: string;
  orgId?: string;
  /** How long a digest nonce stays fresh (ms, real time). Default 5 minutes. */
  nonceTtlMs?: number;
  /** errorCode of a PATCH whose key access check fails. */
  validationErrorCode?: string;
  /** Service-account token lifetime, mint rate limit and active-token cap. */
  tokenPolicy?: Partial<TokenPolicy>;
  /** Atlas's periodic KMS validation interval (sandbox ms, scaled by ctx.timeScale). Default 15 minutes; 0 = off. */
  validationIntervalMs?: number;
}

/** One stored alert configuration (GroupAlertsConfig); webhook secrets are kept but answered redacted. */
export interface AlertConfigState {
  id: string;
  groupId: string;
  created: string;
  updated: string;
  enabled: boolean;
  eventTypeName: string;
  matchers: unknown[];
  notifications: Record<string, unknown>[];
}

/** Stored Azure Key Vault EAR settings (the secret is kept but never returned). */
export interface AzureKeyVaultConfig {
  enabled: boolean;
  roleId?: string;
  clientID?: string;
  secret?: string;
  tenantID?: string;
  subscriptionID?: string;
  resourceGroupName?: string;
  keyVaultName?: string;
  keyIdentifier?: string;
  azureEnvironment?: string;
  requirePrivateNetworking?: boolean;
}

export interface AzureServicePrincipalRole {
  _id: string;
  providerName: 'AZURE';
  atlasAzureAppId: string;
  servicePrincipalId: string;
  tenantId: string;
  createdDate: string;
  lastUpdatedDate: string;
  featureUsages: unknown[];
}

export interface AtlasProjectSnapshot {
  groupId: string;
  name: string;
  orgId: string;
  created: string;
  servicePrincipals: AzureServicePrincipalRole[];
  /** As GET encryptionAtRest returns it (no secret; `valid` computed now). */
  encryptionAtRest: Record<string, unknown>;
}

export type AtlasFault =
  | { status: 429; retryAfterSeconds?: number; times?: number; operations?: string[] }
  | { status: 500 | 503; times?: number; operations?: string[] };

export interface AtlasControl {
  /** The programmatic API key pair the sandbox accepts (digest username / password): Organization Owner. */
  apiKey(): { publicKey: string; privateKey: string };
  /** The demo service account: Project Read Only on every project seedProject creates. */
  readOnlyServiceAccount(): { clientId: string; clientSecret: string };
  /** A new service account holding `roles` (`{projectId or '*': role}`); its secret is returned once. */
  createServiceAccount(p: { name?: string; roles?: Record<string, string | string[]> }): {
    clientId: string;
    clientSecret: string;
  };
  /** Grants (or with `revoke: true` removes) a project role to an API key's public key or a service account. */
  setProjectRole(p: { credential: string; projectId: string; role: string; revoke?: boolean }): void;
  /** Token lifetime, mint rate and active-token cap for service accounts. */
  setTokenPolicy(p: Partial<TokenPolicy>): TokenPolicy;
  /** Tokens minted in the last minute and tokens active now, for one service account. */
  tokenStats(clientId: string): { mintsLastMinute: number; activeTokens: number };
  /** Revokes every token of one service account (or of all): the next call with one gets 401. */
  revokeTokens(clientId?: string): number;
  /** The alert configurations of a project, as stored (secrets included, for tests). */
  alertConfigs(groupId: string): AlertConfigState[];
  createProject(input: { name: string; orgId?: string }): { groupId: string };
  /** Registers an Azure service principal as POST cloudProviderAccess would; returns its roleId (`_id`). */
  registerServicePrincipal(
    groupId: string,
    sp: { servicePrincipalId: string; tenantId: string; atlasAzureAppId?: string },
  ): { roleId: string };
  /**
   * Re-points a registered Azure role at another service principal, as PATCH cloudProviderAccess/{roleId}
   * (authorizeGroupCloudProviderAccessRole, whose Azure body carries servicePrincipalId and tenantId) does.
   */
  authorizeServicePrincipal(
    groupId: string,
    roleId: string,
    sp: { servicePrincipalId: string; tenantId?: string },
  ): void;
  /** Sets EAR without Atlas's validation (seeding a project whose access has already drifted); null clears it. */
  setEncryptionAtRest(groupId: string, azureKeyVault: AzureKeyVaultConfig | null): void;
  getProject(groupId: string): AtlasProjectSnapshot | undefined;
  projects(): AtlasProjectSnapshot[];
  /** Atlas's periodic KMS check for one project, now (does not record: see runPeriodicValidation). */
  validate(groupId: string): KeyAccessAnswer;
  /** Runs Atlas's periodic validation now, for one project or all: records failures, alerts, shuts clusters down. */
  runPeriodicValidation(p?: { groupId?: string }): Promise<ValidationRecord[]>;
  /** The validations Atlas ran (newest last); `failedOnly` keeps the periodic failures (the ones that shut down). */
  validations(p?: { groupId?: string; failedOnly?: boolean }): ValidationRecord[];
  /** Sets the periodic validation interval (sandbox ms; 0 stops it); returns it. */
  setValidationInterval(p: { ms: number }): number;
  /** Whether a project's clusters are shut down by a failed validation. */
  clustersShutDown(groupId: string): boolean;
  /** Signed alert deliveries to alert-config webhooks (newest last). */
  alertDeliveries(): { groupId: string; url: string; eventTypeName: string; status: number | string }[];
  /** 429 RATE_LIMITED_TOKEN_BUCKET (with Retry-After) or 500/503 for the next `times` requests (all when absent). */
  setAtlasFault(fault: AtlasFault | null): void;
  /** Expire every digest nonce: the next request with an old nonce gets `stale=true`. */
  expireNonces(): void;
  /**
   * One call for seeds: a project, the Atlas principal registered (cloudProviderAccess) and EAR pointing at
   * the key through its roleId, stored without validation (the seed may describe an already drifted setup).
   */
  seedProject(p: {
    name: string;
    tenantId: string;
    subscriptionId: string;
    resourceGroupName: string;
    keyVaultName: string;
    keyIdentifier: string;
    principalId: string;
  }): { projectId: string; roleId: string };
  /** Where a project's EAR points (vault, key, principal), read from its Azure Key Vault configuration. */
  projectTarget(projectId: string): AtlasProjectTarget | undefined;
}

export interface AtlasProjectTarget {
  projectId: string;
  resourceGroupName: string;
  keyVaultName: string;
  keyName: string;
  /** Object ID of the service principal Atlas uses (the registered servicePrincipalId). */
  principalId: string;
}

export interface AtlasSandbox {
  routes: RouteHandler;
  control: AtlasControl;
  /** The API key pair (also `control.apiKey()`). */
  publicKey: string;
  privateKey: string;
  /** The demo service account (Project Read Only on every seeded project; also `control.readOnlyServiceAccount()`). */
  clientId: string;
  clientSecret: string;
  /** Stops the periodic validation. */
  close(): void;
}

export interface ProjectState {
  id: string;
  name: string;
  orgId: string;
  created: string;
  servicePrincipals: AzureServicePrincipalRole[];
  azureKeyVault?: AzureKeyVaultConfig;
}
