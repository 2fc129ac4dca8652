// The real Bicep compiler, restored from NuGet (Azure.Bicep.CommandLine.linux-x64) through `dotnet restore`
// of scripts/bicep/BicepCli.csproj into the git-ignored .cache/bicep, then used to build and lint
// infra/main.bicep. Any diagnostic (warning or error, compiler or linter) fails the check: an unknown
// property or api-version is only a warning to Bicep, and here it must not pass.
//
//   node scripts/bicep.mjs check   restore if needed, build to .cache/bicep/main.json, lint; exit 1 on any diagnostic
//   node scripts/bicep.mjs path    print the compiler's path (restoring it if needed)
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const toolsProject = join(root, 'scripts', 'bicep', 'BicepCli.csproj');
const cacheDir = join(root, '.cache', 'bicep');
export const mainBicep = join(root, 'infra', 'main.bicep');
export const compiledArm = join(cacheDir, 'main.json');
const packageId = 'Azure.Bicep.CommandLine.linux-x64';

/** The Bicep version pinned in the tools project (one place to change it). */
export const bicepVersion = /<BicepVersion[^>]*>([^<]+)</.exec(readFileSync(toolsProject, 'utf8'))[1];

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: root, ...opts });
  if (r.error) throw r.error;
  return r;
}

/** The installed .NET SDK's version, or null when `dotnet` is not on PATH. */
export function dotnetVersion() {
  const r = spawnSync('dotnet', ['--version'], { encoding: 'utf8', env: dotnetEnv() });
  if (r.error && r.error.code === 'ENOENT') return null;
  if (r.status !== 0) return null;
  return r.stdout.trim();
}

function dotnetEnv() {
  return {
    ...process.env,
    DOTNET_CLI_TELEMETRY_OPTOUT: '1',
    DOTNET_NOLOGO: '1',
    DOTNET_SKIP_FIRST_TIME_EXPERIENCE: '1',
  };
}

/** Path of the bicep binary, restored into .cache/bicep on first use. Throws with a clear message on failure. */
export function ensureBicep() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new Error(`${packageId} runs on linux-x64 only (this is ${process.platform}-${process.arch}).`);
  }
  const bin = join(cacheDir, 'packages', packageId.toLowerCase(), bicepVersion, 'tools', 'bicep');
  if (!existsSync(bin)) {
    const sdk = dotnetVersion();
    if (!sdk) throw new Error('dotnet is not installed: it is needed to restore the Bicep compiler from NuGet.');
    mkdirSync(cacheDir, { recursive: true });
    const r = run(
      'dotnet',
      [
        'restore',
        toolsProject,
        '--packages',
        join(cacheDir, 'packages'),
        `-p:BaseIntermediateOutputPath=${join(cacheDir, 'obj')}/`,
        `-p:TargetFramework=net${sdk.split('.')[0]}.0`,
        `-p:BicepVersion=${bicepVersion}`,
        '--verbosity',
        'quiet',
      ],
      { env: dotnetEnv() },
    );
    if (r.status !== 0 || !existsSync(bin)) {
      throw new Error(`dotnet restore of ${packageId} ${bicepVersion} failed:\n${r.stdout}${r.stderr}`);
    }
  }
  chmodSync(bin, 0o755);
  return bin;
}

/** One diagnostic line: `file(line,col) : Warning|Error code: message`. */
export function parseDiagnostics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^(.*)\((\d+),(\d+)\) : (Error|Warning|Info) ([^:]+): (.*)$/.exec(line.trim());
    if (m) out.push({ file: relative(root, m[1]), line: +m[2], column: +m[3], level: m[4], code: m[5], message: m[6] });
  }
  return out;
}

/**
 * Builds and lints one Bicep file (default infra/main.bicep). Returns what the compiler said; `ok` only when it
 * said nothing at all (no error, no warning, no info).
 */
export function checkInfra(file = mainBicep, outfile = compiledArm) {
  const bicep = ensureBicep();
  const version = run(bicep, ['--version']).stdout.trim();
  mkdirSync(dirname(outfile), { recursive: true });
  const build = run(bicep, ['build', file, '--outfile', outfile]);
  const lint = run(bicep, ['lint', file]);
  const text = `${build.stdout}${build.stderr}${lint.stdout}${lint.stderr}`;
  const diagnostics = parseDiagnostics(text);
  // Unparsed output with a failing exit code is still a failure.
  const ok = build.status === 0 && lint.status === 0 && diagnostics.length === 0 && existsSync(outfile);
  return { ok, version, build, lint, diagnostics, output: text.trim(), armPath: outfile };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const cmd = process.argv[2] ?? 'check';
  try {
    if (cmd === 'path') {
      console.log(ensureBicep());
    } else if (cmd === 'check') {
      const r = checkInfra();
      console.log(`${r.version}: bicep build + lint infra/main.bicep`);
      if (r.output) console.log(r.output);
      if (!r.ok) {
        console.error(`infra check failed: ${r.diagnostics.length} diagnostic(s); warnings count as errors.`);
        process.exit(1);
      }
      console.log(`ok: no diagnostics; ARM template at ${relative(root, r.armPath)}`);
    } else {
      console.error(`usage: node scripts/bicep.mjs [check|path]`);
      process.exit(2);
    }
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  }
}
