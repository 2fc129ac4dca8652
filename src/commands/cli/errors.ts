// How a command fails: one line that says what to do, and an exit code. Never a stack trace.
// Exit codes: 0 ok, 1 drift found or check failed, 2 usage or input error, 3 indeterminate, 4 cannot reach
// Azure/Atlas (network, credential rejected, permission denied).
import { ClassifiedError, classifyError } from '../../azure/errors.js';
import { DocumentError } from '../../core/errors.js';
import { EndpointsFileError as SandboxConnectError } from '../../endpoints.js';
import type { CliIo } from './io.js';
import { maskText } from './output.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, indeterminate: 3, unreachable: 4 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the user can act on: printed as one line, never with a stack. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (msg: string) => new CliError(msg, EXIT.usage);

/** A failure of the state table, as the CLI reports it. */
export function stateError(e: unknown): CliError {
  if (e instanceof CliError) return e;
  const c = classifyError(e, 'state');
  return new CliError(
    `cannot use the state table (EAR_GUARD_STORAGE): ${c.describe()}`,
    c.transient || c.status === 401 || c.status === 403 ? EXIT.unreachable : EXIT.failed,
  );
}

const CREDENTIAL_ERRORS = new Set([
  'CredentialUnavailableError',
  'AggregateAuthenticationError',
  'AuthenticationRequiredError',
  'AuthenticationError',
]);

function credentialProblem(err: unknown): boolean {
  for (let e = err as { name?: string; code?: string; cause?: unknown } | undefined, i = 0; e && i < 5; i++) {
    if (CREDENTIAL_ERRORS.has(e.name ?? '') || CREDENTIAL_ERRORS.has(e.code ?? '')) return true;
    e = e.cause as typeof e;
  }
  return false;
}

type Explained = { message: string; exitCode: ExitCode };

const NO_CREDENTIAL: Explained = {
  message:
    'no usable Azure credential: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH) for a service principal, run `az login`, or run where a managed identity is available',
  exitCode: EXIT.unreachable,
};

function explainAtlas(c: ClassifiedError): Explained | undefined {
  // The client's message names the setting (401) or the spec's role for the operation (403).
  if (c.status === 401 || c.status === 403) {
    const fallback =
      c.status === 401
        ? 'Atlas rejected the credential (401): check ATLAS_CLIENT_ID / ATLAS_CLIENT_SECRET (or ATLAS_PUBLIC_KEY / ATLAS_PRIVATE_KEY) and the IP access list'
        : `Atlas refused the request (403${c.code ? ` ${c.code}` : ''}): reads need Project Read Only on the project; migrate needs Project Owner`;
    return { message: /ATLAS_/.test(c.message) ? c.message : fallback, exitCode: EXIT.unreachable };
  }
  if (c.status === 404 && /GROUP_NOT_FOUND|INVALID_GROUP_ID/.test(c.code ?? '')) {
    return { message: `Atlas: ${c.message}`, exitCode: EXIT.usage };
  }
  return undefined;
}

function explainArm(c: ClassifiedError): Explained | undefined {
  if (c.status === 403) {
    const m = /perform action '([^']+)' over scope '([^']+)'/i.exec(c.message);
    return {
      message: m
        ? `Azure denied the request (403 ${c.code ?? 'AuthorizationFailed'}): the caller lacks the permission '${m[1]}' on scope ${m[2]}`
        : `Azure denied the request (403 ${c.code ?? 'AuthorizationFailed'}): ${c.message}`,
      exitCode: EXIT.unreachable,
    };
  }
  if (c.status === 401) {
    return {
      message: `Azure rejected the credential (401${c.code ? ` ${c.code}` : ''}): ${c.message}`,
      exitCode: EXIT.unreachable,
    };
  }
  return undefined;
}

/** Turns any failure of an Atlas/ARM call into a message that names the fix, and its exit code. */
export function explainServiceError(err: unknown, source: 'arm' | 'atlas'): Explained {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  if (credentialProblem(err) || (err instanceof ClassifiedError && CREDENTIAL_ERRORS.has(err.code ?? ''))) {
    return NO_CREDENTIAL;
  }
  const c = classifyError(err, source);
  const specific = c.source === 'atlas' ? explainAtlas(c) : explainArm(c);
  if (specific) return specific;
  if (c.transient) {
    return {
      message: `cannot reach ${c.source === 'atlas' ? 'Atlas' : 'Azure'}: ${c.describe()}`,
      exitCode: EXIT.unreachable,
    };
  }
  return { message: c.describe(), exitCode: EXIT.failed };
}

/** Any failure as the one line and exit code runGuarded prints. */
function explainFailure(e: unknown): Explained {
  if (e instanceof CliError) return { message: e.message, exitCode: e.exitCode };
  if (e instanceof SandboxConnectError || e instanceof DocumentError)
    return { message: e.message, exitCode: EXIT.usage };
  if (e instanceof ClassifiedError) return explainServiceError(e, e.source === 'atlas' ? 'atlas' : 'arm');
  return { message: `unexpected error: ${(e as Error)?.message ?? String(e)}`, exitCode: EXIT.failed };
}

/** The standard wrapper: every failure becomes one line on stderr and an exit code; never a stack trace. */
export async function runGuarded(command: string, io: CliIo, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    const { message, exitCode } = explainFailure(e);
    io.stderr.write(`ear-guard ${command}: ${maskText(message)}\n`);
    return exitCode;
  }
}

/** The worst of several exit codes, in the order a person should look at them: drift, unreachable, unsure. */
export function worstExit(codes: number[]): number {
  for (const c of [EXIT.usage, EXIT.failed, EXIT.unreachable, EXIT.indeterminate]) if (codes.includes(c)) return c;
  return EXIT.ok;
}
