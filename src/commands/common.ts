// Shared by the operator commands (check, preflight, migrate, sweep, status, history, intent, triage):
// option parsing, configuration (flags > environment > config file), connecting to Atlas / ARM / state (or the
// sandbox named by --sandbox / EAR_GUARD_SANDBOX), error messages that say what to do, and output helpers.
// Exit codes: 0 ok, 1 drift found or check failed, 2 usage or input error, 3 indeterminate, 4 cannot reach
// Azure/Atlas (network, credential rejected, permission denied).
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { TokenCredential } from '@azure/core-auth';
import { AtlasClient } from '../atlas/client.js';
import { AtlasAdapter, parseAtlasPrincipals, parseStaticPrincipals, type AtlasPort } from '../atlas/target.js';
import { ArmAdapter, type AzurePort } from '../azure/arm.js';
import { AzureClientFactory, defaultCredential, type RetryOptions } from '../azure/clients.js';
import { ClassifiedError, classifyError } from '../azure/errors.js';
import { DocumentError } from '../core/errors.js';
import { createEngine, EngineConfigError, policyFromSettings, type Engine } from '../engine.js';
import type { ReconcilePolicy } from '../reconcile.js';
import {
  connectSandbox,
  SandboxConnectError,
  sandboxStateSettings,
  type SandboxConnection,
} from '../sandbox/connect.js';
import { loadSettings, SettingsError, settingsSchema, type Settings } from '../settings.js';
import { StateStore } from '../state/store.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, indeterminate: 3, unreachable: 4 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface CliIo {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  /** Default process.env. */
  env?: Record<string, string | undefined>;
  /** Read when a file argument is '-'. Default process.stdin. */
  stdin?: AsyncIterable<Buffer | string>;
  /** Tests: faster retries, a credential, short polls. Never set by the real CLI. */
  tuning?: {
    armRetry?: RetryOptions;
    atlasRetry?: { maxRetries?: number; backoffMs?: number; maxRetryAfterMs?: number };
    credential?: TokenCredential;
    pollMs?: number;
  };
}

export const defaultIo = (): CliIo => ({ stdout: process.stdout, stderr: process.stderr });

