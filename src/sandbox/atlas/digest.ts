// HTTP Digest authentication (RFC 7616) as the Atlas Admin API does it: challenge
// `Digest realm="MMS Public API", domain="", nonce="...", algorithm=MD5, qop="auth", stale=false`,
// MD5 and SHA-256 (and their -sess variants) accepted, `stale=true` when a correct answer used an
// expired nonce, and a nonce-count replay check. Nothing here ever logs a header or a key.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const ATLAS_REALM = 'MMS Public API';

const ALGORITHMS: Record<string, 'md5' | 'sha256'> = {
  md5: 'md5',
  'md5-sess': 'md5',
  'sha-256': 'sha256',
  'sha-256-sess': 'sha256',
};

export type DigestVerdict =
  | { ok: true; user: string; algorithm: string }
  | {
      ok: false;
      stale: boolean;
      reason:
        | 'missing'
        | 'malformed'
        | 'unknown-user'
        | 'bad-response'
        | 'stale'
        | 'replay'
        | 'unknown-nonce'
        | 'uri-mismatch';
    };

type RefusalReason = Extract<DigestVerdict, { ok: false }>['reason'];

function refused(reason: RefusalReason): DigestVerdict {
  return { ok: false, stale: false, reason };
}

/** A parsed Authorization header whose required fields are present (checked by shapeFault). */
type DigestAnswer = Record<string, string> & {
  username: string;
  nonce: string;
  uri: string;
  response: string;
  nc: string;
  cnonce: string;
  qop: string;
  algorithm?: string;
};

interface NonceState {
  issuedAt: number;
  seen: Set<string>;
}

/** `Digest a="b", c=d` -> { a: 'b', c: 'd' } (quoted strings may contain commas). */
export function parseDigestHeader(header: string): Record<string, string> | undefined {
  const m = /^\s*Digest\s+(.*)$/is.exec(header);
  if (!m) return undefined;
  const out: Record<string, string> = {};
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(?:,|$)/g;
  let part: RegExpExecArray | null;
  while ((part = re.exec(m[1])) !== null) {
    out[part[1].toLowerCase()] = part[2] !== undefined ? part[2].replace(/\\(.)/g, '$1') : (part[3] ?? '');
    if (re.lastIndex >= m[1].length) break;
  }
  return out;
}

function hash(alg: 'md5' | 'sha256', s: string): string {
  return createHash(alg).update(s, 'utf8').digest('hex');
}

function sameHex(a: string, b: string): boolean {
  const ab = Buffer.from(a.toLowerCase());
  const bb = Buffer.from(b.toLowerCase());
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

export class DigestAuthority {
  private readonly nonces = new Map<string, NonceState>();

  constructor(
    private readonly keys: () => Map<string, string>,
    private readonly nonceTtlMs: number,
    private readonly realm = ATLAS_REALM,
  ) {}

  /** A fresh challenge (Atlas sends MD5; clients may answer with SHA-256, which is accepted). */
  challenge(stale: boolean): string {
    this.prune();
    const nonce = randomBytes(24).toString('base64url');
    this.nonces.set(nonce, { issuedAt: Date.now(), seen: new Set() });
    return `Digest realm="${this.realm}", domain="", nonce="${nonce}", algorithm=MD5, qop="auth", stale=${stale}`;
  }

  /** Make every outstanding nonce expired (a correct answer then gets `stale=true`). */
  expireAll(): void {
    for (const n of this.nonces.values()) n.issuedAt = 0;
  }

  private prune(): void {
    const horizon = Date.now() - 4 * this.nonceTtlMs;
    for (const [k, v] of this.nonces) if (v.issuedAt < horizon && v.issuedAt !== 0) this.nonces.delete(k);
    if (this.nonces.size > 10_000) {
      const oldest = [...this.nonces.entries()].sort((a, b) => a[1].issuedAt - b[1].issuedAt).slice(0, 5_000);
      for (const [k] of oldest) this.nonces.delete(k);
    }
  }

  verify(method: string, requestTarget: string, header: string | undefined): DigestVerdict {
    if (!header) return refused('missing');
    const p = parseDigestHeader(header);
    const shape = p ? this.shapeFault(p, requestTarget) : 'malformed';
    if (shape) return refused(shape);
    const answer = p as DigestAnswer;
    const password = this.keys().get(answer.username);
    if (password === undefined) return refused('unknown-user');
    const state = this.nonces.get(answer.nonce);
    if (!state) return refused('unknown-nonce');
    if (!sameHex(this.expectedResponse(method, answer, password), answer.response)) return refused('bad-response');
    // The answer is right: only now do freshness and replay matter (RFC 7616 section 3.3).
    if (Date.now() - state.issuedAt > this.nonceTtlMs) return { ok: false, stale: true, reason: 'stale' };
    const nc = answer.nc.toLowerCase();
    if (state.seen.has(nc)) return refused('replay');
    state.seen.add(nc);
    return { ok: true, user: answer.username, algorithm: answer.algorithm ?? 'MD5' };
  }

  /** What is wrong with the answer's fields before any key is looked at, or undefined. */
  private shapeFault(p: Record<string, string>, requestTarget: string): 'malformed' | 'uri-mismatch' | undefined {
    if (!p.username || !p.nonce || !p.uri || !p.response) return 'malformed';
    if (!ALGORITHMS[(p.algorithm ?? 'MD5').toLowerCase()]) return 'malformed';
    if (p.realm !== undefined && p.realm !== this.realm) return 'malformed';
    if (p.qop !== 'auth' || !p.nc || !/^[0-9a-f]{8}$/i.test(p.nc) || !p.cnonce) return 'malformed';
    return p.uri !== requestTarget ? 'uri-mismatch' : undefined;
  }

  /** The `response` a client knowing the key computes (RFC 7616 section 3.4.1, qop=auth). */
  private expectedResponse(method: string, p: DigestAnswer, password: string): string {
    const algName = (p.algorithm ?? 'MD5').toLowerCase();
    const alg = ALGORITHMS[algName]!;
    let ha1 = hash(alg, `${p.username}:${this.realm}:${password}`);
    if (algName.endsWith('-sess')) ha1 = hash(alg, `${ha1}:${p.nonce}:${p.cnonce}`);
    const ha2 = hash(alg, `${method.toUpperCase()}:${p.uri}`);
    return hash(alg, `${ha1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${ha2}`);
  }
}
