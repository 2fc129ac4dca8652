// Issue 17: classes of input the evaluator used to get wrong. Each case is built from Microsoft's documents
// (see README "How a verdict is decided" for the page each rule follows).
import { describe, expect, it } from 'vitest';
import { parseDenyAssignments, parseRoleAssignments } from '../../../src/core/documents.js';
import { evaluate } from '../../../src/core/evaluate.js';
import type { ObservedDocuments } from '../../../src/core/types.js';
import {
  ATLAS_SP,
  KEY,
  OTHER_SP,
  RG,
  ROLE_IDS,
  SUB,
  TENANT,
  VAULT,
  assignment,
  deny,
  rbacDocs,
  requirement,
} from './build.js';
import { fixture } from './fixtures.js';

const GROUP = '9b2e4c6a-7d1f-4a3b-8c5e-0f1a2b3c4d5e';
const OTHER_GROUP = '2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a';
const MG = (id: string) => `/providers/Microsoft.Management/managementGroups/${id}`;
const cryptoUser = (scope = VAULT, over = {}) => assignment(ROLE_IDS.keyVaultCryptoUser, scope, over);
const groupGrant = (scope = VAULT) => cryptoUser(scope, { principalId: GROUP, principalType: 'Group' });
const notes = (v: { notes: string[] }) => v.notes.join('\n');

describe('1. paging: a list with nextLink is incomplete', () => {
  it('truncated deny list: a grant cannot be called granted (indeterminate), and the note names the file', () => {
    const docs = rbacDocs([cryptoUser()], { incomplete: { denyAssignments: 'deny.json' } });
    const v = evaluate(requirement(), docs);
    expect(v.verdict).toBe('indeterminate');
    expect(v.indeterminate).toEqual(['get', 'encrypt', 'decrypt']);
    expect(notes(v)).toMatch(/deny\.json.*nextLink|nextLink.*deny\.json/);
  });

  it('truncated assignment list: nothing found is indeterminate, not missing, and the note names the file', () => {
    const docs = rbacDocs([assignment(ROLE_IDS.reader, VAULT)], { incomplete: { roleAssignments: 'ra.json' } });
    const v = evaluate(requirement(), docs);
    expect(v.verdict).toBe('indeterminate');
    expect(v.missing).toEqual([]);
    expect(notes(v)).toMatch(/ra\.json.*nextLink|nextLink.*ra\.json/);
  });

  it('truncated assignment list: a deny that applies still makes it missing', () => {
    const docs = rbacDocs([], {
      incomplete: { roleAssignments: 'ra.json' },
      denyAssignments: [deny(RG, ['Microsoft.KeyVault/vaults/keys/*'])],
    });
    expect(evaluate(requirement(), docs).verdict).toBe('missing');
  });

  it('complete lists keep the exact answers', () => {
    expect(evaluate(requirement(), rbacDocs([cryptoUser()])).verdict).toBe('granted');
    expect(evaluate(requirement(), rbacDocs([])).verdict).toBe('missing');
  });
});

