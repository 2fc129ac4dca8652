// Conformance of the sandbox's ARM half with the real @azure/arm-authorization 9 and @azure/arm-keyvault 5
// clients over HTTPS: routes, status codes and bodies compared with the azure-rest-api-specs examples in
// test/fixtures (see SOURCES.md there), errors in ARM's shape, and events for every successful write.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILTIN_ROLES } from '../../src/core/builtinRoles.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import type { ChangeNotice, KeyVaultNotice } from '../../src/sandbox/contract.js';
import {
  clients,
  CRYPTO_USER,
  failure,
  fixture,
  last,
  rawFetch,
  READER,
  roleId,
  shapeDiff,
  type Clients,
} from './sandbox-arm.helpers.js';

let sb: Sandbox;
let c: Clients;
let sub: string;
let rgScope: string;
let kvId: string;

const ops = (ns: (ChangeNotice | KeyVaultNotice)[]) => ns.map((n) => ('operationName' in n ? n.operationName : n.type));

beforeAll(async () => {
  sb = await startSandbox({ timeScale: 0.001 });
  // The tenant's admin: these tests are about shapes; caller authorization has its own tests (security-authorization).
  c = clients(sb, 'admin');
  sub = `/subscriptions/${sb.subscriptionId}`;
  sb.control.createResourceGroup({ name: 'rg-conf' });
  rgScope = `${sub}/resourceGroups/rg-conf`;
  const v = await c.kv.vaults.beginCreateOrUpdateAndWait('rg-conf', 'kv-conf', {
    location: 'westus',
    properties: {
      tenantId: sb.tenantId,
      sku: { family: 'A', name: 'standard' },
      enableRbacAuthorization: true,
      accessPolicies: [],
    },
  });
  kvId = v.id!;
});

afterAll(async () => {
  await sb?.close();
});

describe('Microsoft.Resources', () => {
  it('creates and reads resource groups; a vault in a missing group is 404 ResourceGroupNotFound', async () => {
    const f = rawFetch(sb);
    const put = await f(`${sub}/resourcegroups/rg-new?api-version=2021-04-01`, {
      method: 'PUT',
      headers: { authorization: 'Bearer actor:alice', 'content-type': 'application/json' },
      body: JSON.stringify({ location: 'westus' }),
    });
    expect(put.status).toBe(201);
    expect(put.json).toMatchObject({
      name: 'rg-new',
      location: 'westus',
      properties: { provisioningState: 'Succeeded' },
    });
    const again = await f(`${sub}/resourcegroups/rg-new?api-version=2021-04-01`, {
      method: 'PUT',
      headers: { authorization: 'Bearer actor:alice', 'content-type': 'application/json' },
      body: JSON.stringify({ location: 'westus' }),
    });
    expect(again.status).toBe(200);
    const get = await f(`${sub}/resourcegroups/rg-missing?api-version=2021-04-01`, {
      headers: { authorization: 'Bearer x' },
    });
    expect(get.status).toBe(404);
    expect(get.json).toEqual({
      error: { code: 'ResourceGroupNotFound', message: "Resource group 'rg-missing' could not be found." },
    });

    const err = await failure(
      c.kv.vaults.beginCreateOrUpdateAndWait('rg-missing', 'kv-nowhere', {
        location: 'westus',
        properties: { tenantId: sb.tenantId, sku: { family: 'A', name: 'standard' } },
      }),
    );
    expect(err).toMatchObject({ statusCode: 404, code: 'ResourceGroupNotFound' });
  });
});

