// App settings: read and validated once at start. A bad or missing setting stops the app with one
// message that lists every problem (field name and what was expected), before anything is touched.
// zod/mini (the functional API of the same package) because the Functions entry validates settings at load, so this
// is on the cold start: the settings chunk is a third of the size (31 KB, not 96 KB) and the bundled import about 35
// ms faster. It loads no locale by default, so English is registered here: the messages are zod's usual ones.
import * as z from 'zod/mini';
import { en } from 'zod/locales';

z.config(en());

const csv = z.pipe(
  z.optional(z.string()),
  z.transform((s: string | undefined) =>
    (s ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean),
  ),
);

const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const optionalSecret = z.pipe(
  z.optional(z.string()),
  z.transform((s: string | undefined) => (s === '' ? undefined : s)),
);

/** A number from its string form, with checks (zod's `z.coerce.number().int().min(1)`, as zod/mini writes it). */
const coercedNumber = (fallback: number, ...checks: z.core.$ZodCheck<number>[]) =>
  z._default(z.coerce.number().check(...checks), fallback);

export const settingsSchema = z.object({
  /**
   * Atlas service account (OAuth 2.0 client credentials, preferred when set) or programmatic API key pair (digest,
   * legacy). One pair is required. In Azure: Key Vault references, never plain values in code.
   */
  ATLAS_CLIENT_ID: optionalSecret,
  ATLAS_CLIENT_SECRET: optionalSecret,
  ATLAS_PUBLIC_KEY: optionalSecret,
  ATLAS_PRIVATE_KEY: optionalSecret,
  ATLAS_BASE_URL: z._default(z.url(), 'https://cloud.mongodb.com/api/atlas/v2'),
  /** The secret Atlas signs alert webhooks with (X-MMS-Signature); unset: POST /api/atlas/alerts refuses all. */
  ATLAS_WEBHOOK_SECRET: optionalSecret,
  /** Projects to watch (comma-separated 24-hex group IDs); empty = every project the key can see with Azure EAR. */
  ATLAS_PROJECT_IDS: z.pipe(
    csv,
    z.array(z.string().check(z.regex(/^[0-9a-f]{24}$/i, 'an Atlas project ID is 24 hex characters'))),
  ),
  /** observe: record only; alert: record and alert; remediate: also restore. */
  EAR_GUARD_MODE: z._default(z.enum(['observe', 'alert', 'remediate']), 'alert'),
  /** NCRONTAB (6 fields, seconds first), as the Functions timer trigger takes it. */
  EAR_GUARD_SWEEP_SCHEDULE: z._default(z.string(), '0 */5 * * * *'),
  /** Restore RBAC grants at the vault (default) or at the key. */
  EAR_GUARD_RESTORE_SCOPE: z._default(z.enum(['vault', 'key']), 'vault'),
  /**
   * `key`: with restores at the vault, also keep the data role for the pinned Atlas principal at the key, so a
   * removal of either assignment leaves one that already reached Key Vault's data plane. `off` (default): no standby.
   * No effect with EAR_GUARD_RESTORE_SCOPE=key (there is no narrower scope; nothing broader is ever granted).
   */
  EAR_GUARD_STANDBY_GRANT: z.pipe(
    z._default(z.enum(['off', 'key', ''], { error: "expected 'off' or 'key'" }), 'off'),
    z.transform((v: 'off' | 'key' | ''): 'off' | 'key' => (v === 'key' ? 'key' : 'off')),
  ),
  /** Object IDs (or UPNs) whose removals are deliberate revocations, not drift. */
  EAR_GUARD_ALLOWED_REVOKERS: csv,
  /** Restores allowed per project within the flapping window before the guard stops and escalates. */
  EAR_GUARD_MAX_RESTORES: coercedNumber(3, z.int(), z.minimum(1)),
  /** Failed checks in a row (Atlas/ARM unreachable, throttled, denied) before a CheckFailing alert. */
  EAR_GUARD_CHECK_FAILING_AFTER: coercedNumber(2, z.int(), z.minimum(1), z.maximum(100)),
  /** Days ahead a warning goes out for something that will break EAR (key or pinned version expiry, time-bound grants). */
  EAR_GUARD_WARN_DAYS: coercedNumber(30, z.int(), z.minimum(1), z.maximum(365)),
  /** How long Atlas may take to report the key valid after a restore before AtlasStillInvalid (RBAC: up to 10 min). */
  EAR_GUARD_ATLAS_CONFIRM_MINUTES: coercedNumber(15, z.positive(), z.maximum(24 * 60)),
  /** /api/health is 503 when at least this share of the last sweep's checks failed (1: only when all did). */
  EAR_GUARD_HEALTH_MAX_FAILED_SHARE: coercedNumber(1, z.gt(0), z.maximum(1)),
  EAR_GUARD_FLAP_WINDOW_MINUTES: coercedNumber(60, z.int(), z.minimum(1)),
  EAR_GUARD_DRY_RUN: z.pipe(
    z._default(z.enum(['true', 'false', '1', '0', '']), 'false'),
    z.transform((v: 'true' | 'false' | '1' | '0' | '') => v === 'true' || v === '1'),
  ),
  /** Table Storage: a connection string, or an account URL used with the managed identity. */
  EAR_GUARD_STORAGE: z.optional(z.string()),
  AzureWebJobsStorage: z.optional(z.string()),
  EAR_GUARD_TABLE_PREFIX: z._default(
    z.string().check(z.regex(/^[A-Za-z][A-Za-z0-9]{0,40}$/, 'letters and digits, starting with a letter')),
    'earguard',
  ),
  /** Alerts: an Event Grid custom topic (CloudEvents 1.0) and/or a generic webhook. */
  ALERT_EVENTGRID_ENDPOINT: z.optional(z.url()),
  ALERT_EVENTGRID_KEY: z.optional(z.string()),
  ALERT_WEBHOOK_URL: z.optional(z.url()),
  /** User-assigned managed identity client ID (DefaultAzureCredential picks it up in Azure). */
  AZURE_CLIENT_ID: z.optional(z.string().check(z.regex(guid, 'a GUID'))),
  /** Azure cloud: AzureCloud (default), AzureUSGovernment, AzureChinaCloud. */
  AZURE_CLOUD: z._default(z.enum(['AzureCloud', 'AzureUSGovernment', 'AzureChinaCloud']), 'AzureCloud'),
  /** Beyond this many projects the sweep fans out through a Storage Queue. */
  EAR_GUARD_FANOUT_THRESHOLD: coercedNumber(50, z.int(), z.minimum(1)),
  /** Static-credential projects: the principal's object ID to watch, as `projectId=objectId,...`. */
  EAR_GUARD_STATIC_PRINCIPALS: csv,
  /**
   * The expected object ID of the Atlas service principal (app 9efedfcc-2eca-4b27-a613-0cad1e114cb7) per tenant, as
   * `tenantId=objectId,...`. A project whose Atlas registration names another principal gets nothing granted and a
   * PrincipalMismatch alert. Empty: trust on first use (the first principal seen is recorded per project and a change
   * is refused the same way). infra/main.bicep sets it from its atlasPrincipalObjectId parameter.
   */
  EAR_GUARD_ATLAS_PRINCIPALS: z.pipe(
    csv,
    z.array(
      z
        .string()
        .check(
          z.regex(
            new RegExp(`^${guid.source.slice(1, -1)}=${guid.source.slice(1, -1)}$`, 'i'),
            'expected tenantId=objectId (two GUIDs)',
          ),
        ),
    ),
  ),
});

