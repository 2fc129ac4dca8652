// Event shapes as Event Grid emits them, built from the sandbox's change notices, and the subscription
// filters Event Grid applies. Shapes follow the published samples (MicrosoftDocs/azure-docs
// event-schema-subscriptions.md, event-schema-resource-groups.md, event-schema-key-vault.md,
// cloud-event-schema.md): see test/fixtures/eventgrid/.
import { randomUUID } from 'node:crypto';
import type { Actor, ChangeNotice, KeyVaultNotice } from '../contract.js';

/** An event in the Event Grid schema. */
export interface EventGridEvent {
  id: string;
  topic: string;
  subject: string;
  eventType: string;
  eventTime: string;
  data: Record<string, unknown>;
  dataVersion: string;
  metadataVersion: string;
}

/** An event in the CloudEvents 1.0 schema (JSON format). */
export interface CloudEvent {
  id: string;
  source: string;
  subject?: string;
  type: string;
  time: string;
  data: unknown;
  specversion: '1.0';
  [extension: string]: unknown;
}

export type DeliverySchema = 'EventGridSchema' | 'CloudEventSchemaV1_0';

const RESOURCE_EVENT_TYPE: Record<ChangeNotice['kind'], string> = {
  write: 'Microsoft.Resources.ResourceWriteSuccess',
  delete: 'Microsoft.Resources.ResourceDeleteSuccess',
  action: 'Microsoft.Resources.ResourceActionSuccess',
};

export function isChangeNotice(n: ChangeNotice | KeyVaultNotice): n is ChangeNotice {
  return 'operationName' in n;
}

/**
 * The caller's token claims as ARM copies them into `data.claims` (claim names as in the published
 * samples: long URIs for oid, tenant, upn, name). Users carry upn/name, service principals appid.
 */
export function claimsOf(actor: Actor, now: Date): Record<string, string> {
  const t = Math.floor(now.getTime() / 1000);
  const claims: Record<string, string> = {
    aud: 'https://management.core.windows.net/',
    iss: `https://sts.windows.net/${actor.tenantId}/`,
    iat: String(t - 60),
    nbf: String(t - 60),
    exp: String(t + 3600),
    'http://schemas.microsoft.com/claims/authnclassreference': '1',
    ipaddr: '127.0.0.1',
    'http://schemas.microsoft.com/identity/claims/objectidentifier': actor.objectId,
    'http://schemas.microsoft.com/identity/claims/tenantid': actor.tenantId,
    'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier': actor.objectId,
    uti: randomUUID().replace(/-/g, '').slice(0, 22),
    ver: '1.0',
  };
  if (actor.upn) {
    claims.name = actor.name;
    claims['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn'] = actor.upn;
    claims['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name'] = actor.upn;
    claims['http://schemas.microsoft.com/identity/claims/scope'] = 'user_impersonation';
    claims['http://schemas.microsoft.com/claims/authnmethodsreferences'] = 'pwd';
  }
  if (actor.appId) {
    claims.appid = actor.appId;
    claims.appidacr = actor.upn ? '0' : '2';
  }
  if (!actor.upn) claims.idtyp = 'app';
  return claims;
}

/** `Microsoft.Authorization/roleAssignments/delete` -> `Microsoft.Authorization`. */
function providerOf(operationName: string): string {
  return operationName.split('/')[0] ?? operationName;
}

/** A Microsoft.Resources.* event for one topic (the subscription or resource group the event subscription watches). */
export function resourceEvent(n: ChangeNotice, topic: string, now = new Date()): EventGridEvent {
  return {
    subject: n.resourceUri,
    eventType: RESOURCE_EVENT_TYPE[n.kind],
    eventTime: now.toISOString(),
    id: randomUUID(),
    data: {
      authorization: {
        scope: n.resourceUri,
        action: n.operationName,
        evidence: {
          role: 'Subscription Admin',
          principalId: n.actor.objectId,
          principalType: n.actor.upn ? 'User' : 'ServicePrincipal',
        },
      },
      claims: claimsOf(n.actor, now),
      correlationId: n.correlationId,
      httpRequest: {
        clientRequestId: randomUUID(),
        clientIpAddress: '127.0.0.1',
        method: n.httpMethod,
        url: n.requestUrl,
      },
      resourceProvider: providerOf(n.operationName),
      resourceUri: n.resourceUri,
      operationName: n.operationName,
      status: 'Succeeded',
      subscriptionId: n.subscriptionId,
      tenantId: n.tenantId,
    },
    dataVersion: '2',
    metadataVersion: '1',
    topic,
  };
}

