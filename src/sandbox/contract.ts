// The seams inside the sandbox: the server + ARM half (server.ts, arm*.ts, index.ts) and the
// Atlas + Event Grid half (atlas.ts, eventgrid.ts) meet only through these types.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** A parsed request as every route family sees it. */
export interface SandboxRequest {
  method: string;
  url: URL;
  headers: IncomingMessage['headers'];
  body: Buffer;
  /** The raw request, for digest auth (which signs the method and URI). */
  raw: IncomingMessage;
}

/** Returns true when it handled (answered) the request, false to let the next family try. */
export type RouteHandler = (req: SandboxRequest, res: ServerResponse) => Promise<boolean>;

/** Who made a change: the sandbox's "act as alice" identities. Ends up in event `claims`. */
export interface Actor {
  name: string;
  objectId: string;
  tenantId: string;
  upn?: string;
  appId?: string;
}

/** A successful ARM management-plane change, turned into Microsoft.Resources.* events by eventgrid.ts. */
export interface ChangeNotice {
  kind: 'write' | 'delete' | 'action';
  /** e.g. `Microsoft.Authorization/roleAssignments/delete`, `Microsoft.KeyVault/vaults/accessPolicies/write`. */
  operationName: string;
  /** The changed resource's ID (for access policies: `.../vaults/{v}/accessPolicies/{add|replace|remove}`). */
  resourceUri: string;
  subscriptionId: string;
  tenantId: string;
  actor: Actor;
  correlationId: string;
  httpMethod: string;
  requestUrl: string;
}

/** A Key Vault system-topic event. */
export interface KeyVaultNotice {
  type: 'VaultAccessPolicyChanged' | 'KeyNewVersionCreated' | 'KeyNearExpiry' | 'KeyExpired';
  vaultId: string;
  vaultName: string;
  subscriptionId: string;
  objectName?: string;
  version?: string;
  /** Unix seconds, as Key Vault events carry them. */
  nbf?: number;
  exp?: number;
}

/** What Atlas needs to compute `azureKeyVault.valid` against the emulated Azure. */
export interface KeyAccessQuery {
  principalId: string;
  tenantId: string;
  subscriptionId: string;
  resourceGroupName: string;
  keyVaultName: string;
  /** `https://{vault}.vault.azure.net/keys/{name}/{version}` */
  keyIdentifier: string;
  /** The Atlas project asking (its cluster addresses reach the vault too); absent: control-plane addresses only. */
  projectId?: string;
  /** Atlas's `requirePrivateNetworking`: the vault is reached through a private endpoint. */
  privateNetworking?: boolean;
}

export interface KeyAccessAnswer {
  valid: boolean;
  reason?: string;
}

/** Shared by both halves; built by index.ts. */
export interface SandboxContext {
  tenantId: string;
  subscriptionId: string;
  /** `https://localhost:{port}` once listening. */
  baseUrl(): string;
  /** Implemented by the ARM half with the real evaluator (core/evaluate.ts) over its own state. */
  checkKeyAccess(q: KeyAccessQuery): KeyAccessAnswer;
  /** Implemented by the Event Grid half: turns a change into events and delivers them. */
  notify(n: ChangeNotice | KeyVaultNotice): void;
  /** Accounting: one call per request, by operation (e.g. `roleAssignments.create`) and caller. */
  count(operation: string, caller: string): void;
  /** Scale for delivery retry delays etc. (1 = real time; tests use small values). */
  timeScale: number;
}
