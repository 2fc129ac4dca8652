import { describe, expect, it } from 'vitest';
import { RestError } from '@azure/core-rest-pipeline';
import { ClassifiedError, classifyError, parseRetryAfter } from '../../src/azure/errors.js';

function restError(status: number, code?: string, headers: Record<string, string> = {}) {
  const h = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return new RestError(`status ${status}`, {
    statusCode: status,
    code,
    response: { status, headers: { get: (n: string) => h.get(n.toLowerCase()) } } as never,
  });
}

describe('classifyError', () => {
  it.each([
    [429, 'TooManyRequests', 'transient'],
    [408, undefined, 'transient'],
    [500, 'InternalServerError', 'transient'],
    [503, 'ServiceUnavailable', 'transient'],
    [400, 'InvalidRequest', 'terminal'],
    [401, 'InvalidAuthenticationToken', 'terminal'],
    [403, 'AuthorizationFailed', 'terminal'],
    [404, 'ResourceNotFound', 'terminal'],
    [409, 'RoleAssignmentExists', 'terminal'],
  ])('HTTP %i %s is %s and keeps the code', (status, code, kind) => {
    const c = classifyError(restError(status, code), 'arm');
    expect(c.kind).toBe(kind);
    expect(c.status).toBe(status);
    expect(c.code).toBe(code);
    expect(c.describe()).toContain(String(status));
  });

  it('reads Retry-After', () => {
    expect(classifyError(restError(429, 'TooManyRequests', { 'Retry-After': '7' }), 'arm').retryAfterMs).toBe(7000);
    expect(parseRetryAfter(new Date(Date.now() + 5000).toUTCString())).toBeGreaterThan(3000);
    expect(parseRetryAfter('nonsense')).toBeUndefined();
  });

  it('resets, refusals and timeouts are transient', () => {
    expect(classifyError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'arm').kind).toBe(
      'transient',
    );
    expect(classifyError(new RestError('send failed', { code: 'REQUEST_SEND_ERROR' }), 'arm').kind).toBe('transient');
    expect(
      classifyError(
        new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) }),
        'atlas',
      ),
    ).toMatchObject({ kind: 'transient', code: 'ECONNREFUSED' });
    const abort = new Error('timed out');
    abort.name = 'TimeoutError';
    expect(classifyError(abort, 'atlas').kind).toBe('transient');
  });

  it('unknown errors are terminal (never silently healthy), and classification happens once', () => {
    const c = classifyError(new Error('weird'), 'arm');
    expect(c.kind).toBe('terminal');
    expect(classifyError(c, 'atlas')).toBe(c);
    expect(c).toBeInstanceOf(ClassifiedError);
  });
});
