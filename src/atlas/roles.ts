// The least Atlas project role each Admin API operation the product calls needs, as the Atlas OpenAPI spec lists
// it (`x-rolesRequirements`, mongodb/atlas-sdk-go openapi/atlas-api-transformed.yaml). listGroups lists none: it
// returns the projects the credential holds any role in. Used to say which role a 403 is missing.
// listControlPlaneAddresses is not here: it takes no credentials (the spec's `security: []`).

export interface AtlasOperationRole {
  operationId: string;
  method: string;
  /** Path under /api/atlas/v2 with `{groupId}` etc. */
  path: string;
  role: string;
}

export const ATLAS_OPERATION_ROLES: readonly AtlasOperationRole[] = [
  { operationId: 'listGroups', method: 'GET', path: '/groups', role: 'any project role' },
  { operationId: 'getGroup', method: 'GET', path: '/groups/{groupId}', role: 'Project Read Only' },
  {
    operationId: 'getGroupIpAddresses',
    method: 'GET',
    path: '/groups/{groupId}/ipAddresses',
    role: 'Project Read Only',
  },
  {
    operationId: 'getEncryptionAtRest',
    method: 'GET',
    path: '/groups/{groupId}/encryptionAtRest',
    role: 'Project Read Only',
  },
  {
    operationId: 'updateEncryptionAtRest',
    method: 'PATCH',
    path: '/groups/{groupId}/encryptionAtRest',
    role: 'Project Owner',
  },
  {
    operationId: 'listCloudProviderAccess',
    method: 'GET',
    path: '/groups/{groupId}/cloudProviderAccess',
    role: 'Project Read Only',
  },
  {
    operationId: 'getCloudProviderAccess',
    method: 'GET',
    path: '/groups/{groupId}/cloudProviderAccess/{roleId}',
    role: 'Project Read Only',
  },
  {
    operationId: 'createCloudProviderAccess',
    method: 'POST',
    path: '/groups/{groupId}/cloudProviderAccess',
    role: 'Project Owner',
  },
  {
    operationId: 'authorizeProviderAccessRole',
    method: 'PATCH',
    path: '/groups/{groupId}/cloudProviderAccess/{roleId}',
    role: 'Project Owner',
  },
  { operationId: 'listAlertConfigs', method: 'GET', path: '/groups/{groupId}/alertConfigs', role: 'Project Read Only' },
  {
    operationId: 'createAlertConfig',
    method: 'POST',
    path: '/groups/{groupId}/alertConfigs',
    role: 'Project Alerts Manager',
  },
];

function templateMatches(template: string, path: string): boolean {
  const t = template.split('/');
  const p = path.split('?')[0]!.replace(/\/+$/, '').split('/');
  return t.length === p.length && t.every((seg, i) => seg.startsWith('{') || seg === p[i]);
}

/** The spec's entry for a request, if the product calls it. */
export function operationRole(method: string, path: string): AtlasOperationRole | undefined {
  return ATLAS_OPERATION_ROLES.find((o) => o.method === method.toUpperCase() && templateMatches(o.path, path));
}
