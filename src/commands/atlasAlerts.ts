// `ear-guard atlas-alerts install --project <id> | --all [--url <webhook>] [--dry-run]`: Atlas's own alerts on
// the encryption-at-rest events, delivered to the app's POST /api/atlas/alerts and signed with ATLAS_WEBHOOK_SECRET.
// Idempotent: the project's alert configurations are listed first and an event type that already notifies this
// webhook is left alone (Atlas answers webhook URLs partially redacted, so "this webhook" means a WEBHOOK
// notification whose visible part agrees with --url). Needs Project Alerts Manager (or Owner) per the Atlas spec.
import type { AtlasAlertConfig, AtlasClient } from '../atlas/client.js';
import { mapLimit } from '../shared/concurrency.js';
import { connect } from './cli/connect.js';
import { EXIT, explainServiceError, runGuarded, usageError, worstExit } from './cli/errors.js';
import { defaultIo, type CliIo } from './cli/io.js';
import { COMMON_HELP, flag, parseOptions, requireGroupId, str } from './cli/options.js';
import { table, writeJson } from './cli/output.js';

/** The Atlas alert event types that say a project's encryption at rest is failing or about to. */
export const EAR_ALERT_EVENT_TYPES = [
  'ENCRYPTION_AT_REST_CONFIG_NO_LONGER_VALID',
  'ENCRYPTION_AT_REST_KMS_NETWORK_ACCESS_DENIED',
  'AZURE_ENCRYPTION_KEY_INVALID',
  'AZURE_ENCRYPTION_KEY_NEEDS_ROTATION',
] as const;

export const ATLAS_ALERTS_HELP = `Usage: ear-guard atlas-alerts install (--project <groupId> | --all) [--url <webhook>] [--dry-run] [--json]

Creates Atlas alert configurations for ${EAR_ALERT_EVENT_TYPES.join(', ')}
that notify the app's webhook (POST /api/atlas/alerts), signed with ATLAS_WEBHOOK_SECRET (X-MMS-Signature).
Running it again creates nothing new: an event type that already notifies this webhook is left alone.

  --project <groupId>  one project (repeatable)
  --all                every project the Atlas credential can see
  --url <webhook>      the function URL with its key, e.g.
                       https://<app>.azurewebsites.net/api/atlas/alerts?code=<function key>
                       (default: EAR_GUARD_ATLAS_ALERTS_URL)
  --dry-run            list what would be created; write nothing

Atlas role: Project Alerts Manager or Project Owner (createAlertConfig); listing needs Project Read Only.
${COMMON_HELP}`;

export interface AlertInstallRow {
  projectId: string;
  eventTypeName: string;
  action: 'exists' | 'created' | 'would-create' | 'failed';
  alertConfigId?: string;
  error?: string;
}

/** Does a listed (possibly redacted, e.g. `https://host/****`) webhook URL agree with `url`? */
export function webhookMatches(shown: string | undefined, url: string): boolean {
  if (!shown) return false;
  const star = shown.indexOf('*');
  return star < 0 ? shown === url : url.startsWith(shown.slice(0, star));
}

function notifiesWebhook(c: AtlasAlertConfig, url: string): boolean {
  return c.notifications.some((n) => n.typeName === 'WEBHOOK' && webhookMatches(n.webhookUrl, url));
}

/** The alert configurations to create: one per event type, enabled, notifying the webhook with the secret. */
export function alertConfigFor(eventTypeName: string, url: string, secret: string): AtlasAlertConfig {
  return {
    eventTypeName,
    enabled: true,
    matchers: [],
    notifications: [{ typeName: 'WEBHOOK', webhookUrl: url, webhookSecret: secret, delayMin: 0, intervalMin: 15 }],
  };
}

