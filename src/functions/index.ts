// The Functions app's registration: a short tail, nothing else. Each handler lives in its own file and is
// exported so tests and the local host call the very same code. Names and the queue come from
// infra/guard-contract.json, which the Bicep deployment reads too.
import azureFunctions from '@azure/functions';
import contract from '../../infra/guard-contract.json' with { type: 'json' };
import { onAzureEvent } from './onAzureEvent.js';
import { sweepProjects } from './sweepProjects.js';
import { reconcileProjectQueue } from './reconcileProjectQueue.js';
import { projectsApiFunction } from './projectsApi.js';
import { dashboardFunction } from './dashboard.js';
import { healthFunction } from './health.js';
import { onAtlasAlertFunction } from './onAtlasAlert.js';
import { loadSettings, SettingsError } from '../settings.js';

// CommonJS package: the default import works in plain Node ESM and in the bundle alike (library issue #287).
const { app } = azureFunctions;

// In the Functions host, settings are validated once at load: a bad or missing setting stops the app with one
// message listing every problem (the worker reports it), before any trigger can run half-configured.
if (process.env.FUNCTIONS_WORKER_RUNTIME) {
  try {
    loadSettings(process.env);
  } catch (err) {
    if (err instanceof SettingsError) console.error(`atlas-ear-guard cannot start. ${err.message}`);
    throw err;
  }
}

app.setup({ enableHttpStream: false });

app.eventGrid(contract.functions.eventGrid, { handler: onAzureEvent });
// `%...%` resolves the app setting, so the schedule is configuration, not code (default 0 */5 * * * *).
app.timer(contract.functions.timer, { schedule: '%EAR_GUARD_SWEEP_SCHEDULE%', handler: sweepProjects });
app.storageQueue(contract.functions.queue, {
  queueName: contract.reconcileQueueName,
  connection: 'AzureWebJobsStorage',
  handler: reconcileProjectQueue,
});
for (const fn of [projectsApiFunction, dashboardFunction, healthFunction, onAtlasAlertFunction]) {
  app.http(fn.name, { route: fn.route, methods: fn.methods, authLevel: fn.authLevel, handler: fn.handler });
}
