// When a recorded cloudProviderAccess registration may stand in for reading it again (src/loop/registration.ts).
import { describe, expect, it } from 'vitest';
import { knownRegistration, registrationMemo } from '../../src/loop/registration.js';
import { DEFAULT_POLICY } from '../../src/loop/types.js';
import { newProjectRecord, type ProjectRecord } from '../../src/state/store.js';
import type { AtlasTarget } from '../../src/atlas/target.js';

const T0 = Date.parse('2026-12-02T00:00:00Z');
const memo = { roleId: 'r1', principalObjectId: 'sp-1', tenantId: 't', readAt: new Date(T0).toISOString() };
const row = (over: Partial<ProjectRecord> = {}): ProjectRecord => ({
  ...newProjectRecord('p'),
  principalId: 'sp-1',
  atlasRole: memo,
  ...over,
});
const ttl = DEFAULT_POLICY.registrationTtlMs!;

describe('knownRegistration', () => {
  it('stands for less than the TTL after it was read, for the principal the row records', () => {
    expect(knownRegistration(row(), DEFAULT_POLICY, T0)).toEqual({
      roleId: 'r1',
      principalObjectId: 'sp-1',
      tenantId: 't',
    });
    expect(knownRegistration(row(), DEFAULT_POLICY, T0 + ttl - 1)).toBeDefined();
    expect(knownRegistration(row(), DEFAULT_POLICY, T0 + ttl)).toBeUndefined();
    // A clock before the read (skew) is not trusted either.
    expect(knownRegistration(row(), DEFAULT_POLICY, T0 - 1)).toBeUndefined();
  });

  it('never for another principal than the row records, without a memo, or with the TTL set to 0', () => {
    expect(knownRegistration(row({ principalId: 'sp-2' }), DEFAULT_POLICY, T0)).toBeUndefined();
    expect(knownRegistration(row({ atlasRole: undefined }), DEFAULT_POLICY, T0)).toBeUndefined();
    expect(knownRegistration(row(), { ...DEFAULT_POLICY, registrationTtlMs: 0 }, T0)).toBeUndefined();
  });
});

describe('registrationMemo', () => {
  const target = (reused: boolean, roleId = 'r1') =>
    ({ registration: { roleId, principalObjectId: 'sp-1', tenantId: 't', reused } }) as unknown as AtlasTarget;
  it('keeps the read time of a reused registration and stamps a fresh read', () => {
    expect(registrationMemo(target(true), row(), '2026-12-02T00:30:00.000Z')).toBe(memo);
    expect(registrationMemo(target(false), row(), '2026-12-02T00:30:00.000Z')?.readAt).toBe('2026-12-02T00:30:00.000Z');
    expect(registrationMemo(target(true, 'r2'), row(), '2026-12-02T00:30:00.000Z')?.readAt).toBe(
      '2026-12-02T00:30:00.000Z',
    );
    expect(registrationMemo({} as AtlasTarget, row(), 'x')).toBeUndefined();
  });
});
