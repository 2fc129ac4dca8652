// The Atlas half's control surface (tests, seeds, `/_sandbox/control/atlas/*`), built in parts: credentials,
// projects, Atlas's validation, faults. None of it goes through the Admin API's checks.
import { PROJECT_READ_ONLY } from './roles.js';
import type { AtlasDeps } from './router.js';
import { UUID_RE } from './projects.js';
import { atlasDate } from './http.js';
import type { AtlasControl } from './types.js';

export interface ControlDeps extends AtlasDeps {
  publicKey: string;
  privateKey: string;
  /** The demo service account (Project Read Only on every seeded project). */
  readOnly: { clientId: string; clientSecret: string };
}

type CredentialControls = Pick<
  AtlasControl,
  | 'apiKey'
  | 'readOnlyServiceAccount'
  | 'createServiceAccount'
  | 'setProjectRole'
  | 'setTokenPolicy'
  | 'tokenStats'
  | 'revokeTokens'
>;

function credentialControls(d: ControlDeps): CredentialControls {
  return {
    apiKey: () => ({ publicKey: d.publicKey, privateKey: d.privateKey }),
    readOnlyServiceAccount: () => ({ ...d.readOnly }),
    createServiceAccount: ({ name, roles: grants }) => {
      const sa = d.oauth.create(name ?? 'service-account');
      for (const [projectId, r] of Object.entries(grants ?? {})) {
        for (const role of Array.isArray(r) ? r : [r]) d.roles.grant(sa.clientId, projectId, role);
      }
      return sa;
    },
    setProjectRole: ({ credential, projectId, role, revoke }) =>
      revoke ? d.roles.revoke(credential, projectId, role) : d.roles.grant(credential, projectId, role),
    setTokenPolicy: (p) => {
      d.oauth.policy = { ...d.oauth.policy, ...p };
      return { ...d.oauth.policy };
    },
    tokenStats: (clientId) => ({
      mintsLastMinute: d.oauth.mintCount(clientId),
      activeTokens: d.oauth.activeTokens(clientId),
    }),
    revokeTokens: (clientId) => d.oauth.revokeTokens(clientId),
  };
}

type ProjectControls = Pick<
  AtlasControl,
  | 'alertConfigs'
  | 'authorizeServicePrincipal'
  | 'createProject'
  | 'registerServicePrincipal'
  | 'setEncryptionAtRest'
  | 'getProject'
  | 'projects'
>;

function projectControls({ store }: ControlDeps): ProjectControls {
  return {
    alertConfigs: (groupId) => structuredClone(store.alertConfigs.get(groupId) ?? []),
    createProject: ({ name, orgId }) => {
      if (!name || typeof name !== 'string') throw new Error('createProject: name must be a non-empty string.');
      return { groupId: store.create(name, orgId ?? store.orgId) };
    },
    registerServicePrincipal: (groupId, sp) => {
      const p = store.projects.get(groupId);
      if (!p) throw new Error(`registerServicePrincipal: no project ${groupId}.`);
      if (!UUID_RE.test(sp.servicePrincipalId) || !UUID_RE.test(sp.tenantId)) {
        throw new Error('registerServicePrincipal: servicePrincipalId and tenantId must be UUIDs.');
      }
      return { roleId: store.registerSp(p, sp)._id };
    },
    authorizeServicePrincipal: (groupId, roleId, sp) => {
      const role = store.projects.get(groupId)?.servicePrincipals.find((r) => r._id === roleId);
      if (!role) throw new Error(`authorizeServicePrincipal: no role ${roleId} in project ${groupId}.`);
      if (!UUID_RE.test(sp.servicePrincipalId) || (sp.tenantId !== undefined && !UUID_RE.test(sp.tenantId))) {
        throw new Error('authorizeServicePrincipal: servicePrincipalId and tenantId must be UUIDs.');
      }
      role.servicePrincipalId = sp.servicePrincipalId;
      if (sp.tenantId) role.tenantId = sp.tenantId;
      role.lastUpdatedDate = atlasDate();
    },
    setEncryptionAtRest: (groupId, akv) => {
      const p = store.projects.get(groupId);
      if (!p) throw new Error(`setEncryptionAtRest: no project ${groupId}.`);
      p.azureKeyVault = akv ? { ...akv } : undefined;
    },
    getProject: (groupId) => {
      const p = store.projects.get(groupId);
      return p ? store.snapshot(p) : undefined;
    },
    projects: () => [...store.projects.values()].map((p) => store.snapshot(p)),
  };
}

type ValidationControls = Pick<
  AtlasControl,
  | 'validate'
  | 'runPeriodicValidation'
  | 'validations'
  | 'setValidationInterval'
  | 'clustersShutDown'
  | 'alertDeliveries'
  | 'setAtlasFault'
>;

function validationControls({ store, validator, faults }: ControlDeps): ValidationControls {
  return {
    validate: (groupId) => {
      const p = store.projects.get(groupId);
      if (!p) throw new Error(`validate: no project ${groupId}.`);
      return store.checkAccess(p, p.azureKeyVault);
    },
    runPeriodicValidation: (p) => validator.runPeriodic(p?.groupId),
    validations: (p) => validator.list(p ?? {}),
    setValidationInterval: ({ ms }) => validator.setInterval(ms),
    clustersShutDown: (groupId) => validator.isShutDown(groupId),
    alertDeliveries: () => validator.alertDeliveries(),
    setAtlasFault: (f) => faults.set(f),
  };
}

/** The parts in the order `/_sandbox/control` lists them. */
export function atlasControl(d: ControlDeps): AtlasControl {
  const control: AtlasControl = {
    ...credentialControls(d),
    ...projectControls(d),
    ...validationControls(d),
    expireNonces: () => d.digest.expireAll(),
    /**
     * One call for seeds: a project, the Atlas principal registered (cloudProviderAccess) and EAR pointing at
     * the key through its roleId, stored without validation (the seed may describe an already drifted setup).
     */
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
      d.roles.grant(d.readOnly.clientId, groupId, PROJECT_READ_ONLY);
      return { projectId: groupId, roleId };
    },
    projectTarget: (projectId) => d.store.target(projectId),
  };
  return control;
}
