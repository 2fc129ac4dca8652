// The Atlas emulator's answers checked against the published Atlas OpenAPI schemas (extracted from
// mongodb/atlas-sdk-go openapi/atlas-api-transformed.yaml into test/fixtures/atlas-openapi/ by
// scripts/extract-atlas-schemas.mjs) with ajv, plus the spec's x-rolesRequirements against both role tables.
// Strict on purpose: an object schema that lists its properties gets additionalProperties: false here, so a field
// the emulator invents fails.
import Ajv from 'ajv';
import { Agent } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import spec from '../fixtures/atlas-openapi/schemas.json' with { type: 'json' };
import { AtlasClient } from '../../src/atlas/client.js';
import { ATLAS_OPERATION_ROLES } from '../../src/atlas/roles.js';
import { REQUIRED_ROLE } from '../../src/sandbox/atlas/roles.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';

type Json = Record<string, unknown>;

/** Schemas some allOf composes: they must stay open (a strict part would refuse the other part's fields). */
const composedParts = new Set<string>();
JSON.stringify(spec.schemas, (k, v: unknown) => {
  if (k === 'allOf' && Array.isArray(v)) {
    for (const x of v as Json[]) if (typeof x.$ref === 'string') composedParts.add(x.$ref.split('/').pop()!);
  }
  return v;
});

