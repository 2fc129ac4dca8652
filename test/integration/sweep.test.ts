// The sweep runner (timer, queue producer, CLI): every project reconciled, counted by outcome, the ones that need a
// human listed, a summary row and the heartbeat recorded; the timer keeps no verdicts in memory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { ROLE_IDS } from '../../src/core/builtinRoles.js';
import { runSweep, SWEEP_PARTITION } from '../../src/loop/sweep.js';
import { readHeartbeat } from '../../src/state/heartbeat.js';
import type { Engine } from '../../src/engine.js';
import { startWorld, type World } from '../helpers/world.js';

let w: World;
beforeAll(async () => {
  w = await startWorld();
}, 60_000);
afterAll(() => w?.close());

describe('runSweep', () => {
  it('reconciles every project, counts outcomes, records the summary and the heartbeat', async () => {
    const a = await w.addProject({ model: 'rbac' });
    const b = await w.addProject({ model: 'accessPolicy' });
    const c = await w.addProject({ model: 'rbac' });
    const ids = [a.projectId, b.projectId, c.projectId];
    await runSweep(w.engine, { projectIds: ids });
    // Drift on one project; the sweep (remediate mode) restores it.
    const crypto = w.sandbox.control
      .roleAssignments({ scope: c.vaultId, principalId: c.principalId })
      .find((x) =>
        String((x.properties as { roleDefinitionId: string }).roleDefinitionId).endsWith(ROLE_IDS.keyVaultCryptoUser),
      )!;
    w.sandbox.control.deleteAssignment({ as: 'alice', id: String(crypto.id) });
    const seen: string[] = [];
    const s = await runSweep(w.engine, {
      projectIds: ids,
      keepOutcomes: false,
      onResult: (i) => seen.push(i.projectId),
    });
    expect(s.total).toBe(3);
    expect(s.byOutcome).toEqual({ converged: 2, restored: 1 });
    expect(s.errors).toBe(0);
    expect(s.attention).toEqual([]);
    expect(seen.sort()).toEqual([...ids].sort());
    expect(s.items.every((i) => i.outcome === undefined)).toBe(true);
    const hb = await readHeartbeat(w.engine.deps.state);
    expect(hb?.finishedAt).toBe(s.finishedAt);
    expect(hb?.outcomes).toEqual({ converged: 2, restored: 1 });
    const rows = await w.engine.deps.state.listHistory(SWEEP_PARTITION, { limit: 1 });
    expect(rows[0]!.summary).toMatch(/sweep of 3 project\(s\).*2 converged, 1 restored/);
  });

  it('a healthy check that reads Atlas again (each sweep does) writes neither the row nor history', async () => {
    const a = await w.addProject({ model: 'rbac' });
    // The world's target cache is off: every check reads Atlas, as a sweep 5 minutes after the last one does.
    await runSweep(w.engine, { projectIds: [a.projectId], record: false });
    const row = await w.engine.deps.state.getProject(a.projectId);
    const history = await w.engine.deps.state.listHistory(a.projectId);
    await new Promise((r) => setTimeout(r, 5));
    const s = await runSweep(w.engine, { projectIds: [a.projectId], record: false });
    expect(s.byOutcome).toEqual({ converged: 1 });
    expect((await w.engine.deps.state.getProject(a.projectId))?.etag).toBe(row?.etag);
    expect(await w.engine.deps.state.listHistory(a.projectId)).toHaveLength(history.length);
  });

  it('a fresh instance re-writes no index row the index already holds, and still writes new ones', async () => {
    const etags = async (e: Engine) => {
      const m = new Map<string, string | undefined>();
      for await (const r of e.deps.state.index.listEntities()) m.set(`${r.partitionKey}|${r.rowKey}`, r.etag);
      return m;
    };
    const a = await w.addProject({ model: 'rbac' });
    await runSweep(w.engine, { projectIds: [a.projectId] });
    const before = [...(await etags(w.engine))].filter(([k]) => k.endsWith(`|${a.projectId}`));
    expect(before.map(([k]) => k.split('|')[0]).sort()).toContain('assignment');
    expect(before.map(([k]) => k.split('|')[0])).toContain('vault');
    const b = await w.addProject({ model: 'rbac' });
    const fresh = await w.newEngine();
    const s = await runSweep(fresh, { projectIds: [a.projectId, b.projectId] });
    expect(s.byOutcome).toEqual({ converged: 2 });
    const after = await etags(fresh);
    for (const [k, etag] of before) expect(after.get(k), k).toBe(etag);
    expect([...after.keys()].filter((k) => k.startsWith('vault|') && k.endsWith(`|${b.projectId}`))).toHaveLength(1);
  });

  it('lists a project whose check fails as needing attention, and keeps full outcomes for the CLI', async () => {
    const p = await w.addProject({ model: 'rbac' });
    await runSweep(w.engine, { projectIds: [p.projectId] });
    w.sandbox.control.setFault({ path: p.vaultId }, { kind: 'error', status: 403 });
    try {
      const s = await runSweep(w.engine, { projectIds: [p.projectId] });
      expect(s.byOutcome).toEqual({ failed: 1 });
      expect(s.attention).toEqual([p.projectId]);
      expect(s.items[0]!.outcome?.kind).toBe('failed');
    } finally {
      w.sandbox.control.clearFaults();
    }
  });
});

