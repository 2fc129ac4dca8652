// The remediator's ABAC condition, as deployed (infra/app/vault.bicep) and as the sandbox seeds it, evaluated by the
// sandbox's condition evaluator (src/sandbox/arm/rbac.ts): only the restore roles, only for the Atlas principal, for
// write and delete; everything the evaluator cannot read fails closed.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { conditionHolds, roleAssignmentAttributes } from '../../src/sandbox/arm/rbac.js';
import { remediatorCondition } from '../../src/sandbox/seed.js';

const ATLAS = '0b0b0b0b-1111-4222-8333-444444444444';
const MALLORY = '0c0c0c0c-1111-4222-8333-555555555555';
const contract = JSON.parse(readFileSync(new URL('../../infra/guard-contract.json', import.meta.url), 'utf8')) as {
  restoreRoles: Record<string, string>;
};

/** The restoreCondition variable of infra/app/vault.bicep with its two interpolations filled in. */
function infraCondition(atlas: string): string {
  const bicep = readFileSync(new URL('../../infra/app/vault.bicep', import.meta.url), 'utf8');
  const m = /^var restoreCondition = '(.*)'$/m.exec(bicep);
  if (!m) throw new Error('restoreCondition not found in infra/app/vault.bicep');
  return m[1]
    .replaceAll("\\'", "'")
    .replaceAll('${roleList}', Object.values(contract.restoreRoles).join(', '))
    .replaceAll('${atlasPrincipalObjectId}', atlas);
}

const WRITE = 'Microsoft.Authorization/roleAssignments/write';
const DELETE = 'Microsoft.Authorization/roleAssignments/delete';
const roleId = (g: string) => `/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/${g}`;
const write = (cond: string, role: string, principal: string) =>
  conditionHolds(cond, WRITE, {
    request: roleAssignmentAttributes({ roleDefinitionId: roleId(role), principalId: principal }),
  });
const del = (cond: string, role: string, principal: string) =>
  conditionHolds(cond, DELETE, {
    resource: roleAssignmentAttributes({ roleDefinitionId: roleId(role), principalId: principal }),
  });

describe.each([
  ['infra/app/vault.bicep', infraCondition(ATLAS)],
  ['sandbox seed', remediatorCondition(ATLAS)],
])('the remediator condition (%s)', (_name, cond) => {
  it('allows writing exactly the restore roles for exactly the Atlas principal', () => {
    expect(write(cond, ROLE_IDS.keyVaultCryptoUser, ATLAS)).toBe(true);
    expect(write(cond, ROLE_IDS.reader, ATLAS)).toBe(true);
    expect(write(cond, ROLE_IDS.keyVaultCryptoUser.toUpperCase(), ATLAS.toUpperCase())).toBe(true);
    for (const role of [
      ROLE_IDS.keyVaultAdministrator,
      ROLE_IDS.keyVaultCryptoOfficer,
      ROLE_IDS.owner,
      ROLE_IDS.userAccessAdministrator,
      ROLE_IDS.roleBasedAccessControlAdministrator,
    ]) {
      expect(write(cond, role, ATLAS), role).toBe(false);
    }
    expect(write(cond, ROLE_IDS.keyVaultCryptoUser, MALLORY)).toBe(false);
    expect(write(cond, ROLE_IDS.reader, MALLORY)).toBe(false);
  });

  it('allows deleting nothing but the Atlas principal restore-role assignments', () => {
    expect(del(cond, ROLE_IDS.keyVaultCryptoUser, MALLORY)).toBe(false);
    expect(del(cond, ROLE_IDS.owner, MALLORY)).toBe(false);
    expect(del(cond, ROLE_IDS.keyVaultAdministrator, ATLAS)).toBe(false);
    // A delete with no resource attributes (the assignment is unknown) is not let through.
    expect(conditionHolds(cond, DELETE, {})).toBe(false);
  });

  it('leaves other actions to the role itself (the condition only narrows role assignment writes)', () => {
    expect(conditionHolds(cond, 'Microsoft.KeyVault/vaults/read', {})).toBe(true);
  });
});

describe('condition evaluator fails closed', () => {
  it('an unknown function, operator or attribute source is no grant', () => {
    const body = `@Request[Microsoft.Authorization/roleAssignments:PrincipalId] ForAnyOfAnyValues:GuidEquals {${ATLAS}}`;
    expect(write(body, ROLE_IDS.reader, ATLAS)).toBe(true);
    expect(write(body.replace('GuidEquals', 'GuidLooselyEquals'), ROLE_IDS.reader, ATLAS)).toBe(false);
    expect(write(body.replace('@Request', '@Principal'), ROLE_IDS.reader, ATLAS)).toBe(false);
    expect(write(`(${body}`, ROLE_IDS.reader, ATLAS)).toBe(false);
    expect(write(`${body} OR Exists @Request[x]`, ROLE_IDS.reader, ATLAS)).toBe(false);
    expect(write(`SubOperationMatches{'x'} OR ${body}`, ROLE_IDS.reader, ATLAS)).toBe(false);
  });

  it('quantifiers and negated operators follow the documented semantics', () => {
    const a = (op: string, vals: string) =>
      conditionHolds(`@Request[Microsoft.Authorization/roleAssignments:PrincipalId] ${op} {${vals}}`, WRITE, {
        request: { 'microsoft.authorization/roleassignments:principalid': [ATLAS] },
      });
    expect(a('ForAnyOfAnyValues:GuidEquals', `${MALLORY}, ${ATLAS}`)).toBe(true);
    expect(a('ForAnyOfAllValues:GuidEquals', `${MALLORY}, ${ATLAS}`)).toBe(false);
    expect(a('ForAnyOfAllValues:GuidNotEquals', `${MALLORY}`)).toBe(true);
    expect(a('ForAnyOfAllValues:GuidNotEquals', `${MALLORY}, ${ATLAS}`)).toBe(false);
    expect(a('ForAllOfAnyValues:GuidEquals', `${ATLAS}`)).toBe(true);
    expect(
      conditionHolds(`(!(ActionMatches{'${WRITE}'})) || @Request[x:y] GuidEquals '${ATLAS}'`, WRITE, {
        request: { 'x:y': [ATLAS] },
      }),
    ).toBe(true);
    expect(conditionHolds(`NOT ActionMatches{'Microsoft.Authorization/*'}`, WRITE, {})).toBe(false);
  });
});
