// Supply chain: the lockfile is committed and in step with package.json (so `npm ci` installs exactly it), and the
// deployable Functions bundle, built the way scripts/build.mjs builds it, contains production dependencies only:
// every node_modules package esbuild put in it is a non-dev entry of the lockfile.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM build script without type declarations
import { BUNDLE_EXTERNALS } from '../../scripts/build-externals.mjs';

const root = new URL('../../', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  lockfileVersion: number;
  packages: Record<
    string,
    { version?: string; dev?: boolean; devOptional?: boolean; dependencies?: Record<string, string> }
  >;
};
const out = mkdtempSync(join(tmpdir(), 'earguard-bundle-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/**
 * `node_modules/a/node_modules/@s/b/lib/x.js` -> the lockfile key `node_modules/a/node_modules/@s/b`. Whatever comes
 * before the first `node_modules/` is dropped: in a git worktree whose node_modules links to the main checkout's,
 * esbuild names inputs `../main/node_modules/...`.
 */
function lockKeyOf(input: string): string | undefined {
  const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
  return m?.[1].replace(/^.*?(?=node_modules\/)/, '');
}

describe('supply chain', () => {
  it('package-lock.json is committed and matches package.json', () => {
    expect(execFileSync('git', ['ls-files', 'package-lock.json'], { cwd: root, encoding: 'utf8' }).trim()).toBe(
      'package-lock.json',
    );
    expect(lock.lockfileVersion).toBeGreaterThanOrEqual(2);
    const rootEntry = lock.packages[''] as {
      dependencies?: Record<string, string>;
      devDependencies?: Record<string, string>;
    };
    // Same packages on both sides (a range respelled, e.g. ~ vs ^, still locks the same version: npm ci accepts it).
    expect(Object.keys(rootEntry.dependencies ?? {}).sort()).toEqual(Object.keys(pkg.dependencies).sort());
    expect(Object.keys(rootEntry.devDependencies ?? {}).sort()).toEqual(Object.keys(pkg.devDependencies).sort());
    for (const name of Object.keys(pkg.dependencies)) {
      const entry = lock.packages[`node_modules/${name}`];
      expect(entry, name).toBeDefined();
      expect(entry!.dev ?? false, `${name} is a dependency but locked as dev`).toBe(false);
    }
  });

  it('the deployable Functions bundle holds production dependencies only', async () => {
    const result = await build({
      absWorkingDir: root,
      entryPoints: { 'functions/index': 'src/functions/index.ts' },
      outdir: out,
      bundle: true,
      platform: 'node',
      target: 'node22',
      format: 'esm',
      // As scripts/build.mjs has it.
      external: BUNDLE_EXTERNALS,
      metafile: true,
      logLevel: 'silent',
      write: false,
    });
    const inputs = Object.keys(result.metafile.inputs);
    const packages = new Set(inputs.map(lockKeyOf).filter((k): k is string => Boolean(k)));
    expect(packages.size).toBeGreaterThan(20);
    const offending: string[] = [];
    for (const key of packages) {
      const entry = lock.packages[key];
      if (!entry) offending.push(`${key} (not in the lockfile)`);
      else if (entry.dev) offending.push(`${key} (dev only)`);
    }
    expect(offending).toEqual([]);
    // Spelled out for the usual suspects: test and build tooling never ships.
    const names = [...packages].map((k) => k.replace(/^.*node_modules\//, ''));
    for (const dev of Object.keys(pkg.devDependencies)) expect(names, dev).not.toContain(dev);
  }, 120_000);
});
