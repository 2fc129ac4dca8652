// Issue 17: document kinds the parsers must tell apart, paging markers, and Graph memberships.
import { describe, expect, it } from 'vitest';
import {
  DocumentError,
  nextLinkOf,
  parseDenyAssignments,
  parseGroupMemberships,
  parseRoleAssignments,
} from '../../../src/core/documents.js';
import { exampleBody, fixture } from './fixtures.js';

function thrown(f: () => unknown): DocumentError {
  try {
    f();
  } catch (e) {
    if (e instanceof DocumentError) return e;
    throw e;
  }
  throw new Error('expected a DocumentError');
}

describe('2. only active role assignments are read as role assignments', () => {
  it.each([
    [
      'PIM roleAssignmentSchedules (published example)',
      'arm-authorization-2020-10-01-GetRoleAssignmentSchedulesByScope.json',
    ],
    [
      'PIM roleAssignmentScheduleInstances (published example)',
      'arm-authorization-2020-10-01-GetRoleAssignmentScheduleInstancesByScope.json',
    ],
  ])('%s is rejected, naming the field and what was expected', (_n, file) => {
    const e = thrown(() => parseRoleAssignments(exampleBody(file), 'pim.json'));
    expect(e.path).toBe('value[0].type');
    expect(e.message).toMatch(/^pim\.json: value\[0\]\.type: expected Microsoft\.Authorization\/roleAssignments/);
    expect(e.message).toMatch(/RoleAssignmentSchedule/);
  });

  it('without a type, an ID that is not .../roleAssignments/{name} is rejected', () => {
    const body = exampleBody('arm-authorization-2020-10-01-GetRoleAssignmentScheduleInstancesByScope.json') as {
      value: Record<string, unknown>[];
    };
    delete body.value[0].type;
    const e = thrown(() => parseRoleAssignments(body, 'x.json'));
    expect(e.path).toBe('value[0].id');
    expect(e.message).toMatch(/roleAssignments\/\{name\}/);
  });

  it('a deny assignment list is not a role assignment list, and the reverse', () => {
    // A deny assignment has no roleDefinitionId: the missing field is named first.
    expect(thrown(() => parseRoleAssignments(fixture('arm/deny-assignments-everyone.json'))).path).toBe(
      'value[0].properties.roleDefinitionId',
    );
    expect(thrown(() => parseDenyAssignments(fixture('arm/role-assignments-granted.json'))).path).toBe('value[0].type');
  });

  it('the published role assignment list and az output still parse', () => {
    expect(
      parseRoleAssignments(exampleBody('arm-authorization-2022-04-01-RoleAssignments_ListForScope.json')).length,
    ).toBeGreaterThan(0);
    expect(parseRoleAssignments(fixture('az/role-assignment-list-granted.json')).length).toBeGreaterThan(0);
    expect(
      parseDenyAssignments(exampleBody('arm-authorization-2022-04-01-GetDenyAssignmentsForResourceGroup.json')),
    ).toHaveLength(1);
  });
});

describe('1. paging markers', () => {
  it.each([
    ['ARM nextLink', 'arm/role-assignments-paged.json', /\$skiptoken=/],
    ['Graph @odata.nextLink', 'graph/sp-transitive-memberof-other.json', /\$skiptoken=/],
  ])('%s is found', (_n, file, want) => {
    expect(nextLinkOf(fixture(file))).toMatch(want);
  });
  it.each([
    ['no nextLink', 'arm/role-assignments-granted.json'],
    ['a bare array (az prints every page)', 'az/role-assignment-list-granted.json'],
  ])('%s -> undefined', (_n, file) => {
    expect(nextLinkOf(fixture(file))).toBeUndefined();
  });
  it('nextLink: null (some SDK dumps) is not a next page', () => {
    expect(nextLinkOf({ value: [], nextLink: null })).toBeUndefined();
  });
});

describe('Graph transitiveMemberOf', () => {
  it('keeps groups, drops directory roles, and is complete without @odata.nextLink', () => {
    expect(parseGroupMemberships(fixture('graph/sp-transitive-memberof.json'))).toEqual({
      groupIds: ['9b2e4c6a-7d1f-4a3b-8c5e-0f1a2b3c4d5e'],
      complete: true,
    });
  });
  it('a page with @odata.nextLink is incomplete', () => {
    expect(parseGroupMemberships(fixture('graph/sp-transitive-memberof-other.json')).complete).toBe(false);
  });
  it('items of an OData-cast response (no @odata.type) count as groups', () => {
    const r = parseGroupMemberships({ value: [{ id: '11111111-2222-3333-4444-555555555555', displayName: 'x' }] });
    expect(r.groupIds).toEqual(['11111111-2222-3333-4444-555555555555']);
  });
  it.each([
    ['an item without id', fixture('graph/sp-transitive-memberof-bad.json'), 'value[0].id'],
    ['an id that is not a GUID', { value: [{ '@odata.type': '#microsoft.graph.group', id: 'ops' }] }, 'value[0].id'],
    ['no value array', { groups: [] }, 'value'],
    ['a role assignment list', fixture('arm/role-assignments-granted.json'), 'value[0].id'],
  ])('%s is rejected naming %s', (_n, json, path) => {
    const e = thrown(() => parseGroupMemberships(json, 'groups.json'));
    expect(e.path).toBe(path);
    expect(e.message).toMatch(/^groups\.json: /);
  });
});