describe('Microsoft.Authorization role assignments (2022-04-01)', () => {
  it('PUT creates (201, shaped like RoleAssignments_CreateForSubscription), the same again is 200, another name is 409 RoleAssignmentExists', async () => {
    const example = fixture('arm-authorization-2022-04-01-RoleAssignments_CreateForSubscription.json');
    const name = '05c5a614-a7d6-4502-b150-c2fb455033ff';
    const params = {
      roleDefinitionId: roleId(sb, READER),
      principalId: 'ce2ce14e-85d7-4629-bdbc-454d0519d987',
      principalType: 'User' as const,
    };
    const created = await c.auth.roleAssignments.create(sub.slice(1), name, params);
    const wire = last(c.wire, 'PUT');
    expect(wire.status).toBe(201);
    expect(shapeDiff(example.responses['201'].body, wire.body)).toEqual([]);
    expect(created).toMatchObject({
      id: `${sub}/providers/Microsoft.Authorization/roleAssignments/${name}`,
      name,
      scope: sub,
      principalId: params.principalId,
    });

    await c.auth.roleAssignments.create(sub.slice(1), name, params);
    expect(last(c.wire, 'PUT').status).toBe(200);
    expect(shapeDiff(example.responses['200'].body, last(c.wire, 'PUT').body)).toEqual([]);

    const dup = await failure(
      c.auth.roleAssignments.create(sub.slice(1), '15c5a614-a7d6-4502-b150-c2fb455033ff', params),
    );
    expect(dup).toMatchObject({ statusCode: 409, code: 'RoleAssignmentExists' });
    expect(last(c.wire, 'PUT').body).toEqual({
      error: { code: 'RoleAssignmentExists', message: 'The role assignment already exists.' },
    });

    const changed = await failure(
      c.auth.roleAssignments.create(sub.slice(1), name, { ...params, roleDefinitionId: roleId(sb, CRYPTO_USER) }),
    );
    expect(changed).toMatchObject({ statusCode: 409, code: 'RoleAssignmentUpdateNotPermitted' });
  });

  it('an unknown role is 400 RoleDefinitionDoesNotExist; a malformed name or principal is 400', async () => {
    const unknown = await failure(
      c.auth.roleAssignments.create(kvId.slice(1), '25c5a614-a7d6-4502-b150-c2fb455033ff', {
        roleDefinitionId: roleId(sb, '99999999-9999-4999-8999-999999999999'),
        principalId: sb.atlasPrincipalId,
      }),
    );
    expect(unknown).toMatchObject({ statusCode: 400, code: 'RoleDefinitionDoesNotExist' });
    const badName = await failure(
      c.auth.roleAssignments.create(kvId.slice(1), 'not-a-guid', {
        roleDefinitionId: roleId(sb, READER),
        principalId: sb.atlasPrincipalId,
      }),
    );
    expect(badName).toMatchObject({ statusCode: 400, code: 'InvalidRoleAssignmentId' });
    const badPrincipal = await failure(
      c.auth.roleAssignments.create(kvId.slice(1), '35c5a614-a7d6-4502-b150-c2fb455033ff', {
        roleDefinitionId: roleId(sb, READER),
        principalId: 'alice',
      }),
    );
    expect(badPrincipal).toMatchObject({ statusCode: 400, code: 'InvalidPrincipalId' });
  });

  it('stores and returns condition and conditionVersion', async () => {
    const condition = "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})))";
    const a = await c.auth.roleAssignments.create(kvId.slice(1), '45c5a614-a7d6-4502-b150-c2fb455033ff', {
      roleDefinitionId: roleId(sb, 'f58310d9-a9f6-439a-9e8d-f62e7b41a168'),
      principalId: '11111111-2222-4333-8444-555555555555',
      principalType: 'ServicePrincipal',
      condition,
      conditionVersion: '2.0',
    });
    expect(a).toMatchObject({ condition, conditionVersion: '2.0' });
    // The SDK puts `/{roleAssignmentId}` after the host: pass the ID without its leading `/` (HELPERS.md).
    const got = await c.auth.roleAssignments.getById(a.id!.slice(1));
    expect(got).toMatchObject({ condition, conditionVersion: '2.0', principalType: 'ServicePrincipal' });
  });

  it('lists at any scope: no filter (at, above, below), atScope(), principalId eq, assignedTo(); by path segment', async () => {
    const p = '66666666-7777-4888-8999-000000000001';
    const other = '66666666-7777-4888-8999-000000000002';
    sb.control.createVault({ vault: 'kv-conf1', resourceGroup: 'rg-conf' });
    sb.control.createVault({ vault: 'kv-conf10', resourceGroup: 'rg-conf' });
    sb.control.createKey({ vault: 'kv-conf1', key: 'k' });
    const atSub = sb.control.assignRole({ scope: sub, role: 'Reader', principalId: p });
    const atRg = sb.control.assignRole({ scope: rgScope, role: 'Key Vault Crypto Officer', principalId: other });
    const atVault = sb.control.assignRole({ scope: 'kv-conf1', role: 'Key Vault Crypto User', principalId: p });
    const atKey = sb.control.assignRole({
      scope: `${sb.control.getVault({ vault: 'kv-conf1' }).id}/keys/k`,
      role: 'Key Vault Crypto Service Encryption User',
      principalId: p,
    });
    const atVault10 = sb.control.assignRole({ scope: 'kv-conf10', role: 'Key Vault Crypto User', principalId: p });
    const vault1 = String(sb.control.getVault({ vault: 'kv-conf1' }).id).slice(1);
    const ids = async (it: AsyncIterable<{ id?: string }>) => {
      const out: string[] = [];
      for await (const a of it) out.push(a.id!);
      return out;
    };
    const all = await ids(c.auth.roleAssignments.listForScope(vault1));
    expect(all).toEqual(expect.arrayContaining([atSub.id, atRg.id, atVault.id, atKey.id]));
    expect(all).not.toContain(atVault10.id);

    const atScope = await ids(c.auth.roleAssignments.listForScope(vault1, { filter: 'atScope()' }));
    expect(atScope).toEqual(expect.arrayContaining([atSub.id, atRg.id, atVault.id]));
    expect(atScope).not.toContain(atKey.id);

    const mine = await ids(c.auth.roleAssignments.listForScope(vault1, { filter: `principalId eq '${p}'` }));
    expect(mine.sort()).toEqual([atSub.id, atVault.id, atKey.id].map(String).sort());
    const assigned = await ids(c.auth.roleAssignments.listForScope(vault1, { filter: `assignedTo('${p}')` }));
    expect(assigned.sort()).toEqual(mine.sort());
    const both = await ids(c.auth.roleAssignments.listForScope(vault1, { filter: `atScope() and assignedTo('${p}')` }));
    expect(both.sort()).toEqual([atSub.id, atVault.id].map(String).sort());

    const forRg = await ids(
      c.auth.roleAssignments.listForResourceGroup('rg-conf', { filter: `principalId eq '${other}'` }),
    );
    expect(forRg).toEqual([atRg.id]);
    const forSub = await ids(c.auth.roleAssignments.listForSubscription({ filter: `principalId eq '${p}'` }));
    expect(forSub).toEqual(expect.arrayContaining([atSub.id, atVault.id, atKey.id, atVault10.id]));

    const example = fixture('arm-authorization-2022-04-01-RoleAssignments_ListForScope.json');
    expect(shapeDiff(example.responses['200'].body, last(c.wire, 'GET').body)).toEqual([]);

    const bad = await failure(ids(c.auth.roleAssignments.listForScope(vault1, { filter: 'roleName eq 1' })));
    expect(bad.statusCode).toBe(400);
  });

  it('pages long lists with nextLink, and the SDK follows it', async () => {
    sb.control.setPageSize(2);
    const from = c.wire.length;
    try {
      const got: string[] = [];
      for await (const a of c.auth.roleAssignments.listForSubscription()) got.push(a.id!);
      expect(got.length).toBe(sb.control.roleAssignments().length);
      expect(new Set(got).size).toBe(got.length);
      const pages = c.wire
        .slice(from)
        .filter((w) => w.method === 'GET' && /roleAssignments/.test(w.url) && !/\$filter/.test(w.url));
      expect(pages.length).toBeGreaterThan(1);
      expect((pages[0].body as { nextLink?: string }).nextLink).toMatch(
        /^https:\/\/localhost:\d+\/subscriptions\/.+\$skipToken=/,
      );
    } finally {
      sb.control.setPageSize(1000);
    }
  });

  it('GET, then DELETE answers 200 with the body (RoleAssignments_Delete) and 204 once gone', async () => {
    const example = fixture('arm-authorization-2022-04-01-RoleAssignments_Delete.json');
    const a = sb.control.assignRole({
      scope: kvId,
      role: 'Reader',
      principalId: '77777777-7777-4777-8777-777777777777',
    });
    const got = await c.auth.roleAssignments.get(kvId.slice(1), String(a.name));
    expect(got.id).toBe(a.id);
    const del = await c.auth.roleAssignments.delete(kvId.slice(1), String(a.name));
    expect(last(c.wire, 'DELETE').status).toBe(200);
    expect(shapeDiff(example.responses['200'].body, last(c.wire, 'DELETE').body)).toEqual([]);
    expect(del?.id).toBe(a.id);
    await c.auth.roleAssignments.delete(kvId.slice(1), String(a.name));
    expect(last(c.wire, 'DELETE').status).toBe(204);
    const missing = await failure(c.auth.roleAssignments.get(kvId.slice(1), String(a.name)));
    expect(missing).toMatchObject({ statusCode: 404, code: 'RoleAssignmentNotFound' });
  });

  it('each write and delete is a change notice naming the operation, the resource and the caller', async () => {
    const alice = clients(sb, 'alice');
    sb.control.clearNotices();
    const name = '88888888-8888-4888-8888-888888888888';
    await alice.auth.roleAssignments.create(kvId.slice(1), name, {
      roleDefinitionId: roleId(sb, READER),
      principalId: sb.atlasPrincipalId,
    });
    await alice.auth.roleAssignments.delete(kvId.slice(1), name);
    await alice.auth.roleAssignments.delete(kvId.slice(1), name); // 204: nothing changed, no event
    const ns = sb.control.notices() as ChangeNotice[];
    expect(ns.map((n) => [n.kind, n.operationName, n.resourceUri, n.actor.name])).toEqual([
      [
        'write',
        'Microsoft.Authorization/roleAssignments/write',
        `${kvId}/providers/Microsoft.Authorization/roleAssignments/${name}`,
        'alice',
      ],
      [
        'delete',
        'Microsoft.Authorization/roleAssignments/delete',
        `${kvId}/providers/Microsoft.Authorization/roleAssignments/${name}`,
        'alice',
      ],
    ]);
    const aliceId = sb.control.principals().find((p) => p.name === 'alice')!.objectId;
    expect(ns[1]).toMatchObject({
      subscriptionId: sb.subscriptionId,
      tenantId: sb.tenantId,
      httpMethod: 'DELETE',
      actor: { objectId: aliceId },
    });
    expect(sb.control.counts().byCallerOperation.alice).toMatchObject({
      'roleAssignments.create': 1,
      'roleAssignments.delete': 2,
    });
  });
});

