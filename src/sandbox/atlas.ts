// The Atlas Admin API v2 slice the product uses, under /api/atlas/v2, checked against the Atlas OpenAPI
// spec (mongodb/atlas-sdk-go openapi/atlas-api-transformed.yaml): listGroups, getGroup,
// get/updateEncryptionAtRest, list/createCloudProviderAccess. Digest auth like Atlas's, the versioned
// Accept header (406 INVALID_VERSION_DATE otherwise), ApiError bodies {detail, error, errorCode,
// parameters, reason}, and `azureKeyVault.valid` computed the way Atlas does it: can the registered
// principal use the key right now in the emulated vault (ctx.checkKeyAccess). Service accounts too:
// `POST /api/oauth/token` and bearer tokens (atlas/oauth.ts), per-project roles for every credential enforced
// per the spec's x-rolesRequirements (atlas/roles.ts), and list/create alertConfigs.
//
// This file only assembles the parts: atlas/router.ts (the route table and each request's steps), atlas/projects.ts
// (projects, views, the KMS check), atlas/encryptionAtRest.ts (the PATCH), atlas/alertConfigs.ts, atlas/control.ts.
import { randomBytes, randomUUID } from 'node:crypto';
import type { SandboxContext } from './contract.js';
import { atlasControl } from './atlas/control.js';
import { DigestAuthority } from './atlas/digest.js';
import { objectId } from './atlas/http.js';
import { ServiceAccountAuthority } from './atlas/oauth.js';
import { AtlasProjects } from './atlas/projects.js';
import { ORGANIZATION_OWNER, RoleBook } from './atlas/roles.js';
import { AtlasFaultBox, atlasRoutes, type AtlasDeps } from './atlas/router.js';
import type { AtlasOptions, AtlasSandbox } from './atlas/types.js';
import { AtlasValidator } from './atlas/validation.js';

export { ATLAS_AZURE_APP_ID } from './atlas/projects.js';
export { ATLAS_API_VERSIONS, OAUTH_TOKEN_PATH } from './atlas/router.js';
export { objectId } from './atlas/http.js';
export type { ValidationRecord } from './atlas/validation.js';
export type {
  AtlasControl,
  AtlasFault,
  AtlasOptions,
  AtlasProjectSnapshot,
  AtlasProjectTarget,
  AtlasSandbox,
  AzureKeyVaultConfig,
  AzureServicePrincipalRole,
} from './atlas/types.js';

/** A generated API public key: eight lower-case letters, like Atlas's. */
function generatedPublicKey(): string {
  return randomBytes(6)
    .toString('base64')
    .replace(/[^a-z]/gi, 'x')
    .toLowerCase()
    .slice(0, 8);
}

/** Atlas's periodic KMS validation over the projects with EAR enabled. */
function validatorFor(ctx: SandboxContext, store: AtlasProjects, opts: AtlasOptions): AtlasValidator {
  return new AtlasValidator(
    {
      groupIds: () => store.enabledIds(),
      check: (groupId) => store.checkGroup(groupId),
      alertConfigs: (groupId) => store.alertConfigs.get(groupId) ?? [],
      timeScale: ctx.timeScale,
    },
    opts.validationIntervalMs ?? 15 * 60_000,
  );
}

export function createAtlas(ctx: SandboxContext, opts: AtlasOptions = {}): AtlasSandbox {
  const publicKey = opts.publicKey ?? generatedPublicKey();
  const privateKey = opts.privateKey ?? randomUUID();
  const store = new AtlasProjects(ctx, opts.orgId ?? objectId());
  const oauth = new ServiceAccountAuthority(opts.tokenPolicy);
  const roles = new RoleBook();
  // The API key is the organization's owner (as before service accounts existed); the demo service account reads.
  roles.grant(publicKey, '*', ORGANIZATION_OWNER);
  const readOnly = oauth.create('ear-guard-read-only');
  const deps: AtlasDeps = {
    ctx,
    store,
    roles,
    digest: new DigestAuthority(() => new Map([[publicKey, privateKey]]), opts.nonceTtlMs ?? 300_000),
    oauth,
    validator: validatorFor(ctx, store, opts),
    faults: new AtlasFaultBox(),
    validationErrorCode: opts.validationErrorCode ?? 'INVALID_AZURE_CREDENTIALS',
  };
  return {
    routes: atlasRoutes(deps),
    control: atlasControl({ ...deps, publicKey, privateKey, readOnly }),
    publicKey,
    privateKey,
    clientId: readOnly.clientId,
    clientSecret: readOnly.clientSecret,
    close: () => deps.validator.stop(),
  };
}
