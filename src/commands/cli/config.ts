// The CLI's configuration: flags > environment > config file, validated by the same schema as the app's settings.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { loadSettings, SettingsError, settingsSchema, type Settings } from '../../settings.js';
import { usageError } from './errors.js';
import type { CliIo } from './io.js';
import { str, type Values } from './options.js';

const SETTING_KEYS = Object.keys(settingsSchema.shape);
const FLAG_SETTINGS: Record<string, string> = {
  'atlas-public-key': 'ATLAS_PUBLIC_KEY',
  'atlas-client-id': 'ATLAS_CLIENT_ID',
  'atlas-base-url': 'ATLAS_BASE_URL',
  storage: 'EAR_GUARD_STORAGE',
  'table-prefix': 'EAR_GUARD_TABLE_PREFIX',
  mode: 'EAR_GUARD_MODE',
};

function parseConfigJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
  } catch (e) {
    throw usageError(`config file '${file}': not valid JSON (${(e as Error).message})`);
  }
}

function configValue(file: string, k: string, v: unknown): string {
  if (!SETTING_KEYS.includes(k)) {
    throw usageError(`config file '${file}': unknown setting '${k}' (known: ${SETTING_KEYS.join(', ')})`);
  }
  if (Array.isArray(v)) return v.map(String).join(',');
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw usageError(`config file '${file}': setting '${k}' must be a string, number, boolean or array`);
}

function readConfigFile(file: string, explicit: boolean): Record<string, string> {
  if (!existsSync(file)) {
    if (explicit) throw usageError(`config file '${file}' does not exist`);
    return {};
  }
  const raw = parseConfigJson(file);
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw usageError(`config file '${file}': expected a JSON object of settings, e.g. {"ATLAS_PUBLIC_KEY": "..."}`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) out[k] = configValue(file, k, v);
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

/** Validated settings, or a usage error listing every problem and how to fix the Atlas key pair. */
export function settingsFrom(raw: Record<string, string | undefined>): Settings {
  try {
    return loadSettings(raw);
  } catch (e) {
    if (!(e instanceof SettingsError)) throw e;
    const lines = e.problems.map((p) =>
      /^ATLAS_(PUBLIC_KEY|PRIVATE_KEY|CLIENT_ID|CLIENT_SECRET)/.test(p)
        ? `${p}: set ATLAS_CLIENT_ID and ATLAS_CLIENT_SECRET (service account) or ATLAS_PUBLIC_KEY and ATLAS_PRIVATE_KEY (API key) in the environment or config file, or pass --sandbox <file>`
        : p,
    );
    throw usageError(`configuration:\n${lines.map((l) => `  - ${l}`).join('\n')}`);
  }
}