describe('Microsoft.Authorization role and deny definitions', () => {
  it('GETs built-ins by GUID at any scope, shaped like GetRoleDefinitionById', async () => {
    const example = fixture('arm-authorization-2022-04-01-GetRoleDefinitionById.json');
    const atSub = await c.auth.roleDefinitions.get(sub.slice(1), CRYPTO_USER);
    expect(shapeDiff(example.responses['200'].body, last(c.wire, 'GET').body)).toEqual([]);
    expect(atSub).toMatchObject({ roleName: 'Key Vault Crypto User', roleType: 'BuiltInRole', name: CRYPTO_USER });
    const published = BUILTIN_ROLES.find((r) => r.name === CRYPTO_USER)!;
    expect(atSub.permissions).toEqual(published.permissions);
    const atVault = await c.auth.roleDefinitions.get(kvId.slice(1), CRYPTO_USER);
    expect(atVault.id).toBe(roleId(sb, CRYPTO_USER));
    const byId = await c.auth.roleDefinitions.getById(`providers/Microsoft.Authorization/roleDefinitions/${READER}`);
    expect(byId).toMatchObject({
      roleName: 'Reader',
      id: `/providers/Microsoft.Authorization/roleDefinitions/${READER}`,
    });
  });

  it('a malformed ID is 400 InvalidRoleDefinitionId (as the recorded ARM answer); an unknown GUID is 404', async () => {
    const recording = fixture('recording-js-arm-authorization-roledefinitions_get_test-400.json') as unknown as {
      Entries: { ResponseBody: unknown }[];
    };
    await failure(c.auth.roleDefinitions.get(rgScope.slice(1), 'roleDefinitionId'));
    expect(last(c.wire, 'GET').status).toBe(400);
    expect(last(c.wire, 'GET').body).toEqual(recording.Entries[0].ResponseBody);
    const unknown = await failure(c.auth.roleDefinitions.get(sub.slice(1), '99999999-9999-4999-8999-999999999999'));
    expect(unknown).toMatchObject({ statusCode: 404, code: 'RoleDefinitionDoesNotExist' });
  });

  it("lists with $filter roleName eq '...' and type eq 'BuiltInRole'; custom roles by PUT", async () => {
    const byName: string[] = [];
    for await (const d of c.auth.roleDefinitions.list(sub.slice(1), { filter: "roleName eq 'Key Vault Crypto User'" }))
      byName.push(d.name!);
    expect(byName).toEqual([CRYPTO_USER]);
    const builtins: string[] = [];
    for await (const d of c.auth.roleDefinitions.list(sub.slice(1), { filter: "type eq 'BuiltInRole'" }))
      builtins.push(d.name!);
    expect(builtins.sort()).toEqual(BUILTIN_ROLES.map((r) => r.name).sort());

    const guid = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    const custom = await c.auth.roleDefinitions.createOrUpdate(sub.slice(1), guid, {
      roleName: 'Sandbox Key Reader',
      roleType: 'CustomRole',
      description: 'reads keys',
      permissions: [{ dataActions: ['Microsoft.KeyVault/vaults/keys/read'] }],
      assignableScopes: [sub],
    });
    expect(last(c.wire, 'PUT').status).toBe(201);
    expect(custom).toMatchObject({ name: guid, roleName: 'Sandbox Key Reader', roleType: 'CustomRole' });
    const customs: string[] = [];
    for await (const d of c.auth.roleDefinitions.list(rgScope.slice(1), { filter: "type eq 'CustomRole'" }))
      customs.push(d.roleName!);
    expect(customs).toContain('Sandbox Key Reader');
    const clash = await failure(
      c.auth.roleDefinitions.createOrUpdate(sub.slice(1), 'aaaaaaaa-bbbb-4ccc-8ddd-ffffffffffff', {
        roleName: 'Reader',
        permissions: [{ actions: ['*/read'] }],
        assignableScopes: [sub],
      }),
    );
    expect(clash).toMatchObject({ statusCode: 409, code: 'RoleDefinitionWithSameNameExists' });
    const n0 = sb.control.notices().length;
    await c.auth.roleDefinitions.delete(sub.slice(1), guid);
    expect(ops(sb.control.notices().slice(n0))).toEqual(['Microsoft.Authorization/roleDefinitions/delete']);
  });

  it('lists deny assignments at scope (seeded through the control API), shaped like GetDenyAssignmentsForResourceGroup', async () => {
    const example = fixture('arm-authorization-2022-04-01-GetDenyAssignmentsForResourceGroup.json');
    const d = sb.control.addDenyAssignment({
      scope: rgScope,
      principals: [{ id: '00000000-0000-0000-0000-000000000000', type: 'SystemDefined' }],
      excludePrincipals: [{ id: sb.atlasPrincipalId, type: 'ServicePrincipal' }],
      dataActions: ['Microsoft.KeyVault/vaults/keys/*'],
    });
    const list = [];
    for await (const x of c.auth.denyAssignments.listForResourceGroup('rg-conf')) list.push(x);
    expect(shapeDiff(example.responses['200'].body, last(c.wire, 'GET').body)).toEqual([]);
    expect(list.map((x) => x.id)).toContain(d.id);
    const atVault = [];
    for await (const x of c.auth.denyAssignments.listForScope(kvId.slice(1))) atVault.push(x.id);
    expect(atVault).toContain(d.id);
    sb.control.removeDenyAssignment({ id: String(d.id) });
  });
});

