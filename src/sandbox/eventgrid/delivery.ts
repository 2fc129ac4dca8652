// Push delivery to WebHook endpoints as Event Grid does it (learn.microsoft.com/azure/event-grid/
// delivery-and-retry and webhook-event-delivery): the validation handshake, POST with
// `aeg-event-type: Notification`, at least once, retried on a fixed schedule (10 s, 30 s, 1 min, 5 min,
// 10 min, 30 min, 1 h, 3 h, 6 h, then every 12 h, scaled by timeScale) on non-2xx and timeouts, no
// retry on 400/401/403/413 (dead-lettered), bounded by maxDeliveryAttempts and the event time to
// live. Duplicates and reordering can be switched on to show consumers survive them.
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import type { CloudEvent, DeliverySchema, EventGridEvent } from './events.js';
import { toCloudEvent, validationEvent } from './events.js';

/** Event Grid's published retry schedule, in milliseconds of real time (before timeScale). */
export const EVENT_GRID_RETRY_SCHEDULE_MS = [
  10_000, 30_000, 60_000, 300_000, 600_000, 1_800_000, 3_600_000, 10_800_000, 21_600_000, 43_200_000,
];
/** Statuses Event Grid does not retry for WebHook endpoints. */
export const NON_RETRIABLE = new Set([400, 401, 403, 413]);

export interface DeliveryTarget {
  subscriptionId: string;
  subscriptionName: string;
  endpointUrl: string;
  schema: DeliverySchema;
  maxDeliveryAttempts: number;
  eventTimeToLiveInMinutes: number;
  /** >1 sends CloudEvents as a batch array; 1 (default) sends one structured CloudEvent per request. */
  maxEventsPerBatch: number;
}

export interface DeliveryAttempt {
  at: string;
  /** HTTP status, or undefined for a connection error / timeout. */
  status?: number;
  error?: string;
}

export type DeliveryStatus = 'pending' | 'delivering' | 'delivered' | 'deadLettered' | 'dropped';

export interface DeliveryRecord {
  deliveryId: string;
  eventId: string;
  eventType: string;
  subject: string;
  subscription: string;
  endpointBaseUrl: string;
  status: DeliveryStatus;
  attempts: DeliveryAttempt[];
  /** Why it was dead-lettered or dropped (Event Grid's deadLetterReason vocabulary). */
  deadLetterReason?: 'MaxDeliveryAttemptsExceeded' | 'TimeToLiveExceeded' | 'NonRetriableStatus' | 'DroppedByControl';
  duplicate: boolean;
  payload: EventGridEvent | CloudEvent;
}

export interface DeliveryKnobs {
  /** Deliver every event twice (same event id), as Event Grid may. */
  duplicate?: boolean;
  /** Hold new deliveries and send them in reverse order (released by waitForIdle or after a short window). */
  reorder?: boolean;
  /** Lose the next N events entirely (never delivered): for showing the sweep is the safety net. */
  dropNext?: number;
}

export interface DeliveryOptions {
  timeScale: number;
  /** Retry delays (ms, real time; scaled by timeScale). Default: Event Grid's schedule. */
  retryScheduleMs?: number[];
  /** How long to wait for the endpoint (real-time ms, scaled). Event Grid waits 30 s. */
  responseTimeoutMs?: number;
  /** CA certificate(s) trusted for https webhook endpoints (a test CA). */
  webhookCa?: string | string[];
  /** How long the reorder window holds deliveries before releasing them (ms, not scaled). Default 50. */
  reorderWindowMs?: number;
}

export interface HandshakeResult {
  ok: boolean;
  /** Set when the endpoint accepted but did not echo the code: it must GET the validationUrl. */
  awaitingManual?: boolean;
  message?: string;
}

function scaled(ms: number, scale: number): number {
  return Math.max(0, Math.round(ms * scale));
}

/** Event Grid's message when an endpoint accepted the validation event but never completed the GET. */
export function manualValidationTimeoutMessage(endpointUrl: string): string {
  return `Webhook validation handshake failed for ${endpointBaseUrl(endpointUrl)}. Http POST request retuned 2XX response with response body . When a validation request is accepted without validation code in the response body, Http GET is expected on the validation url included in the validation event(within 10 minutes).`;
}

