// (4) Cold start: time and RSS to import the deployed Functions bundle (dist/functions/index.js and the chunks it
// loads at import) vs the same entry unbundled (every source file transpiled one to one, node_modules resolved at run
// time), each in a fresh `node` process, alternating, same run. Both are imported as the Functions worker imports
// the app (see PROBE), so the figure covers what a cold start in Azure runs: settings validation and registration.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { ROOT, percentile } from './lib.js';

const run = promisify(execFile);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Builds the unbundled variant under dist/bench-unbundled (git- and lint-ignored) and returns its Functions entry. */
async function buildUnbundled(): Promise<string> {
  const out = join(ROOT, 'dist/bench-unbundled');
  rmSync(out, { recursive: true, force: true });
  await build({
    entryPoints: sources(join(ROOT, 'src')),
    outdir: join(out, 'src'),
    outbase: join(ROOT, 'src'),
    bundle: false,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    // Keep `with { type: 'json' }` (Node 20 requires it).
    supported: { 'import-attributes': true },
    logLevel: 'error',
  });
  // `../../infra/*.json` imports resolve next to the output, as they do next to src/.
  mkdirSync(join(out, 'infra'), { recursive: true });
  cpSync(join(ROOT, 'infra/guard-contract.json'), join(out, 'infra/guard-contract.json'));
  cpSync(join(ROOT, 'infra/event-routing.json'), join(out, 'infra/event-routing.json'));
  return join(out, 'src/functions/index.js');
}

// The worker serves `@azure/functions-core` by intercepting require (Module.prototype.require), and the library
// registers each function with it; without it the library falls back to a test mode that prints a warning per
// function and registers nothing. The stand-in accepts every registration and does nothing with it.
const PROBE = `
import Module from 'node:module';
const done = () => ({ dispose() {} });
const core = { setProgrammingModel() {}, registerFunction: done, registerHook: done, log() {} };
const require0 = Module.prototype.require;
Module.prototype.require = function (id) { return id === '@azure/functions-core' ? core : require0.apply(this, arguments); };
const t0 = performance.now();
await import(process.argv[1]);
const ms = performance.now() - t0;
console.log(JSON.stringify({ importMs: ms, sinceStartMs: performance.now(), rss: process.memoryUsage.rss(), heap: process.memoryUsage().heapUsed }));
`;

/**
 * The host's environment, as far as the entry reads it at import: FUNCTIONS_WORKER_RUNTIME makes it validate the
 * settings before registering (src/functions/index.ts), and the smallest valid settings (one Atlas key pair) pass.
 */
const HOST_ENV = {
  PATH: process.env.PATH ?? '',
  FUNCTIONS_WORKER_RUNTIME: 'node',
  ATLAS_PUBLIC_KEY: 'bench-public-key',
  ATLAS_PRIVATE_KEY: 'bench-private-key',
};

export interface ColdStartVariant {
  entry: string;
  sizeKb: number;
  importMsP50: number;
  processMsP50: number;
  rssMbP50: number;
  heapMbP50: number;
}

export async function coldStart(runs = 7): Promise<{ bundled: ColdStartVariant; unbundled: ColdStartVariant }> {
  const bundledEntry = join(ROOT, 'dist/functions/index.js');
  if (!existsSync(bundledEntry)) throw new Error('dist/functions/index.js missing: npm run build first');
  const unbundledEntry = await buildUnbundled();
  const samples: Record<'bundled' | 'unbundled', { importMs: number; processMs: number; rss: number; heap: number }[]> =
    {
      bundled: [],
      unbundled: [],
    };
  // One warm-up each (the OS file cache), then alternate so both see the same machine load.
  for (let i = -1; i < runs; i++) {
    for (const [k, entry] of [
      ['bundled', bundledEntry],
      ['unbundled', unbundledEntry],
    ] as const) {
      const t0 = performance.now();
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', PROBE, entry], {
        cwd: ROOT,
        env: HOST_ENV,
      });
      const processMs = performance.now() - t0;
      const r = JSON.parse(stdout.trim().split('\n').pop()!) as { importMs: number; rss: number; heap: number };
      if (i >= 0) samples[k].push({ importMs: r.importMs, processMs, rss: r.rss, heap: r.heap });
    }
  }
  const summarize = (k: 'bundled' | 'unbundled', entry: string, sizeKb: number): ColdStartVariant => {
    const s = samples[k];
    const med = (f: (x: (typeof s)[0]) => number) =>
      percentile(
        s.map(f).sort((a, b) => a - b),
        50,
      );
    return {
      entry: entry.replace(ROOT, ''),
      sizeKb,
      importMsP50: med((x) => x.importMs),
      processMsP50: med((x) => x.processMs),
      rssMbP50: med((x) => x.rss) / 1024 / 1024,
      heapMbP50: med((x) => x.heap) / 1024 / 1024,
    };
  };
  return {
    bundled: summarize('bundled', bundledEntry, statSync(bundledEntry).size / 1024),
    unbundled: summarize('unbundled', unbundledEntry, NaN),
  };
}
