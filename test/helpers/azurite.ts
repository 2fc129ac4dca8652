// Azurite's Table service for tests: the same starter the product's local stack uses (src/local/azurite.ts), tables
// only, in memory. One instance serves the whole run (started by test/global-setup.ts): loading Azurite costs
// seconds of CPU (it pulls in Application Insights), which every file used to pay again. Tables therefore outlive a
// file and are shared with files running in parallel: give each file its own table prefix (test/helpers/world.ts
// makes one per world). Outside a run with the global setup, a private Azurite is started as before.
import { inject } from 'vitest';
import { startLocalStorage, AZURITE_ACCOUNT, AZURITE_KEY, type LocalStorage } from '../../src/local/azurite.js';

export { AZURITE_ACCOUNT, AZURITE_KEY };

export type RunningAzurite = Pick<LocalStorage, 'tableEndpoint' | 'connectionString' | 'close'>;

export async function startAzurite(): Promise<RunningAzurite> {
  const shared = inject('azurite');
  // The run's instance is closed by the global setup's teardown, not by a file.
  if (shared) return { ...shared, close: async () => undefined };
  return startLocalStorage({ queue: false });
}
