// Where a command reads and writes: the streams and environment, injectable so tests run commands in-process.
import type { TokenCredential } from '@azure/core-auth';
import type { RetryOptions } from '../../azure/clients.js';
import type { AtlasRetryOptions } from '../../engine.js';

export interface CliIo {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  /** Default process.env. */
  env?: Record<string, string | undefined>;
  /** Read when a file argument is '-'. Default process.stdin. */
  stdin?: AsyncIterable<Buffer | string>;
  /** Tests: faster retries, a credential, short polls. Never set by the real CLI. */
  tuning?: {
    armRetry?: RetryOptions;
    atlasRetry?: AtlasRetryOptions;
    credential?: TokenCredential;
    pollMs?: number;
  };
}

export const defaultIo = (): CliIo => ({ stdout: process.stdout, stderr: process.stderr });