describe('Microsoft.KeyVault vaults', () => {
  it('PUT creates (201; the SDK poller ends at once), GET matches getVault.json, PATCH flips the permission model', async () => {
    const example = fixture('arm-keyvault-2024-11-01-getVault.json');
    const v = await c.kv.vaults.beginCreateOrUpdateAndWait('rg-conf', 'kv-model', {
      location: 'westus',
      properties: {
        tenantId: sb.tenantId,
        sku: { family: 'A', name: 'standard' },
        accessPolicies: [
          {
            tenantId: sb.tenantId,
            objectId: sb.atlasPrincipalId,
            permissions: { keys: ['get'], secrets: ['get'], certificates: ['get'] },
          },
        ],
      },
    });
    expect(c.wire.filter((w) => w.url.includes('/vaults/kv-model')).map((w) => [w.method, w.status])).toEqual([
      ['PUT', 201],
    ]);
    expect(v.properties.provisioningState).toBe('Succeeded');
    const got = await c.kv.vaults.get('rg-conf', 'kv-model');
    expect(
      shapeDiff(example.responses['200'].body, last(c.wire, 'GET').body).filter(
        (d) => !/hsmPoolResourceId|enabledFor/.test(d),
      ),
    ).toEqual([]);
    expect(got.properties.accessPolicies?.[0].objectId).toBe(sb.atlasPrincipalId);

    sb.control.clearNotices();
    const patched = await c.kv.vaults.update('rg-conf', 'kv-model', { properties: { enableRbacAuthorization: true } });
    expect(patched.properties?.enableRbacAuthorization).toBe(true);
    expect(patched.properties?.accessPolicies).toHaveLength(1);
    expect(ops(sb.control.notices())).toEqual(['Microsoft.KeyVault/vaults/write', 'VaultAccessPolicyChanged']);
    await c.kv.vaults.update('rg-conf', 'kv-model', { tags: { a: 'b' } });
    expect(ops(sb.control.notices()).slice(2)).toEqual(['Microsoft.KeyVault/vaults/write']);

    const replaced = await c.kv.vaults.beginCreateOrUpdateAndWait('rg-conf', 'kv-model', {
      location: 'westus',
      properties: { tenantId: sb.tenantId, sku: { family: 'A', name: 'standard' } },
    });
    expect(last(c.wire, 'PUT').status).toBe(200);
    expect(replaced.properties.accessPolicies).toEqual([]);
  });

  it('accessPolicies add unions per objectId+applicationId, remove subtracts and drops an emptied entry, replace overwrites', async () => {
    const example = fixture('arm-keyvault-2024-11-01-updateAccessPoliciesAdd.json');
    sb.control.createVault({ vault: 'kv-ap', resourceGroup: 'rg-conf', rbac: false });
    const t = sb.tenantId;
    const a = sb.atlasPrincipalId;
    const b = '12121212-3434-4565-8787-909090909090';
    const app = '13131313-1313-4131-8131-131313131313';
    const entry = (objectId: string, keys: string[], applicationId?: string) => ({
      tenantId: t,
      objectId,
      applicationId,
      permissions: { keys },
    });
    const policies = async () => (await c.kv.vaults.get('rg-conf', 'kv-ap')).properties.accessPolicies!;

    // The example's own request first: its response shape must match.
    const req = example.parameters.parameters as { properties: { accessPolicies: { permissions: object }[] } };
    await c.kv.vaults.updateAccessPolicy('rg-conf', 'kv-ap', 'add', {
      properties: {
        accessPolicies: [{ tenantId: t, objectId: b, permissions: req.properties.accessPolicies[0].permissions }],
      },
    });
    expect(shapeDiff(example.responses['200'].body, last(c.wire, 'PUT').body)).toEqual([]);
    expect(last(c.wire, 'PUT').status).toBe(200);
    await c.kv.vaults.updateAccessPolicy('rg-conf', 'kv-ap', 'replace', { properties: { accessPolicies: [] } });
    await c.kv.vaults.updateAccessPolicy('rg-conf', 'kv-ap', 'add', {
      properties: { accessPolicies: [entry(a, ['get', 'encrypt'])] },
    });
    await c.kv.vaults.updateAccessPolicy('rg-conf', 'kv-ap', 'add', {
      properties: { accessPolicies: [entry(a, ['Encrypt', 'decrypt']), entry(b, ['list'])] },
    });
    await c.kv.vaults.updateAccessPolicy('rg-conf', 'kv-ap', 'add', {
      properties: { accessPolicies: [entry(a, ['wrapKey'], app)] },
    });
    let now = await policies();
    expect(now.map((e) => [e.objectId, e.applicationId ?? null, e.permissions.keys])).toEqual([
      [a, null, ['get', 'encrypt', 'decrypt']],
      [b, null, ['list']],
      [a, app, ['wrapKey']],
    ]);
    await c.kv.vaults.updateAccessPolicy('rg-conf', 'kv-ap', 'remove', {
      properties: { accessPolicies: [entry(a, ['ENCRYPT']), entry(b, ['list'])] },
    });
    now = await policies();
    expect(now.map((e) => [e.objectId, e.applicationId ?? null, e.permissions.keys])).toEqual([
      [a, null, ['get', 'decrypt']],
      [a, app, ['wrapKey']],
    ]);
    sb.control.clearNotices();
    await c.kv.vaults.updateAccessPolicy('rg-conf', 'kv-ap', 'replace', {
      properties: { accessPolicies: [entry(b, ['get'])] },
    });
    now = await policies();
    expect(now.map((e) => [e.objectId, e.permissions.keys])).toEqual([[b, ['get']]]);
    const ns = sb.control.notices();
    expect(ops(ns)).toEqual(['Microsoft.KeyVault/vaults/accessPolicies/write', 'VaultAccessPolicyChanged']);
    expect((ns[0] as ChangeNotice).resourceUri).toBe(
      `${sb.control.getVault({ vault: 'kv-ap' }).id}/accessPolicies/replace`,
    );

    const badPerm = await failure(
      c.kv.vaults.updateAccessPolicy('rg-conf', 'kv-ap', 'add', {
        properties: { accessPolicies: [entry(a, ['fly'])] },
      }),
    );
    expect(badPerm.statusCode).toBe(400);
    expect(last(c.wire, 'PUT').body).toMatchObject({
      error: {
        code: 'BadRequest',
        message: expect.stringContaining('properties.accessPolicies[0].permissions.keys[0]'),
      },
    });
  });
});

