// The Functions app's registration: a short tail over the function table (registry.ts), nothing else. Each handler
// lives in its own file and is exported so tests and the local host call the very same code.
import azureFunctions from '@azure/functions';
import { FUNCTIONS } from './registry.js';
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

const { eventGrid, timer, queue, http } = FUNCTIONS;
app.eventGrid(eventGrid.name, { handler: eventGrid.handler });
app.timer(timer.name, { schedule: timer.schedule, handler: timer.handler });
app.storageQueue(queue.name, { queueName: queue.queueName, connection: queue.connection, handler: queue.handler });
for (const fn of http) {
  app.http(fn.name, { route: fn.route, methods: fn.methods, authLevel: fn.authLevel, handler: fn.handler });
}
