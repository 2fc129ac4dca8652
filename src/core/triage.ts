// Event triage: decide, without any Azure call, whether an Event Grid / CloudEvents event can change
// the Atlas principal's access, and which ARM scope it touched. Events are hints: a relevant one only
// makes the app re-read the truth (level-triggered); nothing here ever grants anything.
// eslint-disable-next-line no-restricted-imports -- data, not an adapter: the routing list shared with Bicep
import routing from '../../infra/event-routing.json' with { type: 'json' };

export type TriageKind =
  | 'roleAssignment'
  | 'roleDefinition'
  | 'vault'
  | 'accessPolicy'
  | 'denyAssignment'
  | 'policyAssignment'
  | 'key'
  | 'validation'
  | 'ignored'
  | 'rejected';

/** One event, schema-independent. */
export interface IncomingEvent {
  schema: 'EventGridSchema' | 'CloudEventSchemaV1_0';
  id: string;
  type: string;
  subject: string;
  /** Event Grid `topic` or CloudEvents `source`. */
  topic: string;
  time?: string;
  data: Record<string, unknown>;
}

export interface Actor {
  objectId?: string;
  upn?: string;
  name?: string;
  appId?: string;
}

export interface TriageResult {
  eventId: string;
  eventType: string;
  relevant: boolean;
  kind: TriageKind;
  /** The ARM ID whose access may have changed (for a role assignment: the scope it was assigned at). */
  scope?: string;
  /** The changed resource itself (e.g. the role assignment's full ID). */
  resourceId?: string;
  operationName?: string;
  /** Key events: the key's name and version. */
  keyName?: string;
  keyVersion?: string;
  correlationId?: string;
  actor?: Actor;
  eventTime?: string;
  reason: string;
}

export class EventInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EventInputError';
  }
}

const operationKinds = new Map<string, TriageKind>(
  routing.operations.map((o) => [o.name.toLowerCase(), o.kind as TriageKind]),
);
const keyVaultKinds = new Map<string, TriageKind>(
  routing.keyVaultEventTypes.map((o) => [o.name.toLowerCase(), o.kind as TriageKind]),
);
const resourceEventTypes = new Set(routing.resourceEventTypes.map((t) => t.toLowerCase()));

export const VALIDATION_EVENT_TYPE = 'Microsoft.EventGrid.SubscriptionValidationEvent';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `data` (and its nested authorization/claims/httpRequest) may arrive as JSON-encoded strings. */
function decodeMaybeJson(v: unknown, field: string): unknown {
  if (typeof v !== 'string') return v;
  const t = v.trim();
  if (!t.startsWith('{') && !t.startsWith('[')) return v;
  try {
    return JSON.parse(t);
  } catch {
    throw new EventInputError(`${field}: a JSON-encoded string that does not parse`);
  }
}

/** Key Vault's published samples have padded keys ("ObjectName ") and values (" ee05..."): trim both. */
function trimKeys(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) out[k.trim()] = typeof v === 'string' ? v.trim() : v;
  return out;
}

function str(v: unknown, field: string, required: boolean): string {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) {
    if (required) throw new EventInputError(`${field}: missing (expected a string)`);
    return '';
  }
  throw new EventInputError(`${field}: expected a string, got ${Array.isArray(v) ? 'an array' : typeof v}`);
}

function normalizeOne(raw: unknown, at: string): IncomingEvent {
  if (!isObject(raw)) throw new EventInputError(`${at}: expected an event object`);
  const cloud = 'specversion' in raw;
  const data0 = decodeMaybeJson(raw.data ?? {}, `${at}.data`);
  if (!isObject(data0)) throw new EventInputError(`${at}.data: expected an object`);
  const data: Record<string, unknown> = trimKeys(data0);
  for (const k of ['authorization', 'claims', 'httpRequest']) {
    if (k in data) data[k] = decodeMaybeJson(data[k], `${at}.data.${k}`);
  }
  if (cloud) {
    if (raw.specversion !== '1.0') throw new EventInputError(`${at}.specversion: expected "1.0"`);
    return {
      schema: 'CloudEventSchemaV1_0',
      id: str(raw.id, `${at}.id`, true),
      type: str(raw.type, `${at}.type`, true),
      subject: str(raw.subject, `${at}.subject`, false),
      topic: str(raw.source, `${at}.source`, true),
      time: str(raw.time, `${at}.time`, false) || undefined,
      data,
    };
  }
  return {
    schema: 'EventGridSchema',
    id: str(raw.id, `${at}.id`, true),
    type: str(raw.eventType, `${at}.eventType`, true),
    subject: str(raw.subject, `${at}.subject`, false),
    topic: str(raw.topic, `${at}.topic`, false),
    time: str(raw.eventTime, `${at}.eventTime`, false) || undefined,
    data,
  };
}

