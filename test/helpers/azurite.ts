// Azurite's Table service in-process for tests: the same starter the product's local stack uses
// (src/local/azurite.ts), tables only, in memory, on a free port.
import { startLocalStorage, AZURITE_ACCOUNT, AZURITE_KEY, type LocalStorage } from '../../src/local/azurite.js';

export { AZURITE_ACCOUNT, AZURITE_KEY };

export type RunningAzurite = Pick<LocalStorage, 'tableEndpoint' | 'connectionString' | 'close'>;

export function startAzurite(): Promise<RunningAzurite> {
  return startLocalStorage({ queue: false });
}
