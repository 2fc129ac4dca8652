// A separate process for test/integration/reliability-crash.test.ts: one engine on a running sandbox (its file)
// and the test's Azurite, reconciling one project, so the test can kill it with SIGKILL in the middle of a restore.
// Args: <sandbox file> <storage connection> <table prefix> <project ID> <lease ms>. Prints `ready`, then the outcome.
import { createEngine } from '../../src/engine.js';
import { connectSandbox } from '../../src/sandbox/connect.js';
import { loadSettings } from '../../src/settings.js';

const [file, storageConnection, prefix, projectId, leaseMs] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const sandbox = await connectSandbox(file);
const settings = loadSettings({
  ATLAS_PUBLIC_KEY: sandbox.atlasPublicKey,
  ATLAS_PRIVATE_KEY: sandbox.atlasPrivateKey,
  EAR_GUARD_MODE: 'remediate',
  EAR_GUARD_TABLE_PREFIX: prefix,
});
const engine = await createEngine({
  settings,
  sandbox,
  storageConnection,
  armRetry: { maxRetries: 0, retryDelayInMs: 5, maxRetryDelayInMs: 50 },
  policy: { targetCacheMs: 0, leaseMs: Number(leaseMs) },
});
process.stdout.write('ready\n');
const outcome = await engine.reconcile(projectId, { kind: 'manual' });
process.stdout.write(`${JSON.stringify({ outcome: outcome.kind })}\n`);
await engine.close();
await sandbox.close();
