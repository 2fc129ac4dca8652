// One builder for the documents evaluator tests use. Built-in role GUIDs come from the shipped data.
import { ROLE_IDS } from '../../../src/core/builtinRoles.js';
import { parseRoleAssignments, parseVault } from '../../../src/core/documents.js';
import type {
  DenyAssignmentDoc,
  ObservedDocuments,
  Requirement,
  RoleAssignmentDoc,
  RoleDefinitionDoc,
  VaultDoc,
} from '../../../src/core/types.js';
import { ATLAS_SP, SUB, TENANT, VAULT, fixture } from './fixtures.js';

export const KEY_NAME = 'atlas-ear';
export const KEY = `${VAULT}/keys/${KEY_NAME}`;
export const RG = `${SUB}/resourceGroups/rg-atlas`;
export const OTHER_SP = '0e5a7c3d-1111-4c2b-8d9e-5f6a7b8c9d0e';
export { ROLE_IDS, ATLAS_SP, SUB, TENANT, VAULT };

export const requirement = (over: Partial<Requirement> = {}): Requirement => ({
  principalId: ATLAS_SP,
  key: { vaultId: VAULT, keyName: KEY_NAME },
  ...over,
});

export const rbacVault = (): VaultDoc => parseVault(fixture('az/keyvault-show-rbac.json'));
export const apVault = (): VaultDoc => parseVault(fixture('az/keyvault-show-accesspolicy.json'));

let n = 0;
export function assignment(role: string, scope: string, over: Partial<RoleAssignmentDoc> = {}): RoleAssignmentDoc {
  n++;
  const name = `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  return {
    id: `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`,
    name,
    scope,
    roleDefinitionId: role.startsWith('/') ? role : `/providers/Microsoft.Authorization/roleDefinitions/${role}`,
    principalId: ATLAS_SP,
    principalType: 'ServicePrincipal',
    ...over,
  };
}

export function deny(scope: string, dataActions: string[], over: Partial<DenyAssignmentDoc> = {}): DenyAssignmentDoc {
  return {
    id: `${scope}/providers/Microsoft.Authorization/denyAssignments/d-${++n}`,
    scope,
    permissions: [{ actions: [], notActions: [], dataActions, notDataActions: [] }],
    principals: [{ id: '00000000-0000-0000-0000-000000000000', type: 'SystemDefined' }],
    excludePrincipals: [],
    doNotApplyToChildScopes: false,
    ...over,
  };
}

export function customRole(
  guid: string,
  blocks: { dataActions: string[]; notDataActions?: string[]; actions?: string[] }[],
): RoleDefinitionDoc {
  return {
    id: `${SUB}/providers/Microsoft.Authorization/roleDefinitions/${guid}`,
    name: guid,
    roleName: `custom ${guid.slice(0, 4)}`,
    type: 'CustomRole',
    permissions: blocks.map((b) => ({
      actions: b.actions ?? [],
      notActions: [],
      dataActions: b.dataActions,
      notDataActions: b.notDataActions ?? [],
    })),
  };
}

export function rbacDocs(assignments: RoleAssignmentDoc[], extra: Partial<ObservedDocuments> = {}): ObservedDocuments {
  return { vault: rbacVault(), roleAssignments: assignments, denyAssignments: [], ...extra };
}

export const azAssignments = (f: string) => parseRoleAssignments(fixture(f), f);
