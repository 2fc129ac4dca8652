// Builds dist/ with esbuild. Run by `npm ci` (prepare), `npm start` and `npm run build`.
// The CLI/library keep node_modules external; the Functions app is bundled because a bundled app imports several
// times faster on a cold start (measured in bench/). It is split: the entry registers the functions from data alone
// (about 80 KB: @azure/functions and the route table); the handlers with the engine and the Azure SDKs are a chunk
// loaded right after registration (src/functions/index.ts), and the OpenTelemetry SDK and Azure Monitor exporter
// are chunks loaded only when a connection string or exporter is set. Deploy the whole dist/functions/.
import { build } from 'esbuild';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { BUNDLE_EXTERNALS } from './build-externals.mjs';
import { deferAzureFunctionsInvocation } from './defer-azure-functions.mjs';

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
    // @azure/functions' invocation-time modules load on first use, not at registration (see the plugin).
    plugins: [deferAzureFunctionsInvocation],
  });
  // `--metafile`: what the bundle holds (esbuild.github.io/analyze reads it).
  if (r.metafile) writeFileSync('dist/functions/meta.json', JSON.stringify(r.metafile));
}
