// Builds dist/ with esbuild. Run by `npm ci` (prepare), `npm start` and `npm run build`.
// The CLI/library keep node_modules external; the Functions app is bundled because a bundled app imports several
// times faster on a cold start (measured in bench/). It is split: the entry registers the functions from data alone
// (one file of about 80 KB: @azure/functions and the route table) after validating the settings (chunks/settings.js,
// one file with the part of zod it uses); the handlers with the engine and the Azure SDKs (chunks/registry.js and its
// chunks) load right after registration (src/functions/index.ts), and the OpenTelemetry SDK and Azure Monitor
// exporter are chunks loaded only when a connection string or exporter is set. Each of the three is its own esbuild
// build, so the entry and the settings load no shared chunks at start (every module file costs a resolve, a read and
// a compile on the cold start). Deploy the whole dist/functions/ (index.js and chunks/).
import { build } from 'esbuild';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
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

// The entry's dynamic imports, as src/functions/index.ts writes them: each is built on its own into chunks/, and the
// entry's build points the import at that file.
const SETTINGS = { source: 'src/settings.ts', out: 'settings' };
const REGISTRY = { source: 'src/functions/registry.ts', out: 'registry' };
const LAZY_IMPORTS = { '../settings.js': SETTINGS, './registry.js': REGISTRY };
const ENTRY = 'src/functions/index.ts';
const lazyImports = {
  name: 'lazy-imports',
  setup(b) {
    b.onResolve({ filter: /\.js$/ }, (args) => {
      if (args.kind !== 'dynamic-import' || args.importer !== resolve(ENTRY)) return undefined;
      const target = LAZY_IMPORTS[args.path];
      if (!target) throw new Error(`${ENTRY}: dynamic import ${args.path} has no build in scripts/build.mjs`);
      return { path: `./chunks/${target.out}.js`, external: true };
    });
  },
};

// The deployable Functions bundle takes seconds (OpenTelemetry + Azure SDKs): only on `npm run build`.
if (process.argv.includes('--functions') && existsSync(ENTRY)) {
  rmSync('dist/functions', { recursive: true, force: true });
  const functions = {
    ...common,
    metafile: process.argv.includes('--metafile'),
    banner,
    minify: true,
    // The host's own module, and optional imports never taken on Node 22 (see build-externals.mjs).
    external: BUNDLE_EXTERNALS,
    // @azure/functions' invocation-time modules load on first use, not at registration (see the plugin).
    plugins: [deferAzureFunctionsInvocation],
  };
  const results = await Promise.all([
    build({
      ...functions,
      entryPoints: { index: ENTRY },
      outdir: 'dist/functions',
      plugins: [...functions.plugins, lazyImports],
    }),
    build({ ...functions, entryPoints: { [SETTINGS.out]: SETTINGS.source }, outdir: 'dist/functions/chunks' }),
    build({
      ...functions,
      entryPoints: { [REGISTRY.out]: REGISTRY.source },
      outdir: 'dist/functions/chunks',
      chunkNames: '[name]-[hash]',
      splitting: true,
    }),
  ]);
  // `--metafile`: what the bundle holds (esbuild.github.io/analyze reads it).
  if (functions.metafile) {
    const merged = { inputs: {}, outputs: {} };
    for (const r of results) {
      Object.assign(merged.inputs, r.metafile.inputs);
      Object.assign(merged.outputs, r.metafile.outputs);
    }
    writeFileSync('dist/functions/meta.json', JSON.stringify(merged));
  }
}
