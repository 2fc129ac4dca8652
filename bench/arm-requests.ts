// (1) ARM requests per reconcile: healthy with warm caches, drifted (observe + one write per missing grant +
// verify), and the naive approach (list every assignment at the vault, GET each role definition) with the real SDK,
// all against one sandbox in one run. Also the table transactions each reconcile costs (for the cost model).
import { randomUUID } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { ROLE_IDS } from '../src/core/builtinRoles.js';
import { createEngine } from '../src/engine.js';
import { startLocalStorage } from '../src/local/azurite.js';
import { startSandbox, type Sandbox } from '../src/sandbox/index.js';
import { benchSettings, connectionOf, seed } from './lib.js';

export interface ArmRequestsResult {
  otherAssignmentsAtVault: number;
  healthyWarm: { arm: number; atlas: number; table: number; byOperation: Record<string, number> };
  healthyCold: { arm: number; atlas: number; table: number };
  drifted: { arm: number; writes: number; table: number; byOperation: Record<string, number> };
  naive: { arm: number; byOperation: Record<string, number> };
}

/** Counts outgoing HTTP requests to the storage emulator (table transactions) while `fn` runs. */
export async function countStorageRequests<T>(storageUrl: string, fn: () => Promise<T>): Promise<[T, number]> {
  const port = new URL(storageUrl).port;
  let n = 0;
  const onStart = (msg: unknown) => {
    const req = (msg as { request: { host?: string; getHeader(h: string): unknown } }).request;
    const host = String(req.getHeader('host') ?? req.host ?? '');
    if (host.endsWith(`:${port}`)) n++;
  };
  subscribe('http.client.request.start', onStart);
  try {
    return [await fn(), n];
  } finally {
    unsubscribe('http.client.request.start', onStart);
  }
}

function byCaller(sb: Sandbox, caller: string): { total: number; ops: Record<string, number> } {
  const ops = sb.control.counts().byCallerOperation[caller] ?? {};
  const arm = Object.fromEntries(Object.entries(ops).filter(([k]) => !k.startsWith('atlas.')));
  return { total: Object.values(arm).reduce((a, b) => a + b, 0), ops: arm };
}
function atlasCount(sb: Sandbox): number {
  const ops = sb.control.counts().byOperation;
  return Object.entries(ops)
    .filter(([k]) => k.startsWith('atlas.'))
    .reduce((a, [, n]) => a + n, 0);
}

export async function armRequests(otherAssignments = 20): Promise<ArmRequestsResult> {
  const sb = await startSandbox({ timeScale: 0.001, rateLimit: false });
  const storage = await startLocalStorage();
  try {
    const [p] = seed(sb, 1, 1, 'r');
    // A realistic vault: other people's and apps' assignments next to the Atlas principal's.
    const others = ['alice', 'bob', 'mallory'].map((n) => sb.control.principals().find((x) => x.name === n)!);
    const roles = [
      ROLE_IDS.reader,
      ROLE_IDS.keyVaultCryptoOfficer,
      ROLE_IDS.keyVaultAdministrator,
      ROLE_IDS.keyVaultReader,
    ];
    for (let i = 0; i < otherAssignments; i++) {
      const u = sb.control.addPrincipal({ name: `user${i}`, type: 'User' });
      sb.control.assignRole({
        scope: p!.vaultName,
        role: roles[i % roles.length]!,
        principalId: (others[i] ?? u).objectId,
      });
    }
    // Defaults as deployed (target cache 30 s; SDK retry policy), only the sandbox and storage differ.
    const engine = await createEngine({
      settings: benchSettings(sb),
      sandbox: connectionOf(sb),
      storageConnection: storage.connectionString,
    });
    const reconcile = async () => {
      sb.control.resetCounts();
      const [o, table] = await countStorageRequests(storage.tableEndpoint, () =>
        engine.reconcile(p!.projectId, { kind: 'event', eventId: randomUUID() }),
      );
      return { o, table, arm: byCaller(sb, 'ear-guard'), atlas: atlasCount(sb) };
    };
    const cold = await reconcile();
    const warm = await reconcile();
    if (warm.o.kind !== 'converged') throw new Error(`healthy project did not converge: ${warm.o.kind}`);

    const crypto = sb.control
      .roleAssignments({ scope: p!.vaultId, principalId: sb.atlasPrincipalId })
      .find((a) =>
        String((a.properties as Record<string, unknown>).roleDefinitionId).endsWith(ROLE_IDS.keyVaultCryptoUser),
      );
    sb.control.deleteAssignment({ as: 'alice', id: String(crypto!.id) });
    const drift = await reconcile();
    if (drift.o.kind !== 'restored') throw new Error(`drifted project was not restored: ${drift.o.kind}`);
    const writes = Object.entries(drift.arm.ops)
      .filter(([k]) => /create|update|delete/i.test(k))
      .reduce((a, [, n]) => a + n, 0);
    await engine.close();

    // The naive approach, with the real SDK acting as `alice` (so its requests count apart): read the vault,
    // list every assignment at it, GET each role definition.
    sb.control.resetCounts();
    const cred = sb.credentialFor('alice');
    const auth = new AuthorizationManagementClient(cred, sb.subscriptionId, sb.clientOptions());
    const kv = new KeyVaultManagementClient(cred, sb.subscriptionId, sb.clientOptions());
    await kv.vaults.get(`rg-r0`, p!.vaultName);
    const all = [];
    for await (const a of auth.roleAssignments.listForScope(p!.vaultId.slice(1))) all.push(a);
    for (const a of all) {
      const guid = String(a.roleDefinitionId).split('/').pop()!;
      await auth.roleDefinitions.get(`subscriptions/${sb.subscriptionId}`, guid);
    }
    await kv.keys.get('rg-r0', p!.vaultName, p!.keyName);
    const naive = byCaller(sb, 'alice');
    return {
      otherAssignmentsAtVault: otherAssignments,
      healthyCold: { arm: cold.arm.total, atlas: cold.atlas, table: cold.table },
      healthyWarm: { arm: warm.arm.total, atlas: warm.atlas, table: warm.table, byOperation: warm.arm.ops },
      drifted: { arm: drift.arm.total, writes, table: drift.table, byOperation: drift.arm.ops },
      naive: { arm: naive.total, byOperation: naive.ops },
    };
  } finally {
    await sb.close();
    await storage.close();
  }
}