/** An error the user can act on: printed as one line, never with a stack. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (msg: string) => new CliError(msg, EXIT.usage);

export const GROUP_ID = /^[0-9a-f]{24}$/i;
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// ---------------------------------------------------------------------------------------------------------------
// Options

type OptSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };
export type Values = Record<string, string | boolean | string[] | undefined>;

/** Options every command accepts. */
export const COMMON_OPTIONS: Record<string, OptSpec> = {
  sandbox: { type: 'string' },
  config: { type: 'string' },
  storage: { type: 'string' },
  'atlas-public-key': { type: 'string' },
  'atlas-base-url': { type: 'string' },
  'table-prefix': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export const COMMON_HELP = `Common options:
  --json                  machine-readable output on stdout
  --sandbox <file>        point every call at a running sandbox (the JSON 'ear-guard sandbox --out' wrote);
                          also EAR_GUARD_SANDBOX=<file>
  --config <file>         a JSON config file of settings ({"ATLAS_PUBLIC_KEY": "...", "EAR_GUARD_STORAGE": "..."});
                          default EAR_GUARD_CONFIG, else ~/.config/ear-guard/config.json when present
  --storage <conn>        state table connection (EAR_GUARD_STORAGE): a connection string or account URL
  --table-prefix <p>      state table prefix (EAR_GUARD_TABLE_PREFIX, default earguard)
  --atlas-public-key <k>  Atlas public API key (ATLAS_PUBLIC_KEY); the private key comes from ATLAS_PRIVATE_KEY
                          or the config file only, never a flag (flags show up in shell history and ps)
  --atlas-base-url <url>  Atlas Admin API base (ATLAS_BASE_URL)
  -h, --help              this text
Settings are read from flags, then the environment, then the config file. Azure credentials come from the
environment as @azure/identity reads them (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, ...), a managed
identity, or 'az login'.
Exit status: 0 ok, 1 drift found or check failed, 2 usage or input error, 3 indeterminate, 4 cannot reach
Azure/Atlas (network, credential rejected, permission denied).
`;

export function parseOptions(
  command: string,
  argv: string[],
  options: Record<string, OptSpec>,
  help: string,
  allowPositionals = false,
): { values: Values; positionals: string[] } {
  try {
    const r = parseArgs({
      args: argv,
      options: { ...COMMON_OPTIONS, ...options },
      strict: true,
      allowPositionals,
    });
    return { values: r.values as Values, positionals: r.positionals };
  } catch (e) {
    void help;
    throw usageError(`${(e as Error).message}. Run 'ear-guard ${command} --help' for usage.`);
  }
}

export function str(v: Values, name: string): string | undefined {
  const x = v[name];
  if (Array.isArray(x)) return x[x.length - 1];
  return typeof x === 'string' ? x : undefined;
}

export function list(v: Values, name: string): string[] {
  const x = v[name];
  if (Array.isArray(x)) return x;
  return typeof x === 'string' ? [x] : [];
}

export function flag(v: Values, name: string): boolean {
  return v[name] === true;
}

export function requireGroupId(id: string | undefined, what: string): string {
  if (!id) throw usageError(`${what} is required (an Atlas project ID: 24 hex characters)`);
  if (!GROUP_ID.test(id)) throw usageError(`${what} '${id}' is not an Atlas project ID (expected 24 hex characters)`);
  return id.toLowerCase();
}

export function positiveInt(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw usageError(`${name} '${v}' is not a positive integer`);
  return n;
}

/** `30s`, `15m`, `12h`, `7d`, `2w` -> milliseconds. */
export function parseDuration(v: string, name: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/i.exec(v.trim());
  if (!m) throw usageError(`${name} '${v}' is not a duration (expected e.g. 30s, 15m, 12h, 7d, 2w)`);
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
  return Math.round(Number(m[1]) * unit[m[2]!.toLowerCase()]!);
}

// ---------------------------------------------------------------------------------------------------------------
// Configuration: flags > environment > config file

const SETTING_KEYS = Object.keys(settingsSchema.shape);
const FLAG_SETTINGS: Record<string, string> = {
  'atlas-public-key': 'ATLAS_PUBLIC_KEY',
  'atlas-base-url': 'ATLAS_BASE_URL',
  storage: 'EAR_GUARD_STORAGE',
  'table-prefix': 'EAR_GUARD_TABLE_PREFIX',
  mode: 'EAR_GUARD_MODE',
};

function readConfigFile(file: string, explicit: boolean): Record<string, string> {
  if (!existsSync(file)) {
    if (explicit) throw usageError(`config file '${file}' does not exist`);
    return {};
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
  } catch (e) {
    throw usageError(`config file '${file}': not valid JSON (${(e as Error).message})`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw usageError(`config file '${file}': expected a JSON object of settings, e.g. {"ATLAS_PUBLIC_KEY": "..."}`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (!SETTING_KEYS.includes(k)) {
      throw usageError(`config file '${file}': unknown setting '${k}' (known: ${SETTING_KEYS.join(', ')})`);
    }
    if (Array.isArray(v)) out[k] = v.map(String).join(',');
    else if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
    else throw usageError(`config file '${file}': setting '${k}' must be a string, number, boolean or array`);
  }
  return out;
}

/** The raw settings (strings), merged: config file, then environment, then flags. */
export function resolveRawSettings(values: Values, io: CliIo): Record<string, string | undefined> {
  const env = io.env ?? process.env;
  const explicit = str(values, 'config') ?? env.EAR_GUARD_CONFIG;
  const xdg = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  const fileValues = readConfigFile(explicit ?? join(xdg, 'ear-guard', 'config.json'), explicit !== undefined);
  const merged: Record<string, string | undefined> = { ...fileValues };
  for (const k of SETTING_KEYS) if (env[k] !== undefined && env[k] !== '') merged[k] = env[k];
  for (const [f, k] of Object.entries(FLAG_SETTINGS)) {
    const v = str(values, f);
    if (v !== undefined) merged[k] = v;
  }
  return merged;
}

function settingsFrom(raw: Record<string, string | undefined>): Settings {
  try {
    return loadSettings(raw);
  } catch (e) {
    if (!(e instanceof SettingsError)) throw e;
    const lines = e.problems.map((p) =>
      /^ATLAS_(PUBLIC|PRIVATE)_KEY/.test(p)
        ? `${p}: set ATLAS_PUBLIC_KEY and ATLAS_PRIVATE_KEY (environment or config file; --atlas-public-key for the public half), or pass --sandbox <file>`
        : p,
    );
    throw usageError(`configuration:\n${lines.map((l) => `  - ${l}`).join('\n')}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Connecting

export interface Connected {
  settings: Settings;
  sandbox?: SandboxConnection;
  /** The raw Atlas client (migrate's POST/PATCH). */
  atlasClient?: AtlasClient;
  atlas?: AtlasPort;
  azure?: AzurePort;
  /** The project state, when a connection is configured (always, when `state: 'required'`). */
  state?: StateStore;
  /** The reconcile engine (only when asked for). */
  engine?: Engine;
  policy: ReconcilePolicy;
  close(): Promise<void>;
}

export interface ConnectNeeds {
  /** Atlas + ARM. */
  cloud: boolean;
  state: 'required' | 'optional' | 'none';
  /** Build the reconcile engine (requires state). */
  engine?: boolean;
  policy?: Partial<ReconcilePolicy>;
  /** What the state is needed for, for the error message. */
  stateFor?: string;
}

const STORAGE_MISSING = (why: string) =>
  `${why} needs the state table: set EAR_GUARD_STORAGE (a Table Storage connection string or account URL; --storage or the config file)`;

export async function connect(values: Values, io: CliIo, needs: ConnectNeeds): Promise<Connected> {
  const env = io.env ?? process.env;
  const raw = resolveRawSettings(values, io);
  const sandboxFile = str(values, 'sandbox') ?? (env.EAR_GUARD_SANDBOX || undefined);
  let sandbox: SandboxConnection | undefined;
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    if (sandboxFile && needs.cloud) {
      sandbox = await connectSandbox(sandboxFile);
      closers.push(() => sandbox!.close());
      // The sandbox accepts only its own Atlas key pair.
      raw.ATLAS_PUBLIC_KEY = sandbox.atlasPublicKey;
      raw.ATLAS_PRIVATE_KEY = sandbox.atlasPrivateKey;
      raw.ATLAS_BASE_URL = sandbox.atlasBaseUrl;
    }
    if (!needs.cloud) {
      // Commands that only read state need no Atlas key; the placeholders are never sent anywhere.
      raw.ATLAS_PUBLIC_KEY ??= 'unused';
      raw.ATLAS_PRIVATE_KEY ??= 'unused';
    }
    // The stack the sandbox file belongs to names its state table, unless one is configured.
    if (sandboxFile) Object.assign(raw, await sandboxStateSettings(sandboxFile, raw));
    const settings = settingsFrom(raw);
    const connection = settings.EAR_GUARD_STORAGE ?? settings.AzureWebJobsStorage;
    if ((needs.state === 'required' || needs.engine) && !connection) {
      throw usageError(STORAGE_MISSING(needs.stateFor ?? 'this command'));
    }
    const policy = policyFromSettings(settings, needs.policy);
    const credential = io.tuning?.credential ?? sandbox?.credential;
    const ca = sandbox?.ca;
    const out: Connected = { settings, policy, close, ...(sandbox ? { sandbox } : {}) };

    if (needs.engine) {
      const engine = await createEngine({
        settings,
        ...(sandbox ? { sandbox } : {}),
        ...(credential ? { credential } : {}),
        storageConnection: connection,
        policy: needs.policy,
        armRetry: io.tuning?.armRetry ?? { maxRetries: 3 },
        atlasRetry: io.tuning?.atlasRetry,
      }).catch((e) => {
        if (e instanceof EngineConfigError) throw usageError(e.message);
        throw stateError(e);
      });
      closers.push(() => engine.close());
      out.engine = engine;
      out.state = engine.deps.state;
      out.azure = engine.deps.azure;
      out.atlas = engine.deps.atlas;
    } else if (needs.state !== 'none' && connection) {
      const state = new StateStore({
        connection,
        prefix: settings.EAR_GUARD_TABLE_PREFIX,
        credential: /^https?:\/\//i.test(connection)
          ? (credential ?? defaultCredential(settings.AZURE_CLOUD, settings.AZURE_CLIENT_ID))
          : undefined,
      });
      await state.init().catch((e) => {
        throw stateError(e);
      });
      out.state = state;
    }
    if (needs.cloud) {
      const atlasClient = new AtlasClient({
        baseUrl: settings.ATLAS_BASE_URL,
        publicKey: settings.ATLAS_PUBLIC_KEY,
        privateKey: settings.ATLAS_PRIVATE_KEY,
        ca,
        ...(io.tuning?.atlasRetry ?? {}),
      });
      closers.push(() => atlasClient.close());
      out.atlasClient = atlasClient;
      if (!out.azure) {
        const factory = new AzureClientFactory({
          cloud: settings.AZURE_CLOUD,
          endpoint: sandbox?.armEndpoint,
          ca,
          credential,
          managedIdentityClientId: settings.AZURE_CLIENT_ID,
          retry: io.tuning?.armRetry ?? { maxRetries: 3 },
        });
        out.azure = new ArmAdapter(factory);
      }
      if (!out.atlas) {
        let staticPrincipals: Record<string, string>;
        let atlasPrincipals: Record<string, string>;
        try {
          staticPrincipals = parseStaticPrincipals(settings.EAR_GUARD_STATIC_PRINCIPALS);
          // The same pin as the app: a preflight --fix never grants a principal other than the pinned one.
          atlasPrincipals = parseAtlasPrincipals(settings.EAR_GUARD_ATLAS_PRINCIPALS ?? []);
        } catch (e) {
          throw usageError((e as Error).message);
        }
        out.atlas = new AtlasAdapter(atlasClient, { staticPrincipals, atlasPrincipals });
      }
    }
    return out;
  } catch (e) {
    await close();
    throw e;
  }
}

function stateError(e: unknown): CliError {
  if (e instanceof CliError) return e;
  const c = classifyError(e, 'state');
  return new CliError(
    `cannot use the state table (EAR_GUARD_STORAGE): ${c.describe()}`,
    c.transient || c.status === 401 || c.status === 403 ? EXIT.unreachable : EXIT.failed,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Errors: one line that says what to do

const CREDENTIAL_ERRORS = new Set([
  'CredentialUnavailableError',
  'AggregateAuthenticationError',
  'AuthenticationRequiredError',
  'AuthenticationError',
]);

function credentialProblem(err: unknown): boolean {
  for (let e = err as { name?: string; code?: string; cause?: unknown } | undefined, i = 0; e && i < 5; i++) {
    if (CREDENTIAL_ERRORS.has(e.name ?? '') || CREDENTIAL_ERRORS.has(e.code ?? '')) return true;
    e = e.cause as typeof e;
  }
  return false;
}

/** Turns any failure of an Atlas/ARM call into a message that names the fix, and its exit code. */
export function explainServiceError(err: unknown, source: 'arm' | 'atlas'): { message: string; exitCode: ExitCode } {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  if (credentialProblem(err) || (err instanceof ClassifiedError && CREDENTIAL_ERRORS.has(err.code ?? ''))) {
    return {
      message:
        'no usable Azure credential: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH) for a service principal, run `az login`, or run where a managed identity is available',
      exitCode: EXIT.unreachable,
    };
  }
  const c = classifyError(err, source);
  if (c.source === 'atlas') {
    if (c.status === 401) {
      return {
        message:
          'Atlas rejected the API key (401): check ATLAS_PUBLIC_KEY / ATLAS_PRIVATE_KEY and that this machine is on the key’s IP access list',
        exitCode: EXIT.unreachable,
      };
    }
    if (c.status === 403) {
      return {
        message: `Atlas refused the request (403${c.code ? ` ${c.code}` : ''}): the API key needs the Project Owner role on the project (encryptionAtRest and cloudProviderAccess require it)`,
        exitCode: EXIT.unreachable,
      };
    }
    if (c.status === 404 && /GROUP_NOT_FOUND|INVALID_GROUP_ID/.test(c.code ?? '')) {
      return { message: `Atlas: ${c.message}`, exitCode: EXIT.usage };
    }
  } else if (c.status === 403) {
    const m = /perform action '([^']+)' over scope '([^']+)'/i.exec(c.message);
    return {
      message: m
        ? `Azure denied the request (403 ${c.code ?? 'AuthorizationFailed'}): the caller lacks the permission '${m[1]}' on scope ${m[2]}`
        : `Azure denied the request (403 ${c.code ?? 'AuthorizationFailed'}): ${c.message}`,
      exitCode: EXIT.unreachable,
    };
  } else if (c.status === 401) {
    return {
      message: `Azure rejected the credential (401${c.code ? ` ${c.code}` : ''}): ${c.message}`,
      exitCode: EXIT.unreachable,
    };
  }
  if (c.transient) {
    return {
      message: `cannot reach ${c.source === 'atlas' ? 'Atlas' : 'Azure'}: ${c.describe()}`,
      exitCode: EXIT.unreachable,
    };
  }
  return { message: c.describe(), exitCode: EXIT.failed };
}

/** The standard wrapper: every failure becomes one line on stderr and an exit code; never a stack trace. */
export async function runGuarded(command: string, io: CliIo, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    let message: string;
    let code: ExitCode;
    if (e instanceof CliError) {
      message = e.message;
      code = e.exitCode;
    } else if (e instanceof SandboxConnectError || e instanceof DocumentError) {
      message = e.message;
      code = EXIT.usage;
    } else if (e instanceof ClassifiedError) {
      ({ message, exitCode: code } = explainServiceError(e, e.source === 'atlas' ? 'atlas' : 'arm'));
    } else {
      message = `unexpected error: ${(e as Error)?.message ?? String(e)}`;
      code = EXIT.failed;
    }
    io.stderr.write(`ear-guard ${command}: ${maskText(message)}\n`);
    return code;
  }
}

/** The worst of several exit codes, in the order a person should look at them: drift, unreachable, unsure. */
export function worstExit(codes: number[]): number {
  for (const c of [EXIT.usage, EXIT.failed, EXIT.unreachable, EXIT.indeterminate]) if (codes.includes(c)) return c;
  return EXIT.ok;
}

// ---------------------------------------------------------------------------------------------------------------
// Output

export const MASK = '********';
const SECRET_KEY = /secret|private.?key|password|token|authorization|signature|sig$|accountkey/i;

/** A deep copy with every secret-looking field masked. */
export function maskSecrets<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => maskSecrets(x)) as T;
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      out[k] = SECRET_KEY.test(k) && typeof x === 'string' && x !== '' ? MASK : maskSecrets(x);
    }
    return out as T;
  }
  return v;
}

/** Masks secrets that may hide in free text (connection-string keys, SAS signatures, digest responses). */
export function maskText(s: string): string {
  return s
    .replace(/(AccountKey=)[^;\s]+/gi, `$1${MASK}`)
    .replace(/(SharedAccessSignature=|[?&]sig=)[^;&\s]+/gi, `$1${MASK}`)
    .replace(/(response=")[^"]+/gi, `$1${MASK}`);
}

export function writeJson(io: CliIo, v: unknown): void {
  io.stdout.write(JSON.stringify(maskSecrets(v), null, 2) + '\n');
}

/** An aligned table: columns padded to the widest cell, two spaces apart. */
export function table(headers: string[], rows: (string | number | undefined)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === undefined || c === '' ? '-' : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return (
    cells
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : (c ?? '').padEnd(widths[i]!)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** A progress bar on a TTY (stderr, redrawn in place), plain lines otherwise. */
export function progress(io: CliIo, total: number, label: string) {
  const tty = io.stderr.isTTY === true;
  return {
    tick(done: number, text: string) {
      if (tty) {
        const width = 24;
        const filled = total ? Math.round((done / total) * width) : width;
        io.stderr.write(
          `\r\x1b[2K${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${text}`,
        );
      } else {
        io.stderr.write(`${label} ${done}/${total} ${text}\n`);
      }
    },
    end() {
      if (tty) io.stderr.write('\r\x1b[2K');
    },
  };
}

/** Runs `fn` over `items`, at most `limit` at once, keeping the input order in the result. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return out;
}

export async function readInput(file: string, what: string, io: CliIo): Promise<string> {
  try {
    if (file === '-') {
      let s = '';
      for await (const chunk of io.stdin ?? process.stdin)
        s += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      return s;
    }
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw usageError(`${file === '-' ? `${what} (stdin)` : file}: cannot read ${what}${code ? ` (${code})` : ''}`);
  }
}
