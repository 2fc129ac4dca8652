// Cloud endpoints: where ARM and the Atlas Admin API listen when it is not public Azure and cloud.mongodb.com, the
// CA to trust there, and the credentials to use. A sovereign cloud needs this; so does the emulator
// (`ear-guard sandbox --out <file>` writes one such set as JSON). Product code reads endpoints from here and never
// imports the emulator.
import { readFile } from 'node:fs/promises';
import { Agent } from 'undici';
import type { AccessToken, TokenCredential } from '@azure/core-auth';

/**
 * What the engine needs to reach the clouds somewhere else: the fields of an endpoints file (caCertPath) or of an
 * in-process emulator (ca, credential).
 */
export interface CloudEndpoints {
  armEndpoint: string;
  atlasBaseUrl: string;
  ca?: string;
  caCertPath?: string;
  /** When the Atlas endpoint is served behind another certificate than ARM's. */
  atlasCa?: string;
  /** Default: a token credential acting as the `ear-guard` principal. */
  credential?: TokenCredential;
  atlasPublicKey?: string;
  atlasPrivateKey?: string;
  /** An Atlas service account (used when the settings name it). */
  atlasClientId?: string;
  atlasClientSecret?: string;
  eventGridTopicEndpoint?: string;
  eventGridTopicKey?: string;
}

/** The JSON of an endpoints file (`--sandbox <file>` / EAR_GUARD_SANDBOX); writers may add fields. */
export interface EndpointsFile {
  armEndpoint: string;
  atlasBaseUrl: string;
  caCertPath: string;
  tenantId: string;
  subscriptionId: string;
  atlasPublicKey: string;
  atlasPrivateKey: string;
  /** An Atlas service account; absent in a file from an older sandbox. */
  atlasClientId?: string;
  atlasClientSecret?: string;
  eventGridTopicEndpoint?: string;
  eventGridTopicKey?: string;
}

/** What a file from a local stack (`npm start`, `ear-guard sandbox`) adds: its state table. */
export interface StackState {
  /** The stack's Azurite (its published development key, not a secret): tables, and the queue. */
  stateConnection?: string;
  tablePrefix?: string;
}

/** An endpoints file read and its CA loaded: ready to hand to the engine and the SDK clients. */
export interface EndpointsConnection extends Omit<EndpointsFile, 'caCertPath'> {
  description: EndpointsFile & StackState;
  /** PEM read from `caCertPath`. */
  ca: string;
  /** Acts as `ear-guard`. */
  credential: TokenCredential;
  clientOptions<T extends object>(extra?: T): { endpoint: string; tlsOptions: { ca: string } } & T;
  /** An undici dispatcher trusting the CA, for fetch / digest-fetch. */
  dispatcher: Agent;
  close(): Promise<void>;
}

export class EndpointsFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EndpointsFileError';
  }
}

const REQUIRED = ['armEndpoint', 'atlasBaseUrl', 'caCertPath', 'tenantId', 'subscriptionId'] as const;

/** A bearer token naming the acting principal: how the endpoints the file describes authenticate a caller. */
export function actorTokenCredential(actor: string): TokenCredential {
  return {
    getToken: async (): Promise<AccessToken> => ({
      token: `actor:${actor}`,
      expiresOnTimestamp: Date.now() + 3600_000,
    }),
  };
}

/** The JSON object in an endpoints file (what `ear-guard sandbox --out` writes). */
async function readJsonFile(file: string): Promise<EndpointsFile & StackState> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new EndpointsFileError(
      `cannot read sandbox file '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  try {
    const d = JSON.parse(text) as unknown;
    if (d && typeof d === 'object' && !Array.isArray(d)) return d as EndpointsFile & StackState;
  } catch {
    // reported below
  }
  throw new EndpointsFileError(`sandbox file '${file}' is not JSON (expected what 'ear-guard sandbox --out' writes)`);
}

/** The state settings an endpoints file supplies where `configured` has none (a configured EAR_GUARD_STORAGE or
 *  AzureWebJobsStorage wins, prefix included): EAR_GUARD_STORAGE and EAR_GUARD_TABLE_PREFIX, or nothing. */
export async function endpointsStateSettings(
  file: string,
  configured: Record<string, string | undefined>,
): Promise<Record<string, string>> {
  if (configured.EAR_GUARD_STORAGE || configured.AzureWebJobsStorage) return {};
  const d = await readJsonFile(file);
  if (d.stateConnection === undefined) return {};
  if (typeof d.stateConnection !== 'string' || !d.stateConnection) {
    throw new EndpointsFileError(`sandbox file '${file}': field 'stateConnection' must be a connection string`);
  }
  const prefix = typeof d.tablePrefix === 'string' && !configured.EAR_GUARD_TABLE_PREFIX ? d.tablePrefix : undefined;
  return { EAR_GUARD_STORAGE: d.stateConnection, ...(prefix ? { EAR_GUARD_TABLE_PREFIX: prefix } : {}) };
}

/** Reads and checks an endpoints file; `alsoRequired` names further string fields its caller needs. */
export async function readEndpointsFile(
  file: string,
  alsoRequired: readonly string[] = [],
): Promise<{ description: EndpointsFile & StackState; ca: string }> {
  const d = await readJsonFile(file);
  for (const f of [...REQUIRED, ...alsoRequired]) {
    const v = (d as unknown as Record<string, unknown>)[f];
    if (typeof v !== 'string' || !v) {
      throw new EndpointsFileError(`sandbox file '${file}': field '${f}' is missing (expected a string)`);
    }
  }
  let ca: string;
  try {
    ca = await readFile(d.caCertPath, 'utf8');
  } catch {
    throw new EndpointsFileError(`sandbox CA '${d.caCertPath}' is unreadable: is the sandbox still running?`);
  }
  return { description: d, ca };
}

/** The connection an endpoints file describes (`alsoRequired` as for readEndpointsFile). */
export async function connectEndpoints(
  file: string,
  alsoRequired: readonly string[] = [],
): Promise<EndpointsConnection> {
  const { description: d, ca } = await readEndpointsFile(file, alsoRequired);
  const dispatcher = new Agent({ connect: { ca } });
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
    credential: actorTokenCredential('ear-guard'),
    clientOptions: <T extends object>(extra?: T) =>
      ({ endpoint: d.armEndpoint, tlsOptions: { ca }, ...(extra ?? {}) }) as {
        endpoint: string;
        tlsOptions: { ca: string };
      } & T,
    dispatcher,
    close: () => dispatcher.close(),
  };
}
