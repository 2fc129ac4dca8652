// What a command is given: its options (the common ones and its own), typed readers for them, and file arguments.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { CliIo } from './io.js';
import { usageError } from './errors.js';

export const GROUP_ID = /^[0-9a-f]{24}$/i;
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type OptSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };
export type Values = Record<string, string | boolean | string[] | undefined>;

/** Options every command accepts. */
export const COMMON_OPTIONS: Record<string, OptSpec> = {
  sandbox: { type: 'string' },
  config: { type: 'string' },
  storage: { type: 'string' },
  'atlas-public-key': { type: 'string' },
  'atlas-client-id': { type: 'string' },
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
  --atlas-client-id <id>  Atlas service account client ID (ATLAS_CLIENT_ID; preferred); its secret comes from
                          ATLAS_CLIENT_SECRET or the config file only, never a flag
  --atlas-public-key <k>  Atlas public API key (ATLAS_PUBLIC_KEY; legacy); the private key comes from ATLAS_PRIVATE_KEY
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

/** A file argument's text ('-' reads stdin); an unreadable file is a usage error naming it. */
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
