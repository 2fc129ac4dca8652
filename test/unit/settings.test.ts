import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { atlasCredential, loadSettings, SettingsError, settingsSchema } from '../../src/settings.js';
import { policyFromSettings } from '../../src/engine.js';

const base = { ATLAS_PUBLIC_KEY: 'pub', ATLAS_PRIVATE_KEY: 'very-secret-private-key' };

describe('settings', () => {
  it('applies the documented defaults', () => {
    const s = loadSettings(base);
    expect(s.EAR_GUARD_MODE).toBe('alert');
    expect(s.EAR_GUARD_SWEEP_SCHEDULE).toBe('0 */5 * * * *');
    expect(s.ATLAS_PROJECT_IDS).toEqual([]);
    expect(s.EAR_GUARD_DRY_RUN).toBe(false);
  });

  it('EAR_GUARD_STANDBY_GRANT: off by default, key turns the policy on, anything else names the field', () => {
    expect(policyFromSettings(loadSettings(base)).standbyGrant).toBe('off');
    expect(policyFromSettings(loadSettings({ ...base, EAR_GUARD_STANDBY_GRANT: 'key' })).standbyGrant).toBe('key');
    expect(() => loadSettings({ ...base, EAR_GUARD_STANDBY_GRANT: 'vault' })).toThrow(
      /EAR_GUARD_STANDBY_GRANT: expected 'off' or 'key'/,
    );
  });

  it('lists every problem at once, naming each field, without echoing secret values', () => {
    try {
      loadSettings({
        ATLAS_PRIVATE_KEY: 'very-secret-private-key',
        EAR_GUARD_MODE: 'fix-everything',
        ATLAS_PROJECT_IDS: 'abc',
        EAR_GUARD_MAX_RESTORES: '0',
      });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(SettingsError);
      const msg = (e as Error).message;
      expect(msg).toMatch(/ATLAS_PUBLIC_KEY/);
      expect(msg).toMatch(/EAR_GUARD_MODE/);
      expect(msg).toMatch(/ATLAS_PROJECT_IDS.*24 hex/);
      expect(msg).toMatch(/EAR_GUARD_MAX_RESTORES/);
      expect(msg).not.toMatch(/very-secret/);
      expect((e as SettingsError).problems).toHaveLength(4);
    }
  });

  it('coerces numbers, parses lists and says what was expected in English for every kind of check', () => {
    const s = loadSettings({
      ...base,
      EAR_GUARD_MAX_RESTORES: ' 5 ',
      EAR_GUARD_HEALTH_MAX_FAILED_SHARE: '0.5',
      ATLAS_PROJECT_IDS: ' 0123456789abcdef01234567 ,, ',
      EAR_GUARD_DRY_RUN: '1',
      ATLAS_WEBHOOK_SECRET: '',
    });
    expect(s).toMatchObject({
      EAR_GUARD_MAX_RESTORES: 5,
      EAR_GUARD_HEALTH_MAX_FAILED_SHARE: 0.5,
      EAR_GUARD_DRY_RUN: true,
    });
    expect(s.ATLAS_PROJECT_IDS).toEqual(['0123456789abcdef01234567']);
    expect(s.ATLAS_WEBHOOK_SECRET).toBeUndefined();
    const problems = (env: Record<string, string>) => {
      try {
        loadSettings({ ...base, ...env });
        return [];
      } catch (e) {
        return (e as SettingsError).problems;
      }
    };
    expect(
      problems({
        EAR_GUARD_MAX_RESTORES: '2.5',
        EAR_GUARD_CHECK_FAILING_AFTER: '101',
        EAR_GUARD_WARN_DAYS: 'soon',
        EAR_GUARD_HEALTH_MAX_FAILED_SHARE: '0',
        ALERT_WEBHOOK_URL: 'not a url',
        AZURE_CLOUD: 'AzureGermanCloud',
        EAR_GUARD_DRY_RUN: 'yes',
      }),
    ).toEqual([
      'EAR_GUARD_MAX_RESTORES: Invalid input: expected int, received number',
      'EAR_GUARD_CHECK_FAILING_AFTER: Too big: expected number to be <=100',
      'EAR_GUARD_WARN_DAYS: Invalid input: expected number, received NaN',
      'EAR_GUARD_HEALTH_MAX_FAILED_SHARE: Too small: expected number to be >0',
      // zod lists the options in object-key order: integer-like keys first.
      'EAR_GUARD_DRY_RUN: Invalid option: expected one of "0"|"1"|"true"|"false"|""',
      'ALERT_WEBHOOK_URL: Invalid URL',
      'AZURE_CLOUD: Invalid option: expected one of "AzureCloud"|"AzureUSGovernment"|"AzureChinaCloud"',
    ]);
  });

  it('local.settings.json.example documents every setting the app reads', () => {
    const example = JSON.parse(readFileSync('local.settings.json.example', 'utf8')).Values as Record<string, string>;
    for (const key of Object.keys(settingsSchema.shape)) expect(example, key).toHaveProperty(key);
  });
});

describe('the Atlas credential', () => {
  const problems = (env: Record<string, string>) => {
    try {
      loadSettings(env);
      return [];
    } catch (e) {
      return (e as SettingsError).problems;
    }
  };

  it('a service account is preferred when both pairs are set', () => {
    const s = loadSettings({ ...base, ATLAS_CLIENT_ID: 'mdb_sa_id_x', ATLAS_CLIENT_SECRET: 'mdb_sa_sk_y' });
    expect(atlasCredential(s)).toEqual({ clientId: 'mdb_sa_id_x', clientSecret: 'mdb_sa_sk_y' });
    expect(atlasCredential(loadSettings(base))).toEqual({ publicKey: 'pub', privateKey: 'very-secret-private-key' });
  });

  it('half a pair names the missing half; none names both ways; secrets are not echoed', () => {
    expect(problems({ ATLAS_CLIENT_ID: 'mdb_sa_id_x' })).toEqual([
      expect.stringMatching(/^ATLAS_CLIENT_SECRET: .*ATLAS_CLIENT_ID is set/),
    ]);
    const p = problems({ ATLAS_CLIENT_SECRET: 'mdb_sa_sk_secret-value' });
    expect(p).toEqual([expect.stringMatching(/^ATLAS_CLIENT_ID: /)]);
    expect(p.join()).not.toContain('secret-value');
    expect(problems({}).join()).toMatch(
      /ATLAS_CLIENT_ID and ATLAS_CLIENT_SECRET .* or ATLAS_PUBLIC_KEY and ATLAS_PRIVATE_KEY/,
    );
    // Empty values count as unset (an App Service setting cleared to "").
    expect(problems({ ...base, ATLAS_CLIENT_ID: '', ATLAS_CLIENT_SECRET: '' })).toEqual([]);
  });
});
