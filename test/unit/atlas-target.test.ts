// Atlas EAR + cloudProviderAccess -> target (the mapping is pure; the client is tested against the sandbox).
import { describe, expect, it } from 'vitest';
import { mapTarget, parseStaticPrincipals } from '../../src/atlas/target.js';
import { pickChallenge } from '../../src/atlas/client.js';

const P = '65a1b2c3d4e5f60718293a4b';
const SP = {
  _id: '65a1b2c3d4e5f60718293a99',
  atlasAzureAppId: '9efedfcc-2eca-4b27-a613-0cad1e114cb7',
  servicePrincipalId: '11111111-2222-3333-4444-555555555555',
  tenantId: 'tttttttt-0000-0000-0000-000000000000',
};
const akv = {
  enabled: true,
  roleId: SP._id,
  tenantID: SP.tenantId,
  subscriptionID: 'ssssssss-0000-0000-0000-000000000000',
  resourceGroupName: 'rg-ear',
  keyVaultName: 'kv-ear',
  keyIdentifier: 'https://kv-ear.vault.azure.net/keys/atlas-ear/0123456789abcdef0123456789abcdef',
  azureEnvironment: 'AZURE',
  requirePrivateNetworking: true,
  valid: false,
};

describe('mapTarget', () => {
  it('maps the secretless configuration: roleId -> azureServicePrincipals[]._id -> servicePrincipalId', () => {
    const r = mapTarget(
      P,
      { azureKeyVault: akv },
      { azureServicePrincipals: [{ ...SP, _id: 'other', servicePrincipalId: 'x' }, SP] },
    );
    expect(r).toEqual({
      kind: 'target',
      target: {
        projectId: P,
        principalObjectId: SP.servicePrincipalId,
        tenantId: SP.tenantId,
        subscriptionId: akv.subscriptionID,
        resourceGroup: 'rg-ear',
        vaultName: 'kv-ear',
        keyName: 'atlas-ear',
        keyVersion: '0123456789abcdef0123456789abcdef',
        keyIdentifier: akv.keyIdentifier,
        azureEnvironment: 'AZURE',
        requirePrivateNetworking: true,
        atlasValid: false,
        credentials: 'secretless',
        roleId: SP._id,
        registration: {
          roleId: SP._id,
          principalObjectId: SP.servicePrincipalId,
          tenantId: SP.tenantId,
          reused: false,
        },
        vaultId: `/subscriptions/${akv.subscriptionID}/resourceGroups/rg-ear/providers/Microsoft.KeyVault/vaults/kv-ear`,
      },
    });
  });

  it('reports a project without Azure EAR, or on another KMS, as unsupported with the reason', () => {
    expect(mapTarget(P, {}, undefined)).toMatchObject({
      kind: 'unsupported',
      reason: expect.stringMatching(/not enabled/),
    });
    expect(mapTarget(P, { awsKms: { enabled: true }, azureKeyVault: { enabled: false } }, undefined)).toMatchObject({
      kind: 'unsupported',
      reason: expect.stringMatching(/AWS KMS/),
    });
  });

  it('static credentials are unsupported unless the principal is configured', () => {
    const stat = { ...akv, roleId: undefined, clientID: 'cccccccc-0000-0000-0000-000000000000' };
    expect(mapTarget(P, { azureKeyVault: stat }, { azureServicePrincipals: [] })).toMatchObject({
      kind: 'unsupported',
      reason: expect.stringMatching(/static credentials.*EAR_GUARD_STATIC_PRINCIPALS/),
    });
    const r = mapTarget(P, { azureKeyVault: stat }, undefined, {
      staticPrincipals: parseStaticPrincipals([`${P}=abcd`]),
    });
    expect(r).toMatchObject({ kind: 'target', target: { principalObjectId: 'abcd', credentials: 'static' } });
  });

  it('a roleId missing from cloudProviderAccess or a key in another vault is invalid, naming the problem', () => {
    expect(mapTarget(P, { azureKeyVault: akv }, { azureServicePrincipals: [] })).toMatchObject({
      kind: 'invalid',
      reason: expect.stringMatching(SP._id),
    });
    expect(
      mapTarget(P, { azureKeyVault: { ...akv, keyVaultName: 'kv-else' } }, { azureServicePrincipals: [SP] }),
    ).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/kv-else/) });
    expect(
      mapTarget(P, { azureKeyVault: { ...akv, keyIdentifier: undefined } }, { azureServicePrincipals: [SP] }),
    ).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/keyIdentifier/) });
  });

  it('rejects malformed static principal settings', () => {
    expect(() => parseStaticPrincipals(['nope'])).toThrow(/EAR_GUARD_STATIC_PRINCIPALS/);
  });
});

describe('pickChallenge', () => {
  it('prefers SHA-256 when the server offers both, and falls back to MD5', () => {
    const both =
      'Digest realm="MMS Public API", nonce="a", algorithm=MD5, qop="auth", Digest realm="MMS Public API", nonce="b", algorithm=SHA-256, qop="auth"';
    expect(pickChallenge(both)).toMatchObject({
      algorithm: 'SHA-256',
      challenge: expect.stringContaining('nonce="b"'),
    });
    expect(pickChallenge('Digest realm="x", nonce="n", qop="auth"')).toMatchObject({ algorithm: 'MD5' });
    expect(pickChallenge('Bearer realm="x"')).toBeUndefined();
    expect(pickChallenge(null)).toBeUndefined();
  });
});
