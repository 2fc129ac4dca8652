// Once per `vitest run`, in the main process: a fresh state directory for run-wide test helpers (test/helpers/dist.ts
// builds dist/ once per run under it).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** This run's scratch directory (locks and stamps of run-wide helpers). */
    testRunDir: string;
  }
}

export default function setup(project: TestProject): () => void {
  const runDir = mkdtempSync(join(tmpdir(), 'earguard-testrun-'));
  project.provide('testRunDir', runDir);
  return () => rmSync(runDir, { recursive: true, force: true });
}
