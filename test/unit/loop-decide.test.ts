// The loop's decision table, pure: real verdicts from the evaluator over ARM-shaped documents, judged, then decided
// under every combination of the guards (intent, an allow-listed claim, mode, flapping, dry run, key findings) and
// of the standby grant (off; on with restores at the vault; on with restores at the key, where it has no effect).
// No sandbox, no state store. Each rule below is a sentence of the loop's contract, checked over the whole product.
import { describe, expect, it } from 'vitest';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { evaluate } from '../../src/core/evaluate.js';
import type { ObservedDocuments } from '../../src/core/types.js';
import type { AtlasTarget } from '../../src/atlas/target.js';
import { principal, sub, target, tenant, vaultId } from '../helpers/target.js';
import {
  DEFAULT_POLICY,
  decide,
  judge,
  statusOf,
  roleName,
  type Decision,
  type DecisionRow,
  type Judgement,
  type Observation,
  type ReconcilePolicy,
} from '../../src/loop/index.js';
import { decisionResult } from '../../src/loop/record.js';
import type { Mode } from '../../src/state/store.js';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const keyScopeId = `${vaultId}/keys/k`;
const ra = (role: string, extra: Record<string, unknown> = {}) => ({
  id: `${vaultId}/providers/Microsoft.Authorization/roleAssignments/${role}`,
  scope: vaultId,
  roleDefinitionId: `${sub}/providers/Microsoft.Authorization/roleDefinitions/${role}`,
  principalId: principal,
  ...extra,
});
const atKey = (role: string) =>
  ra(role, { scope: keyScopeId, id: `${keyScopeId}/providers/Microsoft.Authorization/roleAssignments/${role}` });
const docs = (assignments: ReturnType<typeof ra>[], deny: ObservedDocuments['denyAssignments'] = []) => ({
  vault: { id: vaultId, name: 'kv1', tenantId: tenant, enableRbacAuthorization: true, accessPolicies: [] },
  roleAssignments: assignments,
  denyAssignments: deny,
});
const denyDecrypt = {
  id: `${vaultId}/providers/Microsoft.Authorization/denyAssignments/d1`,
  denyAssignmentName: 'stack deny',
  scope: vaultId,
  permissions: [
    { actions: [], notActions: [], dataActions: ['Microsoft.KeyVault/vaults/keys/decrypt/action'], notDataActions: [] },
  ],
  principals: [{ id: '00000000-0000-0000-0000-000000000000', type: 'SystemDefined' }],
  excludePrincipals: [],
  doNotApplyToChildScopes: false,
};

/** The verdict shapes the loop meets, each from real documents. */
const ACCESS = {
  granted: docs([ra(ROLE_IDS.keyVaultCryptoUser), ra(ROLE_IDS.reader)]),
  readerLost: docs([ra(ROLE_IDS.keyVaultCryptoUser)]),
  conditional: docs([
    ra(ROLE_IDS.keyVaultCryptoUser, { condition: "@Resource[x] StringEquals 'y'", conditionVersion: '2.0' }),
    ra(ROLE_IDS.reader),
  ]),
  missing: docs([ra(ROLE_IDS.reader)]),
  denied: docs([ra(ROLE_IDS.keyVaultCryptoUser), ra(ROLE_IDS.reader)], [denyDecrypt]),
  /** Crypto User at the vault and at the key (the standby pair), Reader. */
  both: docs([ra(ROLE_IDS.keyVaultCryptoUser), atKey(ROLE_IDS.keyVaultCryptoUser), ra(ROLE_IDS.reader)]),
  /** The vault's Crypto User deleted; the key's remains (granted). */
  keyOnly: docs([atKey(ROLE_IDS.keyVaultCryptoUser), ra(ROLE_IDS.reader)]),
} as const;
type Access = keyof typeof ACCESS;

const KEYS = {
  ok: { name: 'k', enabled: true },
  disabled: { name: 'k', enabled: false },
  nearExpiry: { name: 'k', enabled: true, expires: new Date(NOW + 3 * 24 * 3600_000).toISOString() },
} as const;
type KeyState = keyof typeof KEYS;

