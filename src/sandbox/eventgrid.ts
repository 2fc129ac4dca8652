// Microsoft.EventGrid in the sandbox: event subscriptions (ARM, api-version as azure-rest-api-specs
// 2025-02-15 and earlier), the WebHook validation handshake, system-topic events for every change the
// ARM half reports (Microsoft.Resources.* on subscription/resource-group topics, Microsoft.KeyVault.* on
// vault topics) pushed with Event Grid's retry schedule, and a custom topic (the product's alert sink)
// whose data plane is what EventGridPublisherClient (@azure/eventgrid 5) calls.
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { ChangeNotice, KeyVaultNotice, RouteHandler, SandboxContext, SandboxRequest } from './contract.js';
import { sendArmError, sendJson } from './server.js';
import {
  DeliveryEngine,
  endpointBaseUrl,
  manualValidationTimeoutMessage,
  type DeliveryKnobs,
  type DeliveryRecord,
} from './eventgrid/delivery.js';
import {
  ALL_OPERATORS,
  filterMatches,
  isChangeNotice,
  isUnderScope,
  keyVaultEvent,
  resourceEvent,
  type AdvancedFilter,
  type CloudEvent,
  type DeliverySchema,
  type EventGridEvent,
  type SubscriptionFilter,
} from './eventgrid/events.js';

export type { CloudEvent, EventGridEvent, DeliveryKnobs, DeliveryRecord, SubscriptionFilter };

export interface EventGridOptions {
  /** CA certificate(s) to trust for https webhook endpoints. Plain http is accepted for localhost only. */
  webhookCa?: string | string[];
  /** Retry delays in real-time ms (scaled by ctx.timeScale). Default: 10 s, 30 s, 1 min, 5 min, ... */
  retryScheduleMs?: number[];
  /** Endpoint response timeout in real-time ms (scaled). Default 30 000, as Event Grid. */
  responseTimeoutMs?: number;
  /** How long the reorder knob holds deliveries before releasing them newest first (ms). Default 50. */
  reorderWindowMs?: number;
  /** The custom topic's access key (generated when absent, 44 base64 chars like Azure's). */
  topicKey?: string;
  /** Who made an ARM request, for accounting (never the token itself). Default: `actor:<name>` tokens, JWT oid/upn. */
  identify?: (req: SandboxRequest) => string;
}

export interface EventSubscriptionView {
  id: string;
  name: string;
  scope: string;
  topic: string;
  provisioningState: 'Succeeded' | 'Failed' | 'AwaitingManualAction' | 'Creating';
  endpointUrl: string;
  eventDeliverySchema: DeliverySchema;
  filter: SubscriptionFilter;
  maxDeliveryAttempts: number;
  eventTimeToLiveInMinutes: number;
}

export interface ReceivedTopicEvent {
  schema: 'CloudEventSchemaV1_0' | 'EventGridSchema';
  event: Record<string, unknown>;
  receivedAt: string;
  /** How the publisher authenticated. */
  auth: 'key' | 'sas' | 'bearer';
}

export interface EventGridControl {
  /** Event subscriptions as created through ARM. */
  subscriptions(): EventSubscriptionView[];
  /** Every delivery with its attempts (status per attempt) and outcome. */
  deliveries(): DeliveryRecord[];
  /** Deliveries Event Grid gave up on (max attempts, time to live, non-retriable status). */
  deadLettered(): DeliveryRecord[];
  /** Emit a Key Vault event on demand (KeyNearExpiry, KeyExpired, ...). */
  emitKeyEvent(n: KeyVaultNotice): void;
  /** Switch duplication, reordering and loss of the next N events. */
  setDelivery(k: DeliveryKnobs): void;
  /** Resolves once every queued delivery (including retries) was delivered or given up. */
  waitForIdle(timeoutMs?: number): Promise<void>;
  /** Events received on the custom topic (the alert sink). */
  topicEvents(): ReceivedTopicEvent[];
  clearTopicEvents(): void;
  /** The custom topic's endpoint (`{baseUrl}/api/events`) and keys. */
  topic(): { endpoint: string; key: string; secondaryKey: string };
}

export interface EventGridSandbox {
  routes: RouteHandler;
  notify(n: ChangeNotice | KeyVaultNotice): void;
  control: EventGridControl;
  close(): Promise<void>;
}

interface SubscriptionRecord {
  id: string;
  name: string;
  scope: string;
  topic: string;
  kind: 'resources' | 'keyvault';
  provisioningState: EventSubscriptionView['provisioningState'];
  endpointUrl: string;
  schema: DeliverySchema;
  filter: SubscriptionFilter;
  maxDeliveryAttempts: number;
  eventTimeToLiveInMinutes: number;
  maxEventsPerBatch: number;
  preferredBatchSizeInKilobytes: number;
  labels?: unknown;
  expirationTimeUtc?: unknown;
  operationId: string;
  validation?: { id: string; token: string; timer?: NodeJS.Timeout };
}

