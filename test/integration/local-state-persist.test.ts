// `ear-guard start` against real Azure without EAR_GUARD_STORAGE: the embedded Azurite keeps its data under the
// user's state directory, so a deliberate revocation (the intent) survives a restart instead of reading `granted`
// again and letting a later strip be restored. The sandbox and the tests stay in memory.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { azuriteDataDir, startLocalStorage } from '../../src/local/azurite.js';
import { setIntent } from '../../src/loop/index.js';
import { StateStore } from '../../src/state/store.js';

const PROJECT = 'a'.repeat(24);

describe('embedded state against real Azure', () => {
  it('lives under the user state directory', () => {
    expect(azuriteDataDir({ HOME: '/home/u' })).toBe('/home/u/.local/state/ear-guard/azurite');
    expect(azuriteDataDir({ HOME: '/home/u', XDG_STATE_HOME: '/xdg' })).toBe('/xdg/ear-guard/azurite');
    expect(azuriteDataDir({ HOME: '/home/u', EAR_GUARD_STATE_DIR: '/srv/eg' })).toBe('/srv/eg/azurite');
  });

  it('a restart keeps the intent revoked', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'earguard-state-')), 'azurite');
    const first = await startLocalStorage({ queue: true, location: dir });
    try {
      const state = new StateStore({ connection: first.connectionString, prefix: 'eg' });
      await state.init();
      await setIntent(state, PROJECT, 'revoked', 'ops@example.com', 'offboarding');
    } finally {
      await first.close();
    }
    expect(readdirSync(dir).length).toBeGreaterThan(0);
    const second = await startLocalStorage({ queue: true, location: dir });
    try {
      const state = new StateStore({ connection: second.connectionString, prefix: 'eg' });
      await state.init();
      const row = await state.getProject(PROJECT);
      expect(row?.intent).toBe('revoked');
    } finally {
      await second.close();
    }
  }, 60_000);
});
