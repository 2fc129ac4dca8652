// Makes deploy/api: the Functions app as azd zips and deploys it. The app is an esbuild bundle
// (dist/functions/index.js and its on-demand chunks, built by scripts/build.mjs), so the package needs no
// node_modules: host.json, the bundle and a package.json whose `main` names it (the Node v4 model loads functions
// from `main`).
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Writes the deploy package into `outDir` from a built bundle directory (holding index.js [+ index.js.map]). */
export function writeDeployPackage(outDir, bundleDir, hostJson = join(root, 'host.json')) {
  const bundle = join(bundleDir, 'index.js');
  if (!existsSync(bundle)) throw new Error(`no Functions bundle at ${bundle}: does src/functions/index.ts exist?`);
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  rmSync(join(outDir, 'dist'), { recursive: true, force: true });
  mkdirSync(join(outDir, 'dist', 'functions'), { recursive: true });
  for (const f of ['index.js', 'index.js.map', 'chunks']) {
    if (existsSync(join(bundleDir, f)))
      cpSync(join(bundleDir, f), join(outDir, 'dist', 'functions', f), { recursive: true });
  }
  copyFileSync(hostJson, join(outDir, 'host.json'));
  const pkg = {
    name: 'atlas-ear-guard-functions',
    version,
    private: true,
    type: 'module',
    main: 'dist/functions/index.js',
  };
  writeFileSync(join(outDir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  return pkg;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const b = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--quiet', '--functions'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (b.status !== 0) process.exit(b.status ?? 1);
  try {
    writeDeployPackage(join(root, 'deploy', 'api'), join(root, 'dist', 'functions'));
    console.log('deploy/api ready');
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