describe('3. groups: grants and denies aimed at groups the principal may belong to', () => {
  const member = { groupIds: [GROUP], complete: true };
  const notMember = { groupIds: [OTHER_GROUP], complete: true };
  const partial = { groupIds: [OTHER_GROUP], complete: false };

  it.each([
    ['membership unknown', undefined, 'indeterminate'],
    ['a member (transitiveMemberOf lists the group)', member, 'granted'],
    ['not a member (complete list without the group)', notMember, 'missing'],
    ['membership list truncated and the group not on the first page', partial, 'indeterminate'],
  ] as const)('group grant, %s -> %s', (_n, groups, want) => {
    const v = evaluate(requirement(), rbacDocs([groupGrant()], groups ? { principalGroups: groups } : {}));
    expect(v.verdict).toBe(want);
    if (want === 'granted') expect(v.permissions.encrypt.via[0]).toMatchObject({ group: GROUP });
    if (want === 'indeterminate') {
      expect(v.permissions.encrypt.conditionalVia?.[0]).toMatchObject({ group: GROUP });
      expect(notes(v)).toMatch(/--groups/);
    }
  });

  it('the published-shape ARM group grant: indeterminate without memberships', () => {
    const ra = parseRoleAssignments(fixture('arm/role-assignments-group.json'));
    expect(evaluate(requirement(), rbacDocs(ra)).verdict).toBe('indeterminate');
  });

  it('an assignment to another object with no principalType may be a group: indeterminate when unknown', () => {
    const a = cryptoUser(VAULT, { principalId: GROUP, principalType: undefined });
    expect(evaluate(requirement(), rbacDocs([a])).verdict).toBe('indeterminate');
    expect(evaluate(requirement(), rbacDocs([a], { principalGroups: member })).verdict).toBe('granted');
  });

  it('an assignment to another service principal or user never counts', () => {
    for (const principalType of ['ServicePrincipal', 'User']) {
      const a = cryptoUser(VAULT, { principalId: OTHER_SP, principalType });
      expect(evaluate(requirement(), rbacDocs([a])).verdict).toBe('missing');
    }
  });

  const groupDeny = () => parseDenyAssignments(fixture('arm/deny-assignments-group.json'));
  it.each([
    ['membership unknown', undefined, 'indeterminate'],
    ['a member', member, 'missing'],
    ['not a member', notMember, 'granted'],
  ] as const)('deny aimed at a group, %s -> %s', (_n, groups, want) => {
    const docs = rbacDocs([cryptoUser()], {
      denyAssignments: groupDeny(),
      ...(groups ? { principalGroups: groups } : {}),
    });
    const v = evaluate(requirement(), docs);
    expect(v.verdict).toBe(want);
    if (want === 'missing') {
      expect(v.missing).toEqual(['decrypt']);
      expect(v.permissions.decrypt.deniedBy?.[0]).toMatch(/operators group/);
    }
    if (want === 'indeterminate') {
      expect(v.indeterminate).toEqual(['decrypt']);
      expect(v.permissions.decrypt.possiblyDeniedBy?.[0]).toMatch(/operators group/);
    }
  });

  it.each([
    ['membership unknown', undefined, 'indeterminate'],
    ['a member of the excluded group', member, 'granted'],
    ['not a member of the excluded group', notMember, 'missing'],
  ] as const)('Everyone deny excluding a group, %s -> %s', (_n, groups, want) => {
    const d = deny(RG, ['Microsoft.KeyVault/vaults/keys/*'], { excludePrincipals: [{ id: GROUP, type: 'Group' }] });
    const docs = rbacDocs([cryptoUser()], { denyAssignments: [d], ...(groups ? { principalGroups: groups } : {}) });
    expect(evaluate(requirement(), docs).verdict).toBe(want);
  });
});

describe('4. deny assignment conditions and effect', () => {
  it('a conditional deny (published 2022-04-01 condition field) is indeterminate, not missing', () => {
    const d = parseDenyAssignments(fixture('arm/deny-assignments-conditional.json'));
    expect(d[0].condition).toMatch(/StringEquals/);
    const v = evaluate(requirement(), rbacDocs([cryptoUser()], { denyAssignments: d }));
    expect(v.verdict).toBe('indeterminate');
    expect(v.indeterminate).toEqual(['decrypt']);
    expect(notes(v)).toMatch(/condition/i);
  });

  it('a condition on one permission block of the deny is indeterminate too', () => {
    const d = deny(RG, []);
    d.permissions = [
      {
        actions: [],
        notActions: [],
        dataActions: ['Microsoft.KeyVault/vaults/keys/*'],
        notDataActions: [],
        condition: "@Resource[x] StringEquals 'y'",
      },
    ];
    const v = evaluate(requirement(), rbacDocs([cryptoUser()], { denyAssignments: [d] }));
    expect(v.verdict).toBe('indeterminate');
  });

  it.each([
    ['audit', 'granted'],
    ['Audit', 'granted'],
    ['enforced', 'missing'],
    [undefined, 'missing'],
  ])('denyAssignmentEffect %s -> %s', (effect, want) => {
    const d = deny(RG, ['Microsoft.KeyVault/vaults/keys/*'], effect ? { effect } : {});
    expect(evaluate(requirement(), rbacDocs([cryptoUser()], { denyAssignments: [d] })).verdict).toBe(want);
  });

  it('the parser reads denyAssignmentEffect', () => {
    const raw = fixture('arm/deny-assignments-everyone.json') as { value: { properties: Record<string, unknown> }[] };
    raw.value[0].properties.denyAssignmentEffect = 'audit';
    expect(parseDenyAssignments(raw)[0].effect).toBe('audit');
  });
});