/** Which Atlas credential pair is set and complete: a service account, or an API key (one pair is required). */
export function atlasCredentialProblems(s: {
  ATLAS_CLIENT_ID?: string;
  ATLAS_CLIENT_SECRET?: string;
  ATLAS_PUBLIC_KEY?: string;
  ATLAS_PRIVATE_KEY?: string;
}): { path: string[]; message: string }[] {
  const half = (a: keyof typeof s, b: keyof typeof s, what: string) =>
    s[a] && !s[b] ? [{ path: [b as string], message: `${what}: ${a} is set, so ${b} is required too` }] : [];
  const problems = [
    ...half('ATLAS_CLIENT_ID', 'ATLAS_CLIENT_SECRET', 'the Atlas service account secret is required'),
    ...half('ATLAS_CLIENT_SECRET', 'ATLAS_CLIENT_ID', 'the Atlas service account client ID is required'),
    ...half('ATLAS_PUBLIC_KEY', 'ATLAS_PRIVATE_KEY', 'the Atlas private API key is required'),
    ...half('ATLAS_PRIVATE_KEY', 'ATLAS_PUBLIC_KEY', 'the Atlas public API key is required'),
  ];
  if (!s.ATLAS_CLIENT_ID && !s.ATLAS_CLIENT_SECRET && !s.ATLAS_PUBLIC_KEY && !s.ATLAS_PRIVATE_KEY) {
    problems.push({
      path: ['ATLAS_CLIENT_ID'],
      message:
        'an Atlas credential is required: ATLAS_CLIENT_ID and ATLAS_CLIENT_SECRET (service account, preferred) or ATLAS_PUBLIC_KEY and ATLAS_PRIVATE_KEY (API key)',
    });
  }
  return problems;
}

/** The Atlas client's credential from settings: the service account when set, else the API key. */
export function atlasCredential(
  s: Settings,
): { clientId: string; clientSecret: string } | { publicKey: string; privateKey: string } {
  return s.ATLAS_CLIENT_ID && s.ATLAS_CLIENT_SECRET
    ? { clientId: s.ATLAS_CLIENT_ID, clientSecret: s.ATLAS_CLIENT_SECRET }
    : { publicKey: s.ATLAS_PUBLIC_KEY ?? '', privateKey: s.ATLAS_PRIVATE_KEY ?? '' };
}

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
  // The credential pairs are checked beside the schema, so their problems are listed with every other one.
  const blank = (v: string | undefined) => (v ? v : undefined);
  const credential = atlasCredentialProblems({
    ATLAS_CLIENT_ID: blank(env.ATLAS_CLIENT_ID),
    ATLAS_CLIENT_SECRET: blank(env.ATLAS_CLIENT_SECRET),
    ATLAS_PUBLIC_KEY: blank(env.ATLAS_PUBLIC_KEY),
    ATLAS_PRIVATE_KEY: blank(env.ATLAS_PRIVATE_KEY),
  }).map((p) => `${p.path.join('.')}: ${p.message}`);
  const schema = r.success ? [] : r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
  if (credential.length || !r.success) throw new SettingsError([...credential, ...schema]);
  return r.data;
}
