// A small stand-in for the Azure Functions host: one Node HTTP server that serves the *same* exported
// handlers the Functions app registers: the Event Grid webhook (with both validation handshakes), HTTP
// routes under /api, and timers on their NCRONTAB schedules. Used by `npm start` and by the e2e tests,
// and by anyone who wants to run the engine in a container or VM instead of Functions.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import type * as AzureFunctions from '@azure/functions';
import azureFunctions from '@azure/functions';
import { Cron } from 'croner';
import { EventInputError, parseEvents, unusableEvent } from '../core/triage.js';

// @azure/functions is CommonJS: named imports fail in plain Node ESM (library issue #287).
const { HttpRequest, InvocationContext } = azureFunctions;

export interface LocalEventGridFunction {
  name: string;
  handler: AzureFunctions.EventGridHandler;
}
export interface LocalHttpFunction {
  name: string;
  /** Functions route template, e.g. `projects/{id}/history` or `projects/{id?}`. */
  route: string;
  methods: string[];
  authLevel: 'anonymous' | 'function';
  handler: AzureFunctions.HttpHandler;
}
export interface LocalTimerFunction {
  name: string;
  /** NCRONTAB, 6 fields (seconds first). */
  schedule: string;
  handler: AzureFunctions.TimerHandler;
}

export interface LocalHostOptions {
  port?: number;
  hostname?: string;
  functionKey: string;
  maxBodyBytes?: number;
  eventGrid?: LocalEventGridFunction[];
  http?: LocalHttpFunction[];
  timers?: LocalTimerFunction[];
  /** One line per invocation; never gets secrets (the key is never passed here). */
  log?: (line: string) => void;
}

