// The emulator's Azure Policy (api-version 2025-03-01) through the real @azure/arm-policy client, its wire shapes
// checked against the azure-rest-api-specs examples (test/fixtures/arm-policy-2025-03-01-*.json): PUT answers 201,
// the resource listing with atScope() returns what applies at and above the vault (management groups included)
// and pages with nextLink, errors are ARM-shaped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_VAULT_POLICY_DEFINITIONS } from '../../src/core/policy.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { clients, failure, fixture, last, rawFetch, shapeDiff, type Clients } from './sandbox-arm.helpers.js';

let sb: Sandbox;
let c: Clients;
let vaultId: string;
const RBAC = KEY_VAULT_POLICY_DEFINITIONS[0];

beforeAll(async () => {
  sb = await startSandbox({ timeScale: 0.001 });
  c = clients(sb, 'admin');
  vaultId = String(sb.control.createVault({ vault: 'kv-policy', resourceGroup: 'rg-policy' }).id);
  sb.control.createVault({ vault: 'kv-other', resourceGroup: 'rg-policy' });
});
afterAll(async () => {
  await sb?.close();
});

const sub = () => `/subscriptions/${sb.subscriptionId}`;
const rg = () => `${sub()}/resourceGroups/rg-policy`;

/** The example with its definition's own parameter names (and free-form metadata keys) replaced by ours. */
function perDefinition(body: unknown): unknown {
  const b = structuredClone(body) as { properties: Record<string, unknown> };
  b.properties.parameters = { effect: { value: 'Deny' } };
  b.properties.metadata = {};
  return b;
}

async function applying(filter = 'atScope()'): Promise<string[]> {
  const out: string[] = [];
  for await (const a of c.policy.policyAssignments.listForResource(
    'rg-policy',
    'Microsoft.KeyVault',
    '',
    'vaults',
    'kv-policy',
    {
      filter,
    },
  ))
    out.push(String(a.name));
  return out.sort();
}

describe('policy assignments (2025-03-01)', () => {
  it('PUT answers 201 in the published PolicyAssignments_Create shape', async () => {
    const example = fixture('arm-policy-2025-03-01-createPolicyAssignment.json');
    const sent = (example.parameters.parameters as { properties: Record<string, unknown> }).properties;
    const created = await c.policy.policyAssignments.create(rg().slice(1), 'naming', {
      ...sent,
      policyDefinitionId: RBAC.id,
      parameters: { effect: { value: 'Deny' } },
    });
    expect(created).toMatchObject({
      name: 'naming',
      policyDefinitionId: RBAC.id,
      enforcementMode: 'Default',
      scope: rg(),
    });
    const wire = last(c.wire, 'PUT');
    expect(wire.status).toBe(201);
    expect(wire.url).toMatch(/api-version=2025-03-01/);
    expect(shapeDiff(perDefinition(example.responses['201'].body), wire.body)).toEqual([]);
    const got = await c.policy.policyAssignments.get(rg().slice(1), 'naming');
    expect(got.parameters).toEqual({ effect: { value: 'Deny' } });
  });

  it('listForResource with atScope(): at and above the vault, management groups included; not another vault', async () => {
    const mg = sb.control.tenant.addManagementGroup({ id: 'mg-sec' });
    sb.control.tenant.placeSubscription({ group: 'mg-sec' });
    const root = `/providers/Microsoft.Management/managementGroups/${sb.tenantId}`;
    for (const [scope, name] of [
      [root, 'at-root'],
      [mg, 'at-mg'],
      [sub(), 'at-sub'],
      [vaultId, 'at-vault'],
      [`${rg()}/providers/Microsoft.KeyVault/vaults/kv-other`, 'at-other-vault'],
    ]) {
      sb.control.tenant.assignPolicy({ definition: RBAC.displayName, scope, name });
    }
    expect(await applying()).toEqual(['at-mg', 'at-root', 'at-sub', 'at-vault', 'naming']);
    expect(await applying('atExactScope()')).toEqual(['at-vault']);
    // The SDK sends the empty parent path as `Microsoft.KeyVault//vaults`: ARM (and the emulator) collapse it.
    expect(last(c.wire, 'GET').url).toMatch(
      /Microsoft\.KeyVault\/\/vaults\/kv-policy\/providers\/Microsoft\.Authorization\/policyAssignments\?api-version=2025-03-01/,
    );
  });

  it('pages with nextLink as ARM does, and the SDK follows it', async () => {
    sb.control.setPageSize(2);
    try {
      c.wire.length = 0;
      expect(await applying()).toHaveLength(5);
      const pages = c.wire.filter((w) => w.method === 'GET');
      expect(pages.length).toBe(3);
      expect((pages[0].body as { nextLink?: string }).nextLink).toMatch(/\$skipToken=/);
      expect((pages[2].body as { nextLink?: string }).nextLink).toBeUndefined();
    } finally {
      sb.control.setPageSize(1000);
    }
  });

  it('the list is in the published PolicyAssignments_ListForResource shape', async () => {
    const example = fixture('arm-policy-2025-03-01-listPolicyAssignmentsForResource.json').responses['200'].body as {
      value: Record<string, unknown>[];
    };
    // The published item carries a managed identity (for Modify/DeployIfNotExists remediation); ours has none.
    const item = { ...example.value[0] };
    delete item.identity;
    delete item.location;
    const wire = await rawFetch(sb)(
      `${vaultId}/providers/Microsoft.Authorization/policyAssignments?api-version=2025-03-01&$filter=atScope()`,
      {
        headers: { authorization: 'Bearer actor:admin' },
      },
    );
    expect(wire.status).toBe(200);
    const first = (wire.json as { value: Record<string, unknown>[] }).value.find((a) => a.name === 'naming');
    expect(shapeDiff({ value: [perDefinition(item)] }, { value: [first] })).toEqual([]);
  });

  it('errors are ARM-shaped: unknown assignment, unknown definition, a filter ARM does not take, no body', async () => {
    const missing = await failure(c.policy.policyAssignments.get(rg().slice(1), 'nope'));
    expect(missing).toMatchObject({ statusCode: 404, code: 'PolicyAssignmentNotFound' });
    const bad = await failure(
      c.policy.policyAssignments.create(rg().slice(1), 'x', {
        policyDefinitionId: '/providers/Microsoft.Authorization/policyDefinitions/00000000-0000-0000-0000-000000000000',
      }),
    );
    expect(bad).toMatchObject({ statusCode: 404, code: 'PolicyDefinitionNotFound' });
    const noRg = await failure(
      c.policy.policyAssignments.create(`${sub().slice(1)}/resourceGroups/rg-missing`, 'x', {
        policyDefinitionId: RBAC.id,
      }),
    );
    expect(noRg).toMatchObject({ statusCode: 404, code: 'ResourceGroupNotFound' });
    const filter = await rawFetch(sb)(
      `${vaultId}/providers/Microsoft.Authorization/policyAssignments?api-version=2025-03-01&$filter=foo()`,
      {
        headers: { authorization: 'Bearer actor:admin' },
      },
    );
    expect(filter.status).toBe(400);
    expect(filter.json).toMatchObject({ error: { code: 'InvalidFilterInQueryString' } });
    const empty = await rawFetch(sb)(
      `${rg()}/providers/Microsoft.Authorization/policyAssignments/y?api-version=2025-03-01`,
      {
        method: 'PUT',
        headers: { authorization: 'Bearer actor:admin', 'content-type': 'application/json' },
        body: '{}',
      },
    );
    expect(empty.status).toBe(400);
    expect(empty.json).toMatchObject({
      error: { code: 'InvalidRequestContent', message: expect.stringContaining("'properties'") },
    });
  });

  it('parameters are checked against the definition as ARM does: exact allowed values, no undefined names', async () => {
    const put = (parameters: Record<string, { value: unknown }>) =>
      failure(c.policy.policyAssignments.create(rg().slice(1), 'params', { policyDefinitionId: RBAC.id, parameters }));
    // ARM compares allowed values exactly: 'deny' is refused where 'Deny' is allowed.
    for (const value of ['Bogus', 'deny']) {
      const e = await put({ effect: { value } });
      expect(e).toMatchObject({ statusCode: 400, code: 'PolicyParameterValueNotAllowed' });
      expect(e.message).toContain(`The value '${value}' is not allowed for policy parameter 'effect'`);
      expect(e.message).toContain("The allowed values are 'Audit, Deny, Disabled'");
    }
    const undefinedName = await put({ listOfAllowedLocations: { value: ['westeurope'] } });
    expect(undefinedName).toMatchObject({ statusCode: 400, code: 'UndefinedPolicyParameter' });
    // Nothing was stored by the refused writes.
    expect(await failure(c.policy.policyAssignments.get(rg().slice(1), 'params'))).toMatchObject({ statusCode: 404 });
  });
});

