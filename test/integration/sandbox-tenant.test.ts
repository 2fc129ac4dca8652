// The emulator's directory and surroundings through the real SDK and Atlas client: assignedTo() (groups, transitive),
// the management-group hierarchy whose root is the tenant ID, and Atlas's published IP addresses.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AtlasClient } from '../../src/atlas/client.js';
import { AtlasAdapter } from '../../src/atlas/target.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { clients, CRYPTO_USER, fixture, rawFetch, READER, shapeDiff, type Clients } from './sandbox-arm.helpers.js';

let sb: Sandbox;
let c: Clients;
let vaultId: string;

beforeAll(async () => {
  sb = await startSandbox({ timeScale: 0.001 });
  c = clients(sb);
  vaultId = String(sb.control.createVault({ vault: 'kv-tenant', resourceGroup: 'rg-tenant' }).id);
});
afterAll(async () => {
  await sb?.close();
});

async function list(scope: string, filter?: string) {
  const out = [];
  for await (const a of c.auth.roleAssignments.listForScope(scope.replace(/^\//, ''), filter ? { filter } : {}))
    out.push(a);
  return out;
}

describe('assignedTo() lists the assignments of the groups the principal is in (transitively)', () => {
  it('a nested group grant is listed under assignedTo, not under principalId eq; membership changes emit nothing', async () => {
    const atlas = sb.control.atlasPrincipalId;
    sb.control.clearNotices();
    sb.control.tenant.addToGroup({ group: 'inner' });
    const inner = sb.control.tenant.ensureGroup({ group: 'inner' });
    sb.control.tenant.addToGroup({ group: 'outer', principalId: inner.objectId });
    expect(sb.control.notices()).toEqual([]);
    const outer = sb.control.tenant.ensureGroup({ group: 'outer' });
    sb.control.assignRole({
      scope: vaultId,
      role: 'Key Vault Crypto User',
      principalId: outer.objectId,
      principalType: 'Group',
    });
    sb.control.assignRole({
      scope: vaultId,
      role: 'Reader',
      principalId: sb.control.tenant.ensureGroup({ group: 'other' }).objectId,
      principalType: 'Group',
    });

    const viaGroups = await list(vaultId, `assignedTo('${atlas}')`);
    expect(viaGroups.map((a) => [a.principalId, a.principalType, a.roleDefinitionId?.split('/').pop()])).toEqual([
      [outer.objectId, 'Group', CRYPTO_USER],
    ]);
    expect(await list(vaultId, `principalId eq '${atlas}'`)).toEqual([]);
    expect(sb.control.tenant.groupsOf().sort()).toEqual([inner.objectId, outer.objectId].sort());
  });

  it('deny assignments: assignedTo lists a deny aimed at one of the groups, not one aimed at another group', async () => {
    const atlas = sb.control.atlasPrincipalId;
    const mine = sb.control.tenant.ensureGroup({ group: 'outer' }).objectId;
    const theirs = sb.control.tenant.ensureGroup({ group: 'other' }).objectId;
    for (const id of [mine, theirs]) {
      sb.control.addDenyAssignment({
        scope: vaultId,
        principals: [{ id, type: 'Group' }],
        dataActions: ['Microsoft.KeyVault/vaults/keys/*'],
      });
    }
    const out = [];
    for await (const d of c.auth.denyAssignments.listForScope(vaultId.slice(1), { filter: `assignedTo('${atlas}')` }))
      out.push(d);
    expect(out.map((d) => d.principals?.map((p) => p.id))).toEqual([[mine]]);
  });
});

describe('management groups: the tenant root group holds the subscription', () => {
  it('an assignment at the tenant root group is listed for the vault, in the published list shape', async () => {
    const root = `/providers/Microsoft.Management/managementGroups/${sb.control.tenantId}`;
    const child = sb.control.tenant.addManagementGroup({ id: 'mg-platform' });
    sb.control.tenant.placeSubscription({ group: 'mg-platform' });
    expect(sb.control.tenant.managementGroups()).toEqual(['mg-platform', sb.control.tenantId.toLowerCase()]);
    const bob = sb.control.addPrincipal({ name: 'bob-mg', type: 'ServicePrincipal' });
    sb.control.assignRole({
      scope: root,
      role: 'Reader',
      principalId: bob.objectId,
      principalType: 'ServicePrincipal',
    });
    sb.control.assignRole({
      scope: child,
      role: 'Key Vault Crypto User',
      principalId: bob.objectId,
      principalType: 'ServicePrincipal',
    });
    // Another management group the subscription is not under: not listed.
    const elsewhere = sb.control.tenant.addManagementGroup({ id: 'mg-sandbox' });
    sb.control.assignRole({
      scope: elsewhere,
      role: 'Key Vault Administrator',
      principalId: bob.objectId,
      principalType: 'ServicePrincipal',
    });

    const got = await list(vaultId, `assignedTo('${bob.objectId}')`);
    expect(got.map((a) => [a.scope, a.roleDefinitionId?.split('/').pop()]).sort()).toEqual(
      [
        [child, CRYPTO_USER],
        [root, READER],
      ].sort(),
    );
    const wire = await rawFetch(sb)(
      `${vaultId}/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=${encodeURIComponent(`assignedTo('${bob.objectId}')`)}`,
      { headers: { authorization: 'Bearer actor:admin' } },
    );
    const example = fixture('arm-authorization-2022-04-01-RoleAssignments_ListForScope.json').responses['200'].body;
    expect(shapeDiff(example, wire.json)).toEqual([]);
  });
});

describe("Atlas's published addresses", () => {
  it('control-plane addresses need no authentication and only version 2023-11-15; project addresses need the key', async () => {
    const f = rawFetch(sb);
    const base = new URL(sb.atlasBaseUrl).pathname;
    const anon = await f(`${base}/unauth/controlPlaneIPAddresses`, {
      headers: { accept: 'application/vnd.atlas.2023-11-15+json' },
    });
    expect(anon.status).toBe(200);
    expect(Object.keys((anon.json as { outbound: object }).outbound).sort()).toEqual(['aws', 'azure', 'gcp']);
    const wrongVersion = await f(`${base}/unauth/controlPlaneIPAddresses`, {
      headers: { accept: 'application/vnd.atlas.2023-01-01+json' },
    });
    expect(wrongVersion.status).toBe(406);
    const unauth = await f(`${base}/groups/0123456789abcdef01234567/ipAddresses`, {
      headers: { accept: 'application/vnd.atlas.2023-01-01+json' },
    });
    expect(unauth.status).toBe(401);
  });

  it('the Atlas adapter reads both through the real client (digest) and flattens the outbound addresses', async () => {
    const d = sb.describe();
    const client = new AtlasClient({
      baseUrl: d.atlasBaseUrl,
      publicKey: d.atlasPublicKey,
      privateKey: d.atlasPrivateKey,
      ca: sb.ca,
    });
    try {
      const { groupId } = sb.control.atlas.createProject({ name: 'addresses' });
      const got = await new AtlasAdapter(client).loadAddresses(groupId);
      expect(got).toEqual(sb.control.tenant.atlasAddresses({ projectId: groupId }));
      expect(got.controlPlane.length).toBeGreaterThan(2);
      expect(got.project).toHaveLength(1);
    } finally {
      await client.close();
    }
  });
});

describe('PIM role-assignment schedule instances', () => {
  it('a time-bound assignment is listed with its end under assignedTo(), in the published shape', async () => {
    const atlas = sb.control.atlasPrincipalId;
    const a = sb.control.assignRole({
      scope: vaultId,
      role: 'Key Vault Crypto Officer',
      principalId: atlas,
      principalType: 'ServicePrincipal',
    });
    const end = '2030-01-02T03:04:05.000Z';
    sb.control.tenant.makeTimeBound({ assignmentId: String(a.id), end });
    const out = [];
    for await (const i of c.auth.roleAssignmentScheduleInstances.listForScope(vaultId.slice(1), {
      filter: `assignedTo('${atlas}')`,
    }))
      out.push(i);
    expect(out.map((i) => [i.originRoleAssignmentId, i.endDateTime?.toISOString()])).toEqual([[a.id, end]]);
    const wire = await rawFetch(sb)(
      `${vaultId}/providers/Microsoft.Authorization/roleAssignmentScheduleInstances?api-version=2020-10-01`,
      { headers: { authorization: 'Bearer actor:admin' } },
    );
    const example = fixture('arm-authorization-2020-10-01-GetRoleAssignmentScheduleInstancesByScope.json').responses[
      '200'
    ].body;
    // The published instance carries an ABAC condition and links to an eligibility; this one has neither.
    const first = (example as { value: { properties: Record<string, unknown> }[] }).value[0].properties;
    for (const k of [
      'condition',
      'conditionVersion',
      'linkedRoleEligibilityScheduleId',
      'linkedRoleEligibilityScheduleInstanceId',
    ])
      delete first[k];
    expect(shapeDiff(example, wire.json)).toEqual([]);
  });
});
