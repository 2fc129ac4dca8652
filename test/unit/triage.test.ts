import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { EventInputError, authorizationScope, parseEvents, triageEvent } from '../../src/core/triage.js';

const fixture = (name: string) => JSON.parse(readFileSync(`test/fixtures/eventgrid/${name}`, 'utf8'));
const VAULT =
  '/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-ear/providers/Microsoft.KeyVault/vaults/kv-prod';
const triageAll = (payload: unknown) => parseEvents(payload).map(triageEvent);

/** A published envelope with only the operation and resource swapped (no Microsoft sample for these exists). */
function derived(name: string, operationName: string, resourceUri: string) {
  const events = fixture(name);
  const ev = events[0];
  if ('specversion' in ev) ev.subject = resourceUri;
  else ev.subject = resourceUri;
  ev.data.operationName = operationName;
  ev.data.resourceUri = resourceUri;
  return events;
}

describe('triage of published Event Grid samples', () => {
  it.each([
    'eventgrid-docs-resourcegroup-ResourceWriteSuccess.eventgridschema.json',
    'eventgrid-docs-resourcegroup-ResourceDeleteSuccess.eventgridschema.json',
    'eventgrid-docs-resourcegroup-ResourceWriteSuccess.cloudeventschema.json',
    'eventgrid-docs-resourcegroup-ResourceDeleteSuccess.cloudeventschema.json',
    'eventgrid-docs-subscription-ResourceWriteSuccess.eventgridschema.json',
    'eventgrid-docs-subscription-ResourceDeleteSuccess.eventgridschema.json',
    'eventgrid-java-sdk-ResourceWriteSuccessEvent.json',
    'eventgrid-java-sdk-ResourceDeleteSuccessEvent-stringified-data.json',
  ])('%s is parsed and dropped as irrelevant (not an access operation)', (name) => {
    const [r] = triageAll(fixture(name));
    expect(r.relevant).toBe(false);
    expect(r.kind).toBe('ignored');
    expect(r.reason).toMatch(/cannot change key access/);
  });

  it('decodes JSON-string authorization/claims from the SDK sample', () => {
    const [ev] = parseEvents(fixture('eventgrid-java-sdk-ResourceDeleteSuccessEvent-stringified-data.json'));
    expect(ev.data.claims).toEqual({ claimKey1: 'claimValue1', claimKey2: 'claimValue2' });
    expect((ev.data.authorization as { action: string }).action).toBe('actionValue');
  });

  it('recognises the validation handshake', () => {
    const [r] = triageAll(fixture('eventgrid-docs-SubscriptionValidationEvent.eventgridschema.json'));
    expect(r).toMatchObject({ relevant: false, kind: 'validation' });
  });

  it('drops Key Vault secret events but trims the padded keys of the published sample', () => {
    const [ev] = parseEvents(fixture('eventgrid-docs-keyvault-SecretNewVersionCreated.eventgridschema.json'));
    expect(ev.data.ObjectName).toBe('newsecret');
    expect(triageEvent(ev).relevant).toBe(false);
  });
});

