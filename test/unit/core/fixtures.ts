// Loads test/fixtures files; published ARM examples are unwrapped to their 200 response body.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));

export function fixture(name: string): unknown {
  return JSON.parse(readFileSync(FIXTURES + name, 'utf8'));
}

/** The `responses["200"].body` of an azure-rest-api-specs example file. */
export function exampleBody(name: string): unknown {
  const j = fixture(name) as { responses: Record<string, { body: unknown }> };
  return j.responses['200'].body;
}

export const SUB = '/subscriptions/a925f2f7-5c63-4b7b-8799-25a5f97bc3b2';
export const VAULT = `${SUB}/resourceGroups/rg-atlas/providers/Microsoft.KeyVault/vaults/kv-atlas`;
export const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
export const ATLAS_SP = '3f0c2a8e-5b6d-4e1f-9a7b-2c4d6e8f0a1b';