interface Case {
  access: Access;
  key: KeyState;
  intent: 'granted' | 'revoked';
  claim: boolean;
  mode: Mode;
  flapping: boolean;
  dryRun: boolean;
  /** off: no standby; vault: EAR_GUARD_STANDBY_GRANT=key, restores at the vault; key: the same, restores at the key. */
  standby: 'off' | 'vault' | 'key';
}

const STANDBY = {
  off: { standbyGrant: 'off', restoreScope: 'vault' },
  vault: { standbyGrant: 'key', restoreScope: 'vault' },
  key: { standbyGrant: 'key', restoreScope: 'key' },
} as const;

function observation(access: Access, key: KeyState): Observation {
  const d = ACCESS[access];
  return {
    docs: d,
    key: KEYS[key],
    keyMissing: false,
    verdict: evaluate({ principalId: principal, key: { vaultId, keyName: 'k' }, recommendReaderOnVault: true }, d),
  };
}

function run(c: Case, over: Partial<ReconcilePolicy> = {}): { j: Judgement; d: Decision } {
  const obs = observation(c.access, c.key);
  const policy = { ...DEFAULT_POLICY, maxRestores: 2, dryRun: c.dryRun, ...STANDBY[c.standby], ...over };
  const restoreTimes = c.flapping ? [NOW - 60_000, NOW - 30_000].map((t) => new Date(t).toISOString()) : [];
  const row: DecisionRow = {
    intent: c.intent,
    restoreTimes,
    revocationClaim: c.claim ? { by: 'bob@contoso.com', at: new Date(NOW - 1000).toISOString() } : undefined,
  };
  const judgement = judge(target, obs, { model: 'rbac' }, policy, NOW);
  return { j: judgement, d: decide({ judgement, row, mode: c.mode, policy, target, vaultTenantId: tenant, now: NOW }) };
}

function* cases(): Generator<Case> {
  for (const access of Object.keys(ACCESS) as Access[])
    for (const key of Object.keys(KEYS) as KeyState[])
      for (const intent of ['granted', 'revoked'] as const)
        for (const claim of [false, true])
          for (const mode of ['observe', 'alert', 'remediate'] as const)
            for (const flapping of [false, true])
              for (const dryRun of [false, true])
                for (const standby of ['off', 'vault', 'key'] as const)
                  yield { access, key, intent, claim, mode, flapping, dryRun, standby };
}
const ALL = [...cases()].map((c) => ({ c, ...run(c) }));
const granted = (c: Case) => c.access === 'granted' || c.access === 'both' || c.access === 'keyOnly';
/** Access granted, but one half of the standby pair is gone: only when the standby applies (restores at the vault). */
const redundant = (c: Case) => c.standby === 'vault' && (c.access === 'granted' || c.access === 'keyOnly');
const drift = (c: Case) => c.access === 'missing' || c.access === 'denied' || c.access === 'readerLost' || redundant(c);

