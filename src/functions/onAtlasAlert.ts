// POST /api/atlas/alerts (function key): Atlas's own alerts as a trigger. Atlas signs each webhook delivery with
// `X-MMS-Signature`, an HMAC-SHA-1 of the raw body keyed by the alert configuration's secret (consumers decode it as
// base64; one MongoDB page says hex: both are accepted), compared in constant time. A bad or missing signature gets
// 401 and nothing is recorded. A valid alert reconciles its `groupId` with the trigger `atlas-alert`: the alert is a
// hint, the loop re-reads the truth.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { ClassifiedError } from '../azure/errors.js';
import { isTransientOutcome } from '../loop/index.js';
import { loggerForInvocation } from '../observability/logger.js';
import { getAppContext, type AppContext } from './context.js';
import { HTTP_ROUTES } from './routes.js';

const PROJECT_ID = /^[0-9a-f]{24}$/i;
const SHA1_BYTES = 20;

/** The signature's bytes from hex (40 digits) or base64; undefined when it is neither. */
function decodeSignature(header: string): Buffer | undefined {
  const v = header.trim().replace(/^sha1=/i, '');
  if (/^[0-9a-f]{40}$/i.test(v)) return Buffer.from(v, 'hex');
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(v)) return undefined;
  const b = Buffer.from(v, 'base64');
  return b.length === SHA1_BYTES ? b : undefined;
}

/** Does `header` carry the HMAC-SHA-1 of `raw` under `secret`? Constant time in the signature's bytes. */
export function verifyMmsSignature(raw: Buffer, header: string | null | undefined, secret: string): boolean {
  if (!header || !secret) return false;
  const given = decodeSignature(header);
  if (!given) return false;
  const expected = createHmac('sha1', secret).update(raw).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

interface AtlasAlertBody {
  id?: string;
  groupId: string;
  eventTypeName?: string;
  status?: string;
}

function parseAlert(raw: Buffer): AtlasAlertBody | string {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8'));
  } catch {
    return 'body: expected the JSON alert Atlas sends';
  }
  const b = body as Record<string, unknown> | null;
  if (!b || typeof b !== 'object' || typeof b.groupId !== 'string' || !PROJECT_ID.test(b.groupId)) {
    return 'groupId: expected an Atlas project ID (24 hex characters)';
  }
  return {
    groupId: b.groupId.toLowerCase(),
    ...(typeof b.id === 'string' ? { id: b.id.slice(0, 100) } : {}),
    ...(typeof b.eventTypeName === 'string' ? { eventTypeName: b.eventTypeName.slice(0, 100) } : {}),
    ...(typeof b.status === 'string' ? { status: b.status.slice(0, 40) } : {}),
  };
}

export async function handleAtlasAlert(
  app: AppContext,
  req: HttpRequest,
  ctx: InvocationContext,
): Promise<HttpResponseInit> {
  const log = loggerForInvocation(ctx);
  const secret = app.settings.ATLAS_WEBHOOK_SECRET;
  if (!secret) {
    return { status: 503, jsonBody: { error: 'ATLAS_WEBHOOK_SECRET is not set: Atlas alerts are not accepted' } };
  }
  const raw = Buffer.from(await req.arrayBuffer());
  if (!verifyMmsSignature(raw, req.headers.get('x-mms-signature'), secret)) {
    log.warn('atlas alert refused: bad or missing X-MMS-Signature');
    return { status: 401, jsonBody: { error: 'X-MMS-Signature: missing or not the HMAC-SHA-1 of the body' } };
  }
  const alert = parseAlert(raw);
  if (typeof alert === 'string') return { status: 400, jsonBody: { error: alert } };
  const outcome = await app.coalescer.run(alert.groupId, () =>
    app.engine.reconcile(alert.groupId, {
      kind: 'atlas-alert',
      correlationId: ctx.invocationId,
      ...(alert.id ? { eventId: alert.id } : {}),
      ...(alert.eventTypeName ? { operationName: alert.eventTypeName } : {}),
    }),
  );
  log.info('atlas alert', { project: alert.groupId, event: alert.eventTypeName, outcome: outcome.kind });
  return {
    status: isTransientOutcome(outcome) ? 503 : 200,
    jsonBody: { projectId: alert.groupId, outcome: outcome.kind },
  };
}

export async function onAtlasAlert(req: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> {
  try {
    return await handleAtlasAlert(await getAppContext(), req, context);
  } catch (err) {
    const transient = err instanceof ClassifiedError && err.transient;
    loggerForInvocation(context).error('onAtlasAlert failed', { err });
    return {
      status: transient ? 503 : 500,
      jsonBody: { error: err instanceof ClassifiedError ? err.describe() : 'internal error; see the logs' },
    };
  }
}

/** Registration data, shared by the Functions index and the local host. */
export const onAtlasAlertFunction = { ...HTTP_ROUTES.onAtlasAlert, handler: onAtlasAlert };