export interface LocalHost {
  url: string;
  port: number;
  server: Server;
  /** Runs a timer function now (as the host does for a schedule occurrence). */
  runTimer(name: string): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

function keyMatches(given: string | undefined, expected: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function send(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    ...(text ? { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json' } : {}),
    ...headers,
  });
  res.end(text);
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) return reject(new BodyTooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new BodyTooLarge());
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Matches a Functions route template; returns the params or undefined. */
export function matchRoute(template: string, path: string): Record<string, string> | undefined {
  const t = template.split('/').filter(Boolean);
  const p = path.split('/').filter(Boolean);
  const params: Record<string, string> = {};
  for (let i = 0; i < t.length; i++) {
    const m = /^\{(\w+)(\?)?(?::[^}]*)?\}$/.exec(t[i]);
    if (m) {
      if (p[i] === undefined) {
        if (m[2]) continue;
        return undefined;
      }
      params[m[1]] = decodeURIComponent(p[i]);
    } else if (t[i].toLowerCase() !== p[i]?.toLowerCase()) {
      return undefined;
    }
  }
  return p.length <= t.length ? params : undefined;
}

function context(
  functionName: string,
  log: (l: string) => void,
  extra: Partial<AzureFunctions.InvocationContextInit> = {},
) {
  const invocationId = randomUUID();
  return new InvocationContext({
    invocationId,
    functionName,
    logHandler: (level, ...args) =>
      log(`[${functionName}] ${level} ${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}`),
    ...extra,
  });
}

/** What the request handlers share: the options, the body limit, the log, and the functions by name. */
interface HostEnv {
  opts: LocalHostOptions;
  limit: number;
  log: (line: string) => void;
  eventGrid: Map<string, LocalEventGridFunction>;
  timers: Map<string, LocalTimerFunction>;
}

const KEY_REQUIRED = { error: 'a function key is required (?code= or x-functions-key)' };

/** CloudEvents 1.0 abuse-protection handshake: OPTIONS with WebHook-Request-Origin. */
function answerCloudEventsHandshake(req: IncomingMessage, res: ServerResponse): void {
  const origin = req.headers['webhook-request-origin'];
  if (typeof origin !== 'string' || !origin) return send(res, 400, { error: 'WebHook-Request-Origin header missing' });
  send(res, 200, undefined, { 'WebHook-Allowed-Origin': origin, 'WebHook-Allowed-Rate': '*' });
}

/** The Event Grid subscription validation handshake: echo the validation code. */
function answerSubscriptionValidation(
  env: HostEnv,
  fn: LocalEventGridFunction,
  events: unknown[],
  res: ServerResponse,
) {
  const code = (events[0] as { data?: { validationCode?: unknown } } | undefined)?.data?.validationCode;
  if (typeof code !== 'string') return send(res, 400, { error: 'data.validationCode: missing' });
  env.log(`[${fn.name}] subscription validation answered`);
  send(res, 200, { validationResponse: code });
}

/**
 * One invocation per event, as the Functions Event Grid trigger does, and all of a POST's invocations at once (the
 * Functions host runs them concurrently), so the per-instance coalescer merges a batch into one reconcile per
 * project. A throw means "retry" to Event Grid: the whole POST is answered 500 when any invocation threw.
 */
async function deliverEvents(
  env: HostEnv,
  fn: LocalEventGridFunction,
  events: unknown[],
  res: ServerResponse,
  dropped: Dropped[],
) {
  const settled = await Promise.allSettled(
    events.map((ev) => fn.handler(ev as AzureFunctions.EventGridEvent, context(fn.name, env.log))),
  );
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (!failed) return send(res, 200, dropped.length ? { dropped } : undefined);
  const err: unknown = failed.reason;
  env.log(`[${fn.name}] failed, Event Grid will retry: ${err instanceof Error ? err.message : String(err)}`);
  send(res, 500, { error: 'processing failed; retry' });
}

interface Dropped {
  eventId: string;
  reason: string;
}

/**
 * Valid JSON that is not an Event Grid or CloudEvents event: the reason, for a 400. Else the events that can never
 * be handled (the handler logs them as dead-lettered and drops them): named in the 200 so nobody retries them.
 */
function screenPayload(payload: unknown): { error: string } | { dropped: Dropped[] } {
  try {
    const events = parseEvents(payload);
    return {
      dropped: events.flatMap((ev) => {
        const reason = unusableEvent(ev);
        return reason ? [{ eventId: ev.id.slice(0, 100), reason }] : [];
      }),
    };
  } catch (err) {
    if (err instanceof EventInputError) return { error: `not an event: ${err.message}` };
    throw err;
  }
}

async function handleEventGrid(env: HostEnv, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const name = url.searchParams.get('functionName');
  const fn = env.eventGrid.get((name ?? '').toLowerCase());
  if (!fn) return send(res, 404, { error: `no Event Grid function named '${name}'` });
  if (req.method === 'OPTIONS') return answerCloudEventsHandshake(req, res);
  if (req.method !== 'POST') return send(res, 405, { error: 'use POST' }, { allow: 'POST, OPTIONS' });
  const body = await readBody(req, env.limit);
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch {
    return send(res, 400, { error: 'body: not valid JSON' });
  }
  const events = Array.isArray(payload) ? payload : [payload];
  if (String(req.headers['aeg-event-type'] ?? '') === 'SubscriptionValidation') {
    return answerSubscriptionValidation(env, fn, events, res);
  }
  const screened = screenPayload(payload);
  if ('error' in screened) return send(res, 400, screened);
  await deliverEvents(env, fn, events, res, screened.dropped);
}

function toHttpRequest(req: IncomingMessage, url: URL, params: Record<string, string>, body: Buffer) {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
  return new HttpRequest({
    method: req.method,
    url: url.toString(),
    headers,
    query: Object.fromEntries(url.searchParams),
    params,
    body: body.length ? { bytes: body } : undefined,
  });
}

async function writeHttpResponse(
  res: ServerResponse,
  out: AzureFunctions.HttpResponseInit | AzureFunctions.HttpResponse,
) {
  const response = out instanceof azureFunctions.HttpResponse ? out : new azureFunctions.HttpResponse(out);
  const outHeaders: Record<string, string> = {};
  response.headers.forEach((v, k) => (outHeaders[k] = v));
  const buf = response.body ? Buffer.from(await response.arrayBuffer()) : Buffer.alloc(0);
  res.writeHead(response.status, outHeaders);
  res.end(buf);
}

async function handleHttp(env: HostEnv, req: IncomingMessage, res: ServerResponse, url: URL, key?: string) {
  const path = url.pathname.replace(/^\/api\/?/, '');
  for (const fn of env.opts.http ?? []) {
    const params = matchRoute(fn.route, path);
    if (!params || !fn.methods.includes(req.method ?? 'GET')) continue;
    if (fn.authLevel === 'function' && !keyMatches(key, env.opts.functionKey)) return send(res, 401, KEY_REQUIRED);
    const request = toHttpRequest(req, url, params, await readBody(req, env.limit));
    return writeHttpResponse(res, await fn.handler(request, context(fn.name, env.log)));
  }
  send(res, 404, { error: `no function serves ${req.method} ${url.pathname}` });
}

async function route(env: HostEnv, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const key = url.searchParams.get('code') ?? (req.headers['x-functions-key'] as string | undefined);
  if (url.pathname === '/runtime/webhooks/eventgrid') {
    if (!keyMatches(key, env.opts.functionKey)) return send(res, 401, KEY_REQUIRED);
    return handleEventGrid(env, req, res, url);
  }
  if (url.pathname === '/api' || url.pathname.startsWith('/api/')) return handleHttp(env, req, res, url, key);
  send(res, 404, { error: `nothing is served at ${url.pathname}` });
}

async function serve(env: HostEnv, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    await route(env, req, res);
  } catch (err) {
    if (err instanceof BodyTooLarge) {
      return send(res, 413, { error: `body larger than ${env.limit} bytes` }, { connection: 'close' });
    }
    // decodeURIComponent on a route segment: the client's malformed %-encoding, not our failure.
    if (err instanceof URIError) return send(res, 400, { error: 'path: malformed percent-encoding' });
    env.log(`host error: ${err instanceof Error ? err.message : String(err)}`);
    if (!res.headersSent) send(res, 500, { error: 'internal error' });
  }
}