describe('triage of access-relevant operations', () => {
  const assignmentId = `${VAULT}/providers/Microsoft.Authorization/roleAssignments/7c1a3b52-0000-4c4b-8a1c-2f4e5b6c7d8e`;

  it.each([
    ['eventgrid-docs-subscription-ResourceDeleteSuccess.eventgridschema.json'],
    ['eventgrid-docs-resourcegroup-ResourceDeleteSuccess.cloudeventschema.json'],
  ])('a role assignment delete names the scope it was assigned at (%s)', (name) => {
    const [r] = triageAll(derived(name, 'Microsoft.Authorization/roleAssignments/delete', assignmentId));
    expect(r).toMatchObject({ relevant: true, kind: 'roleAssignment', scope: VAULT, resourceId: assignmentId });
  });

  it('names the caller from the claims (never a target principal)', () => {
    const events = derived(
      'eventgrid-java-sdk-ResourceWriteSuccessEvent.json',
      'Microsoft.Authorization/roleAssignments/write',
      assignmentId,
    );
    events[0].data.claims = {
      'http://schemas.microsoft.com/identity/claims/objectidentifier': 'a11ce000-0000-0000-0000-000000000001',
      name: 'Alice',
      appid: '04b07795-8ddb-461a-bbee-02f9e1bf7b46',
    };
    const [r] = triageAll(events);
    expect(r.actor).toEqual({
      objectId: 'a11ce000-0000-0000-0000-000000000001',
      name: 'Alice',
      appId: '04b07795-8ddb-461a-bbee-02f9e1bf7b46',
      upn: undefined,
    });
  });

  it('scopes an access-policy write to its vault, case-insensitively', () => {
    const op = 'microsoft.keyvault/VAULTS/accesspolicies/write';
    const [r] = triageAll(
      derived(
        'eventgrid-docs-subscription-ResourceWriteSuccess.eventgridschema.json',
        op,
        `${VAULT}/accessPolicies/add`,
      ),
    );
    expect(r).toMatchObject({ relevant: true, kind: 'accessPolicy', scope: VAULT });
  });

  it('assignments at subscription and root scope keep that scope', () => {
    expect(authorizationScope('/subscriptions/s1/providers/Microsoft.Authorization/roleAssignments/x')).toBe(
      '/subscriptions/s1',
    );
    expect(authorizationScope('/providers/Microsoft.Authorization/roleDefinitions/x')).toBe('/');
  });

  it('key events map to the vault and key, in both schemas', () => {
    for (const name of [
      'eventgrid-docs-keyvault-SecretNewVersionCreated.eventgridschema.json',
      'eventgrid-docs-keyvault-SecretNewVersionCreated.cloudeventschema.json',
    ]) {
      const events = fixture(name);
      const ev = events[0];
      if ('specversion' in ev) {
        ev.type = 'Microsoft.KeyVault.KeyNearExpiry';
        ev.source = VAULT;
      } else {
        ev.eventType = 'Microsoft.KeyVault.KeyNearExpiry';
        ev.topic = VAULT;
      }
      ev.data.Id = 'https://kv-prod.vault.azure.net/keys/atlas-ear/0123456789abcdef0123456789abcdef';
      const [r] = triageAll(events);
      expect(r).toMatchObject({
        relevant: true,
        kind: 'key',
        scope: VAULT,
        keyName: 'atlas-ear',
        keyVersion: '0123456789abcdef0123456789abcdef',
      });
    }
  });

  it('accepts a whole body and data as JSON strings', () => {
    const events = derived(
      'eventgrid-docs-subscription-ResourceWriteSuccess.eventgridschema.json',
      'Microsoft.KeyVault/vaults/write',
      VAULT,
    );
    events[0].data = JSON.stringify(events[0].data);
    const [r] = triageAll(JSON.stringify(events));
    expect(r).toMatchObject({ relevant: true, kind: 'vault', scope: VAULT });
  });
});

describe('bad event input', () => {
  it.each([
    [42, /body: expected an event object/],
    [[1], /\[0\]: expected an event object/],
    [[{ eventType: 'x', data: {} }], /\[0\]\.id: missing/],
    [[{ id: 'a', specversion: '0.3', type: 't', source: 's' }], /specversion: expected "1.0"/],
    [[{ id: 'a', eventType: 't', data: '{oops' }], /\[0\]\.data: a JSON-encoded string that does not parse/],
    [[{ id: 'a', eventType: 't', data: [1] }], /\[0\]\.data: expected an object/],
  ])('%j is rejected naming the field', (payload, message) => {
    expect(() => parseEvents(payload)).toThrow(EventInputError);
    expect(() => parseEvents(payload)).toThrow(message);
  });

  it('never throws anything but EventInputError on arbitrary JSON (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          parseEvents(v).map(triageEvent);
        } catch (e) {
          return e instanceof EventInputError;
        }
        return true;
      }),
      { numRuns: 500 },
    );
  });
});
