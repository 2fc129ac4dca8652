// Connects another process to a running sandbox from the JSON `ear-guard sandbox --out <file>` wrote
// (`--sandbox <file>` or EAR_GUARD_SANDBOX=<file>): endpoints, the CA to trust, a sandbox credential,
// the control API over HTTP, and the state table of the stack the file belongs to.
import type { TokenCredential } from '@azure/core-auth';
import {
  connectEndpoints,
  EndpointsFileError,
  type EndpointsConnection,
  type EndpointsFile,
  type StackState,
} from '../endpoints.js';
import { tokenCredential, type SandboxDescription } from './index.js';

/** Reading the file is the product's (src/endpoints.ts); the old names stay for the emulator's callers. */
export const SandboxConnectError = EndpointsFileError;
export type SandboxConnectError = EndpointsFileError;
export { endpointsStateSettings as sandboxStateSettings } from '../endpoints.js';
export type SandboxState = StackState;
export type SandboxFileContents = SandboxDescription & StackState;

/** The endpoints of a sandbox file plus the emulator's own: any actor's credential and the control API. */
export interface SandboxConnection extends EndpointsConnection {
  description: SandboxFileContents;
  credentialFor(actor: string): TokenCredential;
  /** Calls `/_sandbox/control/{surface}/{method}` and returns its `result`; throws with the ARM error message. */
  call<T = unknown>(surface: string, method: string, arg?: unknown): Promise<T>;
}

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

export async function connectSandbox(file: string): Promise<SandboxConnection> {
  const endpoints = await connectEndpoints(file, ['controlUrl', 'controlToken']);
  const d = endpoints.description as EndpointsFile as SandboxFileContents;
  const dispatcher = endpoints.dispatcher;
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
  return { ...endpoints, description: d, credentialFor: tokenCredential, call };
}
