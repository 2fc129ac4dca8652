// GET /api/dashboard (function key): the status page. `?format=json` gives the same data as JSON;
// `?refresh=N` sets the self-refresh interval in seconds (1..3600).
// The Functions index registers it with `app.http(dashboardFunction.name, dashboardFunction)`; the local host
// takes `dashboardFunction` as is.
import { randomBytes } from 'node:crypto';
import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { HistoryRow, ProjectRecord } from '../state/store.js';
import { readHeartbeat, type Heartbeat } from '../state/heartbeat.js';
import { assessHealth, type HealthReport } from '../observability/health.js';
import { getObservabilityDeps, type ObservabilityDeps } from '../observability/deps.js';
import { loggerForInvocation } from '../observability/logger.js';
import { redactText } from '../observability/redact.js';
import { renderDashboard } from '../dashboard/render.js';
import { firstSweepState, summarizeProject } from '../dashboard/model.js';
import { mapLimit } from '../shared/concurrency.js';
import { HTTP_ROUTES } from './routes.js';

function describe(err: unknown): string {
  const e = err as { describe?: () => string; message?: string };
  return redactText(typeof e?.describe === 'function' ? e.describe() : String(e?.message ?? err));
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export function makeDashboardHandler(
  getDeps: () => Promise<ObservabilityDeps> | ObservabilityDeps = getObservabilityDeps,
): (req: HttpRequest, ctx: InvocationContext) => Promise<HttpResponseInit> {
  return async (req: HttpRequest, ctx: InvocationContext): Promise<HttpResponseInit> => {
    const log = loggerForInvocation(ctx);
    let deps: ObservabilityDeps;
    try {
      deps = await getDeps();
    } catch (err) {
      log.error('dashboard: not configured', { err });
      return { status: 500, jsonBody: { error: describe(err) }, headers: SECURITY_HEADERS };
    }
    const now = deps.now?.() ?? new Date();
    const refreshParam = Number(req.query.get('refresh'));
    const refreshSeconds =
      Number.isFinite(refreshParam) && refreshParam >= 1 ? Math.min(3600, refreshParam) : (deps.refreshSeconds ?? 30);

    let projects: ProjectRecord[] = [];
    const history: Record<string, HistoryRow[]> = {};
    let heartbeat: Heartbeat | undefined;
    let health: HealthReport | undefined;
    let error: string | undefined;
    try {
      [projects, heartbeat] = await Promise.all([deps.store.listProjects(), readHeartbeat(deps.store)]);
      const rows = await mapLimit(projects, 8, (p) =>
        deps.store.listHistory(p.projectId, { limit: deps.historyLimit ?? 50 }),
      );
      projects.forEach((p, i) => (history[p.projectId] = rows[i]!));
    } catch (err) {
      error = `state storage: ${describe(err)}`;
      log.error('dashboard: reading state failed', { err });
    }
    try {
      health = assessHealth({ heartbeat, storageError: error, schedule: deps.sweepSchedule, now });
    } catch (err) {
      error = [error, describe(err)].filter(Boolean).join('; ');
    }
    const status = error ? 503 : 200;

    if ((req.query.get('format') ?? '').toLowerCase() === 'json') {
      return {
        status,
        headers: SECURITY_HEADERS,
        jsonBody: {
          generatedAt: now.toISOString(),
          error,
          ...(error ? {} : { firstSweep: firstSweepState(heartbeat) }),
          health,
          projects: projects.map((p) => {
            const s = summarizeProject(p, history[p.projectId]);
            return {
              projectId: p.projectId,
              status: p.status,
              model: p.model,
              vaultId: p.vaultId,
              keyName: p.keyName,
              missing: p.missing,
              lastCheck: p.lastCheck,
              lastDriftAt: s.lastDrift?.at,
              changedBy: s.changedBy,
              timeToRestoreSeconds: s.lastRestore?.seconds,
              lastError: p.lastError,
            };
          }),
        },
      };
    }

    const nonce = randomBytes(16).toString('base64');
    const body = renderDashboard({ projects, history, heartbeat, health, now, refreshSeconds, nonce, error });
    return {
      status,
      headers: {
        ...SECURITY_HEADERS,
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
      },
      body,
    };
  };
}

export const dashboardHandler: HttpHandler = makeDashboardHandler();

/** Registration data, shared by the Functions index (`app.http(name, opts)`) and the local host. */
export const dashboardFunction = { ...HTTP_ROUTES.dashboard, handler: dashboardHandler };