describe('Microsoft.KeyVault keys', () => {
  it('createIfNotExist (shaped like createKey.json) returns the existing key the second time; get, versions, getVersion', async () => {
    const created = fixture('arm-keyvault-2024-11-01-createKey.json');
    const versionEx = fixture('arm-keyvault-2024-11-01-getKeyVersion.json');
    sb.control.clearNotices();
    const k = await c.kv.keys.createIfNotExist('rg-conf', 'kv-conf', 'ear', { properties: { kty: 'RSA' } });
    expect(shapeDiff(created.responses['200'].body, last(c.wire, 'PUT').body)).toEqual([]);
    expect(k.attributes?.enabled).toBe(true);
    expect(k.keyUriWithVersion).toMatch(/^https:\/\/kv-conf\.vault\.azure\.net:443\/keys\/ear\/[0-9a-f]{32}$/);
    expect(ops(sb.control.notices())).toEqual(['Microsoft.KeyVault/vaults/keys/write', 'KeyNewVersionCreated']);
    const again = await c.kv.keys.createIfNotExist('rg-conf', 'kv-conf', 'ear', { properties: { kty: 'RSA' } });
    expect(again.keyUriWithVersion).toBe(k.keyUriWithVersion);
    expect(sb.control.notices()).toHaveLength(2);

    const version = k.keyUriWithVersion!.split('/').pop()!;
    const v = await c.kv.keys.getVersion('rg-conf', 'kv-conf', 'ear', version);
    expect(shapeDiff(versionEx.responses['200'].body, last(c.wire, 'GET').body)).toEqual([]);
    expect(v.name).toBe(version);

    const rotated = sb.control.rotateKey({ vault: 'kv-conf', key: 'ear' });
    const versions: string[] = [];
    for await (const x of c.kv.keys.listVersions('rg-conf', 'kv-conf', 'ear')) versions.push(x.name!);
    expect(versions).toEqual([version, rotated.version]);
    const current = await c.kv.keys.get('rg-conf', 'kv-conf', 'ear');
    expect(current.keyUriWithVersion?.endsWith(rotated.version)).toBe(true);

    const exp = Math.floor(Date.now() / 1000) - 60;
    sb.control.setKeyEnabled({ vault: 'kv-conf', key: 'ear', enabled: false });
    sb.control.setKeyExpiry({ vault: 'kv-conf', key: 'ear', exp });
    const off = await c.kv.keys.get('rg-conf', 'kv-conf', 'ear');
    expect(off.attributes).toMatchObject({ enabled: false });
    // arm-keyvault 5 passes `exp` through as unix seconds.
    expect(off.attributes?.expires).toBe(exp);

    const missing = await failure(c.kv.keys.get('rg-conf', 'kv-conf', 'nope'));
    expect(missing.statusCode).toBe(404);
  });
});

