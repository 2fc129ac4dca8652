// Alert configurations (GroupAlertsConfig) as the emulated Atlas stores and answers them: created through
// `POST /groups/{groupId}/alertConfigs`, webhook secrets kept for signing but answered redacted.
import { atlasDate, isObject, objectId, validationError } from './http.js';
import { BASE, type AtlasProjects } from './projects.js';
import type { AlertConfigState, ProjectState } from './types.js';

/** Atlas shows a webhook URL partially redacted (spec example `https://webhook.com/****`) and the secret fully. */
function redactNotification(n: Record<string, unknown>): Record<string, unknown> {
  const out = { ...n };
  if (typeof out.webhookUrl === 'string') {
    let origin = '';
    try {
      origin = new URL(out.webhookUrl).origin;
    } catch {
      // stored as given
    }
    out.webhookUrl = `${origin}/****`;
  }
  if (typeof out.webhookSecret === 'string') out.webhookSecret = '*'.repeat(8);
  return out;
}

export function alertConfigView(baseUrl: string, c: AlertConfigState): Record<string, unknown> {
  return {
    created: c.created,
    enabled: c.enabled,
    eventTypeName: c.eventTypeName,
    groupId: c.groupId,
    id: c.id,
    links: [{ href: `${baseUrl}${BASE}/groups/${c.groupId}/alertConfigs/${c.id}`, rel: 'self' }],
    matchers: c.matchers,
    notifications: c.notifications.map(redactNotification),
    updated: c.updated,
  };
}

function checkWebhook(n: Record<string, unknown>, at: string): void {
  if (typeof n.webhookUrl !== 'string' || !/^https?:\/\//.test(n.webhookUrl)) {
    throw validationError(`${at}.webhookUrl`, 'an http(s) URL', n.webhookUrl);
  }
  if (n.webhookSecret !== undefined && typeof n.webhookSecret !== 'string') {
    throw validationError(`${at}.webhookSecret`, 'a string', n.webhookSecret);
  }
}

function checkNotification(n: unknown, i: number): Record<string, unknown> {
  const at = `notifications[${i}]`;
  if (!isObject(n)) throw validationError(at, 'an object', n);
  if (typeof n.typeName !== 'string' || !n.typeName) throw validationError(`${at}.typeName`, 'a string', n.typeName);
  if (n.typeName === 'WEBHOOK') checkWebhook(n, at);
  for (const k of ['intervalMin', 'delayMin'] as const) {
    if (n[k] !== undefined && (!Number.isInteger(n[k]) || (n[k] as number) < (k === 'intervalMin' ? 5 : 0))) {
      throw validationError(`${at}.${k}`, k === 'intervalMin' ? 'an integer of at least 5' : 'an integer', n[k]);
    }
  }
  return { ...n };
}

/** The body's own faults, field by field; the notifications checked and copied. */
function checkAlertConfigBody(body: Record<string, unknown>): {
  eventTypeName: string;
  notifications: Record<string, unknown>[];
} {
  if (typeof body.eventTypeName !== 'string' || !body.eventTypeName) {
    throw validationError('eventTypeName', 'an event type name', body.eventTypeName);
  }
  const notes = body.notifications;
  if (!Array.isArray(notes) || notes.length < 1 || notes.length > 25) {
    throw validationError('notifications', 'an array of 1 to 25 notifications', notes);
  }
  if (body.enabled !== undefined && typeof body.enabled !== 'boolean') {
    throw validationError('enabled', 'true or false', body.enabled);
  }
  return { eventTypeName: body.eventTypeName, notifications: notes.map(checkNotification) };
}

export function createAlertConfig(
  store: AtlasProjects,
  baseUrl: string,
  p: ProjectState,
  body: Record<string, unknown>,
): Record<string, unknown> {
  const { eventTypeName, notifications } = checkAlertConfigBody(body);
  const now = atlasDate();
  const c: AlertConfigState = {
    id: objectId(),
    groupId: p.id,
    created: now,
    updated: now,
    enabled: body.enabled === true,
    eventTypeName,
    matchers: Array.isArray(body.matchers) ? body.matchers : [],
    notifications,
  };
  store.alertConfigs.set(p.id, [...(store.alertConfigs.get(p.id) ?? []), c]);
  return alertConfigView(baseUrl, c);
}
