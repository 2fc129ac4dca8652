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

// CommonJS package: the default import works in plain Node ESM and in the bundle alike (library issue #287).
const { app } = azureFunctions;

app.setup({ enableHttpStream: false });

app.eventGrid(contract.functions.eventGrid, { handler: onAzureEvent });
// `%...%` resolves the app setting, so the schedule is configuration, not code (default 0 */5 * * * *).
app.timer(contract.functions.timer, { schedule: '%EAR_GUARD_SWEEP_SCHEDULE%', handler: sweepProjects });
app.storageQueue(contract.functions.queue, {
  queueName: contract.reconcileQueueName,
  connection: 'AzureWebJobsStorage',
  handler: reconcileProjectQueue,
});
for (const fn of [projectsApiFunction, dashboardFunction, healthFunction]) {
  app.http(fn.name, { route: fn.route, methods: fn.methods, authLevel: fn.authLevel, handler: fn.handler });
}