/** OpenAPI 3.0 -> JSON Schema draft-07: `nullable`, refs into `definitions`, and strict objects. */
function toJsonSchema(v: unknown, strict = true): unknown {
  if (Array.isArray(v)) return v.map((x) => toJsonSchema(x, strict));
  if (!v || typeof v !== 'object') return v;
  const out: Json = {};
  for (const [k, x] of Object.entries(v as Json)) {
    // ajv 6 compiles `pattern` without the u flag; the spec's \p{L} classes need it (ajv 8 has unicodeRegExp).
    if (k === 'pattern' && /\\p\{/.test(String(x))) out.upattern = x;
    else if (k === '$ref') out.$ref = String(x).replace('#/components/schemas/', '#/definitions/');
    else if (k === 'discriminator' || k === 'example' || k === 'externalDocs' || k.startsWith('x-')) continue;
    else if (k === 'properties') {
      out.properties = Object.fromEntries(Object.entries(x as Json).map(([p, s]) => [p, toJsonSchema(s)]));
    } else out[k] = toJsonSchema(x, k === 'allOf' ? false : strict);
  }
  if (out.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  delete out.nullable;
  const composed = 'allOf' in out || 'oneOf' in out || 'anyOf' in out;
  if (strict && out.properties && !composed && out.additionalProperties === undefined) {
    out.additionalProperties = false;
  }
  return out;
}

const ajv = new Ajv({ allErrors: true, unknownFormats: 'ignore', nullable: false });
ajv.addKeyword('upattern', {
  type: 'string',
  validate: (pattern: string, data: string) => new RegExp(pattern, 'u').test(data),
});
ajv.addSchema({
  $id: 'atlas',
  definitions: Object.fromEntries(
    Object.entries(spec.schemas).map(([name, schema]) => [name, toJsonSchema(schema, !composedParts.has(name))]),
  ),
});
const ops = spec.operations as Record<
  string,
  { method: string; path: string; version: string; authenticated: boolean; roles: string[]; response: string }
>;

function check(operationId: string, body: unknown): void {
  const name = ops[operationId]!.response.replace('#/components/schemas/', '');
  const validate = ajv.getSchema(`atlas#/definitions/${name}`)!;
  const ok = validate(body);
  expect(ok ? [] : ajv.errorsText(validate.errors, { separator: '\n' }).split('\n'), `${operationId} ${name}`).toEqual(
    [],
  );
}

function checkError(body: unknown): void {
  const validate = ajv.getSchema('atlas#/definitions/ApiError')!;
  expect(validate(body) ? [] : validate.errors).toEqual([]);
}

let sb: Sandbox;
let projectId: string;

beforeAll(async () => {
  sb = await startSandbox({ seed: 'demo', timeScale: 0.001, rateLimit: false });
  projectId = sb.demo!.vaults[0]!.projectId!;
}, 60_000);

afterAll(async () => {
  await sb?.close();
});

/** A raw call with the owner key through the real client, answering the parsed body. */
function owner(): AtlasClient {
  return new AtlasClient({
    baseUrl: sb.atlasBaseUrl,
    publicKey: sb.atlasPublicKey,
    privateKey: sb.atlasPrivateKey,
    ca: sb.ca,
    maxRetries: 0,
  });
}

describe('emulator responses match the published schemas', () => {
  it('listGroups, getGroup, getEncryptionAtRest, listCloudProviderAccess', async () => {
    const c = owner();
    check('listGroups', await c.request('GET', '/groups'));
    check('getGroup', await c.request('GET', `/groups/${projectId}`));
    check('getEncryptionAtRest', await c.request('GET', `/groups/${projectId}/encryptionAtRest`));
    check('listCloudProviderAccess', await c.request('GET', `/groups/${projectId}/cloudProviderAccess`));
    await c.close();
  });

  it('createCloudProviderAccess and updateEncryptionAtRest', async () => {
    const c = owner();
    const role = await c.createCloudProviderAccess(projectId, {
      providerName: 'AZURE',
      tenantId: sb.tenantId,
      servicePrincipalId: sb.atlasPrincipalId,
      atlasAzureAppId: '9efedfcc-2eca-4b27-a613-0cad1e114cb7',
    });
    check('createCloudProviderAccess', role);
    const ear = await c.getEncryptionAtRest(projectId);
    check('updateEncryptionAtRest', await c.updateEncryptionAtRest(projectId, { azureKeyVault: ear.azureKeyVault }));
    await c.close();
  });

  it('createAlertConfig and listAlertConfigs', async () => {
    const c = owner();
    const made = await c.createAlertConfig(projectId, {
      eventTypeName: 'ENCRYPTION_AT_REST_CONFIG_NO_LONGER_VALID',
      enabled: true,
      notifications: [
        { typeName: 'WEBHOOK', webhookUrl: 'https://guard.example.net/api/atlas/alerts', webhookSecret: 's3cr3t' },
      ],
    });
    check('createAlertConfig', made);
    expect(JSON.stringify(made)).not.toContain('s3cr3t');
    check('listAlertConfigs', await c.request('GET', `/groups/${projectId}/alertConfigs`));
    await c.close();
  });

  it('getGroupIpAddresses and listControlPlaneAddresses, through the product client', async () => {
    const c = owner();
    check('getGroupIpAddresses', await c.getGroupIpAddresses(projectId));
    check('listControlPlaneAddresses', await c.getControlPlaneIpAddresses());
    await c.close();
  });

  it('controlPlaneIPAddresses answers a wrong version or method with an ApiError', async () => {
    const dispatcher = new Agent({ connect: { ca: sb.ca } });
    const url = `${sb.atlasBaseUrl}/unauth/controlPlaneIPAddresses`;
    const call = async (method: string, accept: string) => {
      const r = await fetch(url, { method, headers: { accept }, dispatcher } as RequestInit);
      return { status: r.status, body: await r.json() };
    };
    const wrongVersion = await call('GET', `application/vnd.atlas.${ops.getGroup!.version}+json`);
    expect(wrongVersion.status).toBe(406);
    checkError(wrongVersion.body);
    const wrongMethod = await call('POST', `application/vnd.atlas.${ops.listControlPlaneAddresses!.version}+json`);
    expect(wrongMethod.status).toBe(405);
    checkError(wrongMethod.body);
    await dispatcher.close();
  });

  it('403, 404 and 400 bodies are ApiError', async () => {
    const ro = { clientId: sb.atlasClientId, clientSecret: sb.atlasClientSecret };
    const c = new AtlasClient({ baseUrl: sb.atlasBaseUrl, ca: sb.ca, maxRetries: 0, ...ro });
    const token = await c.tokenSource!.get();
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${sb.atlasBaseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/vnd.atlas.2023-01-01+json',
          'content-type': 'application/vnd.atlas.2023-01-01+json',
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
        dispatcher: new Agent({ connect: { ca: sb.ca } }),
      } as RequestInit);
      return { status: r.status, body: await r.json() };
    };
    const forbidden = await call('PATCH', `/groups/${projectId}/encryptionAtRest`, { azureKeyVault: {} });
    expect(forbidden.status).toBe(403);
    checkError(forbidden.body);
    const missing = await call('GET', `/groups/${'0'.repeat(24)}/encryptionAtRest`);
    expect(missing.status).toBe(404);
    checkError(missing.body);
    const bad = await call('GET', '/groups/not-an-id/encryptionAtRest');
    expect(bad.status).toBe(400);
    checkError(bad.body);
    await c.close();
  });
});