describe('built-in definitions and policy sets', () => {
  it('serves the known built-ins in the published PolicyDefinitions_GetBuiltIn shape', async () => {
    const example = structuredClone(
      fixture('arm-policy-2025-03-01-getBuiltinPolicyDefinition.json').responses['200'].body,
    ) as {
      properties: Record<string, unknown>;
    };
    // Parameters and rules differ per definition; the emulated built-ins carry no description.
    delete example.properties.parameters;
    delete example.properties.policyRule;
    delete example.properties.description;
    const wire = await rawFetch(sb)(`${RBAC.id}?api-version=2025-03-01`, {
      headers: { authorization: 'Bearer actor:admin' },
    });
    expect(wire.status).toBe(200);
    expect(shapeDiff(example, wire.json)).toEqual([]);
    const props = (wire.json as { properties: { displayName: string; policyRule: { then: { effect: string } } } })
      .properties;
    expect(props.displayName).toBe(RBAC.displayName);
    expect(props.policyRule.then.effect).toBe("[parameters('effect')]");
  });

  it('a set at a management group is read back, and an assignment of it is listed for the vault', async () => {
    const set = await c.policy.policySetDefinitions.createOrUpdateAtManagementGroup('mg-sec', 'kv-baseline', {
      displayName: 'Key Vault baseline',
      parameters: { rbacEffect: { type: 'String', defaultValue: 'Deny' } },
      policyDefinitions: [
        {
          policyDefinitionId: RBAC.id,
          policyDefinitionReferenceId: 'rbac',
          parameters: { effect: { value: "[parameters('rbacEffect')]" } },
        },
      ],
    });
    const got = await c.policy.policySetDefinitions.getAtManagementGroup('mg-sec', 'kv-baseline');
    expect(got.policyDefinitions?.[0]).toMatchObject({
      policyDefinitionId: RBAC.id,
      policyDefinitionReferenceId: 'rbac',
    });
    sb.control.tenant.assignPolicy({ definition: String(set.id), scope: sub(), name: 'baseline' });
    expect(await applying()).toContain('baseline');
    const gone = await failure(c.policy.policySetDefinitions.getAtManagementGroup('mg-sec', 'nope'));
    expect(gone).toMatchObject({ statusCode: 404, code: 'PolicySetDefinitionNotFound' });
  });
});
