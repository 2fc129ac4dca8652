// Azure Policy assignments that would push RBAC or close the network (README "How a verdict is decided", rule 19).
// The known built-ins are checked against the definitions Microsoft publishes (Azure/azure-policy, test/fixtures/
// azure-policy); the classification and the judgement are table-driven.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  classifyPolicyAssignments,
  effectOfDefinition,
  findKnownPolicyDefinition,
  judgePolicyFindings,
  KEY_VAULT_POLICY_DEFINITIONS,
  type PolicyAssignmentDoc,
  type PolicySetDoc,
  type VaultAsSeen,
} from '../../../src/core/policy.js';
import { policyAssignmentOf } from '../../../src/azure/arm.js';

const published = (file: string) =>
  JSON.parse(readFileSync(new URL(`../../fixtures/azure-policy/${file}`, import.meta.url), 'utf8')) as {
    id: string;
    properties: { displayName: string };
  };

const FILES: Record<string, string> = {
  'Azure Key Vault should use RBAC permission model': 'Should_Use_RBAC.json',
  'Azure Key Vault should have firewall enabled': 'FirewallEnabled_Audit.json',
  'Configure key vaults to enable firewall': 'FirewallEnabled_Modify.json',
  'Azure Key Vault should disable public network access': 'AzureKeyVaultPublicNetworkAccess_Audit.json',
  'Azure Key Vaults should use private link': 'Should_Use_PrivateEndpoint_Audit.json',
};

describe('the known built-ins are those Microsoft publishes', () => {
  it.each(KEY_VAULT_POLICY_DEFINITIONS.map((d) => [d.displayName, d] as const))('%s', (name, d) => {
    const doc = published(FILES[name]);
    expect(doc.id).toBe(d.id);
    expect(doc.properties.displayName).toBe(d.displayName);
    expect(effectOfDefinition(doc)).toEqual({
      effectParameter: d.effectParameter,
      defaultEffect: d.defaultEffect,
      allowedEffects: d.allowedEffects,
    });
    expect(d.source).toContain(FILES[name]);
  });

  it('private link can no longer act: its rule reads audit_effect (Audit, Disabled); Deny is deprecated', () => {
    const e = effectOfDefinition(published('Should_Use_PrivateEndpoint_Audit.json'))!;
    expect(e.effectParameter).toBe('audit_effect');
    expect(e.allowedEffects).not.toContain('Deny');
  });

  it('a custom copy under a subscription is not the built-in', () => {
    expect(findKnownPolicyDefinition(KEY_VAULT_POLICY_DEFINITIONS[0].id)).toBeDefined();
    const copy = `/subscriptions/s1/providers/Microsoft.Authorization/policyDefinitions/${KEY_VAULT_POLICY_DEFINITIONS[0].id.split('/').pop()}`;
    expect(findKnownPolicyDefinition(copy)).toBeUndefined();
  });
});

const SUB = '/subscriptions/00000000-0000-0000-0000-0000000000aa';
const VAULT = `${SUB}/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv`;
const [RBAC, FIREWALL, FIREWALL_MODIFY, PUBLIC_OFF, PRIVATE_LINK] = KEY_VAULT_POLICY_DEFINITIONS.map((d) => d.id);

function assignment(over: Partial<PolicyAssignmentDoc> & { policyDefinitionId: string }): PolicyAssignmentDoc {
  return {
    id: `${SUB}/providers/Microsoft.Authorization/policyAssignments/a1`,
    name: 'a1',
    scope: SUB,
    enforcementMode: 'Default',
    notScopes: [],
    ...over,
  };
}

const SET_ID =
  '/providers/Microsoft.Management/managementGroups/mg1/providers/Microsoft.Authorization/policySetDefinitions/kv-baseline';
const SET: PolicySetDoc = {
  id: SET_ID,
  displayName: 'Key Vault baseline',
  parameters: { kvRbacEffect: { defaultValue: 'Audit' }, kvFirewallEffect: { defaultValue: 'Deny' } },
  policyDefinitions: [
    {
      policyDefinitionId: RBAC,
      policyDefinitionReferenceId: 'rbac',
      parameters: { effect: { value: "[parameters('kvRbacEffect')]" } },
    },
    {
      policyDefinitionId: FIREWALL,
      policyDefinitionReferenceId: 'fw',
      parameters: { effect: { value: "[parameters('kvFirewallEffect')]" } },
    },
    { policyDefinitionId: PUBLIC_OFF, policyDefinitionReferenceId: 'pna', parameters: { effect: { value: 'Deny' } } },
    {
      policyDefinitionId: '/providers/Microsoft.Authorization/policyDefinitions/unrelated',
      policyDefinitionReferenceId: 'x',
    },
  ],
};

