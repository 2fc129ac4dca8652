// State store against Azurite (in-process): ETag concurrency, newest-first history, indexes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type RunningAzurite } from '../helpers/azurite.js';
import { StateStore, encodeKey } from '../../src/state/store.js';

let azurite: RunningAzurite;
let store: StateStore;

beforeAll(async () => {
  azurite = await startAzurite();
  store = new StateStore({ connection: azurite.connectionString, prefix: 'statetest' });
  await store.init();
  await store.init(); // idempotent
});
afterAll(async () => {
  await azurite?.close();
});

const P = '65a000000000000000000001';

describe('projects table', () => {
  it('creates, reads and lists a project row', async () => {
    const r = await store.updateProject(P, (cur, exists) => {
      expect(exists).toBe(false);
      return { ...cur, status: 'healthy', missing: ['encrypt'], flags: ['key-near-expiry'], checks: cur.checks + 1 };
    });
    expect(r.etag).toBeTruthy();
    const back = await store.getProject(P);
    expect(back).toMatchObject({
      projectId: P,
      status: 'healthy',
      missing: ['encrypt'],
      flags: ['key-near-expiry'],
      checks: 1,
      intent: 'granted',
    });
    expect((await store.listProjects()).map((p) => p.projectId)).toContain(P);
    expect(await store.getProject('65a0000000000000000000ff')).toBeUndefined();
  });

  it('loses no increment when 6 writers update one row at once (412 re-read and retry)', async () => {
    const id = '65a000000000000000000002';
    await Promise.all(
      Array.from({ length: 6 }, () => store.updateProject(id, (cur) => ({ ...cur, checks: cur.checks + 1 }))),
    );
    expect((await store.getProject(id))!.checks).toBe(6);
  });

  it('gives up with a transient conflict when the retries run out', async () => {
    const tight = new StateStore({ connection: azurite.connectionString, prefix: 'statetest', maxConflictRetries: 1 });
    const id = '65a000000000000000000003';
    await tight.updateProject(id, (cur) => cur);
    // Another writer always lands between our read and our write.
    const err = await tight
      .updateProject(id, async (cur) => {
        await store.projects.updateEntity({ partitionKey: 'project', rowKey: id, poke: Math.random() }, 'Merge');
        return { ...cur, checks: 99 };
      })
      .then(
        () => undefined,
        (e) => e,
      );
    expect(err).toMatchObject({ kind: 'transient', status: 412, code: 'UpdateConditionNotSatisfied' });
    expect((await store.getProject(id))!.checks).toBe(0);
  });

  it('mutate returning undefined writes nothing', async () => {
    const before = await store.getProject(P);
    const r = await store.updateProject(P, () => undefined);
    expect(r.etag).toBe(before!.etag);
  });
});

describe('history table', () => {
  it('lists newest first and never collides under concurrent appends', async () => {
    const id = '65a000000000000000000010';
    const t0 = Date.parse('2025-01-01T00:00:00Z');
    await store.appendHistory({ projectId: id, kind: 'detection', summary: 'old', at: new Date(t0).toISOString() });
    await store.appendHistory({
      projectId: id,
      kind: 'action',
      summary: 'new',
      at: new Date(t0 + 60_000).toISOString(),
    });
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        store.appendHistory({
          projectId: id,
          kind: 'check',
          summary: `same-ms-${i}`,
          at: new Date(t0 + 30_000).toISOString(),
        }),
      ),
    );
    const rows = await store.listHistory(id);
    expect(rows).toHaveLength(32);
    expect(rows.every((r, i) => i === 0 || r.rowKey > rows[i - 1]!.rowKey)).toBe(true);
    expect(rows[0]!.summary).toBe('new');
    expect(rows.at(-1)!.summary).toBe('old');
    await store.appendHistory({
      projectId: id,
      kind: 'check',
      summary: 'one ms before',
      at: new Date(t0 + 29_999).toISOString(),
    });
    const since = await store.listHistory(id, { since: new Date(t0 + 30_000).toISOString() });
    expect(since.map((r) => r.summary)).not.toContain('one ms before');
    expect(since.map((r) => r.summary)).not.toContain('old');
    expect(since).toHaveLength(31);
    expect(await store.listHistory(id, { limit: 3 })).toHaveLength(3);
  });

  it('keeps trigger, event, correlation, actor and structured detail', async () => {
    const id = '65a000000000000000000011';
    await store.appendHistory({
      projectId: id,
      kind: 'action',
      trigger: 'event',
      eventId: 'ev-1',
      correlationId: 'corr-1',
      actor: 'alice@contoso.com',
      summary: 'PUT role assignment',
      detail: { roles: ['Key Vault Crypto User'] },
    });
    const [row] = await store.listHistory(id);
    expect(row).toMatchObject({
      kind: 'action',
      trigger: 'event',
      eventId: 'ev-1',
      correlationId: 'corr-1',
      actor: 'alice@contoso.com',
      detail: { roles: ['Key Vault Crypto User'] },
    });
  });
});

describe('indexes', () => {
  const sub = '/subscriptions/00000000-0000-0000-0000-0000000000aa';
  const kv1 = `${sub}/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv1`;
  const kv10 = `${sub}/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/kv10`;

  beforeAll(async () => {
    await store.indexVault(kv1, 'p1');
    await store.indexVault(kv1.toUpperCase(), 'p2');
    await store.indexVault(kv10, 'p3');
  });

  it('maps a vault to its projects, case-insensitively and segment-exact', async () => {
    expect((await store.projectsForVault(kv1.toLowerCase())).sort()).toEqual(['p1', 'p2']);
    expect(await store.projectsForVault(kv10)).toEqual(['p3']);
  });

  it('maps subscription, resource group, vault and key scopes to affected projects', async () => {
    expect((await store.projectsAffectedBy(sub)).sort()).toEqual(['p1', 'p2', 'p3']);
    expect((await store.projectsAffectedBy(`${sub}/resourceGroups/rg1`)).sort()).toEqual(['p1', 'p2', 'p3']);
    expect(await store.projectsAffectedBy(`${sub}/resourceGroups/rg`)).toEqual([]);
    expect((await store.projectsAffectedBy(kv1)).sort()).toEqual(['p1', 'p2']);
    expect((await store.projectsAffectedBy(`${kv1}/keys/k`)).sort()).toEqual(['p1', 'p2']);
    expect((await store.projectsAffectedBy('/providers/Microsoft.Management/managementGroups/mg')).sort()).toEqual([
      'p1',
      'p2',
      'p3',
    ]);
  });

  it('maps a seen role assignment ID to its project', async () => {
    const ra = `${kv1}/providers/Microsoft.Authorization/roleAssignments/0b1d2c3e-0000-0000-0000-000000000001`;
    await store.indexAssignment(ra, 'p1');
    expect(await store.projectsForAssignment(ra.toUpperCase())).toEqual(['p1']);
    expect(await store.projectsForAssignment(ra.replace('0001', '0002'))).toEqual([]);
    expect(encodeKey(ra)).not.toContain('/');
  });
});