export function endpointBaseUrl(endpointUrl: string): string {
  try {
    const u = new URL(endpointUrl);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return endpointUrl;
  }
}

export class DeliveryEngine {
  private readonly records: DeliveryRecord[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly held: Array<() => void> = [];
  private holdTimer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private knobs: Required<DeliveryKnobs> = { duplicate: false, reorder: false, dropNext: 0 };
  private idleWaiters: Array<() => void> = [];
  private closed = false;
  readonly dispatcher: Agent;

  constructor(private readonly opts: DeliveryOptions) {
    this.dispatcher = new Agent({
      connect: opts.webhookCa ? { ca: opts.webhookCa } : {},
      keepAliveTimeout: 1000,
    });
  }

  setKnobs(k: DeliveryKnobs): void {
    this.knobs = {
      duplicate: k.duplicate ?? this.knobs.duplicate,
      reorder: k.reorder ?? this.knobs.reorder,
      dropNext: k.dropNext ?? this.knobs.dropNext,
    };
    if (!this.knobs.reorder) this.releaseHeld();
  }

  knobsNow(): Required<DeliveryKnobs> {
    return { ...this.knobs };
  }

  all(): DeliveryRecord[] {
    return this.records.map((r) => ({ ...r, attempts: [...r.attempts] }));
  }

  private get responseTimeout(): number {
    return Math.max(50, scaled(this.opts.responseTimeoutMs ?? 30_000, this.opts.timeScale));
  }

  private async post(
    url: string,
    headers: Record<string, string>,
    body: string,
    method = 'POST',
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error('timed out')), this.responseTimeout);
    try {
      const res = await request(url, {
        method: method as 'POST',
        headers,
        body: method === 'OPTIONS' ? undefined : body,
        dispatcher: this.dispatcher,
        signal: ac.signal,
      });
      const text = await res.body.text();
      return { status: res.statusCode, headers: res.headers, text };
    } finally {
      clearTimeout(timer);
    }
  }

  /** The handshake Event Grid runs when a WebHook subscription is created or its endpoint changes. */
  async handshake(
    target: { endpointUrl: string; schema: DeliverySchema },
    topic: string,
    validationCode: string,
    validationUrl: string,
  ): Promise<HandshakeResult> {
    if (target.schema === 'CloudEventSchemaV1_0') return this.cloudEventsHandshake(target.endpointUrl, validationUrl);
    return this.validationEventHandshake(target.endpointUrl, topic, validationCode, validationUrl);
  }

  /** CloudEvents abuse protection: OPTIONS with WebHook-Request-Origin, expects WebHook-Allowed-Origin. */
  private async cloudEventsHandshake(endpointUrl: string, validationUrl: string): Promise<HandshakeResult> {
    const base = endpointBaseUrl(endpointUrl);
    const origin = 'eventgrid.azure.net';
    try {
      const res = await this.post(
        endpointUrl,
        {
          'webhook-request-origin': origin,
          'webhook-request-callback': validationUrl,
          'webhook-request-rate': '120',
        },
        '',
        'OPTIONS',
      );
      const allowed = res.headers['webhook-allowed-origin'];
      const allowedValues = (Array.isArray(allowed) ? allowed : [allowed ?? ''])
        .flatMap((v) => String(v).split(','))
        .map((v) => v.trim().toLowerCase());
      if (res.status >= 200 && res.status < 300 && (allowedValues.includes(origin) || allowedValues.includes('*'))) {
        return { ok: true };
      }
      return {
        ok: false,
        message: `Webhook validation handshake failed for ${base}. Http OPTIONS request retuned ${res.status} response without a WebHook-Allowed-Origin header allowing '${origin}'. For troublehooting, visit https://aka.ms/esvalidation.`,
      };
    } catch (err) {
      return {
        ok: false,
        message: `Webhook validation handshake failed for ${base}. Http OPTIONS request failed with response code Unknown (${(err as Error).message}). For troublehooting, visit https://aka.ms/esvalidation.`,
      };
    }
  }

  /** Event Grid schema: POST a SubscriptionValidationEvent; the endpoint echoes the code or GETs the URL later. */
  private async validationEventHandshake(
    endpointUrl: string,
    topic: string,
    validationCode: string,
    validationUrl: string,
  ): Promise<HandshakeResult> {
    const base = endpointBaseUrl(endpointUrl);
    const event = validationEvent(topic, validationCode, validationUrl);
    try {
      const res = await this.post(
        endpointUrl,
        { 'content-type': 'application/json', 'aeg-event-type': 'SubscriptionValidation' },
        JSON.stringify([event]),
      );
      if (res.status < 200 || res.status >= 300) {
        return {
          ok: false,
          message: `Webhook validation handshake failed for ${base}. Http POST request failed with response code ${res.status}. For troublehooting, visit https://aka.ms/esvalidation.`,
        };
      }
      let echoed: unknown;
      try {
        echoed = (JSON.parse(res.text) as { validationResponse?: unknown } | null)?.validationResponse;
      } catch {
        echoed = undefined;
      }
      if (res.status === 200 && echoed === validationCode) return { ok: true };
      if (echoed !== undefined && echoed !== validationCode) {
        return {
          ok: false,
          message: `Webhook validation handshake failed for ${base}. The response did not contain the expected validationResponse. For troublehooting, visit https://aka.ms/esvalidation.`,
        };
      }
      return { ok: false, awaitingManual: true };
    } catch (err) {
      return {
        ok: false,
        message: `Webhook validation handshake failed for ${base}. Http POST request failed with response code Unknown (${(err as Error).message}). For troublehooting, visit https://aka.ms/esvalidation.`,
      };
    }
  }

  /** Queue one event for one subscription (plus a duplicate when the knob is on). */
  enqueue(target: DeliveryTarget, event: EventGridEvent): void {
    if (this.closed) return;
    const payload = target.schema === 'CloudEventSchemaV1_0' ? toCloudEvent(event) : event;
    const make = (duplicate: boolean): DeliveryRecord => ({
      deliveryId: randomUUID(),
      eventId: event.id,
      eventType: event.eventType,
      subject: event.subject,
      subscription: target.subscriptionId,
      endpointBaseUrl: endpointBaseUrl(target.endpointUrl),
      status: 'pending',
      attempts: [],
      duplicate,
      payload,
    });
    const first = make(false);
    this.records.push(first);
    if (this.knobs.dropNext > 0) {
      this.knobs.dropNext -= 1;
      first.status = 'dropped';
      first.deadLetterReason = 'DroppedByControl';
      return;
    }
    const startedAt = Date.now();
    const start = (rec: DeliveryRecord) => () => void this.attempt(target, rec, startedAt);
    const starts = [start(first)];
    if (this.knobs.duplicate) {
      const dup = make(true);
      this.records.push(dup);
      starts.push(start(dup));
    }
    if (this.knobs.reorder) {
      this.held.push(...starts);
      if (!this.holdTimer) {
        this.holdTimer = setTimeout(() => this.releaseHeld(), this.opts.reorderWindowMs ?? 50);
        this.holdTimer.unref();
      }
      return;
    }
    for (const s of starts) s();
  }

  /** Release held deliveries newest first (the reorder knob). */
  private releaseHeld(): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    const batch = this.held.splice(0).reverse();
    for (const s of batch) s();
    this.checkIdle();
  }

  private body(target: DeliveryTarget, rec: DeliveryRecord): { contentType: string; text: string } {
    if (target.schema === 'CloudEventSchemaV1_0') {
      if (target.maxEventsPerBatch > 1) {
        return {
          contentType: 'application/cloudevents-batch+json; charset=utf-8',
          text: JSON.stringify([rec.payload]),
        };
      }
      return { contentType: 'application/cloudevents+json; charset=utf-8', text: JSON.stringify(rec.payload) };
    }
    return { contentType: 'application/json', text: JSON.stringify([rec.payload]) };
  }

  private async attempt(target: DeliveryTarget, rec: DeliveryRecord, startedAt: number): Promise<void> {
    if (this.closed) return;
    rec.status = 'delivering';
    this.inFlight += 1;
    const { contentType, text } = this.body(target, rec);
    const attempt: DeliveryAttempt = { at: new Date().toISOString() };
    try {
      const res = await this.post(
        target.endpointUrl,
        {
          'content-type': contentType,
          'aeg-event-type': 'Notification',
          'aeg-subscription-name': target.subscriptionName.toUpperCase(),
          'aeg-delivery-count': String(rec.attempts.length),
          'aeg-data-version': (rec.payload as EventGridEvent).dataVersion ?? '',
          'aeg-metadata-version': '1',
        },
        text,
      );
      attempt.status = res.status;
    } catch (err) {
      attempt.error = (err as Error).message;
    } finally {
      this.inFlight -= 1;
    }
    rec.attempts.push(attempt);
    if (this.closed) return;
    if (attempt.status !== undefined && attempt.status >= 200 && attempt.status < 300) {
      rec.status = 'delivered';
    } else if (attempt.status !== undefined && NON_RETRIABLE.has(attempt.status)) {
      rec.status = 'deadLettered';
      rec.deadLetterReason = 'NonRetriableStatus';
    } else if (rec.attempts.length >= target.maxDeliveryAttempts) {
      rec.status = 'deadLettered';
      rec.deadLetterReason = 'MaxDeliveryAttemptsExceeded';
    } else {
      const schedule = this.opts.retryScheduleMs ?? EVENT_GRID_RETRY_SCHEDULE_MS;
      const idx = Math.min(rec.attempts.length - 1, schedule.length - 1);
      const delay = scaled(schedule[idx] ?? 0, this.opts.timeScale);
      const ttl = scaled(target.eventTimeToLiveInMinutes * 60_000, this.opts.timeScale);
      if (Date.now() + delay - startedAt > ttl) {
        rec.status = 'deadLettered';
        rec.deadLetterReason = 'TimeToLiveExceeded';
      } else {
        rec.status = 'pending';
        const t = setTimeout(() => {
          this.timers.delete(t);
          if (rec.status === 'pending') void this.attempt(target, rec, startedAt);
        }, delay);
        t.unref();
        this.timers.add(t);
      }
    }
    this.checkIdle();
  }

  private busy(): boolean {
    return (
      this.inFlight > 0 ||
      this.held.length > 0 ||
      this.records.some((r) => r.status === 'pending' || r.status === 'delivering')
    );
  }

  private checkIdle(): void {
    if (this.busy()) return;
    const waiters = this.idleWaiters.splice(0);
    for (const w of waiters) w();
  }

  /** Resolves once every queued event was delivered, dead-lettered or dropped. */
  waitForIdle(timeoutMs = 30_000): Promise<void> {
    this.releaseHeld();
    if (!this.busy()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        const pending = this.records.filter((r) => r.status === 'pending' || r.status === 'delivering');
        reject(
          new Error(
            `Event delivery not idle after ${timeoutMs} ms: ${pending.length} pending (${pending
              .map((p) => `${p.eventType} -> ${p.endpointBaseUrl}, ${p.attempts.length} attempts`)
              .join('; ')}).`,
          ),
        );
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.idleWaiters.push(done);
    });
  }

  /** Forget queued retries for a deleted subscription (Event Grid stops delivering to it). */
  cancelFor(subscriptionId: string): void {
    for (const r of this.records) {
      if (r.subscription.toLowerCase() === subscriptionId.toLowerCase() && r.status === 'pending') {
        r.status = 'dropped';
        r.deadLetterReason = 'DroppedByControl';
      }
    }
    this.checkIdle();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.held.length = 0;
    for (const r of this.records) if (r.status === 'pending') r.status = 'dropped';
    const waiters = this.idleWaiters.splice(0);
    for (const w of waiters) w();
    await this.dispatcher.close().catch(() => undefined);
  }
}
