// Azure Policy assignments that would change how Atlas reaches the key: the built-in definitions that push a key
// vault to the RBAC permission model or close its public network. Pure: judges the assignments ARM listed at and above
// the vault (`$filter=atScope()`), and the policy set definitions they reference, against the vault as it stands.
// A finding is a warning, never a block: the guard never writes a policy or a firewall.
// Rules and sources: README, "How a verdict is decided" (rule 19).
import { judgeNetwork, type AtlasAddresses, type NetworkJudgement, type VaultNetwork } from './network.js';
import { scopeCovers } from './scopes.js';

/** What an assignment would change on the vault. */
export type PolicyPush = 'rbac' | 'firewall' | 'public-network-disabled' | 'private-link';

/** A built-in definition this guard knows, as published in Azure/azure-policy (built-in-policies/policyDefinitions). */
export interface KnownPolicyDefinition {
  /** `/providers/Microsoft.Authorization/policyDefinitions/{name}` */
  id: string;
  displayName: string;
  pushes: PolicyPush;
  /** The parameter `policyRule.then.effect` reads (`[parameters('effect')]`). */
  effectParameter: string;
  /** That parameter's `defaultValue`: the effect of an assignment that does not set it. */
  defaultEffect: string;
  allowedEffects: string[];
  /** Where the definition was read: Azure/azure-policy path @ commit (version). */
  source: string;
}

const DEFS = '/providers/Microsoft.Authorization/policyDefinitions/';
const REPO = 'Azure/azure-policy built-in-policies/policyDefinitions/Key Vault/';

/** The built-ins that change the permission model or the network of key vaults (read from the published JSON). */
export const KEY_VAULT_POLICY_DEFINITIONS: readonly KnownPolicyDefinition[] = [
  {
    id: `${DEFS}12d4fa5e-1f9f-4c21-97a9-b99b3c6611b5`,
    displayName: 'Azure Key Vault should use RBAC permission model',
    pushes: 'rbac',
    effectParameter: 'effect',
    defaultEffect: 'Audit',
    allowedEffects: ['Audit', 'Deny', 'Disabled'],
    source: `${REPO}Should_Use_RBAC.json @ 8f5ad30e23561ea73b96c4aadb858ef43c1ce78e (1.0.1)`,
  },
  {
    id: `${DEFS}55615ac9-af46-4a59-874e-391cc3dfb490`,
    displayName: 'Azure Key Vault should have firewall enabled',
    pushes: 'firewall',
    effectParameter: 'effect',
    defaultEffect: 'Audit',
    allowedEffects: ['Audit', 'Deny', 'Disabled'],
    source: `${REPO}FirewallEnabled_Audit.json @ f7319d6eb87769be8ba87d4d6f7b37eafd992cb0 (3.2.1)`,
  },
  {
    id: `${DEFS}ac673a9a-f77d-4846-b2d8-a57f8e1c01dc`,
    displayName: 'Configure key vaults to enable firewall',
    pushes: 'firewall',
    effectParameter: 'effect',
    defaultEffect: 'Modify',
    allowedEffects: ['Modify', 'Disabled'],
    source: `${REPO}FirewallEnabled_Modify.json @ 8f5ad30e23561ea73b96c4aadb858ef43c1ce78e (1.1.1)`,
  },
  {
    id: `${DEFS}405c5871-3e91-4644-8a63-58e19d68ff5b`,
    displayName: 'Azure Key Vault should disable public network access',
    pushes: 'public-network-disabled',
    effectParameter: 'effect',
    defaultEffect: 'Audit',
    allowedEffects: ['Audit', 'Deny', 'Disabled'],
    source: `${REPO}AzureKeyVaultPublicNetworkAccess_Audit.json @ 04a62e1558e865fde1e561a7df850ccc7f8f1c1f (1.0.0)`,
  },
  {
    // Its rule reads `audit_effect` (Audit or Disabled); the `effect` parameter (Deny) is deprecated and unused.
    id: `${DEFS}a6abeaec-4d90-4a02-805f-6b26c4d3fbe9`,
    displayName: 'Azure Key Vaults should use private link',
    pushes: 'private-link',
    effectParameter: 'audit_effect',
    defaultEffect: 'Audit',
    allowedEffects: ['Audit', 'Disabled'],
    source: `${REPO}Should_Use_PrivateEndpoint_Audit.json @ 8f5ad30e23561ea73b96c4aadb858ef43c1ce78e (1.2.1)`,
  },
];

/** Effects that change or block the vault; Audit and AuditIfNotExists only report, Disabled does nothing. */
const ACTING = new Set(['deny', 'modify', 'deployifnotexists']);

export function effectActs(effect: string): boolean {
  return ACTING.has(effect.trim().toLowerCase());
}

const lower = (s: string | undefined) => (s ?? '').toLowerCase();

export function findKnownPolicyDefinition(id: string): KnownPolicyDefinition | undefined {
  const name = lower(id.split('/').pop());
  // Built-ins live at the tenant root (`/providers/...`); a custom copy under a subscription is another definition.
  if (!lower(id).startsWith(lower(DEFS))) return undefined;
  return KEY_VAULT_POLICY_DEFINITIONS.find((d) => lower(d.id.split('/').pop()) === name);
}