interface OperationRecord {
  id: string;
  subscriptionKey: string;
  status: 'InProgress' | 'Succeeded' | 'Failed';
  startTime: string;
  endTime?: string;
  error?: { code: string; message: string };
}

class EgError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Array<{ code: string; message: string }>,
  ) {
    super(message);
  }
}

const PROVIDER_SEGMENT = '/providers/microsoft.eventgrid/eventsubscriptions';
const API_VERSION_RE = /^\d{4}-\d{2}-\d{2}(-preview)?$/;

function defaultIdentify(req: SandboxRequest): string {
  const h = req.headers.authorization;
  const m = h ? /^Bearer\s+(\S+)/i.exec(h) : null;
  if (!m) return 'anonymous';
  const named = /^actor:(.+)$/i.exec(m[1]);
  if (named) return named[1];
  const parts = m[1].split('.');
  if (parts.length === 3) {
    try {
      const c = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Record<string, unknown>;
      const who = c.upn ?? c.oid ?? c.appid;
      if (typeof who === 'string') return who;
    } catch {
      // not a JWT
    }
  }
  return 'bearer';
}

/** The SAS expiry format the SDK writes: `M/D/YYYY h:mm:ss AM|PM` in UTC. */
function parseServiceTime(s: string): number {
  const m = /^(\d{1,2})\/(\d{1,2})\/(\d{4}) (\d{1,2}):(\d{2}):(\d{2}) (AM|PM)$/.exec(s.trim());
  if (!m) return Number.NaN;
  let hour = Number(m[4]) % 12;
  if (m[7] === 'PM') hour += 12;
  return Date.UTC(Number(m[3]), Number(m[1]) - 1, Number(m[2]), hour, Number(m[5]), Number(m[6]));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/** Parses `{scope}` into the kind of topic Event Grid would attach the subscription to. */
function classifyScope(
  ctx: SandboxContext,
  scope: string,
): { kind: 'resources' | 'keyvault'; topic: string; scope: string } {
  const s = `/${scope.replace(/^\/+|\/+$/g, '')}`;
  const parts = s.split('/').filter(Boolean);
  if (parts[0]?.toLowerCase() !== 'subscriptions' || !parts[1]) {
    throw new EgError(400, 'InvalidRequest', `The scope '${s}' is not a subscription, resource group or resource ID.`);
  }
  if (parts[1].toLowerCase() !== ctx.subscriptionId.toLowerCase()) {
    throw new EgError(404, 'SubscriptionNotFound', `The subscription '${parts[1]}' could not be found.`);
  }
  if (parts.length === 2) return { kind: 'resources', topic: s, scope: s };
  if (parts.length === 4 && parts[2].toLowerCase() === 'resourcegroups') {
    return { kind: 'resources', topic: s, scope: s };
  }
  if (
    parts.length === 8 &&
    parts[2].toLowerCase() === 'resourcegroups' &&
    parts[4].toLowerCase() === 'providers' &&
    parts[5].toLowerCase() === 'microsoft.keyvault' &&
    parts[6].toLowerCase() === 'vaults'
  ) {
    return { kind: 'keyvault', topic: s, scope: s };
  }
  throw new EgError(
    400,
    'InvalidRequest',
    `Event subscriptions in the sandbox are supported on a subscription, a resource group or a Key Vault (Microsoft.KeyVault/vaults); '${s}' is none of these.`,
  );
}

function parseFilter(raw: unknown): SubscriptionFilter {
  if (raw === undefined || raw === null) return {};
  if (!isObject(raw)) throw new EgError(400, 'InvalidRequest', 'properties.filter: expected an object.');
  const f: SubscriptionFilter = {};
  if (raw.includedEventTypes !== undefined && raw.includedEventTypes !== null) {
    if (!Array.isArray(raw.includedEventTypes) || raw.includedEventTypes.some((t) => typeof t !== 'string')) {
      throw new EgError(400, 'InvalidRequest', 'properties.filter.includedEventTypes: expected an array of strings.');
    }
    f.includedEventTypes = raw.includedEventTypes as string[];
  }
  for (const k of ['subjectBeginsWith', 'subjectEndsWith'] as const) {
    if (raw[k] !== undefined && raw[k] !== null) {
      if (typeof raw[k] !== 'string')
        throw new EgError(400, 'InvalidRequest', `properties.filter.${k}: expected a string.`);
      f[k] = raw[k] as string;
    }
  }
  for (const k of ['isSubjectCaseSensitive', 'enableAdvancedFilteringOnArrays'] as const) {
    if (raw[k] !== undefined && raw[k] !== null) {
      if (typeof raw[k] !== 'boolean')
        throw new EgError(400, 'InvalidRequest', `properties.filter.${k}: expected true or false.`);
      f[k] = raw[k] as boolean;
    }
  }
  if (raw.advancedFilters !== undefined && raw.advancedFilters !== null) {
    if (!Array.isArray(raw.advancedFilters)) {
      throw new EgError(400, 'InvalidRequest', 'properties.filter.advancedFilters: expected an array.');
    }
    if (raw.advancedFilters.length > 25) {
      throw new EgError(
        400,
        'InvalidRequest',
        'properties.filter.advancedFilters: at most 25 advanced filters are allowed.',
      );
    }
    f.advancedFilters = raw.advancedFilters.map((a, i): AdvancedFilter => {
      const where = `properties.filter.advancedFilters[${i}]`;
      if (!isObject(a)) throw new EgError(400, 'InvalidRequest', `${where}: expected an object.`);
      if (typeof a.operatorType !== 'string' || !ALL_OPERATORS.includes(a.operatorType)) {
        throw new EgError(
          400,
          'InvalidRequest',
          `${where}.operatorType: expected one of ${ALL_OPERATORS.join(', ')}; got ${JSON.stringify(a.operatorType)}.`,
        );
      }
      if (typeof a.key !== 'string' || a.key.length === 0) {
        throw new EgError(
          400,
          'InvalidRequest',
          `${where}.key: expected a non-empty string such as 'data.operationName'.`,
        );
      }
      const needsValues = /In$|BeginsWith$|EndsWith$|Contains$/.test(a.operatorType);
      if (needsValues && (!Array.isArray(a.values) || a.values.length === 0 || a.values.length > 25)) {
        throw new EgError(
          400,
          'InvalidRequest',
          `${where}.values: expected an array of 1 to 25 values for ${a.operatorType}.`,
        );
      }
      const needsValue = /^Number(Less|Greater)|^BoolEquals$/.test(a.operatorType);
      if (needsValue && a.value === undefined) {
        throw new EgError(400, 'InvalidRequest', `${where}.value: required for ${a.operatorType}.`);
      }
      return {
        operatorType: a.operatorType,
        key: a.key,
        ...(a.values !== undefined ? { values: a.values as unknown[] } : {}),
        ...(a.value !== undefined ? { value: a.value } : {}),
      };
    });
  }
  return f;
}

function intInRange(v: unknown, field: string, min: number, max: number, dflt: number): number {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new EgError(
      400,
      'InvalidRequest',
      `${field}: expected an integer from ${min} to ${max}; got ${JSON.stringify(v)}.`,
    );
  }
  return v;
}

