// Shared by the sandbox-arm*.test.ts files: real SDK clients wired to a sandbox, a pipeline policy that
// keeps the raw wire responses (to compare with the published examples), and a shape comparison.
import { readFileSync } from 'node:fs';
import { AuthorizationManagementClient } from '@azure/arm-authorization';
import { KeyVaultManagementClient } from '@azure/arm-keyvault';
import { PolicyClient } from '@azure/arm-policy';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { Agent } from 'undici';
import type { Sandbox } from '../../src/sandbox/index.js';

export interface Captured {
  method: string;
  url: string;
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

export function capturePolicy(into: Captured[]): PipelinePolicy {
  return {
    name: 'captureRawResponses',
    async sendRequest(request, next) {
      const response = await next(request);
      let body: unknown = undefined;
      if (response.bodyAsText) {
        try {
          body = JSON.parse(response.bodyAsText);
        } catch {
          body = response.bodyAsText;
        }
      }
      into.push({
        method: request.method,
        url: request.url,
        status: response.status,
        headers: response.headers.toJSON(),
        body,
      });
      return response;
    },
  };
}

export interface Clients {
  auth: AuthorizationManagementClient;
  kv: KeyVaultManagementClient;
  policy: PolicyClient;
  wire: Captured[];
}

/** Real SDK clients against the sandbox; `actor` picks the caller (default the sandbox credential's `ear-guard`). */
export function clients(sb: Sandbox, actor?: string): Clients {
  const wire: Captured[] = [];
  const credential = actor ? sb.credentialFor(actor) : sb.credential;
  const options = sb.clientOptions({
    additionalPolicies: [{ policy: capturePolicy(wire), position: 'perRetry' as const }],
    retryOptions: { retryDelayInMs: 5, maxRetryDelayInMs: 20 },
  });
  return {
    auth: new AuthorizationManagementClient(credential, sb.subscriptionId, options),
    kv: new KeyVaultManagementClient(credential, sb.subscriptionId, options),
    policy: new PolicyClient(credential, sb.subscriptionId, options),
    wire,
  };
}

export function last(wire: Captured[], method?: string): Captured {
  const list = method ? wire.filter((w) => w.method === method) : wire;
  const c = list[list.length - 1];
  if (!c) throw new Error(`no ${method ?? ''} response captured`);
  return c;
}

export function fixture(name: string): {
  parameters: Record<string, unknown>;
  responses: Record<string, { body?: unknown }>;
} {
  return JSON.parse(readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8'));
}

function kind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * Lists where `actual` departs from the shape of `example`: every key the example has must be present
 * with the same JSON type (objects recursively, arrays by their first element). Values are not compared.
 */
export function shapeDiff(example: unknown, actual: unknown, path = '$'): string[] {
  const ke = kind(example);
  const ka = kind(actual);
  if (ke !== ka) return [`${path}: expected ${ke}, got ${ka}`];
  if (ke === 'array') {
    const e = example as unknown[];
    const a = actual as unknown[];
    if (e.length === 0 || a.length === 0) return [];
    return shapeDiff(e[0], a[0], `${path}[0]`);
  }
  if (ke !== 'object') return [];
  const out: string[] = [];
  for (const [k, v] of Object.entries(example as Record<string, unknown>)) {
    if (!(k in (actual as Record<string, unknown>))) out.push(`${path}.${k}: missing`);
    else out.push(...shapeDiff(v, (actual as Record<string, unknown>)[k], `${path}.${k}`));
  }
  return out;
}

/** A fetch that trusts the sandbox CA (global fetch needs an undici Agent for that). */
export function rawFetch(sb: Sandbox) {
  const dispatcher = new Agent({ connect: { ca: sb.ca } });
  return async (
    path: string,
    init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<{ status: number; headers: Headers; json: unknown; text: string }> => {
    const r = await fetch(new URL(path, sb.armEndpoint), {
      ...init,
      dispatcher,
    });
    const text = await r.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: r.status, headers: r.headers, json, text };
  };
}

export const CRYPTO_USER = '12338af0-0e69-4776-bea7-57ae8d297424';
export const READER = 'acdd72a7-3385-48ef-bd42-f606fba81ae7';
export const SERVICE_ENCRYPTION_USER = 'e147488a-f6f5-4113-8e2d-b22465e65bf6';

export function roleId(sb: Sandbox, guid: string): string {
  return `/subscriptions/${sb.subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${guid}`;
}

/** SDK errors carry `code` and `statusCode`; capture them without try/catch noise. */
export async function failure(p: Promise<unknown>): Promise<{ statusCode?: number; code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as { statusCode?: number; code?: string; message: string };
    return { statusCode: err.statusCode, code: err.code, message: err.message };
  }
  throw new Error('expected the call to fail');
}
