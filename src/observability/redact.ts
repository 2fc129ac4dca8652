// The one redaction step every log line passes through (logger.ts calls `redactRecord` on the whole record
// just before it is serialized). Two kinds of secrets are caught:
// - values registered at startup (the Atlas API key pair, alert webhook URLs): replaced wherever they appear;
// - shapes that are secret whatever their value: bearer tokens and JWTs, Digest/Authorization header values,
//   `aeg-sas-key`, SAS signatures (`sig=`), connection-string `AccountKey=`/`SharedAccessKey=`, function keys
//   (`?code=`, `x-functions-key`).
// Keys of objects are judged too: `{ authorization: '...' }` is redacted whatever the value looks like.

export const REDACTED = '[REDACTED]';

/** Registered values shorter than this are ignored: redacting 3-letter strings would garble every line. */
const MIN_SECRET_LENGTH = 6;

const registered = new Set<string>();
let registeredPattern: RegExp | undefined;

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Registers secret values (e.g. ATLAS_PRIVATE_KEY, ATLAS_PUBLIC_KEY) so that they never appear in a log line,
 * also in URL-encoded form. Empty/short values are ignored. Idempotent.
 */
export function registerSecrets(...values: (string | undefined | null)[]): void {
  let changed = false;
  for (const v of values) {
    if (typeof v !== 'string' || v.length < MIN_SECRET_LENGTH) continue;
    for (const form of new Set([v, encodeURIComponent(v)])) {
      if (!registered.has(form)) {
        registered.add(form);
        changed = true;
      }
    }
  }
  if (changed) {
    // Longest first, so a secret that contains another is replaced whole.
    const alternatives = [...registered].sort((a, b) => b.length - a.length).map(escapeRegExp);
    registeredPattern = new RegExp(alternatives.join('|'), 'g');
  }
}

/** For tests: forgets every registered secret. */
export function clearRegisteredSecrets(): void {
  registered.clear();
  registeredPattern = undefined;
}