function parseEndpoint(raw: unknown): string {
  if (typeof raw !== 'string' || raw.length === 0) {
    throw new EgError(
      400,
      'InvalidRequest',
      'properties.destination.properties.endpointUrl: required for a WebHook destination.',
    );
  }
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new EgError(
      400,
      'InvalidRequest',
      `properties.destination.properties.endpointUrl: '${endpointBaseUrl(raw)}' is not a valid URL.`,
    );
  }
  const local = u.hostname === 'localhost' || u.hostname === '127.0.0.1' || u.hostname === '[::1]';
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && local)) {
    throw new EgError(
      400,
      'InvalidRequest',
      `properties.destination.properties.endpointUrl: the endpoint must use https (plain http is accepted for localhost only in the sandbox).`,
    );
  }
  return raw;
}

export function createEventGrid(ctx: SandboxContext, opts: EventGridOptions = {}): EventGridSandbox {
  const engine = new DeliveryEngine({
    timeScale: ctx.timeScale,
    ...(opts.retryScheduleMs ? { retryScheduleMs: opts.retryScheduleMs } : {}),
    ...(opts.responseTimeoutMs !== undefined ? { responseTimeoutMs: opts.responseTimeoutMs } : {}),
    ...(opts.webhookCa ? { webhookCa: opts.webhookCa } : {}),
    ...(opts.reorderWindowMs !== undefined ? { reorderWindowMs: opts.reorderWindowMs } : {}),
  });
  const identify = opts.identify ?? defaultIdentify;
  const subs = new Map<string, SubscriptionRecord>(); // key: lower-cased subscription resource ID
  const operations = new Map<string, OperationRecord>();
  const topicEvents: ReceivedTopicEvent[] = [];
  const topicKey = opts.topicKey ?? randomBytes(32).toString('base64');
  const topicKey2 = randomBytes(32).toString('base64');

  const view = (s: SubscriptionRecord): EventSubscriptionView => ({
    id: s.id,
    name: s.name,
    scope: s.scope,
    topic: s.topic,
    provisioningState: s.provisioningState,
    endpointUrl: s.endpointUrl,
    eventDeliverySchema: s.schema,
    filter: s.filter,
    maxDeliveryAttempts: s.maxDeliveryAttempts,
    eventTimeToLiveInMinutes: s.eventTimeToLiveInMinutes,
  });

  const armBody = (s: SubscriptionRecord, state = s.provisioningState): Record<string, unknown> => ({
    properties: {
      topic: s.topic,
      provisioningState: state,
      destination: {
        properties: {
          // endpointUrl is write-only: ARM returns only its base (no query string, which may hold a code).
          endpointBaseUrl: endpointBaseUrl(s.endpointUrl),
          maxEventsPerBatch: s.maxEventsPerBatch,
          preferredBatchSizeInKilobytes: s.preferredBatchSizeInKilobytes,
        },
        endpointType: 'WebHook',
      },
      filter: {
        subjectBeginsWith: s.filter.subjectBeginsWith ?? '',
        subjectEndsWith: s.filter.subjectEndsWith ?? '',
        isSubjectCaseSensitive: s.filter.isSubjectCaseSensitive ?? false,
        ...(s.filter.includedEventTypes ? { includedEventTypes: s.filter.includedEventTypes } : {}),
        ...(s.filter.advancedFilters ? { advancedFilters: s.filter.advancedFilters } : {}),
        ...(s.filter.enableAdvancedFilteringOnArrays !== undefined
          ? { enableAdvancedFilteringOnArrays: s.filter.enableAdvancedFilteringOnArrays }
          : {}),
      },
      ...(s.labels !== undefined ? { labels: s.labels } : {}),
      ...(s.expirationTimeUtc !== undefined ? { expirationTimeUtc: s.expirationTimeUtc } : {}),
      eventDeliverySchema: s.schema,
      retryPolicy: {
        maxDeliveryAttempts: s.maxDeliveryAttempts,
        eventTimeToLiveInMinutes: s.eventTimeToLiveInMinutes,
      },
    },
    id: s.id,
    name: s.name,
    type: 'Microsoft.EventGrid/eventSubscriptions',
  });

  const operationUrl = (opId: string, apiVersion: string): string =>
    `${ctx.baseUrl()}/subscriptions/${ctx.subscriptionId}/providers/Microsoft.EventGrid/locations/global/operationsStatus/${opId}?api-version=${encodeURIComponent(apiVersion)}`;

  const finishOperation = (s: SubscriptionRecord, ok: boolean, message?: string): void => {
    const op = operations.get(s.operationId);
    s.provisioningState = ok ? 'Succeeded' : 'Failed';
    if (s.validation?.timer) clearTimeout(s.validation.timer);
    s.validation = undefined;
    if (op) {
      op.status = ok ? 'Succeeded' : 'Failed';
      op.endTime = new Date().toISOString();
      if (!ok) op.error = { code: 'Url validation', message: message ?? 'Webhook validation handshake failed.' };
    }
  };

  const requireBearer = (req: SandboxRequest): void => {
    const h = req.headers.authorization;
    if (!h) {
      throw new EgError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.");
    }
    if (!/^Bearer\s+\S+/i.test(h)) {
      throw new EgError(
        401,
        'InvalidAuthenticationToken',
        "The access token is invalid: the 'Authorization' header must be 'Bearer <token>'.",
      );
    }
  };

  const requireApiVersion = (req: SandboxRequest): string => {
    const v = req.url.searchParams.get('api-version');
    if (!v) {
      throw new EgError(
        400,
        'MissingApiVersionParameter',
        'The api-version query parameter (?api-version=) is required for all requests.',
      );
    }
    if (!API_VERSION_RE.test(v) || v < '2018-01-01') {
      throw new EgError(
        400,
        'InvalidApiVersionParameter',
        `The api-version '${v}' is invalid. The supported versions are '2025-02-15,2022-06-15,2021-12-01,2020-06-01,2019-06-01,2019-01-01,2018-01-01'.`,
      );
    }
    return v;
  };

  async function putSubscription(req: SandboxRequest, res: ServerResponse, scope: string, name: string): Promise<void> {
    const apiVersion = requireApiVersion(req);
    const where = classifyScope(ctx, scope);
    if (!/^[A-Za-z0-9-]{3,64}$/.test(name)) {
      throw new EgError(
        400,
        'InvalidRequest',
        `Event subscription name '${name}' is invalid: use 3 to 64 characters, letters, digits and '-' only.`,
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(req.body.toString('utf8') || 'null');
    } catch (err) {
      throw new EgError(
        400,
        'InvalidRequestContent',
        `The request content was invalid and could not be deserialized: '${(err as Error).message}'.`,
      );
    }
    if (!isObject(body) || !isObject(body.properties)) {
      throw new EgError(
        400,
        'InvalidRequestContent',
        "The request content must be a JSON object with a 'properties' object.",
      );
    }
    const p = body.properties;
    const dest = p.destination;
    if (!isObject(dest)) throw new EgError(400, 'InvalidRequest', 'properties.destination: required.');
    if (typeof dest.endpointType !== 'string' || dest.endpointType.toLowerCase() !== 'webhook') {
      throw new EgError(
        400,
        'InvalidRequest',
        `properties.destination.endpointType: the sandbox delivers to 'WebHook' endpoints only; got ${JSON.stringify(dest.endpointType)}.`,
      );
    }
    const dp = isObject(dest.properties) ? dest.properties : {};
    const key = `${where.scope}${PROVIDER_SEGMENT}/${name}`.toLowerCase();
    const existing = subs.get(key);
    // A PUT without endpointUrl keeps the stored one (it is write-only and GET never returns it).
    const endpointUrl = dp.endpointUrl === undefined && existing ? existing.endpointUrl : parseEndpoint(dp.endpointUrl);
    const schemaRaw = p.eventDeliverySchema ?? 'EventGridSchema';
    if (schemaRaw !== 'EventGridSchema' && schemaRaw !== 'CloudEventSchemaV1_0') {
      throw new EgError(
        400,
        'InvalidRequest',
        `properties.eventDeliverySchema: expected 'EventGridSchema' or 'CloudEventSchemaV1_0'; got ${JSON.stringify(schemaRaw)}.`,
      );
    }
    const filter = parseFilter(p.filter);
    const retry = isObject(p.retryPolicy) ? p.retryPolicy : {};
    const record: SubscriptionRecord = {
      id: `${where.scope}/providers/Microsoft.EventGrid/eventSubscriptions/${name}`,
      name,
      scope: where.scope,
      topic: where.topic,
      kind: where.kind,
      provisioningState: 'Creating',
      endpointUrl,
      schema: schemaRaw,
      filter,
      maxDeliveryAttempts: intInRange(
        retry.maxDeliveryAttempts,
        'properties.retryPolicy.maxDeliveryAttempts',
        1,
        30,
        30,
      ),
      eventTimeToLiveInMinutes: intInRange(
        retry.eventTimeToLiveInMinutes,
        'properties.retryPolicy.eventTimeToLiveInMinutes',
        1,
        1440,
        1440,
      ),
      maxEventsPerBatch: intInRange(
        dp.maxEventsPerBatch,
        'properties.destination.properties.maxEventsPerBatch',
        1,
        5000,
        1,
      ),
      preferredBatchSizeInKilobytes: intInRange(
        dp.preferredBatchSizeInKilobytes,
        'properties.destination.properties.preferredBatchSizeInKilobytes',
        1,
        1024,
        64,
      ),
      ...(p.labels !== undefined ? { labels: p.labels } : {}),
      ...(p.expirationTimeUtc !== undefined ? { expirationTimeUtc: p.expirationTimeUtc } : {}),
      operationId: randomUUID(),
    };
    ctx.count('eventSubscriptions.createOrUpdate', identify(req));
    const op: OperationRecord = {
      id: record.operationId,
      subscriptionKey: key,
      status: 'InProgress',
      startTime: new Date().toISOString(),
    };
    operations.set(op.id, op);
    if (existing?.validation?.timer) clearTimeout(existing.validation.timer);
    subs.set(key, record);

    // Event Grid validates the endpoint when the subscription is created or its endpoint changes.
    const needsHandshake =
      !existing ||
      existing.endpointUrl !== endpointUrl ||
      existing.schema !== record.schema ||
      existing.provisioningState !== 'Succeeded';
    if (!needsHandshake) {
      finishOperation(record, true);
    } else {
      const validation = { id: randomUUID(), token: randomBytes(16).toString('hex') };
      const validationCode = randomUUID().toUpperCase();
      const validationUrl = `${ctx.baseUrl()}/eventgrid/validate?id=${validation.id}&t=${encodeURIComponent(
        new Date().toISOString(),
      )}&apiVersion=${encodeURIComponent(apiVersion)}&token=${validation.token}`;
      const result = await engine.handshake(record, record.topic, validationCode, validationUrl);
      if (subs.get(key) !== record) return void sendJson(res, 201, armBody(record, 'Creating'));
      if (result.ok) {
        finishOperation(record, true);
      } else if (result.awaitingManual) {
        record.provisioningState = 'AwaitingManualAction';
        const timer = setTimeout(
          () => {
            if (record.provisioningState === 'AwaitingManualAction') {
              finishOperation(record, false, manualValidationTimeoutMessage(record.endpointUrl));
            }
          },
          Math.max(1, Math.round(600_000 * ctx.timeScale)),
        );
        timer.unref();
        record.validation = { ...validation, timer };
      } else {
        finishOperation(record, false, result.message);
      }
    }
    sendJson(res, 201, armBody(record, record.provisioningState === 'Succeeded' ? 'Succeeded' : 'Creating'), {
      'azure-asyncoperation': operationUrl(record.operationId, apiVersion),
    });
  }

  function listBody(scope: string): Record<string, unknown> {
    const s = scope.toLowerCase();
    return { value: [...subs.values()].filter((r) => r.scope.toLowerCase() === s).map((r) => armBody(r)) };
  }

  async function handleArm(req: SandboxRequest, res: ServerResponse): Promise<boolean> {
    const path = req.url.pathname.replace(/\/+$/, '');
    const lower = path.toLowerCase();

    const opMatch =
      /^\/subscriptions\/([^/]+)\/providers\/microsoft\.eventgrid\/locations\/[^/]+\/operationsstatus\/([^/]+)$/.exec(
        lower,
      );
    if (opMatch) {
      requireBearer(req);
      ctx.count('eventGrid.operationStatus', identify(req));
      const op = operations.get(path.split('/').pop() ?? '');
      if (!op) throw new EgError(404, 'ResourceNotFound', 'The operation was not found.');
      sendJson(res, 200, {
        id: path,
        name: op.id,
        status: op.status,
        startTime: op.startTime,
        ...(op.endTime ? { endTime: op.endTime } : {}),
        ...(op.error ? { error: op.error } : {}),
      });
      return true;
    }

    const at = lower.lastIndexOf(PROVIDER_SEGMENT);
    if (at < 0) return false;
    const scope = path.slice(0, at) || '/';
    const rest = path
      .slice(at + PROVIDER_SEGMENT.length)
      .split('/')
      .filter(Boolean);
    requireBearer(req);
    if (rest.length === 0) {
      if (req.method !== 'GET')
        throw new EgError(405, 'MethodNotAllowed', `${req.method} is not supported on this collection.`);
      requireApiVersion(req);
      const where = classifyScope(ctx, scope);
      ctx.count('eventSubscriptions.list', identify(req));
      sendJson(res, 200, listBody(where.scope));
      return true;
    }
    const name = decodeURIComponent(rest[0]);
    if (rest.length === 2 && rest[1].toLowerCase() === 'getfullurl' && req.method === 'POST') {
      requireApiVersion(req);
      const where = classifyScope(ctx, scope);
      const s = subs.get(`${where.scope}${PROVIDER_SEGMENT}/${name}`.toLowerCase());
      if (!s) throw new EgError(404, 'ResourceNotFound', `The event subscription '${name}' was not found.`);
      ctx.count('eventSubscriptions.getFullUrl', identify(req));
      sendJson(res, 200, { endpointUrl: s.endpointUrl });
      return true;
    }
    if (rest.length !== 1) return false;
    switch (req.method) {
      case 'PUT':
        await putSubscription(req, res, scope, name);
        return true;
      case 'GET': {
        requireApiVersion(req);
        const where = classifyScope(ctx, scope);
        ctx.count('eventSubscriptions.get', identify(req));
        const s = subs.get(`${where.scope}${PROVIDER_SEGMENT}/${name}`.toLowerCase());
        if (!s) throw new EgError(404, 'ResourceNotFound', `The event subscription '${name}' was not found.`);
        sendJson(res, 200, armBody(s));
        return true;
      }
      case 'DELETE': {
        requireApiVersion(req);
        const where = classifyScope(ctx, scope);
        ctx.count('eventSubscriptions.delete', identify(req));
        const key = `${where.scope}${PROVIDER_SEGMENT}/${name}`.toLowerCase();
        const s = subs.get(key);
        if (!s) {
          sendJson(res, 204, undefined);
          return true;
        }
        if (s.validation?.timer) clearTimeout(s.validation.timer);
        subs.delete(key);
        engine.cancelFor(s.id);
        sendJson(res, 200, undefined);
        return true;
      }
      default:
        throw new EgError(405, 'MethodNotAllowed', `${req.method} is not supported on an event subscription.`);
    }
  }

  /** GET on the validationUrl: the manual (asynchronous) handshake. No bearer token, as in Azure. */
  function handleValidate(req: SandboxRequest, res: ServerResponse): boolean {
    const id = req.url.searchParams.get('id');
    const token = req.url.searchParams.get('token') ?? '';
    const s = [...subs.values()].find((r) => r.validation?.id === id);
    if (req.method !== 'GET' || !s || !s.validation || !safeEqual(s.validation.token, token)) {
      sendJson(res, 400, {
        error: { code: 'BadRequest', message: 'The validation request is invalid or has expired.' },
      });
      return true;
    }
    finishOperation(s, true);
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('Webhook successfully validated as a part of the subscription validation handshake.');
    return true;
  }

  // ---- custom topic data plane ------------------------------------------------------------------

  const topicError = (status: number, code: string, message: string, detailCode?: string): EgError => {
    const report = `Report '${randomUUID()}:${new Date().toUTCString()}' to our forums for assistance or raise a support ticket.`;
    return new EgError(
      status,
      code,
      `${message} ${report}`,
      detailCode ? [{ code: detailCode, message: `${message} ${report}` }] : undefined,
    );
  };

  function verifySas(token: string, endpoint: string): boolean {
    // r=<url-encoded resource>&e=<url-encoded expiry>&s=<url-encoded base64 HMAC-SHA256 of "r=..&e=..">
    const m = /^r=([^&]*)&e=([^&]*)&s=([^&]*)$/.exec(token);
    if (!m) return false;
    const unsigned = `r=${m[1]}&e=${m[2]}`;
    const resource = decodeURIComponent(m[1]).split('?')[0].toLowerCase();
    if (resource !== endpoint.toLowerCase()) return false;
    const expires = parseServiceTime(decodeURIComponent(m[2]));
    if (Number.isNaN(expires) || expires < Date.now()) return false;
    const sig = decodeURIComponent(m[3]);
    return [topicKey, topicKey2].some((k) =>
      safeEqual(createHmac('sha256', Buffer.from(k, 'base64')).update(unsigned).digest('base64'), sig),
    );
  }

  function validateEvent(e: unknown, i: number, schema: ReceivedTopicEvent['schema']): Record<string, unknown> {
    if (!isObject(e)) throw topicError(400, 'BadRequest', `Event ${i}: expected a JSON object.`, 'InputJsonInvalid');
    const required =
      schema === 'CloudEventSchemaV1_0'
        ? ['id', 'source', 'type', 'specversion']
        : ['id', 'subject', 'eventType', 'eventTime', 'dataVersion'];
    for (const f of required) {
      if (typeof e[f] !== 'string' || (e[f] as string).length === 0) {
        throw topicError(
          400,
          'BadRequest',
          `Event ${i}: required property '${f}' is missing or not a non-empty string.`,
          'InputJsonInvalid',
        );
      }
    }
    if (schema === 'CloudEventSchemaV1_0' && e.specversion !== '1.0') {
      throw topicError(400, 'BadRequest', `Event ${i}: specversion must be '1.0'.`, 'InputJsonInvalid');
    }
    if (schema === 'EventGridSchema') {
      if (!('data' in e))
        throw topicError(400, 'BadRequest', `Event ${i}: required property 'data' is missing.`, 'InputJsonInvalid');
      if (Number.isNaN(Date.parse(e.eventTime as string))) {
        throw topicError(400, 'BadRequest', `Event ${i}: eventTime is not a date-time.`, 'InputJsonInvalid');
      }
    }
    return e;
  }

  function handleTopic(req: SandboxRequest, res: ServerResponse): boolean {
    const endpoint = `${ctx.baseUrl()}/api/events`;
    if (req.method !== 'POST') {
      throw topicError(405, 'MethodNotAllowed', `${req.method} is not supported on /api/events.`);
    }
    let auth: ReceivedTopicEvent['auth'];
    const key = req.headers['aeg-sas-key'];
    const sas = req.headers['aeg-sas-token'];
    if (typeof key === 'string') {
      if (!safeEqual(key, topicKey) && !safeEqual(key, topicKey2)) {
        throw topicError(
          401,
          'Unauthorized',
          `The request authorization key is not authorized for ${req.headers.host ?? 'this topic'}. This is due to the reason: The specified key does not match the key of the topic.`,
        );
      }
      auth = 'key';
    } else if (typeof sas === 'string') {
      if (!verifySas(sas, endpoint)) {
        throw topicError(401, 'Unauthorized', 'The request authorization token (aeg-sas-token) is invalid or expired.');
      }
      auth = 'sas';
    } else if (/^Bearer\s+\S+/i.test(req.headers.authorization ?? '')) {
      auth = 'bearer';
    } else {
      throw topicError(
        401,
        'Unauthorized',
        "The request is not authorized: send the topic key in 'aeg-sas-key', a SAS token in 'aeg-sas-token', or 'Authorization: Bearer <token>'.",
      );
    }
    ctx.count('topic.publish', auth);
    if (!req.url.searchParams.get('api-version')) {
      throw topicError(400, 'BadRequest', "The 'api-version' query parameter is required.", 'InvalidApiVersion');
    }
    if (req.body.length > 1024 * 1024) {
      throw topicError(413, 'RequestEntityTooLarge', 'The maximum size for a batch of events is 1 MB.');
    }
    const contentType = String(req.headers['content-type'] ?? '').toLowerCase();
    const schema: ReceivedTopicEvent['schema'] = contentType.startsWith('application/cloudevents')
      ? 'CloudEventSchemaV1_0'
      : 'EventGridSchema';
    let parsed: unknown;
    try {
      parsed = JSON.parse(req.body.toString('utf8'));
    } catch (err) {
      throw topicError(
        400,
        'BadRequest',
        `The request body is not valid JSON: ${(err as Error).message}.`,
        'InputJsonInvalid',
      );
    }
    let events: unknown[];
    if (Array.isArray(parsed)) {
      events = parsed;
    } else if (contentType.startsWith('application/cloudevents+json') && isObject(parsed)) {
      events = [parsed]; // a single structured-mode CloudEvent
    } else {
      throw topicError(
        400,
        'BadRequest',
        'Unexpected token when reading JSON. Expected: StartArray, actual: StartObject.',
        'InputJsonInvalid',
      );
    }
    if (events.length === 0) throw topicError(400, 'BadRequest', 'The batch contains no events.', 'InputJsonInvalid');
    const valid = events.map((e, i) => validateEvent(e, i, schema)); // all or nothing: no partial write
    const receivedAt = new Date().toISOString();
    for (const event of valid) topicEvents.push({ schema, event, receivedAt, auth });
    res.writeHead(200, { 'content-length': 0 });
    res.end();
    return true;
  }

  const routes: RouteHandler = async (req, res) => {
    const lower = req.url.pathname.toLowerCase();
    const isTopic = lower === '/api/events';
    try {
      if (isTopic) return handleTopic(req, res);
      if (lower === '/eventgrid/validate') return handleValidate(req, res);
      return await handleArm(req, res);
    } catch (err) {
      if (!(err instanceof EgError)) throw err;
      if (err.details) {
        sendJson(res, err.status, { error: { code: err.code, message: err.message, details: err.details } });
      } else {
        sendArmError(res, err.status, err.code, err.message);
      }
      return true;
    }
  };

  function notify(n: ChangeNotice | KeyVaultNotice): void {
    const now = new Date();
    const perTopic = new Map<string, EventGridEvent>(); // one event id per topic, shared by its subscriptions
    for (const s of subs.values()) {
      if (s.provisioningState !== 'Succeeded') continue;
      let event: EventGridEvent | undefined;
      if (isChangeNotice(n)) {
        if (s.kind !== 'resources' || !isUnderScope(n.resourceUri, s.scope)) continue;
        const t = s.topic.toLowerCase();
        event = perTopic.get(t) ?? resourceEvent(n, s.topic, now);
        perTopic.set(t, event);
      } else {
        if (s.kind !== 'keyvault' || s.scope.toLowerCase() !== n.vaultId.toLowerCase().replace(/\/+$/, '')) continue;
        event = perTopic.get('kv') ?? keyVaultEvent(n, now);
        perTopic.set('kv', event);
      }
      if (!filterMatches(event, s.schema, s.filter)) continue;
      engine.enqueue(
        {
          subscriptionId: s.id,
          subscriptionName: s.name,
          endpointUrl: s.endpointUrl,
          schema: s.schema,
          maxDeliveryAttempts: s.maxDeliveryAttempts,
          eventTimeToLiveInMinutes: s.eventTimeToLiveInMinutes,
          maxEventsPerBatch: s.maxEventsPerBatch,
        },
        event,
      );
    }
  }

  const control: EventGridControl = {
    subscriptions: () => [...subs.values()].map(view),
    deliveries: () => engine.all(),
    deadLettered: () => engine.all().filter((d) => d.status === 'deadLettered'),
    emitKeyEvent: (n) => notify(n),
    setDelivery: (k) => engine.setKnobs(k),
    waitForIdle: (timeoutMs) => engine.waitForIdle(timeoutMs),
    topicEvents: () => topicEvents.map((e) => ({ ...e })),
    clearTopicEvents: () => void topicEvents.splice(0),
    topic: () => ({ endpoint: `${ctx.baseUrl()}/api/events`, key: topicKey, secondaryKey: topicKey2 }),
  };

  return {
    routes,
    notify,
    control,
    close: async () => {
      for (const s of subs.values()) if (s.validation?.timer) clearTimeout(s.validation.timer);
      await engine.close();
    },
  };
}
