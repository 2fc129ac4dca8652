// The Atlas Admin API v2 slice the product uses, under /api/atlas/v2, checked against the Atlas OpenAPI
// spec (mongodb/atlas-sdk-go openapi/atlas-api-transformed.yaml): listGroups, getGroup,
// get/updateEncryptionAtRest, list/createCloudProviderAccess. Digest auth like Atlas's, the versioned
// Accept header (406 INVALID_VERSION_DATE otherwise), ApiError bodies {detail, error, errorCode,
// parameters, reason}, and `azureKeyVault.valid` computed the way Atlas does it: can the registered
// principal use the key right now in the emulated vault (ctx.checkKeyAccess). Service accounts too:
// `POST /api/oauth/token` and bearer tokens (atlas/oauth.ts), per-project roles for every credential enforced
// per the spec's x-rolesRequirements (atlas/roles.ts), and list/create alertConfigs.
import { randomBytes, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { KeyAccessAnswer, RouteHandler, SandboxContext, SandboxRequest } from './contract.js';
import { groupIpAddresses } from './atlas/addresses.js';
import { DigestAuthority } from './atlas/digest.js';
import { ServiceAccountAuthority, type TokenPolicy } from './atlas/oauth.js';
import { AtlasValidator, type ValidationRecord } from './atlas/validation.js';
import { ORGANIZATION_OWNER, PROJECT_READ_ONLY, REQUIRED_ROLE, RoleBook, satisfies } from './atlas/roles.js';

/** The Atlas-managed Azure application (BRIEF): atlasAzureAppId when a registration does not name one. */
export const ATLAS_AZURE_APP_ID = '9efedfcc-2eca-4b27-a613-0cad1e114cb7';
/** The resource version the spec lists for every endpoint served here. */
export const ATLAS_API_VERSIONS = ['2023-01-01'] as const;
const BASE = '/api/atlas/v2';
export const OAUTH_TOKEN_PATH = '/api/oauth/token';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const OBJECT_ID_RE = /^[a-f0-9]{24}$/;
const KEY_ID_RE =
  /^https:\/\/([a-z0-9-]+)\.vault\.azure\.(?:net|cn|us)\/keys\/([A-Za-z0-9-]+)(?:\/([A-Za-z0-9]+))?\/?$/i;
const AZURE_ENVIRONMENTS = ['AZURE', 'AZURE_CHINA', 'AZURE_GERMANY'];

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

export type { ValidationRecord } from './atlas/validation.js';

/** One stored alert configuration (GroupAlertsConfig); webhook secrets are kept but answered redacted. */
interface AlertConfigState {
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

interface ProjectState {
  id: string;
  name: string;
  orgId: string;
  created: string;
  servicePrincipals: AzureServicePrincipalRole[];
  azureKeyVault?: AzureKeyVaultConfig;
}

class AtlasError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: string | undefined,
    readonly detail: string,
    readonly parameters: unknown[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

/** A 24-hex id shaped like a MongoDB ObjectId (4-byte time + 8 random bytes). */
export function objectId(): string {
  const t = Math.floor(Date.now() / 1000)
    .toString(16)
    .padStart(8, '0');
  return t + randomBytes(8).toString('hex');
}

function atlasDate(d = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function sendAtlasError(res: ServerResponse, err: AtlasError, extraHeaders: Record<string, string> = {}): void {
  const body = JSON.stringify({
    detail: err.detail,
    error: err.status,
    ...(err.errorCode !== undefined ? { errorCode: err.errorCode } : {}),
    parameters: err.parameters,
    reason: REASONS[err.status] ?? 'Error',
  });
  res.writeHead(err.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...err.headers,
    ...extraHeaders,
  });
  res.end(body);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The version dates named in `Accept: application/vnd.atlas.YYYY-MM-DD+json` (several types may be listed). */
function acceptedVersions(accept: string | undefined): string[] {
  if (!accept) return [];
  return [...accept.matchAll(/application\/vnd\.atlas\.(\d{4}-\d{2}-\d{2})\+json/gi)].map((m) => m[1]);
}

export function createAtlas(ctx: SandboxContext, opts: AtlasOptions = {}): AtlasSandbox {
  const publicKey =
    opts.publicKey ??
    randomBytes(6)
      .toString('base64')
      .replace(/[^a-z]/gi, 'x')
      .toLowerCase()
      .slice(0, 8);
  const privateKey = opts.privateKey ?? randomUUID();
  const orgId = opts.orgId ?? objectId();
  const validationErrorCode = opts.validationErrorCode ?? 'INVALID_AZURE_CREDENTIALS';
  const projects = new Map<string, ProjectState>();
  const digest = new DigestAuthority(() => new Map([[publicKey, privateKey]]), opts.nonceTtlMs ?? 300_000);
  const oauth = new ServiceAccountAuthority(opts.tokenPolicy);
  const roles = new RoleBook();
  // The API key is the organization's owner (as before service accounts existed); the demo service account reads.
  roles.grant(publicKey, '*', ORGANIZATION_OWNER);
  const readOnly = oauth.create('ear-guard-read-only');
  const alertConfigs = new Map<string, AlertConfigState[]>();
  let fault: (AtlasFault & { remaining: number }) | null = null;
  // Declared before use by the validator's callbacks (they only run after createAtlas returns).
  const validator = new AtlasValidator(
    {
      groupIds: () => [...projects.values()].filter((p) => p.azureKeyVault?.enabled).map((p) => p.id),
      check: (groupId) => {
        const p = projects.get(groupId);
        return p ? checkAccess(p, p.azureKeyVault) : { valid: false, reason: `no project ${groupId}` };
      },
      alertConfigs: (groupId) => alertConfigs.get(groupId) ?? [],
      timeScale: ctx.timeScale,
    },
    opts.validationIntervalMs ?? 15 * 60_000,
  );

  const findProject = (groupId: string): ProjectState => {
    if (!OBJECT_ID_RE.test(groupId)) {
      throw new AtlasError(400, 'INVALID_GROUP_ID', `The specified group ID ${groupId} is invalid.`, [groupId]);
    }
    const p = projects.get(groupId);
    if (!p) throw new AtlasError(404, 'GROUP_NOT_FOUND', `No group with ID ${groupId} exists.`, [groupId]);
    return p;
  };

  const principalFor = (
    p: ProjectState,
    akv: AzureKeyVaultConfig,
  ): { principalId: string; tenantId: string } | undefined => {
    if (akv.roleId) {
      const sp = p.servicePrincipals.find((s) => s._id === akv.roleId);
      return sp ? { principalId: sp.servicePrincipalId, tenantId: akv.tenantID ?? sp.tenantId } : undefined;
    }
    // Secret-based credentials name an application, not an object: the sandbox checks that ID as given.
    if (akv.clientID) return { principalId: akv.clientID, tenantId: akv.tenantID ?? ctx.tenantId };
    return undefined;
  };

  const checkAccess = (p: ProjectState, akv: AzureKeyVaultConfig | undefined): KeyAccessAnswer => {
    if (!akv?.enabled) return { valid: false, reason: 'Encryption at rest with Azure Key Vault is not enabled.' };
    const who = principalFor(p, akv);
    if (!who) return { valid: false, reason: `No Azure service principal with roleId ${akv.roleId} is registered.` };
    if (!akv.subscriptionID || !akv.resourceGroupName || !akv.keyVaultName || !akv.keyIdentifier) {
      return { valid: false, reason: 'The Azure Key Vault configuration is incomplete.' };
    }
    return ctx.checkKeyAccess({
      principalId: who.principalId,
      tenantId: who.tenantId,
      subscriptionId: akv.subscriptionID,
      resourceGroupName: akv.resourceGroupName,
      keyVaultName: akv.keyVaultName,
      keyIdentifier: akv.keyIdentifier,
      projectId: p.id,
      privateNetworking: akv.requirePrivateNetworking === true,
    });
  };

  const azureKeyVaultView = (p: ProjectState, akv: AzureKeyVaultConfig | undefined): Record<string, unknown> => {
    if (!akv) return { enabled: false, requirePrivateNetworking: false, valid: false };
    // The spec marks `secret` writeOnly: it never leaves the sandbox.
    const { secret: _secret, ...shown } = akv;
    return {
      ...shown,
      requirePrivateNetworking: akv.requirePrivateNetworking ?? false,
      valid: checkAccess(p, akv).valid,
    };
  };

  const earView = (p: ProjectState): Record<string, unknown> => ({
    awsKms: { enabled: false, requirePrivateNetworking: false, valid: false },
    azureKeyVault: azureKeyVaultView(p, p.azureKeyVault),
    enabledForSearchNodes: false,
    googleCloudKms: { enabled: false, valid: false },
  });

  const groupView = (p: ProjectState): Record<string, unknown> => ({
    clusterCount: 0,
    created: p.created,
    id: p.id,
    links: [{ href: `${ctx.baseUrl()}${BASE}/groups/${p.id}`, rel: 'self' }],
    name: p.name,
    orgId: p.orgId,
    tags: [],
    withDefaultAlertsSettings: true,
  });

  const snapshot = (p: ProjectState): AtlasProjectSnapshot => ({
    groupId: p.id,
    name: p.name,
    orgId: p.orgId,
    created: p.created,
    servicePrincipals: p.servicePrincipals.map((s) => ({ ...s })),
    encryptionAtRest: earView(p),
  });

  const registerSp = (
    p: ProjectState,
    sp: { servicePrincipalId: string; tenantId: string; atlasAzureAppId?: string },
  ): AzureServicePrincipalRole => {
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
  };

  function parseBody(req: SandboxRequest): Record<string, unknown> {
    const ct = String(req.headers['content-type'] ?? '').toLowerCase();
    if (ct && !/^application\/(vnd\.atlas\.\d{4}-\d{2}-\d{2}\+)?json/.test(ct)) {
      throw new AtlasError(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        `Content type ${ct} is not supported; send application/vnd.atlas.2023-01-01+json.`,
      );
    }
    let v: unknown;
    try {
      v = JSON.parse(req.body.toString('utf8'));
    } catch {
      throw new AtlasError(400, 'INVALID_JSON', 'The request body is not valid JSON.');
    }
    if (!isObject(v)) throw new AtlasError(400, 'INVALID_JSON', 'The request body must be a JSON object.');
    return v;
  }

  function validationError(field: string, expected: string, got: unknown): AtlasError {
    return new AtlasError(
      400,
      'INVALID_ATTRIBUTE',
      `Invalid attribute ${field} specified: expected ${expected}; got ${JSON.stringify(got)}.`,
      [field],
    );
  }

  function patchEncryptionAtRest(p: ProjectState, body: Record<string, unknown>): Record<string, unknown> {
    for (const other of ['awsKms', 'googleCloudKms'] as const) {
      const v = body[other];
      if (v !== undefined && !(isObject(v) && (v.enabled === false || v.enabled === undefined))) {
        throw new AtlasError(
          400,
          'INVALID_ATTRIBUTE',
          `Invalid attribute ${other} specified: the sandbox emulates Azure Key Vault only.`,
          [other],
        );
      }
    }
    const raw = body.azureKeyVault;
    if (raw === undefined) return earView(p);
    if (!isObject(raw)) throw validationError('azureKeyVault', 'an object', raw);

    const strings = [
      'roleId',
      'clientID',
      'secret',
      'tenantID',
      'subscriptionID',
      'resourceGroupName',
      'keyVaultName',
      'keyIdentifier',
      'azureEnvironment',
    ] as const;
    const patch: Partial<AzureKeyVaultConfig> = {};
    for (const k of Object.keys(raw)) {
      if (k === 'valid') continue; // readOnly: ignored on input
      if (k === 'enabled' || k === 'requirePrivateNetworking') {
        if (typeof raw[k] !== 'boolean') throw validationError(`azureKeyVault.${k}`, 'true or false', raw[k]);
        patch[k] = raw[k] as boolean;
      } else if ((strings as readonly string[]).includes(k)) {
        if (typeof raw[k] !== 'string' || (raw[k] as string).length === 0) {
          throw validationError(`azureKeyVault.${k}`, 'a non-empty string', raw[k]);
        }
        (patch as Record<string, string>)[k] = raw[k] as string;
      } else {
        throw new AtlasError(400, 'INVALID_ATTRIBUTE', `Invalid attribute azureKeyVault.${k} specified.`, [
          `azureKeyVault.${k}`,
        ]);
      }
    }
    if (patch.roleId !== undefined && !OBJECT_ID_RE.test(patch.roleId)) {
      throw validationError('azureKeyVault.roleId', 'a 24-hexadecimal digit string', patch.roleId);
    }
    for (const k of ['clientID', 'tenantID', 'subscriptionID'] as const) {
      if (patch[k] !== undefined && !UUID_RE.test(patch[k] as string))
        throw validationError(`azureKeyVault.${k}`, 'a UUID', patch[k]);
    }
    if (patch.azureEnvironment !== undefined && !AZURE_ENVIRONMENTS.includes(patch.azureEnvironment)) {
      throw validationError('azureKeyVault.azureEnvironment', AZURE_ENVIRONMENTS.join(' | '), patch.azureEnvironment);
    }
    if (patch.keyIdentifier !== undefined) {
      const m = KEY_ID_RE.exec(patch.keyIdentifier);
      if (!m)
        throw validationError(
          'azureKeyVault.keyIdentifier',
          'https://{vault}.vault.azure.net/keys/{name}/{version}',
          patch.keyIdentifier,
        );
    }

    // Disabling: only `enabled: false` removes the configuration (spec: "pass only this parameter").
    if (patch.enabled === false) {
      p.azureKeyVault = Object.keys(patch).length === 1 ? undefined : { ...p.azureKeyVault, ...patch, enabled: false };
      return earView(p);
    }
    const wasEnabled = p.azureKeyVault?.enabled === true;
    const next: AzureKeyVaultConfig = {
      ...(wasEnabled ? p.azureKeyVault : {}),
      ...patch,
      enabled: patch.enabled ?? wasEnabled,
    };
    if (!next.enabled)
      throw validationError('azureKeyVault.enabled', 'true to configure Azure Key Vault', patch.enabled);
    if (patch.roleId) {
      delete next.clientID;
      delete next.secret;
    }
    const required = [
      'subscriptionID',
      'resourceGroupName',
      'keyVaultName',
      'keyIdentifier',
      'azureEnvironment',
    ] as const;
    const missing: string[] = required.filter((k) => !next[k]);
    if (!next.roleId && !(next.clientID && next.secret && next.tenantID))
      missing.push('roleId (or clientID, secret and tenantID)');
    if (missing.length > 0) {
      throw new AtlasError(
        400,
        'MISSING_ATTRIBUTE',
        `The required attribute(s) azureKeyVault.${missing.join(', azureKeyVault.')} were not specified: all Azure Key Vault fields are required when Encryption at Rest is first enabled.`,
        missing.map((m) => `azureKeyVault.${m}`),
      );
    }
    const keyVaultInId = KEY_ID_RE.exec(next.keyIdentifier ?? '')?.[1];
    if (keyVaultInId && keyVaultInId.toLowerCase() !== next.keyVaultName?.toLowerCase()) {
      throw validationError('azureKeyVault.keyIdentifier', `a key in vault ${next.keyVaultName}`, next.keyIdentifier);
    }
    if (next.roleId && !p.servicePrincipals.some((s) => s._id === next.roleId)) {
      throw new AtlasError(
        404,
        'CLOUD_PROVIDER_ACCESS_ROLE_NOT_FOUND',
        `No cloud provider access role with ID ${next.roleId} exists in group ${p.id}.`,
        [next.roleId, p.id],
      );
    }
    // Atlas validates KMS access when the configuration changes; a failure changes nothing.
    const verdict = checkAccess(p, next);
    if (!verdict.valid) {
      throw new AtlasError(
        400,
        validationErrorCode,
        `Azure Key Vault credentials are invalid or the key cannot be used to encrypt and decrypt: ${verdict.reason ?? 'access check failed'}.`,
        [next.keyIdentifier],
      );
    }
    p.azureKeyVault = next;
    return earView(p);
  }

  function createCloudProviderAccess(p: ProjectState, body: Record<string, unknown>): AzureServicePrincipalRole {
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
    return registerSp(p, {
      servicePrincipalId: body.servicePrincipalId as string,
      tenantId: body.tenantId as string,
      ...(typeof body.atlasAzureAppId === 'string' ? { atlasAzureAppId: body.atlasAzureAppId } : {}),
    });
  }

  /** Atlas shows a webhook URL partially redacted (spec example `https://webhook.com/****`) and the secret fully. */
  const redactNotification = (n: Record<string, unknown>): Record<string, unknown> => {
    const out = { ...n };
    if (typeof out.webhookUrl === 'string') {
      let origin = '';
      try {
        origin = new URL(out.webhookUrl).origin;
      } catch {
        // stored as given
      }
      out.webhookUrl = `${origin}/****`;
    }
    if (typeof out.webhookSecret === 'string') out.webhookSecret = '*'.repeat(8);
    return out;
  };

  const alertConfigView = (c: AlertConfigState): Record<string, unknown> => ({
    created: c.created,
    enabled: c.enabled,
    eventTypeName: c.eventTypeName,
    groupId: c.groupId,
    id: c.id,
    links: [{ href: `${ctx.baseUrl()}${BASE}/groups/${c.groupId}/alertConfigs/${c.id}`, rel: 'self' }],
    matchers: c.matchers,
    notifications: c.notifications.map(redactNotification),
    updated: c.updated,
  });

  function checkNotification(n: unknown, i: number): Record<string, unknown> {
    const at = `notifications[${i}]`;
    if (!isObject(n)) throw validationError(at, 'an object', n);
    if (typeof n.typeName !== 'string' || !n.typeName) throw validationError(`${at}.typeName`, 'a string', n.typeName);
    if (n.typeName === 'WEBHOOK') {
      if (typeof n.webhookUrl !== 'string' || !/^https?:\/\//.test(n.webhookUrl)) {
        throw validationError(`${at}.webhookUrl`, 'an http(s) URL', n.webhookUrl);
      }
      if (n.webhookSecret !== undefined && typeof n.webhookSecret !== 'string') {
        throw validationError(`${at}.webhookSecret`, 'a string', n.webhookSecret);
      }
    }
    for (const k of ['intervalMin', 'delayMin'] as const) {
      if (n[k] !== undefined && (!Number.isInteger(n[k]) || (n[k] as number) < (k === 'intervalMin' ? 5 : 0))) {
        throw validationError(`${at}.${k}`, k === 'intervalMin' ? 'an integer of at least 5' : 'an integer', n[k]);
      }
    }
    return { ...n };
  }

  function createAlertConfig(p: ProjectState, body: Record<string, unknown>): Record<string, unknown> {
    if (typeof body.eventTypeName !== 'string' || !body.eventTypeName) {
      throw validationError('eventTypeName', 'an event type name', body.eventTypeName);
    }
    const notes = body.notifications;
    if (!Array.isArray(notes) || notes.length < 1 || notes.length > 25) {
      throw validationError('notifications', 'an array of 1 to 25 notifications', notes);
    }
    if (body.enabled !== undefined && typeof body.enabled !== 'boolean') {
      throw validationError('enabled', 'true or false', body.enabled);
    }
    const now = atlasDate();
    const c: AlertConfigState = {
      id: objectId(),
      groupId: p.id,
      created: now,
      updated: now,
      enabled: body.enabled === true,
      eventTypeName: body.eventTypeName,
      matchers: Array.isArray(body.matchers) ? body.matchers : [],
      notifications: notes.map(checkNotification),
    };
    alertConfigs.set(p.id, [...(alertConfigs.get(p.id) ?? []), c]);
    return alertConfigView(c);
  }

  function intParam(q: URLSearchParams, name: string, dflt: number, min: number, max: number): number {
    const raw = q.get(name);
    if (raw === null) return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new AtlasError(
        400,
        'INVALID_QUERY_PARAMETER',
        `Invalid query parameter ${name}: expected an integer from ${min} to ${max}.`,
        [name],
      );
    }
    return n;
  }

  /** `{links, results, totalCount}` for one page of `all`, as Atlas pages every list. */
  function paginate<T>(req: SandboxRequest, path: string, all: T[], view: (x: T) => unknown): Record<string, unknown> {
    const q = req.url.searchParams;
    const itemsPerPage = intParam(q, 'itemsPerPage', 100, 1, 500);
    const pageNum = intParam(q, 'pageNum', 1, 1, 1_000_000);
    const includeCount = q.get('includeCount') !== 'false';
    const page = all.slice((pageNum - 1) * itemsPerPage, pageNum * itemsPerPage);
    const link = (n: number, rel: string) => ({
      href: `${ctx.baseUrl()}${BASE}${path}?pageNum=${n}&itemsPerPage=${itemsPerPage}`,
      rel,
    });
    const links = [link(pageNum, 'self')];
    if (pageNum > 1) links.push(link(pageNum - 1, 'previous'));
    if (pageNum * itemsPerPage < all.length) links.push(link(pageNum + 1, 'next'));
    return { links, results: page.map(view), ...(includeCount ? { totalCount: all.length } : {}) };
  }

  /** Raises 403 as Atlas does when the caller lacks the operation's role on the project. */
  function authorize(who: string, op: string, groupId: string | undefined): void {
    const required = REQUIRED_ROLE[op];
    if (!required || !groupId || !projects.has(groupId)) return;
    if (satisfies(roles.roles(who, groupId), required)) return;
    ctx.count('atlas.forbidden', who);
    throw new AtlasError(403, 'USER_UNAUTHORIZED', 'Current user is not authorized to perform this action.');
  }

  function listGroups(req: SandboxRequest, who: string): Record<string, unknown> {
    // listGroups lists no role requirement: it answers the projects the caller holds any role in.
    const visible = [...projects.values()].filter((p) => roles.roles(who, p.id).size > 0);
    return paginate(req, '/groups', visible, groupView);
  }

  /** Route table: [method, pattern, operation name, handler]. */
  type Handler = (req: SandboxRequest, m: RegExpExecArray, who: string) => { status: number; body: unknown };
  const table: Array<[string, RegExp, string, Handler]> = [
    ['GET', /^\/groups$/, 'atlas.groups.list', (req, _m, who) => ({ status: 200, body: listGroups(req, who) })],
    [
      'GET',
      /^\/groups\/([^/]+)$/,
      'atlas.groups.get',
      (_r, m) => ({ status: 200, body: groupView(findProject(m[1])) }),
    ],
    [
      'GET',
      /^\/groups\/([^/]+)\/ipAddresses$/,
      'atlas.groups.ipAddresses',
      (_r, m) => ({ status: 200, body: groupIpAddresses(findProject(m[1]).id) }),
    ],
    [
      'GET',
      /^\/groups\/([^/]+)\/encryptionAtRest$/,
      'atlas.encryptionAtRest.get',
      (_r, m) => {
        // Asking for the configuration is Atlas's documented on-demand validation.
        const p = findProject(m[1]);
        if (p.azureKeyVault?.enabled) validator.onDemand(p.id);
        return { status: 200, body: earView(p) };
      },
    ],
    [
      'PATCH',
      /^\/groups\/([^/]+)\/encryptionAtRest$/,
      'atlas.encryptionAtRest.update',
      (req, m) => {
        const p = findProject(m[1]);
        return { status: 200, body: patchEncryptionAtRest(p, parseBody(req)) };
      },
    ],
    [
      'GET',
      /^\/groups\/([^/]+)\/cloudProviderAccess$/,
      'atlas.cloudProviderAccess.list',
      (_r, m) => ({
        status: 200,
        body: { awsIamRoles: [], azureServicePrincipals: findProject(m[1]).servicePrincipals, gcpServiceAccounts: [] },
      }),
    ],
    [
      'POST',
      /^\/groups\/([^/]+)\/cloudProviderAccess$/,
      'atlas.cloudProviderAccess.create',
      (req, m) => {
        const p = findProject(m[1]);
        return { status: 200, body: createCloudProviderAccess(p, parseBody(req)) };
      },
    ],
    [
      'GET',
      /^\/groups\/([^/]+)\/alertConfigs$/,
      'atlas.alertConfigs.list',
      (req, m) => {
        const p = findProject(m[1]);
        return {
          status: 200,
          body: paginate(req, `/groups/${p.id}/alertConfigs`, alertConfigs.get(p.id) ?? [], alertConfigView),
        };
      },
    ],
    [
      'POST',
      /^\/groups\/([^/]+)\/alertConfigs$/,
      'atlas.alertConfigs.create',
      (req, m) => ({ status: 200, body: createAlertConfig(findProject(m[1]), parseBody(req)) }),
    ],
  ];

  /** Bearer (service account) or digest (API key): the credential's name, or a 401 as Atlas answers it. */
  function authenticate(req: SandboxRequest, path: string): string {
    const header = req.headers.authorization;
    if (header && /^Bearer\s/i.test(header)) {
      const v = oauth.verifyBearer(header);
      if (v.ok) return v.clientId;
      ctx.count('atlas.bearerRejected', 'anonymous');
      throw new AtlasError(401, undefined, 'You are not authorized for this resource.', [], {
        'www-authenticate': digest.challenge(false),
      });
    }
    const verdict = digest.verify(req.method, req.raw.url ?? path, header);
    if (!verdict.ok) {
      ctx.count('atlas.digestChallenge', 'anonymous');
      throw new AtlasError(401, undefined, 'You are not authorized for this resource.', [], {
        'www-authenticate': digest.challenge(verdict.stale),
      });
    }
    return verdict.user;
  }

  /** `POST /api/oauth/token`: OAuth 2.0 client credentials (atlas/oauth.ts). */
  function serveToken(req: SandboxRequest, res: ServerResponse): void {
    const answer =
      req.method === 'POST'
        ? oauth.mint(req.headers.authorization, req.headers['content-type'], req.body.toString('utf8'))
        : ({
            status: 400,
            body: { error: 'invalid_request', error_description: 'Use POST.' },
          } as const);
    ctx.count(answer.status === 200 ? 'atlas.oauth.token' : `atlas.oauth.token.${answer.status}`, 'anonymous');
    const text = JSON.stringify(answer.body);
    res.writeHead(answer.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      ...('headers' in answer ? answer.headers : {}),
    });
    res.end(text);
  }

  const routes: RouteHandler = async (req, res) => {
    const path = req.url.pathname;
    if (path === OAUTH_TOKEN_PATH) {
      serveToken(req, res);
      return true;
    }
    if (path !== BASE && !path.startsWith(`${BASE}/`)) return false;
    const rel = path.slice(BASE.length).replace(/\/+$/, '') || '/';
    let match: { op: string; handler: Handler; m: RegExpExecArray } | undefined;
    let pathKnown = false;
    for (const [method, re, op, handler] of table) {
      const m = re.exec(rel);
      if (!m) continue;
      pathKnown = true;
      if (method === req.method) match = { op, handler, m };
    }
    try {
      const who = authenticate(req, path);
      ctx.count(match?.op ?? 'atlas.unknown', who);
      if (fault && (!fault.operations || fault.operations.includes(match?.op ?? ''))) {
        const f = fault;
        f.remaining -= 1;
        if (f.remaining <= 0) fault = null;
        if (f.status === 429) {
          const retryAfter = String(f.retryAfterSeconds ?? 1);
          throw new AtlasError(
            429,
            'RATE_LIMITED_TOKEN_BUCKET',
            'You have exceeded the rate limit for this API key. Wait and retry the request.',
            [],
            {
              'retry-after': retryAfter,
              'ratelimit-limit': '100',
              'ratelimit-remaining': '0',
            },
          );
        }
        throw f.status === 503
          ? new AtlasError(503, 'SERVICE_UNAVAILABLE', 'The service is temporarily unavailable.')
          : new AtlasError(500, 'UNEXPECTED_ERROR', 'Unexpected error.');
      }
      const versions = acceptedVersions(req.headers.accept);
      const version = versions.find((v) => (ATLAS_API_VERSIONS as readonly string[]).includes(v));
      if (!version) throw new AtlasError(406, 'INVALID_VERSION_DATE', 'Invalid accept header or version date.');
      if (!match) {
        if (pathKnown)
          throw new AtlasError(405, 'METHOD_NOT_ALLOWED', `Method ${req.method} is not allowed on ${path}.`);
        throw new AtlasError(404, 'RESOURCE_NOT_FOUND', `Cannot find resource ${path}.`, [path]);
      }
      authorize(who, match.op, match.m[1]);
      const { status, body } = match.handler(req, match.m, who);
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'content-type': `application/vnd.atlas.${version}+json`,
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    } catch (err) {
      if (!(err instanceof AtlasError)) {
        sendAtlasError(res, new AtlasError(500, 'UNEXPECTED_ERROR', 'Unexpected error.'));
        return true;
      }
      sendAtlasError(res, err);
    }
    return true;
  };

  const control: AtlasControl = {
    apiKey: () => ({ publicKey, privateKey }),
    readOnlyServiceAccount: () => ({ ...readOnly }),
    createServiceAccount: ({ name, roles: grants }) => {
      const sa = oauth.create(name ?? 'service-account');
      for (const [projectId, r] of Object.entries(grants ?? {})) {
        for (const role of Array.isArray(r) ? r : [r]) roles.grant(sa.clientId, projectId, role);
      }
      return sa;
    },
    setProjectRole: ({ credential, projectId, role, revoke }) =>
      revoke ? roles.revoke(credential, projectId, role) : roles.grant(credential, projectId, role),
    setTokenPolicy: (p) => {
      oauth.policy = { ...oauth.policy, ...p };
      return { ...oauth.policy };
    },
    tokenStats: (clientId) => ({
      mintsLastMinute: oauth.mintCount(clientId),
      activeTokens: oauth.activeTokens(clientId),
    }),
    revokeTokens: (clientId) => oauth.revokeTokens(clientId),
    alertConfigs: (groupId) => structuredClone(alertConfigs.get(groupId) ?? []),
    createProject: ({ name, orgId: org }) => {
      if (!name || typeof name !== 'string') throw new Error('createProject: name must be a non-empty string.');
      const id = objectId();
      projects.set(id, { id, name, orgId: org ?? orgId, created: atlasDate(), servicePrincipals: [] });
      return { groupId: id };
    },
    registerServicePrincipal: (groupId, sp) => {
      const p = projects.get(groupId);
      if (!p) throw new Error(`registerServicePrincipal: no project ${groupId}.`);
      if (!UUID_RE.test(sp.servicePrincipalId) || !UUID_RE.test(sp.tenantId)) {
        throw new Error('registerServicePrincipal: servicePrincipalId and tenantId must be UUIDs.');
      }
      return { roleId: registerSp(p, sp)._id };
    },
    setEncryptionAtRest: (groupId, akv) => {
      const p = projects.get(groupId);
      if (!p) throw new Error(`setEncryptionAtRest: no project ${groupId}.`);
      p.azureKeyVault = akv ? { ...akv } : undefined;
    },
    getProject: (groupId) => {
      const p = projects.get(groupId);
      return p ? snapshot(p) : undefined;
    },
    projects: () => [...projects.values()].map(snapshot),
    validate: (groupId) => {
      const p = projects.get(groupId);
      if (!p) throw new Error(`validate: no project ${groupId}.`);
      return checkAccess(p, p.azureKeyVault);
    },
    runPeriodicValidation: (p) => validator.runPeriodic(p?.groupId),
    validations: (p) => validator.list(p ?? {}),
    setValidationInterval: ({ ms }) => validator.setInterval(ms),
    clustersShutDown: (groupId) => validator.isShutDown(groupId),
    alertDeliveries: () => validator.alertDeliveries(),
    setAtlasFault: (f) => {
      fault = f ? { ...f, remaining: f.times ?? Number.POSITIVE_INFINITY } : null;
    },
    expireNonces: () => digest.expireAll(),
    seedProject: (p) => {
      const { groupId } = control.createProject({ name: p.name });
      const { roleId } = control.registerServicePrincipal(groupId, {
        servicePrincipalId: p.principalId,
        tenantId: p.tenantId,
      });
      control.setEncryptionAtRest(groupId, {
        enabled: true,
        roleId,
        subscriptionID: p.subscriptionId,
        resourceGroupName: p.resourceGroupName,
        keyVaultName: p.keyVaultName,
        keyIdentifier: p.keyIdentifier,
        azureEnvironment: 'AZURE',
        requirePrivateNetworking: false,
      });
      roles.grant(readOnly.clientId, groupId, PROJECT_READ_ONLY);
      return { projectId: groupId, roleId };
    },
    projectTarget: (projectId) => {
      const p = projects.get(projectId);
      const akv = p?.azureKeyVault;
      if (!p || !akv?.enabled || !akv.resourceGroupName || !akv.keyVaultName || !akv.keyIdentifier) return undefined;
      const who = principalFor(p, akv);
      const keyName = KEY_ID_RE.exec(akv.keyIdentifier)?.[2];
      if (!who || !keyName) return undefined;
      return {
        projectId,
        resourceGroupName: akv.resourceGroupName,
        keyVaultName: akv.keyVaultName,
        keyName,
        principalId: who.principalId,
      };
    },
  };

  return {
    routes,
    control,
    publicKey,
    privateKey,
    clientId: readOnly.clientId,
    clientSecret: readOnly.clientSecret,
    close: () => validator.stop(),
  };
}