/**
 * Parses what a webhook or trigger received: one event or an array, Event Grid schema or CloudEvents 1.0,
 * `data` as an object or a JSON string. Throws EventInputError naming the field on anything else.
 */
export function parseEvents(payload: unknown): IncomingEvent[] {
  const body = decodeMaybeJson(payload, 'body');
  if (Array.isArray(body)) return body.map((e, i) => normalizeOne(e, `[${i}]`));
  if (isObject(body)) return [normalizeOne(body, 'event')];
  throw new EventInputError('body: expected an event object or an array of events');
}

const CLAIM_OID = 'http://schemas.microsoft.com/identity/claims/objectidentifier';
const CLAIM_UPN = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn';
const CLAIM_NAME = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name';

/** Who made the change, from `data.claims` (the caller; never the target principal of an assignment). */
export function actorFromClaims(claims: unknown): Actor | undefined {
  if (!isObject(claims)) return undefined;
  const s = (k: string) => (typeof claims[k] === 'string' ? (claims[k] as string) : undefined);
  const actor: Actor = {
    objectId: s(CLAIM_OID) ?? s('oid'),
    upn: s(CLAIM_UPN) ?? s('upn'),
    name: s('name') ?? s(CLAIM_NAME),
    appId: s('appid') ?? s('azp'),
  };
  return Object.values(actor).some(Boolean) ? actor : undefined;
}

const VAULT_ID = /^(\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.KeyVault\/vaults\/[^/]+)/i;
const PROVIDER_SUFFIX =
  /\/providers\/Microsoft\.Authorization\/(roleAssignments|roleDefinitions|denyAssignments|policyAssignments)\/[^/]+$/i;

/** The scope an Authorization resource lives at: `{scope}/providers/Microsoft.Authorization/{type}/{name}`. */
export function authorizationScope(resourceId: string): string {
  const scope = resourceId.replace(PROVIDER_SUFFIX, '');
  return scope === '' ? '/' : scope;
}

type TriageBase = Pick<TriageResult, 'eventId' | 'eventType' | 'eventTime'>;

