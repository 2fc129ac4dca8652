// HTTP API (function-key auth): the operator's view of the state table and the "check now" / intent actions.
//   GET  /api/projects                    every project row; firstSweep: 'running' until a sweep has finished
//   GET  /api/projects/{id}               one row
//   GET  /api/projects/{id}/history       newest first (?since=ISO|7d&limit=N)
//   POST /api/projects/{id}/check         reconcile now, answer the outcome
//   PUT  /api/projects/{id}/intent        {"intent": "revoked"|"granted", "reason": "..."}; recorded with who set it
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as z from 'zod/mini';
import { en } from 'zod/locales';
import { ClassifiedError } from '../azure/errors.js';
import { isTransientOutcome, setIntent, type Outcome } from '../loop/index.js';
import type { ProjectRecord } from '../state/store.js';
import { readHeartbeat } from '../state/heartbeat.js';
import { firstSweepState } from '../dashboard/model.js';
import { loggerForInvocation } from '../observability/logger.js';
import { getAppContext, type AppContext } from './context.js';
import { HTTP_ROUTES } from './routes.js';

const PROJECT_ID = /^[0-9a-f]{24}$/i;

// zod/mini (as src/settings.ts) loads no locale: English keeps zod's usual message for a body that is not an object.
z.config(en());

const intentBody = z.object({
  intent: z.enum(['revoked', 'granted'], { message: 'expected "revoked" or "granted"' }),
  reason: z
    .string({ message: 'expected a string' })
    .check(z.trim(), z.minLength(1, 'a reason is required'), z.maxLength(500, 'at most 500 characters')),
});

const problem = (status: number, error: string, details?: string[]): HttpResponseInit => ({
  status,
  jsonBody: { error, ...(details ? { details } : {}) },
});

/** The row as the API shows it: no lease bookkeeping, no ETag. */
export function publicProject(
  r: ProjectRecord,
): Omit<ProjectRecord, 'leaseOwner' | 'leaseUntil' | 'etag' | 'requested'> {
  const { leaseOwner: _l, leaseUntil: _u, etag: _e, requested: _r, ...rest } = r;
  return rest;
}

/** Outcomes as JSON: the verdict in full, nothing secret (outcomes never carry keys). */
function outcomeStatus(o: Outcome): number {
  if (isTransientOutcome(o)) return 503;
  if (o.kind === 'failed') return 502;
  return 200;
}

const SINCE_UNITS_MS = { d: 86_400_000, h: 3_600_000, m: 60_000 } as const;
const SINCE_ERROR = 'since: expected an ISO time or a duration like 7d, 12h, 30m';

/** `7d`, `12h`, `30m` or an ISO time; a duration reaching past the representable dates is an error, not a throw. */
export function parseSince(v: string | null, now = Date.now()): string | undefined | Error {
  if (!v) return undefined;
  const m = /^(\d+)([dhm])$/.exec(v);
  const t = m ? now - Number(m[1]) * SINCE_UNITS_MS[m[2] as 'd' | 'h' | 'm'] : Date.parse(v);
  const at = new Date(t);
  return Number.isNaN(at.getTime()) ? new Error(SINCE_ERROR) : at.toISOString();
}

/**
 * Who is acting: App Service authentication's principal when it is on (it sets WEBSITE_AUTH_ENABLED and owns the
 * x-ms-client-principal-* headers), else the function-key holder. Without it those headers are the caller's own
 * words: recorded as a claim, never as the identity.
 */
function caller(req: HttpRequest): string {
  const claimed = req.headers.get('x-ms-client-principal-name') ?? req.headers.get('x-ms-client-principal-id');
  if (claimed && /^true$/i.test(process.env.WEBSITE_AUTH_ENABLED ?? '')) return claimed;
  return claimed ? `function-key holder (unverified claim: ${claimed.slice(0, 100)})` : 'function-key holder';
}

type Op = (app: AppContext, id: string, req: HttpRequest, ctx: InvocationContext) => Promise<HttpResponseInit>;

const notKnown = (id: string) => problem(404, `project ${id} is not known here`);

/**
 * Whether Atlas or the state knows the project: a row exists, the engine lists it, or Atlas loads its EAR
 * configuration. Actions on anything else would create lasting rows for projects that do not exist.
 */