describe('checkKeyAccess: Atlas validity from the real evaluator over sandbox state', () => {
  it('follows grants, revocations, model flips, disabled/expired keys and deny assignments', () => {
    const ctl = sb.control;
    ctl.createVault({ vault: 'kv-chk', resourceGroup: 'rg-conf', rbac: true });
    ctl.createKey({ vault: 'kv-chk', key: 'k' });
    expect(ctl.checkAccess({ vault: 'kv-chk', key: 'k' })).toMatchObject({ valid: false });
    const a = ctl.assignRole({ scope: 'kv-chk', role: 'Key Vault Crypto User', principalId: sb.atlasPrincipalId });
    expect(ctl.checkAccess({ vault: 'kv-chk', key: 'k' })).toEqual({ valid: true });
    const weak = ctl.assignRole({
      scope: 'kv-chk',
      role: 'Key Vault Crypto Service Encryption User',
      principalId: sb.atlasPrincipalId,
    });
    ctl.deleteAssignment({ as: 'alice', id: String(a.id) });
    expect(ctl.checkAccess({ vault: 'kv-chk', key: 'k' })).toMatchObject({
      valid: false,
      reason: expect.stringContaining('encrypt'),
    });
    ctl.deleteAssignment({ id: String(weak.id) });

    ctl.assignRole({ scope: 'kv-chk', role: 'Key Vault Crypto User', principalId: sb.atlasPrincipalId });
    ctl.setAccessPolicy({ vault: 'kv-chk', objectId: sb.atlasPrincipalId, keys: ['get', 'encrypt', 'decrypt'] });
    ctl.setPermissionModel({ vault: 'kv-chk', model: 'accessPolicy' });
    expect(ctl.checkAccess({ vault: 'kv-chk', key: 'k' })).toEqual({ valid: true });
    ctl.setAccessPolicy({ as: 'bob', vault: 'kv-chk', objectId: sb.atlasPrincipalId, keys: ['decrypt'], op: 'remove' });
    expect(ctl.checkAccess({ vault: 'kv-chk', key: 'k' })).toMatchObject({ valid: false });
    ctl.setPermissionModel({ vault: 'kv-chk', model: 'rbac' });
    expect(ctl.checkAccess({ vault: 'kv-chk', key: 'k' })).toEqual({ valid: true });

    ctl.setKeyEnabled({ vault: 'kv-chk', key: 'k', enabled: false });
    expect(ctl.checkAccess({ vault: 'kv-chk', key: 'k' })).toEqual({ valid: false, reason: 'key is disabled' });
    ctl.setKeyEnabled({ vault: 'kv-chk', key: 'k', enabled: true });
    ctl.setKeyExpiry({ vault: 'kv-chk', key: 'k', exp: Math.floor(Date.now() / 1000) - 1 });
    expect(ctl.checkAccess({ vault: 'kv-chk', key: 'k' })).toEqual({ valid: false, reason: 'key has expired' });
    ctl.setKeyExpiry({ vault: 'kv-chk', key: 'k', exp: null });

    const d = ctl.addDenyAssignment({
      scope: 'kv-chk',
      principals: [{ id: sb.atlasPrincipalId, type: 'ServicePrincipal' }],
      dataActions: ['Microsoft.KeyVault/vaults/keys/decrypt/action'],
    });
    expect(ctl.checkAccess({ vault: 'kv-chk', key: 'k' })).toMatchObject({ valid: false });
    ctl.removeDenyAssignment({ id: String(d.id) });
    expect(ctl.checkAccess({ vault: 'kv-chk', key: 'k' })).toEqual({ valid: true });

    const vault = ctl.getVault({ vault: 'kv-chk' });
    const key = ctl.getKey({ vault: 'kv-chk', key: 'k' });
    expect(
      ctl.checkKeyAccess({
        principalId: sb.atlasPrincipalId,
        tenantId: sb.tenantId,
        subscriptionId: sb.subscriptionId,
        resourceGroupName: 'rg-conf',
        keyVaultName: String(vault.name),
        keyIdentifier: key.keyIdentifier.replace('kv-chk', 'kv-other'),
      }),
    ).toMatchObject({ valid: false });
  });
});

