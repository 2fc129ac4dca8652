// `PATCH /groups/{groupId}/encryptionAtRest` for Azure Key Vault, in the steps Atlas takes: the body's fields typed
// and formatted, merged over the stored configuration, checked complete and consistent, then Atlas's KMS validation;
// a failure at any step changes nothing.
import { AtlasError, isObject, validationError } from './http.js';
import { KEY_ID_RE, OBJECT_ID_RE, UUID_RE, type AtlasProjects } from './projects.js';
import type { AzureKeyVaultConfig, ProjectState } from './types.js';

const AZURE_ENVIRONMENTS = ['AZURE', 'AZURE_CHINA', 'AZURE_GERMANY'];
const STRING_FIELDS = [
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
const REQUIRED_FIELDS = [
  'subscriptionID',
  'resourceGroupName',
  'keyVaultName',
  'keyIdentifier',
  'azureEnvironment',
] as const;

/** Only Azure Key Vault is emulated: another provider may appear only as disabled. */
function rejectOtherProviders(body: Record<string, unknown>): void {
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
}

/** One field of `azureKeyVault` typed into `patch`; an unknown field is refused. */
function typeField(patch: Partial<AzureKeyVaultConfig>, k: string, v: unknown): void {
  if (k === 'valid') return; // readOnly: ignored on input
  if (k === 'enabled' || k === 'requirePrivateNetworking') {
    if (typeof v !== 'boolean') throw validationError(`azureKeyVault.${k}`, 'true or false', v);
    patch[k] = v;
  } else if ((STRING_FIELDS as readonly string[]).includes(k)) {
    if (typeof v !== 'string' || v.length === 0) throw validationError(`azureKeyVault.${k}`, 'a non-empty string', v);
    (patch as Record<string, string>)[k] = v;
  } else {
    throw new AtlasError(400, 'INVALID_ATTRIBUTE', `Invalid attribute azureKeyVault.${k} specified.`, [
      `azureKeyVault.${k}`,
    ]);
  }
}

/** The formats Atlas checks: ObjectId roleId, UUIDs, the environment and the key identifier. */
function checkFormats(patch: Partial<AzureKeyVaultConfig>): void {
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
  if (patch.keyIdentifier !== undefined && !KEY_ID_RE.test(patch.keyIdentifier)) {
    throw validationError(
      'azureKeyVault.keyIdentifier',
      'https://{vault}.vault.azure.net/keys/{name}/{version}',
      patch.keyIdentifier,
    );
  }
}

/** `azureKeyVault` of the body as a typed, formatted patch. */
function parsePatch(raw: unknown): Partial<AzureKeyVaultConfig> {
  if (!isObject(raw)) throw validationError('azureKeyVault', 'an object', raw);
  const patch: Partial<AzureKeyVaultConfig> = {};
  for (const k of Object.keys(raw)) typeField(patch, k, raw[k]);
  checkFormats(patch);
  return patch;
}

/** The configuration after the patch; a roleId replaces secret-based credentials. */
function merge(current: AzureKeyVaultConfig | undefined, patch: Partial<AzureKeyVaultConfig>): AzureKeyVaultConfig {
  const wasEnabled = current?.enabled === true;
  const next: AzureKeyVaultConfig = { ...(wasEnabled ? current : {}), ...patch, enabled: patch.enabled ?? wasEnabled };
  if (!next.enabled) throw validationError('azureKeyVault.enabled', 'true to configure Azure Key Vault', patch.enabled);
  if (patch.roleId) {
    delete next.clientID;
    delete next.secret;
  }
  return next;
}

/** 400 MISSING_ATTRIBUTE naming every field an enabled configuration lacks. */
function requireComplete(next: AzureKeyVaultConfig): void {
  const missing: string[] = REQUIRED_FIELDS.filter((k) => !next[k]);
  if (!next.roleId && !(next.clientID && next.secret && next.tenantID))
    missing.push('roleId (or clientID, secret and tenantID)');
  if (missing.length === 0) return;
  throw new AtlasError(
    400,
    'MISSING_ATTRIBUTE',
    `The required attribute(s) azureKeyVault.${missing.join(', azureKeyVault.')} were not specified: all Azure Key Vault fields are required when Encryption at Rest is first enabled.`,
    missing.map((m) => `azureKeyVault.${m}`),
  );
}

/** The key lives in the named vault and the roleId names a registered service principal. */
function requireConsistent(p: ProjectState, next: AzureKeyVaultConfig): void {
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
}

export function patchEncryptionAtRest(
  store: AtlasProjects,
  p: ProjectState,
  body: Record<string, unknown>,
  validationErrorCode: string,
): Record<string, unknown> {
  rejectOtherProviders(body);
  if (body.azureKeyVault === undefined) return store.earView(p);
  const patch = parsePatch(body.azureKeyVault);
  // Disabling: only `enabled: false` removes the configuration (spec: "pass only this parameter").
  if (patch.enabled === false) {
    p.azureKeyVault = Object.keys(patch).length === 1 ? undefined : { ...p.azureKeyVault, ...patch, enabled: false };
    return store.earView(p);
  }
  const next = merge(p.azureKeyVault, patch);
  requireComplete(next);
  requireConsistent(p, next);
  // Atlas validates KMS access when the configuration changes; a failure changes nothing.
  const verdict = store.checkAccess(p, next);
  if (!verdict.valid) {
    throw new AtlasError(
      400,
      validationErrorCode,
      `Azure Key Vault credentials are invalid or the key cannot be used to encrypt and decrypt: ${verdict.reason ?? 'access check failed'}.`,
      [next.keyIdentifier],
    );
  }
  p.azureKeyVault = next;
  return store.earView(p);
}
