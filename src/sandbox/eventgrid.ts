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
const OPERATION_STATUS_RE =
  /^\/subscriptions\/([^/]+)\/providers\/microsoft\.eventgrid\/locations\/[^/]+\/operationsstatus\/([^/]+)$/;
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

function parseAdvancedFilters(raw: unknown): AdvancedFilter[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) {
    throw new EgError(400, 'InvalidRequest', 'properties.filter.advancedFilters: expected an array.');
  }
  if (raw.length > 25) {
    throw new EgError(
      400,
      'InvalidRequest',
      'properties.filter.advancedFilters: at most 25 advanced filters are allowed.',
    );
  }
  return raw.map((a, i) => parseAdvancedFilter(a, `properties.filter.advancedFilters[${i}]`));
}

function parseAdvancedFilter(a: unknown, where: string): AdvancedFilter {
  if (!isObject(a)) throw new EgError(400, 'InvalidRequest', `${where}: expected an object.`);
  if (typeof a.operatorType !== 'string' || !ALL_OPERATORS.includes(a.operatorType)) {
    throw new EgError(
      400,
      'InvalidRequest',
      `${where}.operatorType: expected one of ${ALL_OPERATORS.join(', ')}; got ${JSON.stringify(a.operatorType)}.`,
    );
  }
  if (typeof a.key !== 'string' || a.key.length === 0) {
    throw new EgError(400, 'InvalidRequest', `${where}.key: expected a non-empty string such as 'data.operationName'.`);
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
}

/** A filter field that may be absent (undefined or null) but, when given, has this type. */
function optionalOfType(v: unknown, type: 'string' | 'boolean', message: string): unknown {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== type) throw new EgError(400, 'InvalidRequest', message);
  return v;
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
    const v = optionalOfType(raw[k], 'string', `properties.filter.${k}: expected a string.`);
    if (v !== undefined) f[k] = v as string;
  }
  for (const k of ['isSubjectCaseSensitive', 'enableAdvancedFilteringOnArrays'] as const) {
    const v = optionalOfType(raw[k], 'boolean', `properties.filter.${k}: expected true or false.`);
    if (v !== undefined) f[k] = v as boolean;
  }
  const advanced = parseAdvancedFilters(raw.advancedFilters);
  if (advanced) f.advancedFilters = advanced;
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

function view(s: SubscriptionRecord): EventSubscriptionView {
  return {
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
  };
}

function armBody(s: SubscriptionRecord, state = s.provisioningState): Record<string, unknown> {
  return {
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
  };
}

function requireBearer(req: SandboxRequest): void {
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
}

function requireApiVersion(req: SandboxRequest): string {
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
}

function topicError(status: number, code: string, message: string, detailCode?: string): EgError {
  const report = `Report '${randomUUID()}:${new Date().toUTCString()}' to our forums for assistance or raise a support ticket.`;
  return new EgError(
    status,
    code,
    `${message} ${report}`,
    detailCode ? [{ code: detailCode, message: `${message} ${report}` }] : undefined,
  );
}

function requireSubscriptionName(name: string): void {
  if (!/^[A-Za-z0-9-]{3,64}$/.test(name)) {
    throw new EgError(
      400,
      'InvalidRequest',
      `Event subscription name '${name}' is invalid: use 3 to 64 characters, letters, digits and '-' only.`,
    );
  }
}

/** The `properties` of a PUT body. */
function subscriptionProperties(req: SandboxRequest): Record<string, unknown> {
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
  return body.properties;
}

/** `properties.destination.properties` of a WebHook destination (the only kind the sandbox delivers to). */
function webhookDestination(p: Record<string, unknown>): Record<string, unknown> {
  const dest = p.destination;
  if (!isObject(dest)) throw new EgError(400, 'InvalidRequest', 'properties.destination: required.');
  if (typeof dest.endpointType !== 'string' || dest.endpointType.toLowerCase() !== 'webhook') {
    throw new EgError(
      400,
      'InvalidRequest',
      `properties.destination.endpointType: the sandbox delivers to 'WebHook' endpoints only; got ${JSON.stringify(dest.endpointType)}.`,
    );
  }
  return isObject(dest.properties) ? dest.properties : {};
}

function deliverySchema(p: Record<string, unknown>): DeliverySchema {
  const schemaRaw = p.eventDeliverySchema ?? 'EventGridSchema';
  if (schemaRaw !== 'EventGridSchema' && schemaRaw !== 'CloudEventSchemaV1_0') {
    throw new EgError(
      400,
      'InvalidRequest',
      `properties.eventDeliverySchema: expected 'EventGridSchema' or 'CloudEventSchemaV1_0'; got ${JSON.stringify(schemaRaw)}.`,
    );
  }
  return schemaRaw;
}

