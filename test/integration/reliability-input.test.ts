// Bad input and safety properties. Property-based fuzzing (fast-check) of event parsing + triage, the explain
// inputs (document parsers) and the settings parser: never an unhandled exception, always a clear error naming
// the field. Webhook bodies that are oversized, malformed or unauthenticated are rejected without touching state.
// Safety over random drift scenarios with faults: only the Atlas principal, only the configured roles, only
// accessPolicies/add, never a delete, never a revoked project restored. (Scope creep and secrets as such are
// covered by the security suite, test/integration/security-*.test.ts; these runs add faults and randomness.)
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import {
  DocumentError,
  parseDenyAssignments,
  parseKeyIdentifier,
  parseKeyResourceId,
  parseRoleAssignments,
  parseRoleDefinitions,
  parseVault,
} from '../../src/core/documents.js';
import { EventInputError, parseEvents, triageEvent } from '../../src/core/triage.js';
import { setIntent } from '../../src/loop/index.js';
import type { ChangeNotice } from '../../src/sandbox/contract.js';
import { loadSettings, SettingsError } from '../../src/settings.js';
import { startAppWorld, type AppWorld } from '../helpers/app.js';
import { startWorld, type World, type WorldProject } from '../helpers/world.js';
import { type Rec, props, guidOf } from '../helpers/arm.js';

const jsonish = fc.oneof(
  fc.jsonValue(),
  fc.anything(),
  fc.string(),
  // Near-valid events: right shape, random fields.
  fc.record({
    id: fc.oneof(fc.string(), fc.integer()),
    eventType: fc.oneof(
      fc.constantFrom(
        'Microsoft.Resources.ResourceWriteSuccess',
        'Microsoft.KeyVault.VaultAccessPolicyChanged',
        'Microsoft.EventGrid.SubscriptionValidationEvent',
      ),
      fc.string(),
    ),
    subject: fc.oneof(
      fc.string(),
      fc.constant('/subscriptions/x/resourceGroups/y/providers/Microsoft.KeyVault/vaults/z'),
    ),
    topic: fc.oneof(
      fc.string(),
      fc.constant('/subscriptions/x/resourceGroups/y/providers/Microsoft.KeyVault/vaults/z'),
    ),
    eventTime: fc.oneof(
      fc.string(),
      fc.date().map((d) => (isNaN(d.getTime()) ? 'x' : d.toISOString())),
    ),
    data: fc.oneof(
      fc.jsonValue(),
      fc.record({ operationName: fc.string(), resourceUri: fc.string(), claims: fc.anything() }),
    ),
    dataVersion: fc.string(),
  }),
  fc.record({
    specversion: fc.oneof(fc.constant('1.0'), fc.string()),
    id: fc.string(),
    source: fc.string(),
    type: fc.string(),
    data: fc.anything(),
  }),
);