function stringOrUndefined(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function triageValidation(_ev: IncomingEvent, base: TriageBase): TriageResult {
  return { ...base, relevant: false, kind: 'validation', reason: 'Event Grid subscription validation handshake' };
}

const AUTHORIZATION_KINDS = new Set<TriageKind>([
  'roleAssignment',
  'roleDefinition',
  'denyAssignment',
  'policyAssignment',
]);

/** Authorization resources change access at the scope they live at; vault operations at the vault. */
function resourceScope(kind: TriageKind, resourceId: string): string {
  if (AUTHORIZATION_KINDS.has(kind)) {
    return authorizationScope(resourceId);
  }
  return VAULT_ID.exec(resourceId)?.[1] ?? resourceId;
}

/** An ARM resource write/delete event: relevant when its operation is in the routing list. */
function triageResourceEvent(ev: IncomingEvent, base: TriageBase): TriageResult {
  const operationName = stringOrUndefined(ev.data.operationName) ?? '';
  const kind = operationKinds.get(operationName.toLowerCase());
  if (!kind) {
    return {
      ...base,
      relevant: false,
      kind: 'ignored',
      operationName: operationName || undefined,
      reason: operationName
        ? `operation ${operationName} cannot change key access`
        : 'resource event without data.operationName',
    };
  }
  const resourceId = (typeof ev.data.resourceUri === 'string' && ev.data.resourceUri) || ev.subject || '';
  if (!resourceId.startsWith('/')) {
    return { ...base, relevant: false, kind: 'ignored', operationName, reason: 'event names no resource ID' };
  }
  const scope = resourceScope(kind, resourceId);
  return {
    ...base,
    relevant: true,
    kind,
    scope,
    resourceId,
    operationName,
    correlationId: stringOrUndefined(ev.data.correlationId),
    actor: actorFromClaims(ev.data.claims),
    reason: `${operationName} at ${scope}`,
  };
}

/** The key name and version of a key event: from `data.Id`, else from `ObjectName`/`Version`. */
function keyIdentity(data: Record<string, unknown>, kind: TriageKind): Pick<TriageResult, 'keyName' | 'keyVersion'> {
  const m = /\/keys\/([^/]+)(?:\/([^/?#]+))?/i.exec(stringOrUndefined(data.Id) ?? '');
  const isKey = kind === 'key';
  return {
    keyName: m?.[1] ?? (isKey ? stringOrUndefined(data.ObjectName) : undefined),
    keyVersion: m?.[2] ?? (isKey ? stringOrUndefined(data.Version) : undefined),
  };
}

/** A Key Vault data-plane event: relevant when its topic is a vault. */
function triageKeyVaultEvent(ev: IncomingEvent, base: TriageBase): TriageResult {
  const kind = keyVaultKinds.get(ev.type.toLowerCase()) as TriageKind;
  const vaultId = VAULT_ID.exec(ev.topic)?.[1];
  if (!vaultId) {
    return { ...base, relevant: false, kind: 'ignored', reason: `${ev.type} whose topic is not a vault ID` };
  }
  return {
    ...base,
    relevant: true,
    kind,
    scope: vaultId,
    resourceId: vaultId,
    ...keyIdentity(ev.data, kind),
    reason: `${ev.type} on ${vaultId}`,
  };
}

/** The event families that can matter, by lower-cased event type; the first that matches classifies. */
const eventFamilies: ReadonlyArray<{
  matches: (type: string) => boolean;
  triage: (ev: IncomingEvent, base: TriageBase) => TriageResult;
}> = [
  { matches: (type) => type === VALIDATION_EVENT_TYPE.toLowerCase(), triage: triageValidation },
  { matches: (type) => resourceEventTypes.has(type), triage: triageResourceEvent },
  { matches: (type) => keyVaultKinds.has(type), triage: triageKeyVaultEvent },
];

/** Longer than any real ARM resource ID (about 450 at most), far below the state store's key limit. */
export const MAX_RESOURCE_ID_LENGTH = 1024;

function hasLoneSurrogate(v: unknown, depth = 0): boolean {
  if (typeof v === 'string') return /\p{Cs}/u.test(v);
  if (depth > 4 || typeof v !== 'object' || v === null) return false;
  return Object.values(v).some((x) => hasLoneSurrogate(x, depth + 1));
}

/**
 * Why an event can never be handled, or undefined: a lone UTF-16 surrogate (no store or service accepts it) or a
 * resource ID too long to be real (it would exceed the state's key limit). Retrying such input only repeats it.
 */
export function unusableEvent(ev: IncomingEvent): string | undefined {
  if (hasLoneSurrogate(ev)) return 'a field holds a lone UTF-16 surrogate (not valid Unicode)';
  const longest = [ev.subject, ev.topic, ev.data.resourceUri].find(
    (s) => typeof s === 'string' && s.length > MAX_RESOURCE_ID_LENGTH,
  );
  if (longest) return `a resource ID of ${(longest as string).length} characters (at most ${MAX_RESOURCE_ID_LENGTH})`;
  return undefined;
}

/** Classifies one event. Pure and cheap: irrelevant events cost a map lookup. */
export function triageEvent(ev: IncomingEvent): TriageResult {
  const base: TriageBase = { eventId: ev.id, eventType: ev.type, eventTime: ev.time };
  // Input that can never succeed is terminal: dropped (and dead-lettered by the caller), never retried.
  const unusable = unusableEvent(ev);
  if (unusable) return { ...base, relevant: false, kind: 'rejected', reason: unusable };
  const type = ev.type.toLowerCase();
  const family = eventFamilies.find((f) => f.matches(type));
  if (family) return family.triage(ev, base);
  return { ...base, relevant: false, kind: 'ignored', reason: `event type ${ev.type} cannot change key access` };
}