describe('5. the tenant root management group covers every subscription of the tenant', () => {
  it.each([
    ['tenant ID as written', MG(TENANT)],
    ['tenant ID upper-cased', MG(TENANT.toUpperCase())],
  ])('Crypto User at the tenant root group (%s) -> granted', (_n, scope) => {
    const v = evaluate(requirement(), rbacDocs([cryptoUser(scope)]));
    expect(v.verdict).toBe('granted');
    expect(v.permissions.encrypt.via[0]).toMatchObject({ scope });
    expect(v.readerOnVault).toBeDefined();
  });

  it('Reader at the tenant root group gives Reader on the vault', () => {
    const v = evaluate(requirement(), rbacDocs([cryptoUser(), assignment(ROLE_IDS.reader, MG(TENANT))]));
    expect(v.readerOnVault?.granted).toBe(true);
  });

  it('a deny at the tenant root group applies', () => {
    const d = deny(MG(TENANT), ['Microsoft.KeyVault/vaults/keys/*']);
    expect(evaluate(requirement(), rbacDocs([cryptoUser()], { denyAssignments: [d] })).verdict).toBe('missing');
  });

  it('another management group stays indeterminate offline', () => {
    expect(evaluate(requirement(), rbacDocs([cryptoUser(MG('corp'))])).verdict).toBe('indeterminate');
  });
});

describe('6. management groups on the live path: ARM listed these for the key scope', () => {
  const listed: Partial<ObservedDocuments> = { ancestry: { listedByArmForKeyScope: true } };
  it('an assignment at a management group ARM returned for the key scope is an ancestor: granted', () => {
    const v = evaluate(requirement(), rbacDocs([cryptoUser(MG('corp'))], listed));
    expect(v.verdict).toBe('granted');
    expect(v.permissions.get.via[0]).toMatchObject({ scope: MG('corp') });
  });

  it('a deny at a management group ARM returned for the key scope applies', () => {
    const d = deny(MG('corp'), ['Microsoft.KeyVault/vaults/keys/*']);
    const v = evaluate(requirement(), rbacDocs([cryptoUser()], { ...listed, denyAssignments: [d] }));
    expect(v.verdict).toBe('missing');
  });

  it('known ancestry: a listed management group applies, an unlisted one is not an ancestor', () => {
    const ancestry = { managementGroupIds: ['corp', TENANT] };
    expect(evaluate(requirement(), rbacDocs([cryptoUser(MG('CORP'))], { ancestry })).verdict).toBe('granted');
    expect(evaluate(requirement(), rbacDocs([cryptoUser(MG('sandbox'))], { ancestry })).verdict).toBe('missing');
  });

  it('the flag never makes a subscription path outside the key an ancestor', () => {
    const v = evaluate(requirement(), rbacDocs([cryptoUser(`${SUB}/resourceGroups/rg-other`)], listed));
    expect(v.verdict).toBe('missing');
    expect(KEY).toContain(VAULT);
    expect(ATLAS_SP).not.toBe(GROUP);
  });
});
