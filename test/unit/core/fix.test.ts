import { describe, expect, it } from 'vitest';
import { evaluate } from '../../../src/core/evaluate.js';
import { fixCommands } from '../../../src/core/fix.js';
import type { ObservedDocuments } from '../../../src/core/types.js';
import { ATLAS_SP, RG, ROLE_IDS, TENANT, VAULT, apVault, assignment, deny, rbacDocs, requirement } from './build.js';

const crypto = `az role assignment create --assignee-object-id ${ATLAS_SP} --assignee-principal-type ServicePrincipal --role "Key Vault Crypto User" --scope ${VAULT}`;
const reader = `az role assignment create --assignee-object-id ${ATLAS_SP} --assignee-principal-type ServicePrincipal --role "Reader" --scope ${VAULT}`;

describe('fixCommands', () => {
  const run = (docs: ObservedDocuments) => fixCommands(evaluate(requirement(), docs), requirement());

  it.each([
    ['nothing', [], [crypto, reader]],
    ['only Reader', [assignment(ROLE_IDS.reader, VAULT)], [crypto]],
    ['only Crypto User', [assignment(ROLE_IDS.keyVaultCryptoUser, VAULT)], [reader]],
    ['both', [assignment(ROLE_IDS.keyVaultCryptoUser, VAULT), assignment(ROLE_IDS.reader, VAULT)], []],
    [
      'Service Encryption User + Reader (encrypt/decrypt missing)',
      [assignment(ROLE_IDS.keyVaultCryptoServiceEncryptionUser, VAULT), assignment(ROLE_IDS.reader, RG)],
      [crypto],
    ],
  ])('RBAC, principal holds %s', (_n, list, want) => {
    expect(run(rbacDocs(list))).toEqual(want);
  });

  it('RBAC: indeterminate permissions get no command', () => {
    const cond = assignment(ROLE_IDS.keyVaultCryptoUser, VAULT, { condition: "@Resource[x] StringEquals 'y'" });
    expect(run(rbacDocs([cond, assignment(ROLE_IDS.reader, VAULT)]))).toEqual([]);
  });

  it('RBAC: denied permissions get a comment, not a grant', () => {
    const out = run(
      rbacDocs([assignment(ROLE_IDS.keyVaultCryptoUser, VAULT), assignment(ROLE_IDS.reader, VAULT)], {
        denyAssignments: [deny(RG, ['Microsoft.KeyVault/vaults/keys/decrypt/action'])],
      }),
    );
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^# decrypt is removed by deny assignment/);
  });

  it('access policies: keeps what the principal has (set-policy replaces the list) and adds only what is missing', () => {
    const vault = {
      ...apVault(),
      accessPolicies: [
        { tenantId: TENANT, objectId: ATLAS_SP, applicationId: null, permissions: { keys: ['Get', 'List'] } },
      ],
    };
    expect(run({ vault, roleAssignments: [] })).toEqual([
      `az keyvault set-policy --subscription a925f2f7-5c63-4b7b-8799-25a5f97bc3b2 --resource-group rg-atlas --name kv-atlas --object-id ${ATLAS_SP} --key-permissions get list encrypt decrypt wrapKey unwrapKey`,
    ]);
  });

  it('access policies: no entry at all gives the seed command; nothing missing gives nothing', () => {
    expect(run({ vault: { ...apVault(), accessPolicies: [] }, roleAssignments: [] })).toEqual([
      `az keyvault set-policy --subscription a925f2f7-5c63-4b7b-8799-25a5f97bc3b2 --resource-group rg-atlas --name kv-atlas --object-id ${ATLAS_SP} --key-permissions get encrypt decrypt wrapKey unwrapKey`,
    ]);
    expect(run({ vault: apVault(), roleAssignments: [] })).toEqual([]);
  });
});