/** Runs a timer function as the host does for a schedule occurrence; a failure is logged, never thrown. */
async function runTimer(env: HostEnv, name: string, isPastDue = false): Promise<void> {
  const fn = env.timers.get(name);
  if (!fn) throw new Error(`no timer function named '${name}'`);
  const now = new Date().toISOString();
  const timer: AzureFunctions.Timer = {
    isPastDue,
    schedule: { adjustForDST: false },
    scheduleStatus: { last: now, next: now, lastUpdated: now },
  };
  try {
    await fn.handler(timer, context(fn.name, env.log));
  } catch (err) {
    env.log(`[${fn.name}] failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export async function startLocalHost(opts: LocalHostOptions): Promise<LocalHost> {
  const env: HostEnv = {
    opts,
    limit: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    log: opts.log ?? (() => {}),
    eventGrid: new Map((opts.eventGrid ?? []).map((f) => [f.name.toLowerCase(), f])),
    timers: new Map((opts.timers ?? []).map((f) => [f.name, f])),
  };
  const server = createServer((req, res) => void serve(env, req, res));
  // croner takes the 6-field form (seconds first), as NCRONTAB does; `protect` skips overlapping runs.
  const crons = [...env.timers.values()].map(
    (fn) => new Cron(fn.schedule, { protect: true, paused: false }, () => runTimer(env, fn.name)),
  );

  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.hostname ?? '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://localhost:${port}`,
    port,
    server,
    runTimer: (name) => runTimer(env, name),
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of crons) c.stop();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