type Row = [string, PolicyAssignmentDoc[], Map<string, PolicySetDoc> | undefined, string[], string[], string[]];

// name, assignments, sets, acting (definition display names + effect), inert, unread sets
const rows: Row[] = [
  [
    'RBAC built-in with its default effect (Audit) only reports',
    [assignment({ policyDefinitionId: RBAC })],
    undefined,
    [],
    ['use RBAC:Audit'],
    [],
  ],
  [
    'RBAC built-in with Deny acts',
    [assignment({ policyDefinitionId: RBAC, parameters: { effect: { value: 'Deny' } } })],
    undefined,
    ['use RBAC:Deny'],
    [],
    [],
  ],
  [
    'Modify is the firewall built-in default',
    [assignment({ policyDefinitionId: FIREWALL_MODIFY })],
    undefined,
    ['enable firewall:Modify'],
    [],
    [],
  ],
  [
    'effect Disabled does nothing',
    [assignment({ policyDefinitionId: FIREWALL_MODIFY, parameters: { effect: { value: 'Disabled' } } })],
    undefined,
    [],
    ['enable firewall:Disabled'],
    [],
  ],
  [
    'DoNotEnforce does not act',
    [
      assignment({
        policyDefinitionId: RBAC,
        enforcementMode: 'DoNotEnforce',
        parameters: { effect: { value: 'Deny' } },
      }),
    ],
    undefined,
    [],
    ['use RBAC:Deny'],
    [],
  ],
  [
    'a notScope above the vault excludes it',
    [
      assignment({
        policyDefinitionId: RBAC,
        notScopes: [`${SUB}/resourceGroups/RG`],
        parameters: { effect: { value: 'Deny' } },
      }),
    ],
    undefined,
    [],
    ['use RBAC:Deny'],
    [],
  ],
  [
    'a notScope elsewhere does not',
    [
      assignment({
        policyDefinitionId: RBAC,
        notScopes: [`${SUB}/resourceGroups/other`],
        parameters: { effect: { value: 'Deny' } },
      }),
    ],
    undefined,
    ['use RBAC:Deny'],
    [],
    [],
  ],
  [
    'an effect override wins',
    [assignment({ policyDefinitionId: PUBLIC_OFF, overrides: [{ kind: 'policyEffect', value: 'Deny' }] })],
    undefined,
    ['public network access:Deny'],
    [],
    [],
  ],
  [
    'private link: audit_effect, not the deprecated effect, decides',
    [assignment({ policyDefinitionId: PRIVATE_LINK, parameters: { effect: { value: 'Deny' } } })],
    undefined,
    [],
    ['private link:Audit'],
    [],
  ],
  [
    'a set not read is reported, not guessed',
    [assignment({ policyDefinitionId: SET_ID })],
    undefined,
    [],
    [],
    [SET_ID],
  ],
  [
    'a set: member effects from the assignment, the set default, or a literal',
    [assignment({ policyDefinitionId: SET_ID, parameters: { kvRbacEffect: { value: 'Deny' } } })],
    new Map([[SET_ID.toLowerCase(), SET]]),
    ['use RBAC:Deny', 'firewall enabled:Deny', 'public network access:Deny'],
    [],
    [],
  ],
  [
    'a set override selecting one reference',
    [
      assignment({
        policyDefinitionId: SET_ID,
        overrides: [
          {
            kind: 'policyEffect',
            value: 'Audit',
            selectors: [{ kind: 'policyDefinitionReferenceId', in: ['fw', 'pna'] }],
          },
        ],
      }),
    ],
    new Map([[SET_ID.toLowerCase(), SET]]),
    [],
    ['use RBAC:Audit', 'firewall enabled:Audit', 'public network access:Audit'],
    [],
  ],
];