describe('decide: the guard table over every combination', () => {
  it('covers every combination of the guards', () => {
    expect(ALL).toHaveLength(7 * 3 * 2 * 2 * 3 * 2 * 2 * 3);
  });

  it('access granted: converged, or alert-only when the key is about to fail; never a guard, never a write', () => {
    for (const { c, d } of ALL.filter(({ c }) => granted(c) && !redundant(c))) {
      if (c.key === 'ok') expect(d, JSON.stringify(c)).toEqual({ kind: 'converged', status: 'healthy' });
      else if (c.mode === 'observe') expect(d, JSON.stringify(c)).toEqual({ kind: 'converged', status: 'degraded' });
      else {
        expect(d.kind, JSON.stringify(c)).toBe('alert-only');
        expect(d.kind === 'alert-only' && d.critical).toBe(c.key === 'disabled');
      }
    }
  });

  it('a conditional grant is indeterminate whatever the guards: nothing is ever written for it', () => {
    for (const { c, d } of ALL.filter(({ c }) => c.access === 'conditional')) {
      expect(d.kind, JSON.stringify(c)).toBe('indeterminate');
    }
  });

  it('drift under intent revoked is never restored, whatever the mode, claim, flapping or dry run', () => {
    for (const { c, d } of ALL.filter(({ c }) => drift(c) && c.intent === 'revoked')) {
      expect(d.kind, JSON.stringify(c)).toBe('revoked-intent');
    }
  });

  it("drift with an allow-listed actor's claim becomes a deliberate revocation, in every mode", () => {
    for (const { c, d } of ALL.filter(({ c }) => drift(c) && c.intent === 'granted' && c.claim)) {
      expect(d, JSON.stringify(c)).toMatchObject({ kind: 'revoked-by-claim', by: 'bob@contoso.com' });
    }
  });

  it('otherwise observe records and alert alerts: neither writes', () => {
    for (const { c, d } of ALL.filter(({ c }) => drift(c) && c.intent === 'granted' && !c.claim)) {
      if (c.mode === 'observe') expect(d.kind, JSON.stringify(c)).toBe('observe-drift');
      if (c.mode === 'alert') expect(d.kind, JSON.stringify(c)).toBe('alert-drift');
    }
  });

  it('a missing standby half with access granted is a non-blocking redundancy: degraded, flagged, never critical', () => {
    const rows = ALL.filter(({ c }) => redundant(c));
    expect(rows.length).toBe(2 * 3 * 2 * 2 * 3 * 2 * 2);
    for (const { c, j, d } of rows) {
      expect(j.verdict.verdict, JSON.stringify(c)).toBe('granted');
      expect(j.flags, JSON.stringify(c)).toContain(
        c.access === 'keyOnly' ? 'standby-missing:vault' : 'standby-missing:key',
      );
      if (d.kind === 'observe-drift' || d.kind === 'alert-drift' || d.kind === 'dry-run') {
        expect(d.redundancy, JSON.stringify(c)).toBe(true);
        expect(statusOf(d)).toBe('degraded');
      }
    }
    // Held at both scopes, or the standby not in force: no standby finding at all.
    for (const { c, j } of ALL.filter(({ c }) => granted(c) && !redundant(c))) {
      expect(
        j.flags.filter((f) => f.startsWith('standby')),
        JSON.stringify(c),
      ).toEqual([]);
    }
  });

  it('restoreScope key with the standby on: the setting has no effect, every decision is the one without it', () => {
    const rows = ALL.filter(({ c }) => c.standby === 'key');
    expect(rows.length).toBe(ALL.length / 3);
    for (const { c, j, d } of rows) {
      const without = run(c, { standbyGrant: 'off' });
      expect(d, JSON.stringify(c)).toEqual(without.d);
      expect(j.flags, JSON.stringify(c)).toEqual(without.j.flags);
      // Never broader: a data role is only ever planned at the key.
      if (d.kind === 'restore' || d.kind === 'dry-run') {
        for (const a of d.plan.filter((p) => p.roleDefinitionGuid === ROLE_IDS.keyVaultCryptoUser)) {
          expect(a.scope, JSON.stringify(c)).toBe(keyScopeId);
        }
      }
    }
  });

  it('no plan, in any combination, grants beyond the configured roles, to anyone else, or above the vault', () => {
    for (const { c, d } of ALL) {
      if (d.kind !== 'restore' && d.kind !== 'dry-run') continue;
      for (const a of d.plan) {
        expect(a.principalId, JSON.stringify(c)).toBe(principal);
        expect(DEFAULT_POLICY.roles, JSON.stringify(c)).toContain(a.roleDefinitionGuid);
        expect([vaultId, keyScopeId], JSON.stringify(c)).toContain(a.scope);
        if (a.roleDefinitionGuid === ROLE_IDS.reader) expect(a.scope, JSON.stringify(c)).toBe(vaultId);
      }
    }
  });

  it('remediate: flapping stops first, then a deny blocks, then dry run plans, else restore', () => {
    const rows = ALL.filter(({ c }) => drift(c) && c.intent === 'granted' && !c.claim && c.mode === 'remediate');
    expect(rows.length).toBeGreaterThan(0);
    for (const { c, d } of rows) {
      const want = c.flapping ? 'flapping' : c.access === 'denied' ? 'blocked' : c.dryRun ? 'dry-run' : 'restore';
      expect(d.kind, JSON.stringify(c)).toBe(want);
    }
  });

  it('restore plans only the missing grant: Crypto User for missing data actions, Reader for a lost Reader', () => {
    // A healthy key, no intent or claim, remediate: only the access shape and the standby setting vary.
    const decideFor = (access: Access, standby: Case['standby']) =>
      run({
        access,
        key: 'ok',
        intent: 'granted',
        claim: false,
        mode: 'remediate',
        flapping: false,
        dryRun: false,
        standby,
      }).d;
    const plan = (access: Access, standby: Case['standby'] = 'off') => {
      const d = decideFor(access, standby);
      return d.kind === 'restore' ? d.plan.map((p) => p.roleDefinitionGuid) : d.kind;
    };
    const scopes = (access: Access, standby: Case['standby']) => {
      const d = decideFor(access, standby);
      return d.kind === 'restore'
        ? d.plan.map((p) => `${roleName(p.roleDefinitionGuid!)} @ ${p.scope}`).sort()
        : d.kind;
    };
    expect(plan('missing')).toEqual([ROLE_IDS.keyVaultCryptoUser]);
    expect(plan('readerLost')).toEqual([ROLE_IDS.reader]);
    // The standby: whichever half is gone is re-added, and only that one.
    expect(scopes('granted', 'vault')).toEqual([`Key Vault Crypto User @ ${keyScopeId}`]);
    expect(scopes('keyOnly', 'vault')).toEqual([`Key Vault Crypto User @ ${vaultId}`]);
    expect(scopes('both', 'vault')).toBe('converged');
    expect(scopes('missing', 'vault')).toEqual([
      `Key Vault Crypto User @ ${vaultId}`,
      `Key Vault Crypto User @ ${keyScopeId}`,
    ]);
    expect(scopes('readerLost', 'vault')).toEqual([`Key Vault Crypto User @ ${keyScopeId}`, `Reader @ ${vaultId}`]);
    // Restores at the key: the standby adds nothing (the key holds it; nothing goes to the vault).
    expect(scopes('missing', 'key')).toEqual([`Key Vault Crypto User @ ${keyScopeId}`]);
    expect(scopes('granted', 'key')).toBe('converged');
  });

  it('only remediate, unflagged, unblocked, not dry-run drift ever reaches restore', () => {
    for (const { c } of ALL.filter(({ d }) => d.kind === 'restore')) {
      expect(c, JSON.stringify(c)).toMatchObject({
        mode: 'remediate',
        intent: 'granted',
        claim: false,
        flapping: false,
        dryRun: false,
      });
    }
  });

  it('the recorded outcome carries the status the table gives each decision', () => {
    const ctx = {
      projectId: 'p',
      trigger: { kind: 'timer' as const },
      correlationId: 'c',
      now: () => NOW,
      history: [],
    };
    for (const { c, j, d } of ALL) {
      if (d.kind === 'restore') {
        expect(statusOf(d)).toBe('restored');
        continue;
      }
      const res = decisionResult({ ctx, t: target, j, mode: c.mode }, d);
      expect(res.outcome.status, JSON.stringify(c)).toBe(statusOf(d));
      // Observe mode never alerts.
      if (c.mode === 'observe') expect(res.alert, JSON.stringify(c)).toBeUndefined();
      // A missing standby half alerts as a warning (access is intact), drift as critical.
      if (d.kind === 'alert-drift')
        expect(res.alert?.severity, JSON.stringify(c)).toBe(
          redundant(c) && c.access !== 'readerLost' ? 'warning' : 'critical',
        );
    }
  });
});

