// App settings: read and validated once at start. A bad or missing setting stops the app with one
// message that lists every problem (field name and what was expected), before anything is touched.
import { z } from 'zod';

const csv = z
  .string()
  .optional()
  .transform((s) =>
    (s ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  );

const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const settingsSchema = z.object({
  /** Atlas programmatic API key pair (digest auth). In Azure: Key Vault references, never plain values in code. */
  ATLAS_PUBLIC_KEY: z.string().min(1, 'the Atlas public API key is required'),
  ATLAS_PRIVATE_KEY: z.string().min(1, 'the Atlas private API key is required'),
  ATLAS_BASE_URL: z.url().default('https://cloud.mongodb.com/api/atlas/v2'),
  /** Projects to watch (comma-separated 24-hex group IDs); empty = every project the key can see with Azure EAR. */
  ATLAS_PROJECT_IDS: csv.pipe(z.array(z.string().regex(/^[0-9a-f]{24}$/i, 'an Atlas project ID is 24 hex characters'))),
  /** observe: record only; alert: record and alert; remediate: also restore. */
  EAR_GUARD_MODE: z.enum(['observe', 'alert', 'remediate']).default('alert'),
  /** NCRONTAB (6 fields, seconds first), as the Functions timer trigger takes it. */
  EAR_GUARD_SWEEP_SCHEDULE: z.string().default('0 */5 * * * *'),
  /** Restore RBAC grants at the vault (default) or at the key. */
  EAR_GUARD_RESTORE_SCOPE: z.enum(['vault', 'key']).default('vault'),
  /** Object IDs (or UPNs) whose removals are deliberate revocations, not drift. */
  EAR_GUARD_ALLOWED_REVOKERS: csv,
  /** Restores allowed per project within the flapping window before the guard stops and escalates. */
  EAR_GUARD_MAX_RESTORES: z.coerce.number().int().min(1).default(3),
  /** Failed checks in a row (Atlas/ARM unreachable, throttled, denied) before a CheckFailing alert. */
  EAR_GUARD_CHECK_FAILING_AFTER: z.coerce.number().int().min(1).max(100).default(2),
  EAR_GUARD_FLAP_WINDOW_MINUTES: z.coerce.number().int().min(1).default(60),
  EAR_GUARD_DRY_RUN: z
    .enum(['true', 'false', '1', '0', ''])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
  /** Table Storage: a connection string, or an account URL used with the managed identity. */
  EAR_GUARD_STORAGE: z.string().optional(),
  AzureWebJobsStorage: z.string().optional(),
  EAR_GUARD_TABLE_PREFIX: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9]{0,40}$/, 'letters and digits, starting with a letter')
    .default('earguard'),
  /** Alerts: an Event Grid custom topic (CloudEvents 1.0) and/or a generic webhook. */
  ALERT_EVENTGRID_ENDPOINT: z.url().optional(),
  ALERT_EVENTGRID_KEY: z.string().optional(),
  ALERT_WEBHOOK_URL: z.url().optional(),
  /** User-assigned managed identity client ID (DefaultAzureCredential picks it up in Azure). */
  AZURE_CLIENT_ID: z.string().regex(guid, 'a GUID').optional(),
  /** Azure cloud: AzureCloud (default), AzureUSGovernment, AzureChinaCloud. */
  AZURE_CLOUD: z.enum(['AzureCloud', 'AzureUSGovernment', 'AzureChinaCloud']).default('AzureCloud'),
  /** Beyond this many projects the sweep fans out through a Storage Queue. */
  EAR_GUARD_FANOUT_THRESHOLD: z.coerce.number().int().min(1).default(50),
  /** Static-credential projects: the principal's object ID to watch, as `projectId=objectId,...`. */
  EAR_GUARD_STATIC_PRINCIPALS: csv,
  /**
   * The expected object ID of the Atlas service principal (app 9efedfcc-2eca-4b27-a613-0cad1e114cb7) per tenant, as
   * `tenantId=objectId,...`. A project whose Atlas registration names another principal gets nothing granted and a
   * PrincipalMismatch alert. Empty: trust on first use (the first principal seen is recorded per project and a change
   * is refused the same way). infra/main.bicep sets it from its atlasPrincipalObjectId parameter.
   */
  EAR_GUARD_ATLAS_PRINCIPALS: csv.pipe(
    z.array(
      z
        .string()
        .regex(
          new RegExp(`^${guid.source.slice(1, -1)}=${guid.source.slice(1, -1)}$`, 'i'),
          'expected tenantId=objectId (two GUIDs)',
        ),
    ),
  ),
});

export type Settings = z.infer<typeof settingsSchema>;

export class SettingsError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'SettingsError';
  }
}

/** Validates `env` (default process.env). Throws SettingsError naming every bad field; never echoes secret values. */
export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  const r = settingsSchema.safeParse(env);
  if (!r.success) {
    throw new SettingsError(r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  }
  return r.data;
}