/**
 * What a published definition's JSON (Azure/azure-policy, or ARM's PolicyDefinitions_Get) says about its effect: the
 * parameter `then.effect` names, and that parameter's default and allowed values. Undefined when the effect is not
 * a parameter.
 */
export function effectOfDefinition(
  doc: unknown,
): Pick<KnownPolicyDefinition, 'effectParameter' | 'defaultEffect' | 'allowedEffects'> | undefined {
  const p = ((doc as { properties?: unknown })?.properties ?? doc) as {
    parameters?: Record<string, { defaultValue?: unknown; allowedValues?: unknown[] }>;
    policyRule?: { then?: { effect?: unknown } };
  };
  const m = /^\[parameters\('([^']+)'\)\]$/i.exec(String(p?.policyRule?.then?.effect ?? ''));
  if (!m) return undefined;
  const param = p.parameters?.[m[1]];
  return {
    effectParameter: m[1],
    defaultEffect: String(param?.defaultValue ?? ''),
    allowedEffects: (param?.allowedValues ?? []).map(String),
  };
}

/** A policy assignment, normalized from ARM (REST `properties`, or the SDK's flattened object). */
export interface PolicyAssignmentDoc {
  id: string;
  name?: string;
  displayName?: string;
  /** The scope it was made at. */
  scope: string;
  policyDefinitionId: string;
  /** `Default` (enforced) or `DoNotEnforce`. */
  enforcementMode?: string;
  notScopes?: string[];
  parameters?: Record<string, { value?: unknown }>;
  /** `overrides[]` of kind `policyEffect` (2023-04-01 and later). */
  overrides?: { kind?: string; value?: string; selectors?: { kind?: string; in?: string[]; notIn?: string[] }[] }[];
}

/** A policy set definition (initiative), as far as effects go. */
export interface PolicySetDoc {
  id: string;
  displayName?: string;
  parameters?: Record<string, { defaultValue?: unknown }>;
  policyDefinitions: {
    policyDefinitionId: string;
    policyDefinitionReferenceId?: string;
    parameters?: Record<string, { value?: unknown }>;
  }[];
}

export const isPolicySetId = (id: string) => /\/policySetDefinitions\/[^/]+$/i.test(id);

/** An assignment (directly, or through one definition of its set) that would change the vault. */
export interface PolicyFinding {
  assignmentId: string;
  /** The assignment's display name, else its name. */
  assignment: string;
  scope: string;
  definition: KnownPolicyDefinition;
  /** The effect this assignment gives the definition. */
  effect: string;
  /** The set it came through, when it did. */
  set?: string;
  referenceId?: string;
}

/** The set's `[parameters('x')]` reads the assignment's `x`, else the set's default. */
function resolveValue(v: unknown, a: PolicyAssignmentDoc, set?: PolicySetDoc): unknown {
  const m = typeof v === 'string' ? /^\[parameters\('([^']+)'\)\]$/i.exec(v) : null;
  if (!m || !set) return v;
  return a.parameters?.[m[1]]?.value ?? set.parameters?.[m[1]]?.defaultValue;
}

function overriddenEffect(a: PolicyAssignmentDoc, referenceId?: string): string | undefined {
  const o = (a.overrides ?? []).find((x) => {
    if (lower(x.kind) !== 'policyeffect' || !x.value) return false;
    return (x.selectors ?? []).every((s) => {
      if (lower(s.kind) !== 'policydefinitionreferenceid') return true;
      const id = lower(referenceId);
      return (!s.in || s.in.some((r) => lower(r) === id)) && !(s.notIn ?? []).some((r) => lower(r) === id);
    });
  });
  return o?.value;
}

function effectFor(
  def: KnownPolicyDefinition,
  a: PolicyAssignmentDoc,
  member?: PolicySetDoc['policyDefinitions'][number],
  set?: PolicySetDoc,
): string {
  const override = overriddenEffect(a, member?.policyDefinitionReferenceId);
  if (override) return override;
  const raw = member
    ? resolveValue(member.parameters?.[def.effectParameter]?.value, a, set)
    : a.parameters?.[def.effectParameter]?.value;
  return typeof raw === 'string' && raw ? raw : def.defaultEffect;
}

/** Does the assignment apply to the vault at all (enforced, vault not excluded)? */
export function assignmentApplies(a: PolicyAssignmentDoc, vaultId: string): boolean {
  if (lower(a.enforcementMode) === 'donotenforce') return false;
  return !(a.notScopes ?? []).some((s) => scopeCovers(s, vaultId));
}

export interface PolicyClassification {
  /** Assignments whose definition would act on the vault (Deny, Modify, DeployIfNotExists). */
  acting: PolicyFinding[];
  /** Known definitions assigned with an effect that only reports (Audit) or does nothing, or not enforced. */
  inert: PolicyFinding[];
  /** Policy set definitions referenced but not given (not read): their members are unknown. */
  unreadSets: string[];
}