describe('live findings: network, the pinned key version, time-bound grants, policy', () => {
  const d = ACCESS.granted;
  const verdict = evaluate({ principalId: principal, key: { vaultId, keyName: 'k' }, recommendReaderOnVault: true }, d);
  const pinnedTarget = { ...target, keyVersion: 'a'.repeat(32) };
  const current = { name: 'k', enabled: true, currentVersion: 'b'.repeat(32) };
  const inDays = (n: number) => new Date(NOW + n * 24 * 3600_000).toISOString();
  const decideFor = (obs: Partial<Observation>, row: { flags?: string[] } = {}, t: AtlasTarget = target) => {
    const j = judge(
      t,
      { docs: d, key: current, keyMissing: false, verdict, ...obs },
      { model: 'rbac', ...row },
      DEFAULT_POLICY,
      NOW,
    );
    const dec = decide({
      judgement: j,
      row: { intent: 'granted', restoreTimes: [] },
      mode: 'alert',
      policy: DEFAULT_POLICY,
      target: t,
      vaultTenantId: tenant,
      now: NOW,
    });
    return { j, dec };
  };

  it('a firewall that keeps Atlas out is blocking: critical alert-only with the reason, nothing to restore', () => {
    const { j, dec } = decideFor({ network: { kind: 'denies-atlas', reason: 'IP rules leave out 198.51.100.7' } });
    expect(j.flags).toContain('network-denies-atlas');
    expect(dec).toMatchObject({ kind: 'alert-only', status: 'degraded', critical: true });
    expect(dec.kind === 'alert-only' && dec.reason).toContain('198.51.100.7');
  });

  it('the pinned version: near expiry warns, expired or disabled blocks; the current version is not it', () => {
    const pinned = (x: object) => ({ pinnedKey: { name: 'k', enabled: true, currentVersion: 'a'.repeat(32), ...x } });
    const near = decideFor(pinned({ expires: inDays(5) }), {}, pinnedTarget);
    expect(near.j.flags).toEqual(expect.arrayContaining(['key-version-differs', 'key-version-near-expiry']));
    expect(near.dec).toMatchObject({ kind: 'alert-only', critical: false });
    expect(decideFor(pinned({ expires: inDays(-1) }), {}, pinnedTarget).j.blocking).toEqual(['key-version-expired']);
    expect(decideFor(pinned({ enabled: false }), {}, pinnedTarget).j.blocking).toEqual(['key-version-disabled']);
    expect(decideFor(pinned({ expires: inDays(90) }), {}, pinnedTarget).dec).toEqual({
      kind: 'converged',
      status: 'healthy',
    });
  });

  it('not read in this pass (a sweep key list has no versions, an event does not read PIM): the last finding is kept', () => {
    const listed = { key: { name: 'k', enabled: true } };
    const carried = decideFor(listed, { flags: ['key-version-near-expiry', 'assignment-time-bound'] }, pinnedTarget);
    expect(carried.j.flags).toEqual(expect.arrayContaining(['key-version-near-expiry', 'assignment-time-bound']));
    expect(decideFor(listed, {}, pinnedTarget).dec).toEqual({ kind: 'converged', status: 'healthy' });
  });

  it('time-bound: warned only when every grant of a required permission ends within the window', () => {
    const crypto = verdict.permissions.encrypt.via[0];
    const id = crypto.kind === 'roleAssignment' ? crypto.assignmentId : '';
    const tb = (end: string) => ({
      timeBound: [{ assignmentId: id, scope: vaultId, roleDefinitionId: '', principalId: principal, endDateTime: end }],
    });
    const soon = decideFor(tb(inDays(3)));
    expect(soon.j.flags).toContain('assignment-time-bound');
    expect(soon.dec.kind === 'alert-only' && soon.dec.reason).toContain(`${id} ends`);
    expect(decideFor(tb(inDays(300))).j.flags).not.toContain('assignment-time-bound');
    // Read and nothing ends: a carried flag is dropped.
    expect(decideFor({ timeBound: [] }, { flags: ['assignment-time-bound'] }).j.flags).not.toContain(
      'assignment-time-bound',
    );
  });

  it('policy: a push warns (never blocks); not read or not checked keeps the last finding; read and clean clears it', () => {
    const reason = "policy assignment 'p1' (id) at /s: 'Azure Key Vault should use RBAC permission model', effect Deny";
    const warned = decideFor({
      policy: { kind: 'read', warnings: [{ flag: 'policy-pushes-rbac', reason }], notes: [] },
    });
    expect(warned.j.flags).toContain('policy-pushes-rbac');
    expect(warned.j.blocking).toEqual([]);
    expect(warned.dec).toMatchObject({ kind: 'alert-only', status: 'degraded', critical: false });
    expect(warned.dec.kind === 'alert-only' && warned.dec.reason).toContain("policy assignment 'p1'");
    const last = { flags: ['policy-pushes-firewall'] };
    expect(decideFor({}, last).j.flags).toContain('policy-pushes-firewall');
    expect(decideFor({ policy: { kind: 'not-checked', reason: 'forbidden' } }, last).j.flags).toContain(
      'policy-pushes-firewall',
    );
    const clean = decideFor({ policy: { kind: 'read', warnings: [], notes: [] } }, last);
    expect(clean.j.flags).not.toContain('policy-pushes-firewall');
    expect(clean.dec).toEqual({ kind: 'converged', status: 'healthy' });
  });
});