// Order matters: Digest/Bearer values first (they contain commas and quotes), then header forms. `$M` is the mask.
const PATTERNS: [RegExp, string][] = [
  // Authorization: Digest username="..", realm="..", nonce="..", response=".." (quoted or bare params)
  [/\bDigest\s+[A-Za-z0-9_-]+=(?:"[^"]*"|[^\s,"]*)(?:\s*,\s*[A-Za-z0-9_-]+=(?:"[^"]*"|[^\s,"]*))*/gi, 'Digest $M'],
  [/\bBearer\s+[A-Za-z0-9._~+/=-]+/gi, 'Bearer $M'],
  [/\bBasic\s+[A-Za-z0-9+/=]{8,}/g, 'Basic $M'],
  // JWTs without a scheme in front (access tokens pasted into messages).
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, '$M'],
  // Header or key=value forms: `Authorization: x`, `aeg-sas-key=x`, `"x-functions-key":"x"`.
  [
    /\b(authorization|proxy-authorization|www-authenticate|aeg-sas-key|aeg-sas-token|x-functions-key|ocp-apim-subscription-key)(["']?\s*[:=]\s*["']?)[^"'\r\n]+/gi,
    '$1$2$M',
  ],
  // SAS tokens: the signature is the secret part.
  [/([?&;\s"']|^)sig=[^&\s"';]+/gi, '$1sig=$M'],
  // Storage / Event Grid / Service Bus connection strings.
  [/\b(AccountKey|SharedAccessKey|SharedAccessSignature|ClientSecret)=[^;"'\s]+/gi, '$1=$M'],
  // Functions keys in URLs (`?code=...`); prose like "error code=404" is left alone.
  [/([?&])code=[^&\s"'#]+/gi, '$1code=$M'],
];

/** Object keys whose values are secret whatever they look like: exact names, then names that contain a secret. */
const SECRET_KEYS =
  /^(authorization|proxy-authorization|x-functions-key|aeg-sas-key|aeg-sas-token|password|passwd|secret|client_?secret|private_?key|atlas_private_key|privateapikey|api_?key|account_?key|shared_?access_?key|access_?token|refresh_?token|id_?token|sas_?token|cookie|set-cookie)$/i;
const SECRET_KEY_PARTS = /secret|private.?key|password|token|authorization|signature|sig$|accountkey/i;

/** Redacts secrets from one string; `mask` replaces each (default `[REDACTED]`; the CLI prints `********`). */
export function redactText(text: string, mask: string = REDACTED): string {
  let out = text;
  if (registeredPattern) out = out.replace(registeredPattern, mask);
  const m = mask.replace(/\$/g, '$$$$'); // a literal `$` in the mask, not a group reference
  for (const [re, replacement] of PATTERNS)
    out = out.replace(
      re,
      replacement.replace('$M', () => m),
    );
  return out;
}

/** Whether an object key names a secret (`Authorization`, `privateKey`, `clientSecret`, `aeg-sas-key`, ...). */
export function isSecretKey(key: string): boolean {
  const k = key.replace(/[\s.]/g, '');
  return SECRET_KEYS.test(k) || SECRET_KEY_PARTS.test(k);
}

const present = (v: unknown) => v !== undefined && v !== null && v !== '';

/**
 * Deep copy with the values of secret-named keys replaced by `mask`; everything else as is (no truncation, strings
 * untouched). The CLI's JSON output goes through this; log records go through redactRecord.
 */
export function maskFields<T>(value: T, mask: string = REDACTED): T {
  if (Array.isArray(value)) return value.map((x) => maskFields(x, mask)) as T;
  if (!value || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    out[k] = isSecretKey(k) && typeof v === 'string' && v !== '' ? mask : maskFields(v, mask);
  }
  return out as T;
}

/** An Error as `{ type, message, code?, status?, kind? }`: no stack, no request object (it carries headers). */
function redactError(value: Error, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const e = value as Error & { code?: unknown; status?: unknown; statusCode?: unknown; kind?: unknown };
  const out: Record<string, unknown> = { type: e.name, message: redactText(e.message) };
  if (e.code !== undefined) out.code = redactRecord(e.code, depth + 1, seen);
  const status = e.statusCode ?? e.status;
  if (typeof status === 'number') out.status = status;
  if (typeof e.kind === 'string') out.kind = e.kind;
  return out;
}

function redactScalar(value: unknown): unknown {
  if (typeof value === 'string') return redactText(value);
  if (typeof value === 'bigint') return value.toString();
  return typeof value === 'function' ? undefined : value;
}

/** Objects that are not plain records, as plain values (or undefined when `value` is a plain record). */
function redactSpecial(value: object, depth: number, seen: WeakSet<object>): { v: unknown } | undefined {
  if (value instanceof Date) return { v: value.toISOString() };
  if (value instanceof Error) return { v: redactError(value, depth, seen) };
  if (Array.isArray(value)) return { v: value.slice(0, 100).map((x) => redactRecord(x, depth + 1, seen)) };
  if (value instanceof Map) return { v: redactRecord(Object.fromEntries(value), depth + 1, seen) };
  if (typeof Headers !== 'undefined' && value instanceof Headers) {
    const obj: Record<string, string> = {};
    value.forEach((v, k) => (obj[k] = v));
    return { v: redactRecord(obj, depth + 1, seen) };
  }
  return undefined;
}

/**
 * Deep copy of `value` with secrets redacted: secret-named keys lose their value, strings pass through
 * `redactText`. Errors become `{ type, message, code?, status? }` (no stack, no request object: an SDK
 * RestError carries the request and its headers). Cycles and depth are bounded.
 */
export function redactRecord(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (value === null || typeof value !== 'object') return redactScalar(value);
  if (depth > 8) return '[…]';
  if (seen.has(value)) return '[cycle]';
  seen.add(value);
  const special = redactSpecial(value, depth, seen);
  if (special) return special.v;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = isSecretKey(k) && present(v) ? REDACTED : redactRecord(v, depth + 1, seen);
  }
  return out;
}