/** A Microsoft.KeyVault.* event; the topic is the vault's ARM ID. */
export function keyVaultEvent(n: KeyVaultNotice, now = new Date()): EventGridEvent {
  const vaultUri = `https://${n.vaultName}.vault.azure.net/`;
  const isVault = n.type === 'VaultAccessPolicyChanged';
  const objectName = isVault ? n.vaultName : (n.objectName ?? '');
  const id = isVault ? vaultUri : `${vaultUri}keys/${objectName}${n.version ? `/${n.version}` : ''}`;
  return {
    id: randomUUID(),
    topic: n.vaultId,
    subject: objectName,
    eventType: `Microsoft.KeyVault.${n.type}`,
    eventTime: now.toISOString(),
    data: {
      Id: id,
      VaultName: n.vaultName,
      ObjectType: isVault ? 'Vault' : 'Key',
      ObjectName: objectName,
      Version: n.version ?? null,
      // The SDK models type NBF/EXP as numbers (unix seconds); the docs sample shows strings.
      NBF: n.nbf ?? null,
      EXP: n.exp ?? null,
    },
    dataVersion: '1',
    metadataVersion: '1',
  };
}

/** CloudEvents 1.0 mapping of an Event Grid event (topic -> source, eventType -> type, eventTime -> time). */
export function toCloudEvent(e: EventGridEvent): CloudEvent {
  return {
    id: e.id,
    source: e.topic,
    subject: e.subject,
    type: e.eventType,
    time: e.eventTime,
    data: e.data,
    specversion: '1.0',
  };
}

export function validationEvent(topic: string, validationCode: string, validationUrl: string): EventGridEvent {
  return {
    id: randomUUID(),
    topic,
    subject: '',
    data: { validationCode, validationUrl },
    eventType: 'Microsoft.EventGrid.SubscriptionValidationEvent',
    eventTime: new Date().toISOString(),
    metadataVersion: '1',
    dataVersion: '1',
  };
}

// ---- filters ---------------------------------------------------------------------------------

export interface AdvancedFilter {
  operatorType: string;
  key: string;
  value?: unknown;
  values?: unknown[];
}

export interface SubscriptionFilter {
  includedEventTypes?: string[] | null;
  subjectBeginsWith?: string;
  subjectEndsWith?: string;
  isSubjectCaseSensitive?: boolean;
  advancedFilters?: AdvancedFilter[];
  enableAdvancedFilteringOnArrays?: boolean;
}

export const STRING_OPERATORS = [
  'StringIn',
  'StringNotIn',
  'StringBeginsWith',
  'StringNotBeginsWith',
  'StringEndsWith',
  'StringNotEndsWith',
  'StringContains',
  'StringNotContains',
] as const;
export const NUMBER_OPERATORS = [
  'NumberIn',
  'NumberNotIn',
  'NumberLessThan',
  'NumberGreaterThan',
  'NumberLessThanOrEquals',
  'NumberGreaterThanOrEquals',
] as const;
export const OTHER_OPERATORS = ['BoolEquals', 'IsNullOrUndefined', 'IsNotNull'] as const;
export const ALL_OPERATORS: readonly string[] = [...STRING_OPERATORS, ...NUMBER_OPERATORS, ...OTHER_OPERATORS];

/** The field an advanced filter's key names, in the schema the subscription delivers. */
function lookup(e: EventGridEvent, schema: DeliverySchema, key: string): unknown {
  const envelope: Record<string, unknown> =
    schema === 'CloudEventSchemaV1_0' ? (toCloudEvent(e) as Record<string, unknown>) : { ...e };
  let cur: unknown = envelope;
  for (const part of key.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    const obj = cur as Record<string, unknown>;
    // Event Grid matches keys case-insensitively.
    const found = Object.keys(obj).find((k) => k.toLowerCase() === part.toLowerCase());
    cur = found === undefined ? undefined : obj[found];
  }
  return cur;
}