export async function installProjectAlerts(
  client: AtlasClient,
  projectId: string,
  p: { url: string; secret: string; dryRun: boolean },
): Promise<AlertInstallRow[]> {
  const existing = await client.listAlertConfigs(projectId);
  const rows: AlertInstallRow[] = [];
  for (const eventTypeName of EAR_ALERT_EVENT_TYPES) {
    const found = existing.find((c) => c.eventTypeName === eventTypeName && notifiesWebhook(c, p.url));
    if (found) {
      rows.push({ projectId, eventTypeName, action: 'exists', ...(found.id ? { alertConfigId: found.id } : {}) });
    } else if (p.dryRun) {
      rows.push({ projectId, eventTypeName, action: 'would-create' });
    } else {
      const made = await client.createAlertConfig(projectId, alertConfigFor(eventTypeName, p.url, p.secret));
      rows.push({ projectId, eventTypeName, action: 'created', ...(made.id ? { alertConfigId: made.id } : {}) });
    }
  }
  return rows;
}

function webhookUrl(v: string | undefined): string {
  if (!v) {
    throw usageError(
      '--url is required (or EAR_GUARD_ATLAS_ALERTS_URL): the app webhook, https://<app>.azurewebsites.net/api/atlas/alerts?code=<function key>',
    );
  }
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw usageError(`--url '${v.replace(/([?&]code=)[^&]*/i, '$1********')}' is not a URL`);
  }
  if (u.protocol !== 'https:' && u.hostname !== 'localhost') {
    throw usageError('--url must be https (Atlas sends the signed alert and the function key in it)');
  }
  return u.toString();
}

export async function runAtlasAlerts(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  return runGuarded('atlas-alerts', io, async () => {
    const { values, positionals } = parseOptions(
      'atlas-alerts',
      argv,
      {
        project: { type: 'string', multiple: true },
        all: { type: 'boolean' },
        url: { type: 'string' },
        'dry-run': { type: 'boolean' },
      },
      ATLAS_ALERTS_HELP,
      true,
    );
    if (flag(values, 'help')) {
      io.stdout.write(ATLAS_ALERTS_HELP);
      return EXIT.ok;
    }
    if (positionals[0] !== 'install' || positionals.length !== 1) {
      throw usageError("expected 'ear-guard atlas-alerts install'. Run 'ear-guard atlas-alerts --help' for usage.");
    }
    const projects = ((values.project as string[] | undefined) ?? []).map((p) => requireGroupId(p, '--project'));
    if (flag(values, 'all') === projects.length > 0) throw usageError('give either --project <groupId> or --all');
    const url = webhookUrl(str(values, 'url') ?? (io.env ?? process.env).EAR_GUARD_ATLAS_ALERTS_URL);
    const conn = await connect(values, io, { cloud: true, state: 'none' });
    try {
      const secret = conn.settings.ATLAS_WEBHOOK_SECRET;
      if (!secret) {
        throw usageError(
          'ATLAS_WEBHOOK_SECRET is required: the secret Atlas signs alerts with, the same the app checks',
        );
      }
      const client = conn.atlasClient!;
      const ids = projects.length ? projects : (await client.listGroups()).map((g) => g.id);
      const dryRun = flag(values, 'dry-run');
      const perProject = await mapLimit(ids, 4, (id) =>
        installProjectAlerts(client, id, { url, secret, dryRun }).catch((e): AlertInstallRow[] => [
          { projectId: id, eventTypeName: '*', action: 'failed', error: explainServiceError(e, 'atlas').message },
        ]),
      );
      const rows = perProject.flat();
      if (flag(values, 'json')) writeJson(io, { url: url.replace(/([?&]code=)[^&]*/i, '$1********'), rows });
      else {
        io.stdout.write(
          table(
            ['PROJECT', 'EVENT TYPE', 'ACTION', 'ALERT CONFIG'],
            rows.map((r) => [r.projectId, r.eventTypeName, r.action, r.alertConfigId ?? r.error]),
          ),
        );
      }
      return worstExit(rows.map((r) => (r.action === 'failed' ? EXIT.unreachable : EXIT.ok)));
    } finally {
      await conn.close();
    }
  });
}