/** Retry policy and batching, with Event Grid's defaults and bounds. */
function deliverySettings(
  p: Record<string, unknown>,
  dp: Record<string, unknown>,
): Pick<
  SubscriptionRecord,
  'maxDeliveryAttempts' | 'eventTimeToLiveInMinutes' | 'maxEventsPerBatch' | 'preferredBatchSizeInKilobytes'
> {
  const retry = isObject(p.retryPolicy) ? p.retryPolicy : {};
  return {
    maxDeliveryAttempts: intInRange(retry.maxDeliveryAttempts, 'properties.retryPolicy.maxDeliveryAttempts', 1, 30, 30),
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
  };
}

/** Event Grid validates the endpoint when the subscription is created or its endpoint changes. */
function needsHandshake(existing: SubscriptionRecord | undefined, record: SubscriptionRecord): boolean {
  return (
    !existing ||
    existing.endpointUrl !== record.endpointUrl ||
    existing.schema !== record.schema ||
    existing.provisioningState !== 'Succeeded'
  );
}

/** The events of a publish request: a JSON array, or one structured-mode CloudEvent. */
function publishedEvents(req: SandboxRequest, contentType: string): unknown[] {
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
  return events;
}

/** The Event Grid half: subscriptions made through ARM, deliveries to their webhooks, and the custom topic. */
class EventGridEmulator {
  private readonly engine: DeliveryEngine;
  private readonly identify: (req: SandboxRequest) => string;
  private readonly subs = new Map<string, SubscriptionRecord>(); // key: lower-cased subscription resource ID
  private readonly operations = new Map<string, OperationRecord>();
  private readonly topicEvents: ReceivedTopicEvent[] = [];
  private readonly topicKey: string;
  private readonly topicKey2 = randomBytes(32).toString('base64');

  constructor(
    private readonly ctx: SandboxContext,
    opts: EventGridOptions,
  ) {
    this.engine = new DeliveryEngine({
      timeScale: ctx.timeScale,
      ...(opts.retryScheduleMs ? { retryScheduleMs: opts.retryScheduleMs } : {}),
      ...(opts.responseTimeoutMs !== undefined ? { responseTimeoutMs: opts.responseTimeoutMs } : {}),
      ...(opts.webhookCa ? { webhookCa: opts.webhookCa } : {}),
      ...(opts.reorderWindowMs !== undefined ? { reorderWindowMs: opts.reorderWindowMs } : {}),
    });
    this.identify = opts.identify ?? defaultIdentify;
    this.topicKey = opts.topicKey ?? randomBytes(32).toString('base64');
  }

  private operationUrl(opId: string, apiVersion: string): string {
    return `${this.ctx.baseUrl()}/subscriptions/${this.ctx.subscriptionId}/providers/Microsoft.EventGrid/locations/global/operationsStatus/${opId}?api-version=${encodeURIComponent(apiVersion)}`;
  }

  private finishOperation(s: SubscriptionRecord, ok: boolean, message?: string): void {
    const op = this.operations.get(s.operationId);
    s.provisioningState = ok ? 'Succeeded' : 'Failed';
    if (s.validation?.timer) clearTimeout(s.validation.timer);
    s.validation = undefined;
    if (op) {
      op.status = ok ? 'Succeeded' : 'Failed';
      op.endTime = new Date().toISOString();
      if (!ok) op.error = { code: 'Url validation', message: message ?? 'Webhook validation handshake failed.' };
    }
  }

