// Does the vault's network let Atlas in? Table-driven over the rules in README "How a verdict is decided" (16),
// from the published vault shape (azure-rest-api-specs createVaultWithNetworkAcls.json).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ipv4Range,
  judgeNetwork,
  needsAtlasAddresses,
  ruleCovers,
  vaultNetworkOf,
  type VaultNetwork,
} from '../../../src/core/network.js';

const example = JSON.parse(
  readFileSync(
    new URL('../../fixtures/arm-keyvault-2024-11-01-createVaultWithNetworkAcls.json', import.meta.url),
    'utf8',
  ),
) as { responses: { '200': { body: unknown } } };
const published = vaultNetworkOf(example.responses['200'].body);

const ATLAS = { controlPlane: ['203.0.113.10', '203.0.113.11'], project: ['198.51.100.7'] };
const open: VaultNetwork = { ipRules: [], privateEndpoints: [] };

describe('vaultNetworkOf reads the published Vaults_Get shape', () => {
  it('default action, bypass and the IP rules as given', () => {
    expect(published).toEqual({
      publicNetworkAccess: undefined,
      defaultAction: 'Deny',
      bypass: 'AzureServices',
      ipRules: ['124.56.78.91/32', "'10.91.4.0/24'"],
      privateEndpoints: [],
    });
  });
  it('the SDK-flattened private endpoint connection state', () => {
    const n = vaultNetworkOf({
      properties: {
        privateEndpointConnections: [{ id: 'pe1', privateLinkServiceConnectionState: { status: 'Approved' } }],
      },
    });
    expect(n.privateEndpoints).toEqual([{ id: 'pe1', status: 'Approved' }]);
  });
});

describe('ipv4Range and ruleCovers', () => {
  it.each([
    ['124.56.78.91', [2084064859, 2084064859]],
    ['10.91.4.0/24', [173736960, 173737215]],
    ['10.91.4.77/24', [173736960, 173737215]],
    ["'10.91.4.0/24'", undefined],
    ['2001:db8::1', undefined],
    ['10.0.0.0/33', undefined],
    ['256.1.1.1', undefined],
  ])('%s', (s, want) => expect(ipv4Range(s)).toEqual(want));

  it('an address inside a range is covered; one outside, or a range wider than the rule, is not', () => {
    expect(ruleCovers(['203.0.113.0/24'], '203.0.113.10')).toBe(true);
    expect(ruleCovers(['203.0.113.0/24'], '203.0.114.10')).toBe(false);
    expect(ruleCovers(['203.0.113.0/28'], '203.0.113.0/24')).toBe(false);
    // The published example's quoted rule is no CIDR: it covers nothing.
    expect(ruleCovers(published.ipRules, '10.91.4.1')).toBe(false);
    expect(ruleCovers(published.ipRules, '124.56.78.91')).toBe(true);
  });
});

describe('judgeNetwork', () => {
  const cases: [string, VaultNetwork, boolean, 'open' | 'allows-atlas' | 'denies-atlas', RegExp?][] = [
    ['no firewall', open, false, 'open'],
    ['the published example: Atlas addresses left out', published, false, 'denies-atlas', /198\.51\.100\.7/],
    [
      'default deny with every Atlas address in the rules',
      { ...open, defaultAction: 'Deny', ipRules: ['203.0.113.0/24', '198.51.100.7/32'] },
      false,
      'allows-atlas',
    ],
    [
      'trusted-services bypass does not let Atlas in',
      { ...open, defaultAction: 'Deny', bypass: 'AzureServices', ipRules: ['203.0.113.0/24'] },
      false,
      'denies-atlas',
    ],
    [
      'public access disabled, Atlas on the public network',
      { ...open, publicNetworkAccess: 'Disabled' },
      false,
      'denies-atlas',
      /trusted/,
    ],
    [
      'private networking with an approved connection (public access off does not matter)',
      { ...open, publicNetworkAccess: 'Disabled', privateEndpoints: [{ status: 'Approved' }] },
      true,
      'allows-atlas',
    ],
    [
      'private networking with a pending connection only',
      { ...open, privateEndpoints: [{ status: 'Pending' }] },
      true,
      'denies-atlas',
      /Pending/,
    ],
    ['private networking and no connection at all', open, true, 'denies-atlas', /no approved private endpoint/],
  ];
  it.each(cases)('%s', (_name, n, priv, kind, reason) => {
    const j = judgeNetwork(n, priv, ATLAS);
    expect(j.kind).toBe(kind);
    if (reason && j.kind === 'denies-atlas') expect(j.reason).toMatch(reason);
  });

  it("Atlas's addresses are needed only for a public vault that denies by default", () => {
    expect(needsAtlasAddresses(open, false)).toBe(false);
    expect(needsAtlasAddresses(published, false)).toBe(true);
    expect(needsAtlasAddresses(published, true)).toBe(false);
    expect(needsAtlasAddresses({ ...published, publicNetworkAccess: 'Disabled' }, false)).toBe(false);
    expect(judgeNetwork(published, false).kind).toBe('denies-atlas');
  });
});