describe("the spec's x-rolesRequirements", () => {
  it('match the emulator and the product tables, operation by operation', () => {
    const emulatorOp: Record<string, string> = {
      listGroups: 'atlas.groups.list',
      getGroup: 'atlas.groups.get',
      getEncryptionAtRest: 'atlas.encryptionAtRest.get',
      updateEncryptionAtRest: 'atlas.encryptionAtRest.update',
      listCloudProviderAccess: 'atlas.cloudProviderAccess.list',
      createCloudProviderAccess: 'atlas.cloudProviderAccess.create',
      listAlertConfigs: 'atlas.alertConfigs.list',
      createAlertConfig: 'atlas.alertConfigs.create',
      getGroupIpAddresses: 'atlas.groups.ipAddresses',
    };
    for (const [id, op] of Object.entries(ops).filter(([, o]) => o.authenticated)) {
      expect(REQUIRED_ROLE[emulatorOp[id]!], id).toBe(op.roles[0]);
      const product = ATLAS_OPERATION_ROLES.find((r) => r.operationId === id);
      expect(product?.role, id).toBe(op.roles[0] ?? 'any project role');
      expect(`/api/atlas/v2${product!.path}`, id).toBe(op.path);
      expect(product!.method, id).toBe(op.method);
    }
  });

  it('an operation without credentials (security: []) needs no role, in the emulator or the product', async () => {
    const open = Object.entries(ops).filter(([, o]) => !o.authenticated);
    expect(open.map(([id]) => id)).toEqual(['listControlPlaneAddresses']);
    for (const [id, op] of open) {
      expect(op.roles, id).toEqual([]);
      expect(
        ATLAS_OPERATION_ROLES.find((r) => r.operationId === id),
        id,
      ).toBeUndefined();
      const r = await fetch(`${new URL(sb.atlasBaseUrl).origin}${op.path}`, {
        headers: { accept: `application/vnd.atlas.${op.version}+json` },
        dispatcher: new Agent({ connect: { ca: sb.ca } }),
      } as RequestInit);
      expect(r.status, id).toBe(200);
      check(id, await r.json());
    }
  });

  it('getGroupIpAddresses needs Project Read Only on the project: 403 without it', async () => {
    const none = sb.control.atlas.createServiceAccount({ name: 'no-roles' });
    const reader = sb.control.atlas.createServiceAccount({
      name: 'reader',
      roles: { [projectId]: 'Project Read Only' },
    });
    const as = (sa: { clientId: string; clientSecret: string }) =>
      new AtlasClient({ baseUrl: sb.atlasBaseUrl, ca: sb.ca, maxRetries: 0, ...sa });
    const outsider = as(none);
    await expect(outsider.getGroupIpAddresses(projectId)).rejects.toMatchObject({ status: 403 });
    await outsider.close();
    const allowed = as(reader);
    check('getGroupIpAddresses', await allowed.getGroupIpAddresses(projectId));
    await allowed.close();
  });
});
