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

// Order matters: Digest/Bearer values first (they contain commas and quotes), then header forms.
const PATTERNS: [RegExp, string][] = [
  // Authorization: Digest username="..", realm="..", nonce="..", response=".." (quoted or bare params)
  [
    /\bDigest\s+[A-Za-z0-9_-]+=(?:"[^"]*"|[^\s,"]*)(?:\s*,\s*[A-Za-z0-9_-]+=(?:"[^"]*"|[^\s,"]*))*/gi,
    `Digest ${REDACTED}`,
  ],
  [/\bBearer\s+[A-Za-z0-9._~+/=-]+/gi, `Bearer ${REDACTED}`],
  [/\bBasic\s+[A-Za-z0-9+/=]{8,}/g, `Basic ${REDACTED}`],
  // JWTs without a scheme in front (access tokens pasted into messages).
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g, REDACTED],
  // Header or key=value forms: `Authorization: x`, `aeg-sas-key=x`, `"x-functions-key":"x"`.
  [
    /\b(authorization|proxy-authorization|www-authenticate|aeg-sas-key|aeg-sas-token|x-functions-key|ocp-apim-subscription-key)(["']?\s*[:=]\s*["']?)[^"'\r\n]+/gi,
    `$1$2${REDACTED}`,
  ],
  // SAS tokens: the signature is the secret part.
  [/([?&;\s"']|^)sig=[^&\s"';]+/gi, `$1sig=${REDACTED}`],
  // Storage / Event Grid / Service Bus connection strings.
  [/\b(AccountKey|SharedAccessKey|SharedAccessSignature|ClientSecret)=[^;"'\s]+/gi, `$1=${REDACTED}`],
  // Functions keys in URLs (`?code=...`); prose like "error code=404" is left alone.
  [/([?&])code=[^&\s"'#]+/gi, `$1code=${REDACTED}`],
];

/** Object keys whose values are secret whatever they look like. */
const SECRET_KEYS =
  /^(authorization|proxy-authorization|x-functions-key|aeg-sas-key|aeg-sas-token|password|passwd|secret|client_?secret|private_?key|atlas_private_key|privateapikey|api_?key|account_?key|shared_?access_?key|access_?token|refresh_?token|id_?token|sas_?token|cookie|set-cookie)$/i;

/** Redacts secrets from one string. */
export function redactText(text: string): string {
  let out = text;
  if (registeredPattern) out = out.replace(registeredPattern, REDACTED);
  for (const [re, replacement] of PATTERNS) out = out.replace(re, replacement);
  return out;
}

/** Whether an object key names a secret (`Authorization`, `privateKey`, `aeg-sas-key`, ...). */
export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.test(key.replace(/[\s.]/g, ''));
}

/**
 * Deep copy of `value` with secrets redacted: secret-named keys lose their value, strings pass through
 * `redactText`. Errors become `{ type, message, code?, status? }` (no stack, no request object: an SDK
 * RestError carries the request and its headers). Cycles and depth are bounded.
 */
export function redactRecord(value: unknown, depth = 0, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') {
    return typeof value === 'bigint' ? value.toString() : typeof value === 'function' ? undefined : value;
  }
  if (depth > 8) return '[…]';
  if (seen.has(value)) return '[cycle]';
  seen.add(value);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Error) {
    const e = value as Error & { code?: unknown; status?: unknown; statusCode?: unknown; kind?: unknown };
    const out: Record<string, unknown> = { type: e.name, message: redactText(e.message) };
    if (e.code !== undefined) out.code = redactRecord(e.code, depth + 1, seen);
    const status = e.statusCode ?? e.status;
    if (typeof status === 'number') out.status = status;
    if (typeof e.kind === 'string') out.kind = e.kind;
    return out;
  }
  if (Array.isArray(value)) return value.slice(0, 100).map((v) => redactRecord(v, depth + 1, seen));
  if (value instanceof Map) return redactRecord(Object.fromEntries(value), depth + 1, seen);
  if (typeof Headers !== 'undefined' && value instanceof Headers) {
    const obj: Record<string, string> = {};
    value.forEach((v, k) => (obj[k] = v));
    return redactRecord(obj, depth + 1, seen);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = isSecretKey(k) && v !== undefined && v !== null && v !== '' ? REDACTED : redactRecord(v, depth + 1, seen);
  }
  return out;
}
