// `npm run demo` is a product feature: its scripted scenario must hold on a fresh sandbox, and its verdict
// (exit status) must come from what actually happened, read back from the sandbox, the state table and Atlas.
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../src/commands/demo.js';

describe('ear-guard demo', () => {
  it('restores every drift, leaves the deliberate revocation, and exits 0', async () => {
    let out = '';
    let err = '';
    const code = await runDemo(['--json'], { stdout: (s) => (out += s), stderr: (s) => (err += s) });
    expect(err).toBe('');
    const r = JSON.parse(out);
    expect(r.steps.map((s: { name: string; ok: boolean }) => [s.name, s.ok])).toEqual(
      r.steps.map((s: { name: string }) => [s.name, true]),
    );
    const byVault = Object.fromEntries(r.projects.map((p: { vault: string }) => [p.vault, p]));
    expect(byVault['kv-ear-revoke']).toMatchObject({
      status: 'revoked',
      intent: 'revoked',
      restores: 0,
      atlasValid: false,
    });
    expect(byVault['kv-ear-policy'].model).toBe('rbac');
    for (const v of ['kv-ear-rbac', 'kv-ear-policy', 'kv-ear-policy2', 'kv-ear-rbac2']) {
      expect(byVault[v]).toMatchObject({ restores: 1, atlasValid: true });
    }
    expect(r.ok).toBe(true);
    expect(code).toBe(0);
  }, 120_000);
});
