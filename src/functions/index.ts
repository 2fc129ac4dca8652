// The Functions app's registration: every `app.*` call runs at import (the v4 programming model indexes functions
// then), from data alone: names and triggers from infra/guard-contract.json, HTTP routes from routes.ts. The
// handlers, the engine and the Azure SDKs they need live in registry.ts and load on first use (a chunk of the
// bundle), started right after registration so the load overlaps the host's own start instead of the first
// invocation. Each handler lives in its own file and is exported so tests and the local host call the same code.
import azureFunctions from '@azure/functions';
import { HTTP_ROUTES, TRIGGERS } from './routes.js';

// CommonJS package: the default import works in plain Node ESM and in the bundle alike (library issue #287).
const { app } = azureFunctions;

// In the Functions host, settings are validated once at load: a bad or missing setting stops the app with one
// message listing every problem (the worker reports it), before any trigger can run half-configured.
if (process.env.FUNCTIONS_WORKER_RUNTIME) {
  const { loadSettings, SettingsError } = await import('../settings.js');
  try {
    loadSettings(process.env);
  } catch (err) {
    if (err instanceof SettingsError) console.error(`atlas-ear-guard cannot start. ${err.message}`);
    throw err;
  }
}

type Registry = typeof import('./registry.js');
let registry: Promise<Registry> | undefined;
/** The handlers' module, loaded once; a failed load is forgotten so the next invocation tries again. */
const load = (): Promise<Registry> =>
  (registry ??= import('./registry.js').catch((err: unknown) => {
    registry = undefined;
    throw err;
  }));

/** A handler that loads the registry on first call and then runs the one it names. */
function lazy<A extends unknown[], R>(pick: (r: Registry) => (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => pick(await load())(...args);
}

const httpHandler = (name: string) =>
  lazy((r) => {
    const fn = r.FUNCTIONS.http.find((f) => f.name === name);
    if (!fn) throw new Error(`no HTTP function ${name} in the registry`);
    return fn.handler as (...args: unknown[]) => Promise<never>;
  });

app.setup({ enableHttpStream: false });

const { eventGrid, timer, queue } = TRIGGERS;
app.eventGrid(eventGrid.name, { handler: lazy((r) => r.FUNCTIONS.eventGrid.handler) });
app.timer(timer.name, { schedule: timer.schedule, handler: lazy((r) => r.FUNCTIONS.timer.handler) });
app.storageQueue(queue.name, {
  queueName: queue.queueName,
  connection: queue.connection,
  handler: lazy((r) => r.FUNCTIONS.queue.handler),
});
for (const fn of Object.values(HTTP_ROUTES)) {
  app.http(fn.name, { route: fn.route, methods: fn.methods, authLevel: fn.authLevel, handler: httpHandler(fn.name) });
}

// Start loading the handlers now, off the import: a failure surfaces on the first invocation, which retries it.
setImmediate(() => void load().catch(() => undefined));
