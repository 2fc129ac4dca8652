// GET /api/health (anonymous, for probes and uptime monitors): 200 only when the last sweep finished within two
// schedule periods with its checks completed (EAR_GUARD_HEALTH_MAX_FAILED_SHARE) and state storage answers; 503 otherwise, with the reasons. It never throws (a 500 would tell
// a probe less than a 503 with a reason). The body carries no project data.
import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { checkHealth } from '../observability/health.js';
import { getObservabilityDeps, type ObservabilityDeps } from '../observability/deps.js';
import { loggerForInvocation } from '../observability/logger.js';
import { redactText } from '../observability/redact.js';
import { HTTP_ROUTES } from './routes.js';

export function makeHealthHandler(
  getDeps: () => Promise<ObservabilityDeps> | ObservabilityDeps = getObservabilityDeps,
): (req: HttpRequest, ctx: InvocationContext) => Promise<HttpResponseInit> {
  return async (_req: HttpRequest, ctx: InvocationContext): Promise<HttpResponseInit> => {
    const headers = { 'cache-control': 'no-store' };
    try {
      const deps = await getDeps();
      const r = await checkHealth({
        store: deps.store,
        schedule: deps.sweepSchedule,
        now: deps.now?.(),
        maxFailedShare: deps.healthMaxFailedShare,
      });
      if (!r.healthy) loggerForInvocation(ctx).warn('health: unhealthy', { reasons: r.reasons });
      return {
        status: r.healthy ? 200 : 503,
        headers,
        jsonBody: {
          status: r.healthy ? 'healthy' : 'unhealthy',
          reasons: r.reasons.map((x) => redactText(x)),
          storage: r.storage,
          lastSweepFinishedAt: r.lastSweepFinishedAt,
          sweepAgeSeconds: r.sweepAgeSeconds,
          maxSweepAgeSeconds: r.maxSweepAgeSeconds,
          schedule: r.schedule,
          checkedAt: r.checkedAt,
        },
      };
    } catch (err) {
      loggerForInvocation(ctx).error('health: check failed', { err });
      return {
        status: 503,
        headers,
        jsonBody: { status: 'unhealthy', reasons: [redactText(err instanceof Error ? err.message : String(err))] },
      };
    }
  };
}

export const healthHandler: HttpHandler = makeHealthHandler();

/** Registration data, shared by the Functions index (`app.http(name, opts)`) and the local host. */
export const healthFunction = { ...HTTP_ROUTES.health, handler: healthHandler };
