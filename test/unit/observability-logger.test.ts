import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, loggerForInvocation, type LogLevel } from '../../src/observability/logger.js';
import {
  REDACTED,
  clearRegisteredSecrets,
  redactRecord,
  redactText,
  registerSecrets,
} from '../../src/observability/redact.js';

function capture(level: LogLevel = 'debug') {
  const lines: { line: string; level: LogLevel }[] = [];
  const log = createLogger({ level, sink: (line, l) => lines.push({ line, level: l }), now: () => new Date(0) });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l.line) as Record<string, unknown>) };
}

const PRIVATE_KEY = '5b3a7f0e-91c2-4d8e-a1b2-c3d4e5f6a7b8';
const PUBLIC_KEY = 'qwxyzabc';

afterEach(() => clearRegisteredSecrets());

describe('structured logger', () => {
  it('writes one JSON object per line with the well-known fields first', () => {
    const { log, lines, parsed } = capture();
    log.info('reconcile finished', {
      project: '5f1a2b3c4d5e6f7a8b9c0d1e',
      invocationId: 'inv-1',
      eventId: 'ev-1',
      correlationId: 'corr-1',
      outcome: 'restored',
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.line).not.toContain('\n');
    expect(Object.keys(parsed()[0]!).slice(0, 3)).toEqual(['time', 'level', 'message']);
    expect(parsed()[0]).toMatchObject({
      level: 'info',
      message: 'reconcile finished',
      project: '5f1a2b3c4d5e6f7a8b9c0d1e',
      invocationId: 'inv-1',
      eventId: 'ev-1',
      correlationId: 'corr-1',
      outcome: 'restored',
      time: '1970-01-01T00:00:00.000Z',
    });
  });

  it('filters by level and lets child loggers add fields; fields cannot override level or message', () => {
    const { log, parsed } = capture('warn');
    const child = log.child({ project: 'p1', eventId: 'e1' });
    child.info('dropped');
    child.warn('kept', { level: 'debug', message: 'spoof' } as never);
    expect(parsed()).toHaveLength(1);
    expect(parsed()[0]).toMatchObject({ level: 'warn', message: 'kept', project: 'p1', eventId: 'e1' });
  });

  it('serializes errors as type/message/code/status without stack or request headers', () => {
    const { log, parsed } = capture();
    const err = Object.assign(new Error('Forbidden'), {
      code: 'AuthorizationFailed',
      statusCode: 403,
      request: { headers: { authorization: 'Bearer abc.def.ghi' } },
    });
    log.error('act failed', { err });
    const line = JSON.stringify(parsed()[0]);
    expect(parsed()[0]!.err).toEqual({ type: 'Error', message: 'Forbidden', code: 'AuthorizationFailed', status: 403 });
    expect(line).not.toContain('abc.def.ghi');
    expect(line).not.toContain('at ');
  });

  it('routes through an invocation context with its invocationId', () => {
    const calls: [string, string][] = [];
    const ctx = {
      invocationId: 'abc-123',
      functionName: 'onAzureEvent',
      log: (s: unknown) => calls.push(['log', String(s)]),
      warn: (s: unknown) => calls.push(['warn', String(s)]),
      error: (s: unknown) => calls.push(['error', String(s)]),
    };
    const log = loggerForInvocation(ctx, { project: 'p9' }, { level: 'info' });
    log.info('a');
    log.error('b');
    expect(calls.map((c) => c[0])).toEqual(['log', 'error']);
    expect(JSON.parse(calls[1]![1])).toMatchObject({
      invocationId: 'abc-123',
      function: 'onAzureEvent',
      project: 'p9',
    });
  });
});

describe('the one redaction step', () => {
  const cases: [string, string, string][] = [
    [
      'bearer token',
      'GET /x Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJvaWQiOiIxMjMifQ.c2lnbmF0dXJl',
      'eyJ0eXAi',
    ],
    ['bare JWT', 'token was eyJ0eXAiOiJKV1QiLCJhbGci.eyJvaWQiOiIxMjMifQxx.c2lnbmF0dXJl', 'eyJvaWQi'],
    [
      'digest header',
      'Authorization: Digest username="qwxyzabc", realm="MMS Public API", nonce="abc", uri="/api/atlas/v2/groups", response="6629fae49393a05397450978507c4ef1", qop=auth, nc=00000001, cnonce="0a4f113b"',
      '6629fae49393a05397450978507c4ef1',
    ],
    ['aeg-sas-key header', 'aeg-sas-key: c2VjcmV0LWtleS12YWx1ZQ==', 'c2VjcmV0LWtleS12YWx1ZQ'],
    [
      'SAS signature',
      'https://st.blob.core.windows.net/c/b?sv=2022-11-02&se=2026-01-01&sp=r&sig=AbCdEf%2BgHiJ%3D',
      'AbCdEf',
    ],
    [
      'connection string',
      'DefaultEndpointsProtocol=https;AccountName=st1;AccountKey=Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4==;EndpointSuffix=core.windows.net',
      'Zm9vYmFy',
    ],
    [
      'Event Grid SharedAccessKey',
      'Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=S3cr3tS3cr3t=',
      'S3cr3tS3cr3t',
    ],
    [
      'function key in URL',
      'POST https://func.azurewebsites.net/api/check?code=fnKEYfnKEYfnKEY==&x=1',
      'fnKEYfnKEYfnKEY',
    ],
    ['x-functions-key header', 'x-functions-key: fnKEYfnKEYfnKEY', 'fnKEYfnKEYfnKEY'],
  ];
  for (const [name, input, secret] of cases) {
    it(`redacts ${name}`, () => {
      const out = redactText(input);
      expect(out).not.toContain(secret);
      expect(out).toContain(REDACTED);
    });
  }

  it('leaves ordinary text alone (error codes, IDs, prose with "code=")', () => {
    const s =
      'arm 409 RoleAssignmentExists on /subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv1 (status code=409)';
    expect(redactText(s)).toBe(s);
  });

  it('redacts registered Atlas key values anywhere, also URL-encoded, and ignores short values', () => {
    registerSecrets(PRIVATE_KEY, PUBLIC_KEY, '', undefined, 'abc');
    expect(redactText(`private ${PRIVATE_KEY} public ${PUBLIC_KEY}`)).toBe(`private ${REDACTED} public ${REDACTED}`);
    expect(redactText(`u=${encodeURIComponent('p@ss w0rd!!')}`)).toContain('p%40ss'); // not registered
    registerSecrets('p@ss w0rd!!');
    expect(redactText(`u=${encodeURIComponent('p@ss w0rd!!')}`)).toBe(`u=${REDACTED}`);
    expect(redactText('abc abc')).toBe('abc abc');
  });

  it('redacts secret-named keys in nested objects whatever the value, and header objects', () => {
    const out = redactRecord({
      headers: { Authorization: 'opaque', 'aeg-sas-key': 'k', accept: 'application/json' },
      privateKey: 'x',
      nested: [{ password: 'p', note: `key ${PRIVATE_KEY}` }],
      h: new Headers({ authorization: 'Digest username="a", response="b"' }),
    }) as {
      headers: unknown;
      privateKey: string;
      nested: { password: string }[];
      h: Record<string, string>;
    };
    expect(out.headers).toEqual({ Authorization: REDACTED, 'aeg-sas-key': REDACTED, accept: 'application/json' });
    expect(out.privateKey).toBe(REDACTED);
    expect(out.nested[0].password).toBe(REDACTED);
    expect(out.h.authorization).toBe(REDACTED);
  });

  it('every logged line passes through it: a secret in message, fields, nested error or child base never leaks', () => {
    registerSecrets(PRIVATE_KEY);
    const { log, lines } = capture();
    log.child({ note: `base ${PRIVATE_KEY}` }).warn(`calling Atlas with ${PRIVATE_KEY}`, {
      url: 'https://x/api?code=abcdefgh12345',
      err: new Error(`digest failed: Authorization: Digest username="u", response="deadbeefdeadbeef"`),
      req: { headers: { authorization: 'Bearer secret-token-value' } },
    });
    const text = lines.map((l) => l.line).join('\n');
    for (const s of [PRIVATE_KEY, 'abcdefgh12345', 'deadbeefdeadbeef', 'secret-token-value']) {
      expect(text).not.toContain(s);
    }
  });

  it('survives cycles and odd values', () => {
    const a: Record<string, unknown> = { n: 1n, f: () => 1, d: new Date(0) };
    a.self = a;
    expect(redactRecord(a)).toEqual({ n: '1', f: undefined, d: '1970-01-01T00:00:00.000Z', self: '[cycle]' });
  });
});
