// Connects another process to a running sandbox from the JSON `ear-guard sandbox --out <file>` wrote
// (`--sandbox <file>` or EAR_GUARD_SANDBOX=<file>): endpoints, the CA to trust, a sandbox credential,
// the control API over HTTP, and the state table of the stack the file belongs to.
import { readFile } from 'node:fs/promises';
import { Agent } from 'undici';
import type { TokenCredential } from '@azure/core-auth';
import { tokenCredential, type SandboxDescription } from './index.js';

export class SandboxConnectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SandboxConnectError';
  }
}

export interface SandboxConnection {
  description: SandboxFileContents;
  armEndpoint: string;
  atlasBaseUrl: string;
  /** PEM read from `caCertPath`. */
  ca: string;
  tenantId: string;
  subscriptionId: string;
  atlasPublicKey: string;
  atlasPrivateKey: string;
  /** The demo service account (Project Read Only); absent in a file from an older sandbox. */
  atlasClientId?: string;
  atlasClientSecret?: string;
  eventGridTopicEndpoint?: string;
  eventGridTopicKey?: string;
  /** Acts as `ear-guard` unless another actor is named. */
  credential: TokenCredential;
  credentialFor(actor: string): TokenCredential;
  clientOptions<T extends object>(extra?: T): { endpoint: string; tlsOptions: { ca: string } } & T;
  /** An undici dispatcher trusting the sandbox CA, for fetch / digest-fetch. */
  dispatcher: Agent;
  /** Calls `/_sandbox/control/{surface}/{method}` and returns its `result`; throws with the ARM error message. */
  call<T = unknown>(surface: string, method: string, arg?: unknown): Promise<T>;
  close(): Promise<void>;
}

const REQUIRED = [
  'armEndpoint',
  'atlasBaseUrl',
  'caCertPath',
  'tenantId',
  'subscriptionId',
  'controlUrl',
  'controlToken',
] as const;

/** The sandbox file named by `--sandbox <file>` in argv, else EAR_GUARD_SANDBOX, else undefined. */
export function sandboxFileFrom(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  const i = argv.indexOf('--sandbox');
  if (i >= 0) {
    const v = argv[i + 1];
    if (!v || v.startsWith('--'))
      throw new SandboxConnectError('--sandbox needs a file: the JSON `ear-guard sandbox --out <file>` wrote.');
    return v;
  }
  const eq = argv.find((a) => a.startsWith('--sandbox='));
  if (eq) return eq.slice('--sandbox='.length);
  return env.EAR_GUARD_SANDBOX || undefined;
}

/** What a sandbox file adds to the emulator's own description: the state table of the stack it belongs to
 *  (`npm start`, `ear-guard sandbox`), so the CLI's state commands need nothing but `--sandbox <file>`. */
export interface SandboxState {
  /** The stack's Azurite (its published development key, not a secret): tables, and the queue. */
  stateConnection?: string;
  tablePrefix?: string;
}

export type SandboxFileContents = SandboxDescription & SandboxState;

/** The state settings a sandbox file supplies where `configured` has none (a configured EAR_GUARD_STORAGE or
 *  AzureWebJobsStorage wins, prefix included): EAR_GUARD_STORAGE and EAR_GUARD_TABLE_PREFIX, or nothing. */
export async function sandboxStateSettings(
  file: string,
  configured: Record<string, string | undefined>,
): Promise<Record<string, string>> {
  if (configured.EAR_GUARD_STORAGE || configured.AzureWebJobsStorage) return {};
  const d = await readSandboxFile(file);
  if (d.stateConnection === undefined) return {};
  if (typeof d.stateConnection !== 'string' || !d.stateConnection) {
    throw new SandboxConnectError(`sandbox file '${file}': field 'stateConnection' must be a connection string`);
  }
  const prefix = typeof d.tablePrefix === 'string' && !configured.EAR_GUARD_TABLE_PREFIX ? d.tablePrefix : undefined;
  return { EAR_GUARD_STORAGE: d.stateConnection, ...(prefix ? { EAR_GUARD_TABLE_PREFIX: prefix } : {}) };
}

async function readSandboxFile(file: string): Promise<SandboxFileContents> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new SandboxConnectError(
      `cannot read sandbox file '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  try {
    const d = JSON.parse(text) as unknown;
    if (d && typeof d === 'object' && !Array.isArray(d)) return d as SandboxFileContents;
  } catch {
    // reported below
  }
  throw new SandboxConnectError(`sandbox file '${file}' is not JSON (expected what 'ear-guard sandbox --out' writes)`);
}

export async function connectSandbox(file: string): Promise<SandboxConnection> {
  const d = await readSandboxFile(file);
  for (const f of REQUIRED) {
    if (
      typeof (d as unknown as Record<string, unknown>)[f] !== 'string' ||
      !(d as unknown as Record<string, string>)[f]
    ) {
      throw new SandboxConnectError(`sandbox file '${file}': field '${f}' is missing (expected a string)`);
    }
  }
  let ca: string;
  try {
    ca = await readFile(d.caCertPath, 'utf8');
  } catch {
    throw new SandboxConnectError(`sandbox CA '${d.caCertPath}' is unreadable: is the sandbox still running?`);
  }
  const dispatcher = new Agent({ connect: { ca } });
  const call = async <T>(surface: string, method: string, arg?: unknown): Promise<T> => {
    let r: Response;
    try {
      r = await fetch(`${d.controlUrl}/${surface}/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-sandbox-control-token': d.controlToken },
        body: JSON.stringify(arg ?? {}),
        dispatcher,
      });
    } catch (e) {
      throw new SandboxConnectError(`cannot reach the sandbox at ${d.controlUrl}: ${(e as Error).message}`);
    }
    const body = (await r.json().catch(() => ({}))) as { result?: T; error?: { code?: string; message?: string } };
    if (!r.ok) {
      throw new SandboxConnectError(
        `${surface}.${method} failed (${r.status} ${body.error?.code ?? ''}): ${body.error?.message ?? 'no message'}`,
      );
    }
    return body.result as T;
  };
  return {
    description: d,
    armEndpoint: d.armEndpoint,
    atlasBaseUrl: d.atlasBaseUrl,
    ca,
    tenantId: d.tenantId,
    subscriptionId: d.subscriptionId,
    atlasPublicKey: d.atlasPublicKey,
    atlasPrivateKey: d.atlasPrivateKey,
    ...(d.atlasClientId && d.atlasClientSecret
      ? { atlasClientId: d.atlasClientId, atlasClientSecret: d.atlasClientSecret }
      : {}),
    ...(d.eventGridTopicEndpoint ? { eventGridTopicEndpoint: d.eventGridTopicEndpoint } : {}),
    ...(d.eventGridTopicKey ? { eventGridTopicKey: d.eventGridTopicKey } : {}),
    credential: tokenCredential('ear-guard'),
    credentialFor: tokenCredential,
    clientOptions: <T extends object>(extra?: T) =>
      ({ endpoint: d.armEndpoint, tlsOptions: { ca }, ...(extra ?? {}) }) as {
        endpoint: string;
        tlsOptions: { ca: string };
      } & T,
    dispatcher,
    call,
    close: () => dispatcher.close(),
  };
}
