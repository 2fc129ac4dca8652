// The in-memory routing lookups (src/state/store.ts KnownIndex) answer as the table scans do, from one definition of
// which vaults a change at a scope can affect (affectedVaults / isAffected).
import { describe, expect, it } from 'vitest';
import { KnownIndex, encodeKey } from '../../src/state/store.js';

const sub = '/subscriptions/0000';
const kv = (rg: string, name: string) => `${sub}/resourceGroups/${rg}/providers/Microsoft.KeyVault/vaults/${name}`;

function index(): KnownIndex {
  const k = new KnownIndex();
  k.add('v', `${encodeKey(kv('rg1', 'kv1'))}|p1`);
  k.add('v', `${encodeKey(kv('rg1', 'kv10'))}|p10`);
  k.add('v', `${encodeKey(kv('rg2', 'kv2'))}|p2`);
  k.add('a', `${encodeKey(`${kv('rg1', 'kv1')}/providers/Microsoft.Authorization/roleAssignments/g1`)}|p1`);
  return k;
}

describe('KnownIndex', () => {
  it('a vault scope routes to that vault only, segment-exactly (kv1 is not kv10)', async () => {
    expect(await index().projectsAffectedBy(kv('rg1', 'kv1'))).toEqual(['p1']);
    expect(await index().projectsForVault(kv('RG1', 'KV1'))).toEqual(['p1']);
  });

  it('a resource group or subscription scope routes to every vault beneath it', async () => {
    expect((await index().projectsAffectedBy(`${sub}/resourceGroups/rg1`)).sort()).toEqual(['p1', 'p10']);
    expect((await index().projectsAffectedBy(sub)).sort()).toEqual(['p1', 'p10', 'p2']);
  });

  it('a key scope routes to the vault containing it; the root and a management group route to all', async () => {
    expect(await index().projectsAffectedBy(`${kv('rg2', 'kv2')}/keys/k`)).toEqual(['p2']);
    expect((await index().projectsAffectedBy('/')).sort()).toEqual(['p1', 'p10', 'p2']);
    const mg = '/providers/Microsoft.Management/managementGroups/root';
    expect((await index().projectsAffectedBy(mg)).sort()).toEqual(['p1', 'p10', 'p2']);
  });

  it('a known assignment ID routes to its project; an unknown one to none', async () => {
    const id = `${kv('rg1', 'kv1')}/providers/Microsoft.Authorization/roleAssignments/g1`;
    expect(await index().projectsForAssignment(id)).toEqual(['p1']);
    expect(await index().projectsForAssignment(id.replace('g1', 'g2'))).toEqual([]);
  });
});
