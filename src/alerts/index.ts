// Alert sinks: an Event Grid custom topic (CloudEvents 1.0 via EventGridPublisherClient) and a generic webhook
// (JSON with a one-line `text` that Teams and Slack incoming webhooks display as is). The reconcile loop decides
// *when* to alert (on transitions); sinks only deliver.
import { AzureKeyCredential, EventGridPublisherClient } from '@azure/eventgrid';
import type { TokenCredential } from '@azure/core-auth';
import { Agent } from 'undici';
import { classifyError, type ClassifiedError } from '../azure/errors.js';
import { recordAlert } from '../observability/telemetry.js';

export const ALERT_TYPES = {
  AccessDrifted: 'AtlasEarGuard.AccessDrifted',
  AccessRestored: 'AtlasEarGuard.AccessRestored',
  RestoreFailed: 'AtlasEarGuard.RestoreFailed',
  RevokedByIntent: 'AtlasEarGuard.RevokedByIntent',
  CheckFailing: 'AtlasEarGuard.CheckFailing',
  /** Atlas names a principal other than the pinned (or first-seen) Atlas service principal: nothing was granted. */
  PrincipalMismatch: 'AtlasEarGuard.PrincipalMismatch',
  /** Azure access is intact but Atlas has not reported the key valid within EAR_GUARD_ATLAS_CONFIRM_MINUTES. */
  AtlasStillInvalid: 'AtlasEarGuard.AtlasStillInvalid',
} as const;
export type AlertType = (typeof ALERT_TYPES)[keyof typeof ALERT_TYPES];

export interface Alert {
  type: AlertType;
  severity: 'info' | 'warning' | 'critical';
  projectId: string;
  vaultId?: string;
  keyName?: string;
  principalId?: string;
  /** Required permissions missing when the alert was raised. */
  missing: string[];
  /** Who made the change, when the triggering event named them. */
  changedBy?: string;
  /** What the product did (or did not do, and why). */
  action: string;
  reason?: string;
  flags: string[];
  trigger?: string;
  eventId?: string;
  correlationId?: string;
  at: string;
}

export interface AlertSink {
  readonly name: string;
  send(alert: Alert): Promise<void>;
}

export interface PublishResult {
  sent: string[];
  failed: { sink: string; error: ClassifiedError }[];
}

/** One human line: what happened, where, to whom, what is missing, who changed it, what was done. */
export function alertText(a: Alert): string {
  const vault = a.vaultId ? a.vaultId.split('/').pop() : undefined;
  const parts = [
    `[${a.severity.toUpperCase()}] ${a.type.replace('AtlasEarGuard.', '')}: Atlas project ${a.projectId}`,
    vault ? `vault ${vault}${a.keyName ? `, key ${a.keyName}` : ''}` : undefined,
    a.principalId ? `principal ${a.principalId}` : undefined,
    a.missing.length ? `missing ${a.missing.join(', ')}` : undefined,
    a.changedBy ? `changed by ${a.changedBy}` : undefined,
    a.flags.length ? `flags ${a.flags.join(', ')}` : undefined,
    `action: ${a.action}`,
    a.reason ? `reason: ${a.reason}` : undefined,
  ];
  return parts.filter(Boolean).join(' | ');
}

export interface EventGridSinkOptions {
  endpoint: string;
  /** Topic access key (`aeg-sas-key`) or a token credential (managed identity). */
  key?: string;
  credential?: TokenCredential;
  /** Extra CA to trust (the sandbox's). */
  ca?: string;
  source?: string;
}

export class EventGridSink implements AlertSink {
  readonly name = 'eventgrid';
  private readonly client: EventGridPublisherClient<'CloudEvent'>;
  private readonly source: string;

  constructor(opts: EventGridSinkOptions) {
    const cred = opts.key ? new AzureKeyCredential(opts.key) : opts.credential;
    if (!cred)
      throw new Error('ALERT_EVENTGRID_KEY: a topic key or a managed identity is required for Event Grid alerts');
    this.client = new EventGridPublisherClient(opts.endpoint, 'CloudEvent', cred, {
      ...(opts.ca ? { tlsOptions: { ca: opts.ca } } : {}),
    } as ConstructorParameters<typeof EventGridPublisherClient>[3]);
    this.source = opts.source ?? '/atlas-ear-guard';
  }

  async send(alert: Alert): Promise<void> {
    await this.client.send([
      {
        type: alert.type,
        source: this.source,
        subject: `/projects/${alert.projectId}`,
        time: new Date(alert.at),
        datacontenttype: 'application/json',
        data: { ...alert, text: alertText(alert) },
      },
    ]);
  }
}

export interface WebhookSinkOptions {
  url: string;
  ca?: string;
  timeoutMs?: number;
}

export class WebhookSink implements AlertSink {
  readonly name = 'webhook';
  private readonly dispatcher?: Agent;

  constructor(private readonly opts: WebhookSinkOptions) {
    if (opts.ca) this.dispatcher = new Agent({ connect: { ca: opts.ca } });
  }

  async send(alert: Alert): Promise<void> {
    const res = await fetch(this.opts.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: alertText(alert), ...alert }),
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
    } as RequestInit);
    await res.body?.cancel().catch(() => undefined);
    if (!res.ok) {
      throw Object.assign(new Error(`webhook answered ${res.status}`), { statusCode: res.status });
    }
  }
}

/** Fans an alert out to every sink; one sink failing does not stop the others, and failures are returned. */
export class AlertPublisher {
  constructor(readonly sinks: AlertSink[]) {}

  async publish(alert: Alert): Promise<PublishResult> {
    // Counted once per alert raised, whatever the sinks do (a failed delivery is in the history row).
    recordAlert(alert.type);
    const result: PublishResult = { sent: [], failed: [] };
    await Promise.all(
      this.sinks.map(async (s) => {
        try {
          await s.send(alert);
          result.sent.push(s.name);
        } catch (err) {
          result.failed.push({ sink: s.name, error: classifyError(err, 'alerts') });
        }
      }),
    );
    return result;
  }
}