describe('fuzzing the parsers', () => {
  it('event parsing + triage: either events that triage without throwing, or an EventInputError naming the field', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          jsonish,
          fc.array(jsonish, { maxLength: 5 }),
          jsonish.map((v) => JSON.stringify(v) ?? ''),
        ),
        (payload) => {
          let events;
          try {
            events = parseEvents(payload);
          } catch (err) {
            expect(err).toBeInstanceOf(EventInputError);
            expect((err as Error).message).toMatch(/^[\w[\]. ]+(: |\b)/);
            return;
          }
          for (const ev of events) {
            const t = triageEvent(ev);
            expect(typeof t.relevant).toBe('boolean');
            expect(t.reason.length).toBeGreaterThan(0);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('explain inputs (ARM and az CLI documents): parsed, or a DocumentError naming what was expected', () => {
    const parsers: [string, (v: unknown) => unknown][] = [
      ['vault', (v) => parseVault(v, 'vault.json')],
      ['assignments', (v) => parseRoleAssignments(v, 'assignments.json')],
      ['definitions', (v) => parseRoleDefinitions(v, 'definitions.json')],
      ['deny', (v) => parseDenyAssignments(v, 'deny.json')],
      // Typed string inputs (command-line values): fuzzed with strings.
      ['keyIdentifier', (v) => parseKeyIdentifier(typeof v === 'string' ? v : (JSON.stringify(v) ?? ''))],
      ['keyResourceId', (v) => parseKeyResourceId(typeof v === 'string' ? v : (JSON.stringify(v) ?? ''))],
    ];
    const doc = fc.oneof(
      jsonish,
      fc.record({
        id: fc.string(),
        properties: fc.oneof(
          fc.jsonValue(),
          fc.record({
            enableRbacAuthorization: fc.anything(),
            accessPolicies: fc.anything(),
            tenantId: fc.anything(),
            roleDefinitionId: fc.anything(),
            principalId: fc.anything(),
            scope: fc.anything(),
            permissions: fc.anything(),
          }),
        ),
      }),
      fc.record({ value: fc.array(fc.jsonValue(), { maxLength: 3 }) }),
      fc.webUrl(),
    );
    fc.assert(
      fc.property(fc.constantFrom(...parsers), doc, ([, parse], v) => {
        try {
          parse(v);
        } catch (err) {
          expect(err).toBeInstanceOf(DocumentError);
          expect((err as Error).message.length).toBeGreaterThan(10);
          expect((err as Error).message).not.toMatch(/\n\s+at /); // never a stack trace
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('settings: valid, or one SettingsError listing each bad field by name', () => {
    const keys = [
      'ATLAS_CLIENT_ID',
      'ATLAS_CLIENT_SECRET',
      'ATLAS_PUBLIC_KEY',
      'ATLAS_PRIVATE_KEY',
      'ATLAS_BASE_URL',
      'ATLAS_PROJECT_IDS',
      'EAR_GUARD_MODE',
      'EAR_GUARD_RESTORE_SCOPE',
      'EAR_GUARD_STANDBY_GRANT',
      'EAR_GUARD_MAX_RESTORES',
      'EAR_GUARD_FLAP_WINDOW_MINUTES',
      'EAR_GUARD_DRY_RUN',
      'EAR_GUARD_TABLE_PREFIX',
      'ALERT_WEBHOOK_URL',
      'AZURE_CLIENT_ID',
      'AZURE_CLOUD',
      'EAR_GUARD_FANOUT_THRESHOLD',
    ];
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom(...keys),
          fc.oneof(
            fc.string(),
            fc.constantFrom('remediate', '0', '1', 'true', '-3', 'https://x.example', '0123456789abcdef01234567'),
          ),
        ),
        (env) => {
          try {
            loadSettings(env);
          } catch (err) {
            expect(err).toBeInstanceOf(SettingsError);
            const problems = (err as SettingsError).problems;
            expect(problems.length).toBeGreaterThan(0);
            for (const p of problems)
              expect(
                keys.some((k) => p.startsWith(`${k}:`) || p.startsWith(`${k}.`)),
                p,
              ).toBe(true);
          }
        },
      ),
      { numRuns: 1500 },
    );
  });
});

describe('webhook bad input (local host serving the Functions handlers)', () => {
  let a: AppWorld;
  beforeAll(async () => {
    a = await startAppWorld({ subscribe: false });
  }, 60_000);
  afterAll(async () => {
    await a?.close();
  });

  async function snapshot() {
    const rows = await a.local.app.engine.deps.state.listProjects();
    const hist = await Promise.all(a.projects.map((p) => a.local.app.engine.deps.state.listHistory(p.projectId)));
    return { rows: rows.map(({ etag: _e, ...r }) => r), hist: hist.map((h) => h.length) };
  }
  const post = (body: string, url = a.local.webhookUrl, headers: Record<string, string> = {}) =>
    fetch(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', 'aeg-event-type': 'Notification', ...headers },
    });

  it('oversized, malformed and keyless calls are rejected and nothing in state changes', async () => {
    const before = await snapshot();
    a.sandbox.control.resetCounts();
    const big = await post(JSON.stringify([{ pad: 'x'.repeat(2 * 1024 * 1024) }])).catch((e: Error) => e);
    if (!(big instanceof Error)) expect(big.status).toBe(413);
    for (const body of ['{', 'null', '[{"id": 1}]', '"text"', '[]'.repeat(10)]) {
      const r = await post(body);
      expect(r.status, body).toBeGreaterThanOrEqual(200);
      expect(r.status, body).not.toBe(500);
      await r.text();
    }
    const noKey = await post('[]', a.local.webhookUrl.replace(/[?&]code=[^&]+/, ''));
    expect(noKey.status).toBe(401);
    const wrongKey = await post('[]', a.local.webhookUrl.replace(/code=[^&]+/, 'code=wrong'));
    expect(wrongKey.status).toBe(401);
    expect(await snapshot()).toEqual(before);
    expect(a.sandbox.control.counts().byCaller['ear-guard'] ?? 0).toBe(0);
  }, 30_000);
});

describe('safety properties over random scenarios (with faults)', () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({ env: { EAR_GUARD_MAX_RESTORES: '100' } });
  }, 60_000);
  afterAll(async () => {
    await w?.close();
  });

  type Step =
    | { kind: 'deleteRole'; role: 'crypto' | 'reader' }
    | { kind: 'stripPolicy'; keys: string[] }
    | { kind: 'grantOther' }
    | { kind: 'flip' }
    | { kind: 'revoke' }
    | { kind: 'fault'; status: 429 | 503 };
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({
      kind: fc.constant('deleteRole' as const),
      role: fc.constantFrom('crypto' as const, 'reader' as const),
    }),
    fc.record({
      kind: fc.constant('stripPolicy' as const),
      keys: fc.subarray(['get', 'encrypt', 'decrypt', 'wrapKey', 'unwrapKey'], { minLength: 1 }),
    }),
    fc.constant({ kind: 'grantOther' as const }),
    fc.constant({ kind: 'flip' as const }),
    fc.constant({ kind: 'revoke' as const }),
    fc.record({ kind: fc.constant('fault' as const), status: fc.constantFrom(429 as const, 503 as const) }),
  );

  it('never writes for another principal or role, never replace/remove, never deletes, never restores a revoked project', async () => {
    const mallory = w.sandbox.control.principals().find((p) => p.name === 'mallory')!.objectId;
    const allowedRoles = new Set<string>([ROLE_IDS.keyVaultCryptoUser, ROLE_IDS.reader]);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('rbac' as const, 'accessPolicy' as const),
        fc.array(step, { minLength: 1, maxLength: 5 }),
        async (model, steps) => {
          const p: WorldProject = await w.addProject({ model });
          await w.engine.reconcile(p.projectId, { kind: 'timer' });
          w.sandbox.control.clearNotices();
          w.sandbox.control.resetCounts();
          let revoked = false;
          for (const s of steps) {
            const rbacNow =
              props(w.sandbox.control.getVault({ vault: p.vaultName }) as Rec).enableRbacAuthorization === true;
            if (s.kind === 'deleteRole' && rbacNow) {
              const want = s.role === 'crypto' ? ROLE_IDS.keyVaultCryptoUser : ROLE_IDS.reader;
              const a = w.sandbox.control
                .roleAssignments({ scope: p.vaultId, principalId: p.principalId })
                .find((x) => guidOf(props(x).roleDefinitionId) === want);
              if (a) w.sandbox.control.deleteAssignment({ as: 'alice', id: String(a.id) });
            } else if (s.kind === 'stripPolicy' && !rbacNow) {
              w.sandbox.control.setAccessPolicy({
                vault: p.vaultName,
                objectId: p.principalId,
                keys: s.keys,
                op: 'remove',
                as: 'alice',
              });
            } else if (s.kind === 'grantOther') {
              w.sandbox.control.assignRole({
                scope: p.vaultName,
                role: 'Key Vault Crypto Officer',
                principalId: mallory,
              });
            } else if (s.kind === 'flip') {
              w.sandbox.control.setPermissionModel({
                vault: p.vaultName,
                model: rbacNow ? 'accessPolicy' : 'rbac',
                as: 'alice',
              });
            } else if (s.kind === 'revoke') {
              revoked = true;
              await setIntent(w.engine.deps.state, p.projectId, 'revoked', 'owner', 'fuzz: deliberate revocation');
            } else if (s.kind === 'fault') {
              w.sandbox.control.setFault(
                { path: p.vaultId },
                { kind: 'error', status: s.status, retryAfterSeconds: 1 },
                { times: 2 },
              );
            }
            await w.engine.reconcile(p.projectId, { kind: 'event', eventId: `fz-${Math.random()}` });
          }
          await w.engine.reconcile(p.projectId, { kind: 'timer' });
          w.sandbox.control.clearFaults();

          const ops = w.sandbox.control.counts().byCallerOperation['ear-guard'] ?? {};
          expect(
            Object.keys(ops).filter((k) =>
              /delete|vaults\.(createOrUpdate|update)$|roleDefinitions\.createOrUpdate/.test(k),
            ),
          ).toEqual([]);
          const mine = w.sandbox.control
            .notices()
            .filter((n): n is ChangeNotice => 'operationName' in n && n.actor.name === 'ear-guard');
          for (const n of mine) {
            expect(n.kind).not.toBe('delete');
            if (/accessPolicies/i.test(n.operationName)) expect(n.resourceUri).toMatch(/\/accessPolicies\/add$/i);
            if (/roleAssignments\/write/i.test(n.operationName)) {
              const a = w.sandbox.control
                .roleAssignments({ scope: p.vaultId })
                .find((x) => String(x.id).toLowerCase() === n.resourceUri.toLowerCase());
              if (!a) {
                // Gone again: only because a later step (someone else) deleted it, never the product.
                const deletedBy = w.sandbox.control
                  .notices()
                  .filter(
                    (d): d is ChangeNotice =>
                      'operationName' in d &&
                      d.kind === 'delete' &&
                      d.resourceUri.toLowerCase() === n.resourceUri.toLowerCase(),
                  )
                  .map((d) => d.actor.name);
                expect(deletedBy.length).toBeGreaterThan(0);
                expect(deletedBy).not.toContain('ear-guard');
                continue;
              }
              expect(String(props(a!).principalId)).toBe(p.principalId);
              expect(allowedRoles.has(guidOf(props(a!).roleDefinitionId))).toBe(true);
            }
          }
          if (revoked) {
            // Writes can only come before the revocation step; after it, none.
            const row = (await w.engine.deps.state.getProject(p.projectId))!;
            expect(row.intent).toBe('revoked');
            w.sandbox.control.resetCounts();
            await w.engine.reconcile(p.projectId, { kind: 'timer' });
            const after = w.sandbox.control.counts().byCallerOperation['ear-guard'] ?? {};
            expect((after['roleAssignments.create'] ?? 0) + (after['vaults.updateAccessPolicy'] ?? 0)).toBe(0);
          }
        },
      ),
      { numRuns: 12 },
    );
  }, 90_000);
});
