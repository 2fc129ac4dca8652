// The app's functions, described once: names, triggers and bindings (routes.ts, from infra/guard-contract.json,
// which the Bicep deployment reads too), the Functions handler, and the same code as a function of an app context. The
// Functions `app.*` tail (index.ts) and the local host (local/app.ts) both register from this table.
import type { InvocationContext } from '@azure/functions';
import type { Settings } from '../settings.js';
import type { AppContext } from './context.js';
import { dashboardFunction } from './dashboard.js';
import { healthFunction } from './health.js';
import { onAtlasAlertFunction } from './onAtlasAlert.js';
import { handleAzureEvent, onAzureEvent } from './onAzureEvent.js';
import { projectsApiFunction } from './projectsApi.js';
import { handleQueueMessage, reconcileProjectQueue } from './reconcileProjectQueue.js';
import { handleSweep, sweepProjects } from './sweepProjects.js';
import { TRIGGERS } from './routes.js';

export const FUNCTIONS = {
  eventGrid: {
    ...TRIGGERS.eventGrid,
    handler: onAzureEvent,
    run: async (app: AppContext, event: unknown, ctx: InvocationContext) =>
      void (await handleAzureEvent(app, event, ctx)),
  },
  timer: {
    ...TRIGGERS.timer,
    handler: sweepProjects,
    run: async (app: AppContext, _timer: unknown, ctx: InvocationContext) => void (await handleSweep(app, ctx)),
  },
  queue: {
    ...TRIGGERS.queue,
    handler: reconcileProjectQueue,
    run: async (app: AppContext, message: unknown, ctx: InvocationContext) =>
      void (await handleQueueMessage(app, message, ctx)),
  },
  /** HTTP functions read the installed app context themselves (getAppContext). */
  http: [projectsApiFunction, dashboardFunction, healthFunction, onAtlasAlertFunction],
} as const;

/** A binding expression as the Functions host resolves it: `%NAME%` is the app setting NAME. */
export function resolveSetting(expr: string, settings: Settings): string {
  return expr.replace(/%([A-Za-z0-9_]+)%/g, (_m, name: string) => {
    const v = (settings as unknown as Record<string, unknown>)[name];
    if (v === undefined || v === null) throw new Error(`${expr}: setting ${name} is not set`);
    return String(v);
  });
}
