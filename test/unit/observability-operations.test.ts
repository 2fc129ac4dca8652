// Operation names for the API request metric: from real request shapes (ARM URLs as the SDK clients send them,
// Atlas Admin API paths as src/atlas/client.ts builds them), never carrying an ID or a name.
import { describe, expect, it } from 'vitest';
import { armOperation, atlasOperation } from '../../src/observability/operations.js';

const SUB = '/subscriptions/6c40797b-7869-4658-94b9-a88471674325';
const VAULT = `${SUB}/resourceGroups/rg-ear/providers/Microsoft.KeyVault/vaults/kv-ear-rbac`;
const ARM = 'https://management.azure.com';

describe('armOperation', () => {
  it.each([
    ['GET', `${ARM}${VAULT}?api-version=2024-11-01`, 'vaults.get'],
    ['GET', `${ARM}${VAULT}/keys/atlas-ear?api-version=2024-11-01`, 'keys.get'],
    ['PUT', `${ARM}${VAULT}/accessPolicies/add?api-version=2024-11-01`, 'accessPolicies.add'],
    ['PUT', `${ARM}${VAULT}/accessPolicies/remove?api-version=2024-11-01`, 'accessPolicies.remove'],
    [
      'PUT',
      `${ARM}${VAULT}/providers/Microsoft.Authorization/roleAssignments/6c0bdb7a-f2a7-5c16-952b-07a0210dfc61?api-version=2022-04-01`,
      'roleAssignments.create',
    ],
    [
      'DELETE',
      `${ARM}${VAULT}/providers/Microsoft.Authorization/roleAssignments/6c0bdb7a-f2a7-5c16-952b-07a0210dfc61?api-version=2022-04-01`,
      'roleAssignments.delete',
    ],
    [
      'GET',
      `${ARM}${VAULT}/keys/atlas-ear/providers/Microsoft.Authorization/roleAssignments?$filter=principalId%20eq%20'x'&api-version=2022-04-01`,
      'roleAssignments.list',
    ],
    [
      'GET',
      `${ARM}${SUB}/providers/Microsoft.Authorization/roleDefinitions/12338af0-0e69-4776-bea7-57ae8d297424?api-version=2022-04-01`,
      'roleDefinitions.get',
    ],
    [
      'GET',
      `${ARM}${VAULT}/providers/Microsoft.Authorization/denyAssignments?api-version=2022-04-01`,
      'denyAssignments.list',
    ],
    ['PATCH', `${ARM}${VAULT}?api-version=2024-11-01`, 'vaults.update'],
    [
      'POST',
      `${ARM}${SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st/listKeys`,
      'storageAccounts.listKeys',
    ],
    ['GET', `${ARM}${SUB}/resourcegroups?api-version=2021-04-01`, 'resourcegroups.list'],
  ])('%s %s -> %s', (method, url, op) => {
    expect(armOperation(method, url)).toBe(op);
  });

  it('never carries a name, ID or query value', () => {
    const op = armOperation('GET', `${ARM}${VAULT}/keys/secret-key-name?sig=abc`);
    expect(op).not.toMatch(/kv-ear|secret-key-name|6c40797b|sig|abc/);
  });
});

describe('atlasOperation', () => {
  it.each([
    ['GET', '/groups/6650a1b2c3d4e5f6a7b8c901/encryptionAtRest', 'encryptionAtRest.get'],
    ['PATCH', '/groups/6650a1b2c3d4e5f6a7b8c901/encryptionAtRest', 'encryptionAtRest.update'],
    ['GET', '/groups/6650a1b2c3d4e5f6a7b8c901/cloudProviderAccess', 'cloudProviderAccess.get'],
    ['POST', '/groups/6650a1b2c3d4e5f6a7b8c901/cloudProviderAccess', 'cloudProviderAccess.create'],
    ['GET', '/groups?itemsPerPage=500&pageNum=2', 'groups.list'],
    ['GET', '/groups/6650a1b2c3d4e5f6a7b8c901', 'groups.get'],
  ])('%s %s -> %s', (method, path, op) => {
    expect(atlasOperation(method, path)).toBe(op);
  });
});
