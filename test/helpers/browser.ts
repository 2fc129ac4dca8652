// The headless Chromium every browser test uses, driven by playwright-core: the one shipped inside the npm package
// @sparticuz/chromium (a devDependency), so `npm ci && npm test` needs no system browser and no apt step. It runs
// with the NSS/expat libraries and fonts from the same package, so nothing on the machine is assumed either.
// EAR_GUARD_CHROMIUM=<path> drives another Chromium instead (e.g. /usr/bin/chromium). Flags suit this closed
// network. Screenshots go to test/artifacts/ (git-ignored).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import { chromium, type BrowserContext } from 'playwright-core';

export const ARTIFACTS = join(import.meta.dirname, '..', 'artifacts');
const ROOT = join(import.meta.dirname, '..', '..');

export interface ChromiumBinary {
  executablePath: string;
  /** Where it came from: 'npm' (@sparticuz/chromium) or 'EAR_GUARD_CHROMIUM'. */
  source: 'npm' | 'EAR_GUARD_CHROMIUM';
  env: Record<string, string>;
}

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--no-zygote',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The package's brotli archives unpacked once per version under node_modules/.cache (atomically: parallel
 *  test files race for it, and a half-written binary must never be launched). */
function unpackNpmChromium(): ChromiumBinary {
  // The package exports no package.json and its own unpacker writes to a shared /tmp/chromium: read the files.
  const pkgDir = join(ROOT, 'node_modules', '@sparticuz', 'chromium');
  if (!existsSync(join(pkgDir, 'bin', 'chromium.br'))) {
    throw new Error(`${pkgDir}/bin/chromium.br missing: run npm ci (@sparticuz/chromium ships the browser)`);
  }
  const version = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;
  const cacheRoot = join(ROOT, 'node_modules', '.cache', 'ear-guard-chromium');
  const dir = join(cacheRoot, version);
  if (!existsSync(join(dir, 'chromium'))) {
    mkdirSync(cacheRoot, { recursive: true });
    const tmp = mkdtempSync(join(cacheRoot, `.${version}-`));
    const unbrotli = (name: string) => brotliDecompressSync(readFileSync(join(pkgDir, 'bin', name)));
    // al2023.tar.br: lib/libnss3.so and friends; fonts.tar.br: fonts/Open_Sans/*.ttf.
    for (const tar of ['al2023.tar.br', 'fonts.tar.br'])
      execFileSync('tar', ['-x', '-C', tmp], { input: unbrotli(tar) });
    writeFileSync(
      join(tmp, 'fonts.conf'),
      `<?xml version="1.0"?>\n<fontconfig><dir>${join(dir, 'fonts')}</dir><cachedir>${join(dir, 'fonts-cache')}</cachedir></fontconfig>\n`,
    );
    writeFileSync(join(tmp, 'chromium'), unbrotli('chromium.br'), { mode: 0o755 });
    try {
      renameSync(tmp, dir);
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another test file unpacked it first
    }
  }
  return {
    executablePath: join(dir, 'chromium'),
    source: 'npm',
    env: { LD_LIBRARY_PATH: join(dir, 'lib'), FONTCONFIG_PATH: dir, FONTCONFIG_FILE: join(dir, 'fonts.conf') },
  };
}

/** The browser to drive: EAR_GUARD_CHROMIUM when set, else the npm-shipped one. */
export function chromiumBinary(env: Record<string, string | undefined> = process.env): ChromiumBinary {
  const chosen = env.EAR_GUARD_CHROMIUM;
  if (chosen) {
    if (!existsSync(chosen)) throw new Error(`EAR_GUARD_CHROMIUM='${chosen}' does not exist`);
    return { executablePath: chosen, source: 'EAR_GUARD_CHROMIUM', env: {} };
  }
  return unpackNpmChromium();
}

export interface Browser {
  context: BrowserContext;
  binary: ChromiumBinary;
  close(): Promise<void>;
}

export async function launchChromium(
  viewport = { width: 1366, height: 900 },
  options: { javaScriptEnabled?: boolean } = {},
): Promise<Browser> {
  const binary = chromiumBinary();
  const profile = mkdtempSync(join(tmpdir(), 'earguard-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: binary.executablePath,
    headless: true,
    args: FLAGS,
    env: { ...process.env, ...binary.env } as Record<string, string>,
    viewport,
    ...options,
  });
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    context,
    binary,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
