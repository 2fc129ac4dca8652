// Builds dist/ with esbuild. Run by `npm ci` (prepare), `npm start` and `npm run build`.
// The CLI/library keep node_modules external; the Functions app is bundled because a bundled app imports several
// times faster on a cold start (measured in bench/). It is split: what the handlers load only on demand (the
// OpenTelemetry SDK and Azure Monitor exporter, started only when a connection string or exporter is set) lives in
// chunks next to the entry, so a cold start parses about 2 MB instead of 5 MB. Deploy the whole dist/functions/.
import { build } from 'esbuild';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { BUNDLE_EXTERNALS } from './build-externals.mjs';

const quiet = process.argv.includes('--quiet');
const common = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'esm',
  sourcemap: true,
  logLevel: quiet ? 'error' : 'info',
};
// CommonJS dependencies bundled into ESM need a real `require`.
const banner = { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" };

const libEntries = ['src/index.ts', 'src/cli.ts'].filter((f) => existsSync(f));
await build({ ...common, entryPoints: libEntries, outdir: 'dist', packages: 'external' });

// The deployable Functions bundle takes seconds (OpenTelemetry + Azure SDKs): only on `npm run build`.
if (process.argv.includes('--functions') && existsSync('src/functions/index.ts')) {
  rmSync('dist/functions', { recursive: true, force: true });
  const r = await build({
    ...common,
    entryPoints: { index: 'src/functions/index.ts' },
    outdir: 'dist/functions',
    chunkNames: 'chunks/[name]-[hash]',
    splitting: true,
    metafile: process.argv.includes('--metafile'),
    banner,
    minify: true,
    // The host's own module, and optional imports never taken on Node 22 (see build-externals.mjs).
    external: BUNDLE_EXTERNALS,
  });
  // `--metafile`: what the bundle holds (esbuild.github.io/analyze reads it).
  if (r.metafile) writeFileSync('dist/functions/meta.json', JSON.stringify(r.metafile));
}