function stringTest(op: string, actual: string, values: string[]): boolean {
  const a = actual.toLowerCase();
  const vs = values.map((v) => v.toLowerCase());
  switch (op) {
    case 'StringIn':
      return vs.includes(a);
    case 'StringNotIn':
      return !vs.includes(a);
    case 'StringBeginsWith':
      return vs.some((v) => a.startsWith(v));
    case 'StringNotBeginsWith':
      return !vs.some((v) => a.startsWith(v));
    case 'StringEndsWith':
      return vs.some((v) => a.endsWith(v));
    case 'StringNotEndsWith':
      return !vs.some((v) => a.endsWith(v));
    case 'StringContains':
      return vs.some((v) => a.includes(v));
    case 'StringNotContains':
      return !vs.some((v) => a.includes(v));
    default:
      return false;
  }
}

function numberTest(op: string, actual: number, f: AdvancedFilter): boolean {
  const values = (f.values ?? []).map(Number);
  const value = Number(f.value);
  switch (op) {
    case 'NumberIn':
      return values.includes(actual);
    case 'NumberNotIn':
      return !values.includes(actual);
    case 'NumberLessThan':
      return actual < value;
    case 'NumberGreaterThan':
      return actual > value;
    case 'NumberLessThanOrEquals':
      return actual <= value;
    case 'NumberGreaterThanOrEquals':
      return actual >= value;
    default:
      return false;
  }
}

function advancedMatches(e: EventGridEvent, schema: DeliverySchema, f: AdvancedFilter, onArrays: boolean): boolean {
  const raw = lookup(e, schema, f.key);
  if (f.operatorType === 'IsNullOrUndefined') return raw === null || raw === undefined;
  if (f.operatorType === 'IsNotNull') return raw !== null && raw !== undefined;
  const negative = /Not/.test(f.operatorType);
  const candidates = Array.isArray(raw) ? (onArrays ? raw : []) : [raw];
  if (raw === undefined || raw === null || candidates.length === 0) {
    // A missing key fails positive operators and passes negative ones (Event Grid's documented rule).
    return negative;
  }
  const test = (v: unknown): boolean => {
    if ((STRING_OPERATORS as readonly string[]).includes(f.operatorType)) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return negative;
      return stringTest(f.operatorType, String(v), (f.values ?? []).map(String));
    }
    if ((NUMBER_OPERATORS as readonly string[]).includes(f.operatorType)) {
      const n = typeof v === 'number' ? v : Number(v);
      if (Number.isNaN(n)) return negative;
      return numberTest(f.operatorType, n, f);
    }
    if (f.operatorType === 'BoolEquals') return v === f.value;
    return false;
  };
  return negative ? candidates.every(test) : candidates.some(test);
}

/** Does an event pass a subscription's filter? All parts must hold (Event Grid ANDs them). */
export function filterMatches(e: EventGridEvent, schema: DeliverySchema, f: SubscriptionFilter | undefined): boolean {
  if (!f) return true;
  if (f.includedEventTypes && f.includedEventTypes.length > 0) {
    const t = e.eventType.toLowerCase();
    if (!f.includedEventTypes.some((x) => x.toLowerCase() === t)) return false;
  }
  const cs = f.isSubjectCaseSensitive === true;
  const subject = cs ? e.subject : e.subject.toLowerCase();
  if (f.subjectBeginsWith && !subject.startsWith(cs ? f.subjectBeginsWith : f.subjectBeginsWith.toLowerCase())) {
    return false;
  }
  if (f.subjectEndsWith && !subject.endsWith(cs ? f.subjectEndsWith : f.subjectEndsWith.toLowerCase())) {
    return false;
  }
  for (const af of f.advancedFilters ?? []) {
    if (!advancedMatches(e, schema, af, f.enableAdvancedFilteringOnArrays === true)) return false;
  }
  return true;
}

/** ARM IDs compare case-insensitively and by whole path segment. */
export function isUnderScope(resourceId: string, scope: string): boolean {
  const r = resourceId.toLowerCase().replace(/\/+$/, '');
  const s = scope.toLowerCase().replace(/\/+$/, '');
  return r === s || r.startsWith(`${s}/`);
}