describe('bad requests get ARM-shaped errors, never a crash', () => {
  it('401 without a bearer token; 400 for bad JSON or a missing api-version; 404 for another subscription', async () => {
    const f = rawFetch(sb);
    const path = `${sub}/resourceGroups/rg-conf/providers/Microsoft.KeyVault/vaults/kv-conf?api-version=2026-02-01`;
    const noAuth = await f(path);
    expect(noAuth.status).toBe(401);
    expect(noAuth.json).toEqual({ error: { code: 'AuthenticationFailed', message: expect.any(String) } });
    const basic = await f(path, { headers: { authorization: 'Basic eDp5' } });
    expect(basic.status).toBe(401);
    const badJson = await f(path, {
      method: 'PUT',
      headers: { authorization: 'Bearer actor:admin', 'content-type': 'application/json' },
      body: '{"location": ',
    });
    expect(badJson.status).toBe(400);
    expect(badJson.json).toMatchObject({ error: { code: 'InvalidRequestContent' } });
    const arr = await f(
      `${sub}/providers/Microsoft.Authorization/roleAssignments/${'1'.repeat(8)}-1111-4111-8111-111111111111?api-version=2022-04-01`,
      {
        method: 'PUT',
        headers: { authorization: 'Bearer actor:admin', 'content-type': 'application/json' },
        body: '[1,2]',
      },
    );
    expect(arr.status).toBe(400);
    const noVersion = await f(path.replace(/\?.*$/, ''), { headers: { authorization: 'Bearer x' } });
    expect(noVersion.json).toMatchObject({ error: { code: 'MissingApiVersionParameter' } });
    const otherSub = await f(path.replace(sb.subscriptionId, '00000000-0000-0000-0000-000000000001'), {
      headers: { authorization: 'Bearer x' },
    });
    expect(otherSub.status).toBe(404);
    expect(otherSub.json).toMatchObject({ error: { code: 'SubscriptionNotFound' } });
    const wrongType = await f(path, {
      method: 'PUT',
      headers: { authorization: 'Bearer actor:admin', 'content-type': 'application/json' },
      body: JSON.stringify({ location: 'westus', properties: { tenantId: 7, sku: 'cheap' } }),
    });
    expect(wrongType.status).toBe(400);
    expect(wrongType.json).toMatchObject({ error: { message: expect.stringContaining('properties.tenantId') } });
    // Still serving.
    expect((await f(path, { headers: { authorization: 'Bearer x' } })).status).toBe(200);
  });
});