describe('shared vault reads in a sweep', () => {
  it('reads a vault once for all its projects (keys through one Keys_List), and still sees a disabled key', async () => {
    const a = await w.addProject({ model: 'rbac' });
    // Two more Atlas projects whose EAR uses keys in the same vault.
    const c = w.sandbox.control;
    const extra = ['k2', 'k3'].map((key) => {
      const k = c.createKey({ vault: a.vaultName, key });
      return c.atlas.seedProject({
        name: `shared-${key}`,
        tenantId: w.sandbox.tenantId,
        subscriptionId: w.sandbox.subscriptionId,
        resourceGroupName: a.resourceGroup,
        keyVaultName: a.vaultName,
        keyIdentifier: k.keyIdentifier,
        principalId: a.principalId,
      }).projectId;
    });
    const ids = [a.projectId, ...extra];
    await runSweep(w.engine, { projectIds: ids });
    c.setKeyEnabled({ vault: a.vaultName, key: 'k3', enabled: false });
    c.resetCounts();
    const s = await runSweep(w.engine, { projectIds: ids, keepOutcomes: true });
    const ops = c.counts().byCallerOperation['ear-guard'] ?? {};
    expect(ops['keys.list']).toBe(1);
    expect(ops['keys.get'] ?? 0).toBe(0);
    expect(ops['vaults.get']).toBe(1);
    expect(ops['roleAssignments.list']).toBe(1);
    expect(ops['denyAssignments.list']).toBe(1);
    const k3 = s.items.find((i) => i.projectId === extra[1])!;
    expect(k3.outcome?.flags).toContain('key-disabled');
    expect(s.items.filter((i) => i.outcome?.kind === 'converged')).toHaveLength(2);
  });

  it('the sandbox lists keys in the published Keys_List shape (no keyUriWithVersion)', async () => {
    const p = await w.addProject({ model: 'rbac' });
    const published = JSON.parse(readFileSync('test/fixtures/arm-keyvault-2024-11-01-listKeys.json', 'utf8'));
    const kv = new KeyVaultManagementClient(w.sandbox.credential, w.sandbox.subscriptionId, w.sandbox.clientOptions());
    const raw: Record<string, unknown>[] = [];
    for await (const page of kv.keys.list(p.resourceGroup, p.vaultName).byPage()) raw.push(...(page as never[]));
    expect(raw).toHaveLength(1);
    const want = published.responses['200'].body.value[0];
    // The SDK flattens `properties` (and maps absent fields to undefined): compare the fields present.
    const present = Object.entries(raw[0]!)
      .filter(([, v]) => v !== undefined)
      .map(([k]) => k);
    expect(present.sort()).toEqual(
      [...Object.keys(want).filter((k) => k !== 'properties'), ...Object.keys(want.properties)].sort(),
    );
  });
});