  private async putSubscription(req: SandboxRequest, res: ServerResponse, scope: string, name: string): Promise<void> {
    const apiVersion = requireApiVersion(req);
    const where = classifyScope(this.ctx, scope);
    requireSubscriptionName(name);
    const p = subscriptionProperties(req);
    const dp = webhookDestination(p);
    const key = `${where.scope}${PROVIDER_SEGMENT}/${name}`.toLowerCase();
    const existing = this.subs.get(key);
    // A PUT without endpointUrl keeps the stored one (it is write-only and GET never returns it).
    const endpointUrl = dp.endpointUrl === undefined && existing ? existing.endpointUrl : parseEndpoint(dp.endpointUrl);
    const record: SubscriptionRecord = {
      id: `${where.scope}/providers/Microsoft.EventGrid/eventSubscriptions/${name}`,
      name,
      scope: where.scope,
      topic: where.topic,
      kind: where.kind,
      provisioningState: 'Creating',
      endpointUrl,
      schema: deliverySchema(p),
      filter: parseFilter(p.filter),
      ...deliverySettings(p, dp),
      ...(p.labels !== undefined ? { labels: p.labels } : {}),
      ...(p.expirationTimeUtc !== undefined ? { expirationTimeUtc: p.expirationTimeUtc } : {}),
      operationId: randomUUID(),
    };
    this.ctx.count('eventSubscriptions.createOrUpdate', this.identify(req));
    this.operations.set(record.operationId, {
      id: record.operationId,
      subscriptionKey: key,
      status: 'InProgress',
      startTime: new Date().toISOString(),
    });
    if (existing?.validation?.timer) clearTimeout(existing.validation.timer);
    this.subs.set(key, record);
    if (!needsHandshake(existing, record)) {
      this.finishOperation(record, true);
    } else if (!(await this.validateEndpoint(record, key, apiVersion))) {
      return void sendJson(res, 201, armBody(record, 'Creating'));
    }
    sendJson(res, 201, armBody(record, record.provisioningState === 'Succeeded' ? 'Succeeded' : 'Creating'), {
      'azure-asyncoperation': this.operationUrl(record.operationId, apiVersion),
    });
  }

  /** Runs the handshake; false when another PUT replaced the subscription meanwhile. */
  private async validateEndpoint(record: SubscriptionRecord, key: string, apiVersion: string): Promise<boolean> {
    const validation = { id: randomUUID(), token: randomBytes(16).toString('hex') };
    const validationCode = randomUUID().toUpperCase();
    const validationUrl = `${this.ctx.baseUrl()}/eventgrid/validate?id=${validation.id}&t=${encodeURIComponent(
      new Date().toISOString(),
    )}&apiVersion=${encodeURIComponent(apiVersion)}&token=${validation.token}`;
    const result = await this.engine.handshake(record, record.topic, validationCode, validationUrl);
    if (this.subs.get(key) !== record) return false;
    if (result.ok) {
      this.finishOperation(record, true);
    } else if (result.awaitingManual) {
      this.awaitManualValidation(record, validation);
    } else {
      this.finishOperation(record, false, result.message);
    }
    return true;
  }

  /** The endpoint did not echo the code: it may still GET the validationUrl, for up to 10 minutes (scaled). */
  private awaitManualValidation(record: SubscriptionRecord, validation: { id: string; token: string }): void {
    record.provisioningState = 'AwaitingManualAction';
    const timer = setTimeout(
      () => {
        if (record.provisioningState === 'AwaitingManualAction') {
          this.finishOperation(record, false, manualValidationTimeoutMessage(record.endpointUrl));
        }
      },
      Math.max(1, Math.round(600_000 * this.ctx.timeScale)),
    );
    timer.unref();
    record.validation = { ...validation, timer };
  }

  private listBody(scope: string): Record<string, unknown> {
    const s = scope.toLowerCase();
    return { value: [...this.subs.values()].filter((r) => r.scope.toLowerCase() === s).map((r) => armBody(r)) };
  }

  /** Event subscription item routes by method (PUT, GET, DELETE on `.../eventSubscriptions/{name}`). */
  private readonly itemRoutes: Record<
    string,
    (req: SandboxRequest, res: ServerResponse, scope: string, name: string) => Promise<void> | void
  > = {
    PUT: (req, res, scope, name) => this.putSubscription(req, res, scope, name),
    GET: (req, res, scope, name) => this.getSubscription(req, res, scope, name),
    DELETE: (req, res, scope, name) => this.deleteSubscription(req, res, scope, name),
  };

  private async handleArm(req: SandboxRequest, res: ServerResponse): Promise<boolean> {
    const path = req.url.pathname.replace(/\/+$/, '');
    const lower = path.toLowerCase();
    if (OPERATION_STATUS_RE.test(lower)) return this.operationStatus(req, res, path);
    const at = lower.lastIndexOf(PROVIDER_SEGMENT);
    if (at < 0) return false;
    const scope = path.slice(0, at) || '/';
    const rest = path
      .slice(at + PROVIDER_SEGMENT.length)
      .split('/')
      .filter(Boolean);
    requireBearer(req);
    if (rest.length === 0) return this.listSubscriptions(req, res, scope);
    const name = decodeURIComponent(rest[0]);
    if (rest.length === 2 && rest[1].toLowerCase() === 'getfullurl' && req.method === 'POST') {
      return this.getFullUrl(req, res, scope, name);
    }
    if (rest.length !== 1) return false;
    const route = this.itemRoutes[req.method];
    if (!route) throw new EgError(405, 'MethodNotAllowed', `${req.method} is not supported on an event subscription.`);
    await route(req, res, scope, name);
    return true;
  }