export async function projectIsKnown(app: AppContext, id: string): Promise<boolean> {
  if (await app.engine.deps.state.getProject(id)) return true;
  if ((await app.engine.listProjectIds()).some((p) => p.toLowerCase() === id.toLowerCase())) return true;
  try {
    await app.engine.deps.atlas.loadTarget(id);
    return true;
  } catch (err) {
    // Atlas answers 404 for a project that does not exist (and 401/403 for one this key cannot see).
    if (err instanceof ClassifiedError && !err.transient && [401, 403, 404].includes(err.status ?? 0)) return false;
    throw err;
  }
}

async function listAll(app: AppContext): Promise<HttpResponseInit> {
  const state = app.engine.deps.state;
  const [rows, heartbeat] = await Promise.all([state.listProjects(), readHeartbeat(state)]);
  // `firstSweep: 'running'` until a sweep has finished: an empty list then is "not looked yet", not "none".
  return { status: 200, jsonBody: { projects: rows.map(publicProject), firstSweep: firstSweepState(heartbeat) } };
}

const getOne: Op = async (app, id) => {
  const row = await app.engine.deps.state.getProject(id);
  return row ? { status: 200, jsonBody: publicProject(row) } : notKnown(id);
};

const getHistory: Op = async (app, id, req) => {
  const since = parseSince(req.query.get('since'));
  if (since instanceof Error) return problem(400, since.message);
  const limitRaw = req.query.get('limit');
  const limit = limitRaw === null ? 100 : Number(limitRaw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    return problem(400, 'limit: expected an integer from 1 to 1000');
  }
  const rows = await app.engine.deps.state.listHistory(id, { since, limit });
  return { status: 200, jsonBody: { projectId: id, history: rows } };
};

const checkNow: Op = async (app, id, _req, ctx) => {
  if (!(await projectIsKnown(app, id))) return notKnown(id);
  const outcome = await app.coalescer.run(id, () =>
    app.engine.reconcile(id, { kind: 'http', correlationId: ctx.invocationId }),
  );
  loggerForInvocation(ctx).info('check', { project: id, outcome: outcome.kind });
  return { status: outcomeStatus(outcome), jsonBody: outcome };
};

const putIntent: Op = async (app, id, req, ctx) => {
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    return problem(400, 'body: expected JSON {"intent": "revoked"|"granted", "reason": "..."}');
  }
  const parsed = intentBody.safeParse(body);
  if (!parsed.success) {
    const details = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`);
    return problem(400, 'invalid intent request', details);
  }
  // Checked after the body: a bad request is a 400 whether or not the project exists.
  if (!(await projectIsKnown(app, id))) return notKnown(id);
  const by = caller(req);
  const row = await setIntent(app.engine.deps.state, id, parsed.data.intent, by, parsed.data.reason);
  loggerForInvocation(ctx).info('intent set', { project: id, intent: parsed.data.intent, by });
  return { status: 200, jsonBody: publicProject(row) };
};

const OPERATIONS: Record<string, Op> = {
  'GET ': getOne,
  'GET history': getHistory,
  'POST check': checkNow,
  'PUT intent': putIntent,
};

export async function handleProjectsApi(
  app: AppContext,
  req: HttpRequest,
  ctx: InvocationContext,
): Promise<HttpResponseInit> {
  const { id, action } = req.params;
  if (id !== undefined && !PROJECT_ID.test(id)) {
    return problem(400, 'id: expected an Atlas project ID (24 hex characters)');
  }
  if (!id) {
    if (req.method !== 'GET') return problem(405, `${req.method} /projects is not supported; use GET`);
    return listAll(app);
  }
  const op = OPERATIONS[`${req.method} ${action ?? ''}`];
  if (!op)
    return problem(404, `${req.method} /projects/${id}${action ? '/' + action : ''} is not an operation of this API`);
  return op(app, id, req, ctx);
}

export async function projectsApi(req: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  try {
    return await handleProjectsApi(await getAppContext(), req, context);
  } catch (err) {
    // Classified adapter errors carry a safe message; anything else is logged, never echoed with a stack.
    const transient = err instanceof ClassifiedError && err.transient;
    loggerForInvocation(context).error('projectsApi failed', { err });
    return problem(
      transient ? 503 : 500,
      err instanceof ClassifiedError ? err.describe() : 'internal error; see the logs',
    );
  }
}

/** Registration data, shared by the Functions index and the local host. */
export const projectsApiFunction = { ...HTTP_ROUTES.projectsApi, handler: projectsApi };
