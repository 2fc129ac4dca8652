// With APPLICATIONINSIGHTS_CONNECTION_STRING set, the Azure Monitor distro is what carries our spans; an
// unreachable ingestion endpoint never breaks the caller (flush/shutdown swallow export failures).
import { describe, expect, it } from 'vitest';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { ATTR, SPANS, recordReconcile, startTelemetry, withSpan } from '../../src/observability/telemetry.js';

describe('Azure Monitor mode', () => {
  it('installs the distro, keeps every span, and a dead endpoint does not throw', async () => {
    const t = await startTelemetry({
      env: {
        // Port 9 (discard) on loopback: nothing answers; exports fail fast.
        APPLICATIONINSIGHTS_CONNECTION_STRING:
          'InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://127.0.0.1:9/',
      },
    });
    expect(t.mode).toBe('azure-monitor');
    // Sampled (the distro's default rate limiter would drop the first spans after start) and carrying our attributes.
    const span = await withSpan(SPANS.reconcile, { project: 'p1', eventId: 'ev-1' }, async (s) => {
      recordReconcile('converged');
      return s;
    });
    expect(span.isRecording() || (span as unknown as ReadableSpan).ended).toBe(true);
    expect((span as unknown as ReadableSpan).attributes[ATTR.eventId]).toBe('ev-1');
    expect(span.spanContext().traceFlags & 1).toBe(1);
    await expect(t.flush()).resolves.toBeUndefined();
    await expect(t.shutdown()).resolves.toBeUndefined();
  });
});