  private operationStatus(req: SandboxRequest, res: ServerResponse, path: string): boolean {
    requireBearer(req);
    this.ctx.count('eventGrid.operationStatus', this.identify(req));
    const op = this.operations.get(path.split('/').pop() ?? '');
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

  private listSubscriptions(req: SandboxRequest, res: ServerResponse, scope: string): boolean {
    if (req.method !== 'GET')
      throw new EgError(405, 'MethodNotAllowed', `${req.method} is not supported on this collection.`);
    requireApiVersion(req);
    const where = classifyScope(this.ctx, scope);
    this.ctx.count('eventSubscriptions.list', this.identify(req));
    sendJson(res, 200, this.listBody(where.scope));
    return true;
  }

  /** The stored subscription `{scope}/.../eventSubscriptions/{name}`, or 404. */
  private requireSubscription(scope: string, name: string): SubscriptionRecord {
    const where = classifyScope(this.ctx, scope);
    const s = this.subs.get(`${where.scope}${PROVIDER_SEGMENT}/${name}`.toLowerCase());
    if (!s) throw new EgError(404, 'ResourceNotFound', `The event subscription '${name}' was not found.`);
    return s;
  }

  private getFullUrl(req: SandboxRequest, res: ServerResponse, scope: string, name: string): boolean {
    requireApiVersion(req);
    const s = this.requireSubscription(scope, name);
    this.ctx.count('eventSubscriptions.getFullUrl', this.identify(req));
    sendJson(res, 200, { endpointUrl: s.endpointUrl });
    return true;
  }

  private getSubscription(req: SandboxRequest, res: ServerResponse, scope: string, name: string): void {
    requireApiVersion(req);
    const where = classifyScope(this.ctx, scope);
    this.ctx.count('eventSubscriptions.get', this.identify(req));
    sendJson(res, 200, armBody(this.requireSubscription(where.scope, name)));
  }

  private deleteSubscription(req: SandboxRequest, res: ServerResponse, scope: string, name: string): void {
    requireApiVersion(req);
    const where = classifyScope(this.ctx, scope);
    this.ctx.count('eventSubscriptions.delete', this.identify(req));
    const key = `${where.scope}${PROVIDER_SEGMENT}/${name}`.toLowerCase();
    const s = this.subs.get(key);
    if (!s) return sendJson(res, 204, undefined);
    if (s.validation?.timer) clearTimeout(s.validation.timer);
    this.subs.delete(key);
    this.engine.cancelFor(s.id);
    sendJson(res, 200, undefined);
  }

  /** GET on the validationUrl: the manual (asynchronous) handshake. No bearer token, as in Azure. */
  private handleValidate(req: SandboxRequest, res: ServerResponse): boolean {
    const id = req.url.searchParams.get('id');
    const token = req.url.searchParams.get('token') ?? '';
    const s = [...this.subs.values()].find((r) => r.validation?.id === id);
    if (req.method !== 'GET' || !s || !s.validation || !safeEqual(s.validation.token, token)) {
      sendJson(res, 400, {
        error: { code: 'BadRequest', message: 'The validation request is invalid or has expired.' },
      });
      return true;
    }
    this.finishOperation(s, true);
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('Webhook successfully validated as a part of the subscription validation handshake.');
    return true;
  }

  // ---- custom topic data plane ------------------------------------------------------------------

  private verifySas(token: string, endpoint: string): boolean {
    // r=<url-encoded resource>&e=<url-encoded expiry>&s=<url-encoded base64 HMAC-SHA256 of "r=..&e=..">
    const m = /^r=([^&]*)&e=([^&]*)&s=([^&]*)$/.exec(token);
    if (!m) return false;
    const unsigned = `r=${m[1]}&e=${m[2]}`;
    const resource = decodeURIComponent(m[1]).split('?')[0].toLowerCase();
    if (resource !== endpoint.toLowerCase()) return false;
    const expires = parseServiceTime(decodeURIComponent(m[2]));
    if (Number.isNaN(expires) || expires < Date.now()) return false;
    const sig = decodeURIComponent(m[3]);
    return [this.topicKey, this.topicKey2].some((k) =>
      safeEqual(createHmac('sha256', Buffer.from(k, 'base64')).update(unsigned).digest('base64'), sig),
    );
  }

  private validateEvent(e: unknown, i: number, schema: ReceivedTopicEvent['schema']): Record<string, unknown> {
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

  /** How the publisher authenticated: the topic key, a SAS token, or a bearer token; else 401. */
  private topicAuth(req: SandboxRequest): ReceivedTopicEvent['auth'] {
    const key = req.headers['aeg-sas-key'];
    const sas = req.headers['aeg-sas-token'];
    if (typeof key === 'string') {
      if (!safeEqual(key, this.topicKey) && !safeEqual(key, this.topicKey2)) {
        throw topicError(
          401,
          'Unauthorized',
          `The request authorization key is not authorized for ${req.headers.host ?? 'this topic'}. This is due to the reason: The specified key does not match the key of the topic.`,
        );
      }
      return 'key';
    }
    if (typeof sas === 'string') {
      if (!this.verifySas(sas, `${this.ctx.baseUrl()}/api/events`)) {
        throw topicError(401, 'Unauthorized', 'The request authorization token (aeg-sas-token) is invalid or expired.');
      }
      return 'sas';
    }
    if (/^Bearer\s+\S+/i.test(req.headers.authorization ?? '')) return 'bearer';
    throw topicError(
      401,
      'Unauthorized',
      "The request is not authorized: send the topic key in 'aeg-sas-key', a SAS token in 'aeg-sas-token', or 'Authorization: Bearer <token>'.",
    );
  }

  private handleTopic(req: SandboxRequest, res: ServerResponse): boolean {
    if (req.method !== 'POST') {
      throw topicError(405, 'MethodNotAllowed', `${req.method} is not supported on /api/events.`);
    }
    const auth = this.topicAuth(req);
    this.ctx.count('topic.publish', auth);
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
    const events = publishedEvents(req, contentType);
    const valid = events.map((e, i) => this.validateEvent(e, i, schema)); // all or nothing: no partial write
    const receivedAt = new Date().toISOString();
    for (const event of valid) this.topicEvents.push({ schema, event, receivedAt, auth });
    res.writeHead(200, { 'content-length': 0 });
    res.end();
    return true;
  }

  notify(n: ChangeNotice | KeyVaultNotice): void {
    const now = new Date();
    const perTopic = new Map<string, EventGridEvent>(); // one event id per topic, shared by its subscriptions
    for (const s of this.subs.values()) {
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
      this.engine.enqueue(
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

  async route(req: SandboxRequest, res: ServerResponse): Promise<boolean> {
    const lower = req.url.pathname.toLowerCase();
    try {
      if (lower === '/api/events') return this.handleTopic(req, res);
      if (lower === '/eventgrid/validate') return this.handleValidate(req, res);
      return await this.handleArm(req, res);
    } catch (err) {
      if (!(err instanceof EgError)) throw err;
      if (err.details) {
        sendJson(res, err.status, { error: { code: err.code, message: err.message, details: err.details } });
      } else {
        sendArmError(res, err.status, err.code, err.message);
      }
      return true;
    }
  }

  control(): EventGridControl {
    return {
      subscriptions: () => [...this.subs.values()].map(view),
      deliveries: () => this.engine.all(),
      deadLettered: () => this.engine.all().filter((d) => d.status === 'deadLettered'),
      emitKeyEvent: (n) => this.notify(n),
      setDelivery: (k) => this.engine.setKnobs(k),
      waitForIdle: (timeoutMs) => this.engine.waitForIdle(timeoutMs),
      topicEvents: () => this.topicEvents.map((e) => ({ ...e })),
      clearTopicEvents: () => void this.topicEvents.splice(0),
      topic: () => ({ endpoint: `${this.ctx.baseUrl()}/api/events`, key: this.topicKey, secondaryKey: this.topicKey2 }),
    };
  }

  async close(): Promise<void> {
    for (const s of this.subs.values()) if (s.validation?.timer) clearTimeout(s.validation.timer);
    await this.engine.close();
  }
}

export function createEventGrid(ctx: SandboxContext, opts: EventGridOptions = {}): EventGridSandbox {
  const eg = new EventGridEmulator(ctx, opts);
  return {
    routes: (req, res) => eg.route(req, res),
    notify: (n) => eg.notify(n),
    control: eg.control(),
    close: () => eg.close(),
  };
}