function classifyOne(
  a: PolicyAssignmentDoc,
  vaultId: string,
  sets: ReadonlyMap<string, PolicySetDoc>,
  out: PolicyClassification,
): void {
  const applies = assignmentApplies(a, vaultId);
  const base = { assignmentId: a.id, assignment: a.displayName || a.name || a.id, scope: a.scope };
  const push = (f: PolicyFinding) => (applies && effectActs(f.effect) ? out.acting : out.inert).push(f);
  if (!isPolicySetId(a.policyDefinitionId)) {
    const def = findKnownPolicyDefinition(a.policyDefinitionId);
    if (def) push({ ...base, definition: def, effect: effectFor(def, a) });
    return;
  }
  const set = sets.get(lower(a.policyDefinitionId));
  if (!set) {
    if (applies) out.unreadSets.push(a.policyDefinitionId);
    return;
  }
  for (const m of set.policyDefinitions) {
    const def = findKnownPolicyDefinition(m.policyDefinitionId);
    if (!def) continue;
    const setName = set.displayName || set.id.split('/').pop();
    push({
      ...base,
      definition: def,
      effect: effectFor(def, a, m, set),
      set: setName,
      referenceId: m.policyDefinitionReferenceId,
    });
  }
}

/**
 * Which assignments at or above the vault would push the RBAC model or close the network. `sets` holds the policy
 * set definitions read (by lower-case ID); a set not among them is reported, not guessed.
 */
export function classifyPolicyAssignments(
  assignments: PolicyAssignmentDoc[],
  vaultId: string,
  sets: ReadonlyMap<string, PolicySetDoc> = new Map(),
): PolicyClassification {
  const out: PolicyClassification = { acting: [], inert: [], unreadSets: [] };
  for (const a of assignments) classifyOne(a, vaultId, sets, out);
  out.unreadSets = [...new Set(out.unreadSets)];
  return out;
}

export type PolicyWarningFlag = 'policy-pushes-rbac' | 'policy-pushes-firewall';

/** What the acting assignments mean for this vault: warnings (flag + reason) and notes for the harmless ones. */
export interface PolicyJudgement {
  warnings: { flag: PolicyWarningFlag; reason: string }[];
  notes: string[];
}

export interface VaultAsSeen {
  /** The vault's permission model now. */
  model: 'rbac' | 'accessPolicy';
  network?: VaultNetwork;
  requirePrivateNetworking: boolean;
  /** Atlas's published addresses, when read. */
  addresses?: AtlasAddresses;
}

export function describeFinding(f: PolicyFinding): string {
  const via = f.set ? ` in initiative '${f.set}'` : '';
  return `policy assignment '${f.assignment}' (${f.assignmentId}) at ${f.scope}: '${f.definition.displayName}'${via}, effect ${f.effect}`;
}

/** The vault's network as the definition would leave it (undefined: the definition does not close anything). */
export function networkAfter(push: PolicyPush, n: VaultNetwork): VaultNetwork | undefined {
  if (push === 'firewall') return { ...n, defaultAction: 'Deny' };
  if (push === 'public-network-disabled') return { ...n, publicNetworkAccess: 'Disabled' };
  return undefined;
}

function judgeNetworkPush(f: PolicyFinding, v: VaultAsSeen): { warn?: string; note?: string } {
  if (f.definition.pushes === 'private-link') {
    return { note: `${describeFinding(f)}: asks for a private endpoint and closes nothing; harmless to Atlas.` };
  }
  if (!v.network) return { warn: `${describeFinding(f)}: the vault's network rules were not read` };
  const after = networkAfter(f.definition.pushes, v.network)!;
  const j: NetworkJudgement = judgeNetwork(after, v.requirePrivateNetworking, v.addresses);
  if (j.kind !== 'denies-atlas') {
    return { note: `${describeFinding(f)}: the vault's network rules already admit Atlas (${j.note}).` };
  }
  return { warn: `${describeFinding(f)} would leave Atlas out: ${j.reason}` };
}

/**
 * Pushing RBAC onto an access-policy vault may flip the model, which drops Atlas's access-policy grant; on an RBAC
 * vault it changes nothing. Closing the network warns unless the vault's rules already admit Atlas afterwards.
 */
export function judgePolicyFindings(acting: PolicyFinding[], v: VaultAsSeen): PolicyJudgement {
  const out: PolicyJudgement = { warnings: [], notes: [] };
  for (const f of acting) {
    if (f.definition.pushes === 'rbac') {
      if (v.model === 'rbac') out.notes.push(`${describeFinding(f)}: the vault already uses RBAC; harmless.`);
      else {
        const reason = `${describeFinding(f)} pushes the RBAC permission model onto this access-policy vault: a flip drops Atlas's access-policy grant`;
        out.warnings.push({ flag: 'policy-pushes-rbac', reason });
      }
      continue;
    }
    const r = judgeNetworkPush(f, v);
    if (r.warn) out.warnings.push({ flag: 'policy-pushes-firewall', reason: r.warn });
    if (r.note) out.notes.push(r.note);
  }
  return out;
}
