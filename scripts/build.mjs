// Builds dist/ with esbuild. Run by `npm ci` (prepare), `npm start` and `npm run build`.
// The CLI/library keep node_modules external; the Functions app is one bundle because a bundled
// app imports several times faster on a cold start (measured in bench/).
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
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
  await build({
    ...common,
    entryPoints: { 'functions/index': 'src/functions/index.ts' },
    outdir: 'dist',
    banner,
    minify: true,
    // The host's own module, and optional imports never taken on Node 22 (see build-externals.mjs).
    external: BUNDLE_EXTERNALS,
  });
}
