// dist/ (the CLI and the deployable Functions bundle) built once per test run, as `npm run build` builds it, for the
// files that spawn bin/ear-guard.js or load the bundle. Before, each such file rebuilt it itself: the Functions bundle
// takes seconds, and a rebuild in one file rewrote (rm -rf dist/functions) what a parallel file was running.
// The first caller builds under a lock directory; the others wait for its verdict. The run's state directory comes
// from test/global-setup.ts (a fresh one per `vitest run`), so each run builds from the current sources.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const WAIT_MS = 300_000;

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function build(): void {
  execFileSync(process.execPath, ['scripts/build.mjs', '--quiet', '--functions'], { cwd: ROOT, stdio: 'pipe' });
}

/** Waits for the builder's verdict: returns once built, throws its error if the build failed. */
function awaitVerdict(done: string, failed: string): void {
  const until = Date.now() + WAIT_MS;
  while (Date.now() < until) {
    if (existsSync(done)) return;
    if (existsSync(failed)) throw new Error(`building dist/ failed:\n${readFileSync(failed, 'utf8')}`);
    sleepSync(100);
  }
  throw new Error(`dist/ was not built within ${WAIT_MS / 1000} s (another test file holds the build lock)`);
}

/** Builds dist/ (lib + Functions bundle) unless this run already did; synchronous, for beforeAll and module scope. */
export function builtDist(): void {
  const runDir = inject('testRunDir');
  if (!runDir) return build(); // a config without test/global-setup.ts: build here, as before
  const done = join(runDir, 'dist-built');
  const failed = join(runDir, 'dist-failed');
  if (existsSync(done)) return;
  try {
    mkdirSync(join(runDir, 'dist-lock'));
  } catch {
    return awaitVerdict(done, failed);
  }
  try {
    build();
    writeFileSync(done, '');
  } catch (e) {
    const x = e as { stderr?: Buffer; message?: string };
    writeFileSync(failed, x.stderr?.toString() || x.message || String(e));
    throw e;
  }
}
