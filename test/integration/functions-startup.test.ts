// The Functions app's composition root (getAppContext, what every handler calls first in Azure): telemetry is
// started from the environment before the engine's SDK clients exist, the Atlas key pair is registered for
// redaction, and the status page / health probe get their dependencies. Real engine over Azurite.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAzurite, type RunningAzurite } from '../helpers/azurite.js';
import { getAppContext, setAppContext } from '../../src/functions/context.js';
import { getObservabilityDeps } from '../../src/observability/deps.js';
import { REDACTED, redactText } from '../../src/observability/redact.js';
import { runningTelemetry } from '../../src/observability/telemetry.js';

let azurite: RunningAzurite;
const PRIVATE_KEY = 'f1e2d3c4-b5a6-4978-8899-aabbccddeeff';

beforeAll(async () => {
  azurite = await startAzurite();
  Object.assign(process.env, {
    ATLAS_PUBLIC_KEY: 'startuppub',
    ATLAS_PRIVATE_KEY: PRIVATE_KEY,
    EAR_GUARD_STORAGE: azurite.connectionString,
    EAR_GUARD_TABLE_PREFIX: 'startup',
    // A local exporter (nothing listens: export failures must not matter); in Azure the connection string.
    EAR_GUARD_OTEL_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
  });
});
afterAll(async () => {
  const ctx = await getAppContext().catch(() => undefined);
  await ctx?.engine.close();
  setAppContext(undefined);
  await runningTelemetry()?.shutdown();
  await azurite?.close();
});

describe('getAppContext (first invocation in Azure)', () => {
  it('starts telemetry from the environment, registers the secrets and wires the status page', async () => {
    expect(runningTelemetry()).toBeUndefined();
    const ctx = await getAppContext();
    expect(runningTelemetry()?.mode).toBe('otlp');
    expect(redactText(`key ${PRIVATE_KEY}`)).toBe(`key ${REDACTED}`);
    expect((await getObservabilityDeps()).store).toBe(ctx.engine.deps.state);
    expect(await getAppContext()).toBe(ctx);
    // An unreachable collector costs nothing.
    await expect(runningTelemetry()!.flush()).resolves.toBeUndefined();
  });
});
