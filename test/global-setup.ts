// Once per `vitest run`, in the main process: a fresh state directory for run-wide test helpers (test/helpers/dist.ts
// builds dist/ once per run under it), and the run's Azurite (tables, in memory) that test/helpers/azurite.ts hands
// to every file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startLocalStorage } from '../src/local/azurite.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** This run's scratch directory (locks and stamps of run-wide helpers). */
    testRunDir: string;
    /** The run's shared Azurite Table service. */
    azurite: { tableEndpoint: string; connectionString: string };
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const runDir = mkdtempSync(join(tmpdir(), 'earguard-testrun-'));
  project.provide('testRunDir', runDir);
  const azurite = await startLocalStorage({ queue: false });
  project.provide('azurite', { tableEndpoint: azurite.tableEndpoint, connectionString: azurite.connectionString });
  return async () => {
    await azurite.close();
    rmSync(runDir, { recursive: true, force: true });
  };
}
