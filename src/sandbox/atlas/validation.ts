// Atlas's KMS validation, as Atlas documents it: a periodic check (every 15 minutes by default), one on a
// configuration change (the PATCH), and one on demand through the Encryption at Rest endpoint (GET). A failed
// periodic check is recorded, opens an ENCRYPTION_AT_REST_CONFIG_NO_LONGER_VALID alert delivered to the project's
// alert-config webhooks (signed: X-MMS-Signature, base64 HMAC-SHA-1 of the raw body keyed by the webhook secret)
// and shuts the project's clusters down; any validation that passes again restarts them.
//
// An on-demand check that fails is recorded but shuts nothing down: the remediator reads the EAR configuration on
// every pass (including the one that finds the drift), and a read that shut clusters down would turn every drift
// into an outage. That is this emulator's reading of Atlas's docs ("shuts down at the next check").
import { createHmac, randomBytes } from 'node:crypto';
import type { KeyAccessAnswer } from '../contract.js';

export const CONFIG_NO_LONGER_VALID = 'ENCRYPTION_AT_REST_CONFIG_NO_LONGER_VALID';

export interface ValidationRecord {
  groupId: string;
  at: string;
  trigger: 'periodic' | 'on-demand';
  valid: boolean;
  reason?: string;
  /** What the check did to the project's clusters. */
  effect?: 'shut-down' | 'restarted';
}

export interface AlertDelivery {
  groupId: string;
  url: string;
  eventTypeName: string;
  status: number | string;
}

interface WebhookConfig {
  id: string;
  enabled: boolean;
  eventTypeName: string;
  notifications: Record<string, unknown>[];
}

export interface ValidatorDeps {
  /** Projects with EAR enabled. */
  groupIds(): string[];
  check(groupId: string): KeyAccessAnswer;
  alertConfigs(groupId: string): WebhookConfig[];
  timeScale: number;
  log?: (line: string) => void;
}

/** `X-MMS-Signature`: base64 HMAC-SHA-1 of the raw body keyed by the webhook secret. */
export function mmsSignature(body: string, secret: string): string {
  return createHmac('sha1', secret).update(body).digest('base64');
}

export class AtlasValidator {
  private readonly records: ValidationRecord[] = [];
  private readonly shutDown = new Set<string>();
  private readonly deliveries: AlertDelivery[] = [];
  private timer: NodeJS.Timeout | undefined;
  private intervalMs: number;

  constructor(
    private readonly deps: ValidatorDeps,
    intervalMs = 15 * 60_000,
  ) {
    this.intervalMs = intervalMs;
    this.schedule();
  }

  /** Sets the interval (sandbox ms; 0 stops the periodic check) and restarts the cycle from now. */
  setInterval(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) throw new Error('validation interval: expected a non-negative number of ms');
    this.intervalMs = ms;
    this.schedule();
    return ms;
  }

  private schedule(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.intervalMs <= 0) return;
    const real = Math.max(5, Math.round(this.intervalMs * this.deps.timeScale));
    this.timer = setInterval(() => void this.runPeriodic().catch(() => undefined), real);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The periodic check, for one project or every project with EAR enabled. */
  async runPeriodic(groupId?: string): Promise<ValidationRecord[]> {
    const ids = groupId ? [groupId] : this.deps.groupIds();
    const out: ValidationRecord[] = [];
    for (const id of ids) out.push(await this.validate(id, 'periodic'));
    return out;
  }

  /** The documented on-demand check (GET encryptionAtRest): Atlas's answer now; a pass restarts clusters. */
  onDemand(groupId: string): KeyAccessAnswer {
    const answer = this.deps.check(groupId);
    this.record(groupId, 'on-demand', answer);
    return answer;
  }

  private record(groupId: string, trigger: ValidationRecord['trigger'], a: KeyAccessAnswer): ValidationRecord {
    const r: ValidationRecord = { groupId, at: new Date().toISOString(), trigger, valid: a.valid };
    if (a.reason) r.reason = a.reason;
    if (a.valid && this.shutDown.delete(groupId)) r.effect = 'restarted';
    if (!a.valid && trigger === 'periodic' && !this.shutDown.has(groupId)) {
      this.shutDown.add(groupId);
      r.effect = 'shut-down';
    }
    this.records.push(r);
    if (this.records.length > 10_000) this.records.splice(0, this.records.length - 10_000);
    return r;
  }

  private async validate(groupId: string, trigger: ValidationRecord['trigger']): Promise<ValidationRecord> {
    const r = this.record(groupId, trigger, this.deps.check(groupId));
    if (r.effect === 'shut-down') await this.deliver(groupId, r);
    return r;
  }

  /** Sends the open alert to every enabled webhook of a matching alert configuration. */
  private async deliver(groupId: string, r: ValidationRecord): Promise<void> {
    const configs = this.deps
      .alertConfigs(groupId)
      .filter((c) => c.enabled && c.eventTypeName === CONFIG_NO_LONGER_VALID);
    for (const c of configs) {
      for (const n of c.notifications) {
        if (n.typeName !== 'WEBHOOK' || typeof n.webhookUrl !== 'string') continue;
        const body = JSON.stringify({
          id: randomBytes(12).toString('hex'),
          alertConfigId: c.id,
          groupId,
          eventTypeName: CONFIG_NO_LONGER_VALID,
          status: 'OPEN',
          created: r.at,
          updated: r.at,
          ...(r.reason ? { humanReadable: `Encryption at rest configuration is no longer valid: ${r.reason}` } : {}),
        });
        const headers: Record<string, string> = { 'content-type': 'application/json', 'x-mms-event': 'alert.open' };
        if (typeof n.webhookSecret === 'string') headers['x-mms-signature'] = mmsSignature(body, n.webhookSecret);
        const status = await fetch(n.webhookUrl, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) })
          .then((res) => res.status)
          .catch((e: unknown) => String(e));
        this.deliveries.push({ groupId, url: n.webhookUrl, eventTypeName: CONFIG_NO_LONGER_VALID, status });
        this.deps.log?.(`atlas alert ${CONFIG_NO_LONGER_VALID} for ${groupId} -> ${n.webhookUrl}: ${status}`);
      }
    }
  }

  list(p: { groupId?: string; failedOnly?: boolean } = {}): ValidationRecord[] {
    return this.records
      .filter((r) => !p.groupId || r.groupId === p.groupId)
      .filter((r) => !p.failedOnly || (r.trigger === 'periodic' && !r.valid))
      .map((r) => ({ ...r }));
  }

  isShutDown(groupId: string): boolean {
    return this.shutDown.has(groupId);
  }

  alertDeliveries(): AlertDelivery[] {
    return this.deliveries.map((d) => ({ ...d }));
  }
}