const label = (f: { definition: { displayName: string }; effect: string }) => {
  const n = f.definition.displayName;
  const short = /use RBAC|enable firewall|firewall enabled|public network access|private link/.exec(n)?.[0] ?? n;
  return `${short}:${f.effect}`;
};

describe('classifyPolicyAssignments', () => {
  it.each(rows)('%s', (_name, assignments, sets, acting, inert, unread) => {
    const c = classifyPolicyAssignments(assignments, VAULT, sets);
    expect(c.acting.map(label)).toEqual(acting);
    expect(c.inert.map(label)).toEqual(inert);
    expect(c.unreadSets).toEqual(unread);
  });

  it('reads the SDK-flattened assignment and the REST one alike', () => {
    const rest = {
      id: `${SUB}/providers/Microsoft.Authorization/policyAssignments/a1`,
      name: 'a1',
      properties: {
        scope: SUB,
        policyDefinitionId: RBAC,
        enforcementMode: 'Default',
        parameters: { effect: { value: 'Deny' } },
      },
    };
    const sdk = { id: rest.id, name: 'a1', ...rest.properties };
    expect(policyAssignmentOf(sdk)).toEqual(policyAssignmentOf(rest));
    expect(classifyPolicyAssignments([policyAssignmentOf(rest)], VAULT).acting).toHaveLength(1);
  });
});

const ATLAS = { controlPlane: ['203.0.113.10'], project: ['198.51.100.7'] };
const openNet = { ipRules: [], privateEndpoints: [] };

function judged(defId: string, effect: string, v: VaultAsSeen) {
  const c = classifyPolicyAssignments(
    [assignment({ policyDefinitionId: defId, parameters: { effect: { value: effect } } })],
    VAULT,
  );
  return judgePolicyFindings(c.acting, v);
}

describe('judgePolicyFindings: what a push means for this vault', () => {
  it('RBAC pushed onto an access-policy vault warns: a flip drops Atlas access', () => {
    const j = judged(RBAC, 'Deny', { model: 'accessPolicy', network: openNet, requirePrivateNetworking: false });
    expect(j.warnings.map((w) => w.flag)).toEqual(['policy-pushes-rbac']);
    expect(j.warnings[0].reason).toContain("policy assignment 'a1'");
    expect(j.warnings[0].reason).toContain('Azure Key Vault should use RBAC permission model');
  });
  it('RBAC pushed onto an RBAC vault is harmless: a note, no warning', () => {
    const j = judged(RBAC, 'Deny', { model: 'rbac', network: openNet, requirePrivateNetworking: false });
    expect(j.warnings).toEqual([]);
    expect(j.notes.join()).toMatch(/already uses RBAC/);
  });
  it('the firewall pushed onto an open vault whose rules leave Atlas out warns', () => {
    const j = judged(FIREWALL_MODIFY, 'Modify', {
      model: 'rbac',
      network: openNet,
      requirePrivateNetworking: false,
      addresses: ATLAS,
    });
    expect(j.warnings.map((w) => w.flag)).toEqual(['policy-pushes-firewall']);
    expect(j.warnings[0].reason).toMatch(/leave out Atlas address\(es\) 203\.0\.113\.10, 198\.51\.100\.7/);
  });
  it('the firewall pushed where the IP rules already admit Atlas is harmless', () => {
    const network = { ipRules: ['203.0.113.0/24', '198.51.100.7'], privateEndpoints: [] };
    const j = judged(FIREWALL, 'Deny', { model: 'rbac', network, requirePrivateNetworking: false, addresses: ATLAS });
    expect(j.warnings).toEqual([]);
    expect(j.notes.join()).toMatch(/already admit Atlas/);
  });
  it('public network access disabled leaves out Atlas on the public path, not over an approved private endpoint', () => {
    const pub = judged(PUBLIC_OFF, 'Deny', { model: 'rbac', network: openNet, requirePrivateNetworking: false });
    expect(pub.warnings.map((w) => w.flag)).toEqual(['policy-pushes-firewall']);
    const network = { ipRules: [], privateEndpoints: [{ status: 'Approved' }] };
    const priv = judged(PUBLIC_OFF, 'Deny', { model: 'rbac', network, requirePrivateNetworking: true });
    expect(priv.warnings).toEqual([]);
  });
});
