// One Atlas target for the pure loop tests: a key `k` in vault `kv1`, the Atlas principal and its tenant.
import type { AtlasTarget } from '../../src/atlas/target.js';

export const sub = '/subscriptions/00000000-0000-0000-0000-0000000000aa';
export const vaultId = `${sub}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1`;
export const principal = '11111111-2222-3333-4444-555555555555';
export const tenant = 'tttttttt-0000-0000-0000-000000000000';

export const target: AtlasTarget = {
  projectId: 'p',
  principalObjectId: principal,
  tenantId: tenant,
  subscriptionId: sub.split('/')[2]!,
  resourceGroup: 'rg',
  vaultName: 'kv1',
  keyName: 'k',
  keyIdentifier: 'https://kv1.vault.azure.net/keys/k',
  azureEnvironment: 'AZURE',
  requirePrivateNetworking: false,
  credentials: 'secretless',
  vaultId,
};
