// What the status page and the health probe need, provided once by whoever wires the app (the Functions
// index or the local host) and read per request, so the handlers stay plain exported functions.
import type { StateStore } from '../state/store.js';

export interface ObservabilityDeps {
  store: StateStore;
  /** NCRONTAB schedule of the sweep (settings EAR_GUARD_SWEEP_SCHEDULE). */
  sweepSchedule: string;
  /** Share of a sweep's checks that may fail before health is 503 (EAR_GUARD_HEALTH_MAX_FAILED_SHARE; default 1). */
  healthMaxFailedShare?: number;
  /** Clock (tests). */
  now?: () => Date;
  /** Default seconds between status-page refreshes (a `?refresh=` query overrides it). Default 30. */
  refreshSeconds?: number;
  /** History rows read per project for the page. Default 50. */
  historyLimit?: number;
}

export type ObservabilityDepsProvider = () => ObservabilityDeps | Promise<ObservabilityDeps>;

let provider: ObservabilityDepsProvider | undefined;

/** Called once at startup: `setObservabilityDeps(() => ({ store, sweepSchedule: settings.EAR_GUARD_SWEEP_SCHEDULE }))`. */
export function setObservabilityDeps(p: ObservabilityDepsProvider | undefined): void {
  provider = p;
}

export async function getObservabilityDeps(): Promise<ObservabilityDeps> {
  if (!provider) {
    throw new Error('observability dependencies not set: call setObservabilityDeps() when the app starts');
  }
  return provider();
}
