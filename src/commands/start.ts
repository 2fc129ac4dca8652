// `ear-guard start` (what `npm start` runs): the remediator in one process, on the local host.
// With no Azure configuration it starts the built-in sandbox with the demo seed, so a newcomer sees the whole
// product work: the webhook is subscribed to the sandbox's events through the Event Grid route, state lives
// in an in-process Azurite, and a first sweep checks every project at once.
import { parseArgs } from 'node:util';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SettingsError } from '../settings.js';
import { stackSandboxFile, startLocalStack, sweepNow, type LocalStack } from '../local/stack.js';

export const START_HELP = `Usage: ear-guard start [--port <n>] [--sandbox <file>] [--schedule "<ncrontab>"] [--json]

Runs the remediator locally: the Event Grid webhook, the sweep timer, the HTTP API and the status page,
the same handlers the Azure Functions app registers.

  With ATLAS_PUBLIC_KEY/ATLAS_PRIVATE_KEY set (and Azure credentials as @azure/identity reads them), it
  watches the real Atlas projects and Azure vaults. Otherwise it starts the built-in sandbox (Azure + Atlas
  emulator) with the demo seed and writes its description to .sandbox/sandbox.json.

Options:
  --port <n>          listen port (default PORT, else 7071 as the Functions host)
  --sandbox <file>    use a running sandbox ('ear-guard sandbox --out <file>'); also EAR_GUARD_SANDBOX
  --schedule <cron>   sweep schedule, NCRONTAB with seconds (default EAR_GUARD_SWEEP_SCHEDULE, 0 */5 * * * *)
  --json              print one JSON line when ready (for scripts)

Settings: LOCAL_FUNCTION_KEY (generated and printed when unset), EAR_GUARD_STORAGE (default: in-process Azurite).
`;

export interface StartIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Resolves when the process should stop (default: SIGINT/SIGTERM). */
  until?: Promise<void>;
}

const defaultIo = (): StartIo => ({
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
  env: process.env,
  cwd: process.cwd(),
});

function signals(): Promise<void> {
  return new Promise((r) => {
    process.once('SIGINT', () => r());
    process.once('SIGTERM', () => r());
  });
}

/** The "try it" lines for the built-in sandbox: a drift, then the CLI and the HTTP API on this stack's state. */
function tryIt(api: string, key: string, projects: string[]): string[] {
  const [a = '<id>', b = '<id>'] = projects;
  const F = '--sandbox .sandbox/sandbox.json';
  return [
    `Try it (in another terminal):`,
    `  npx ear-guard sandbox act ${F} --as alice delete-assignment --project ${a}`,
    `  npx ear-guard status ${F}`,
    `  npx ear-guard history ${a} ${F}`,
    `  npx ear-guard check --project ${b} ${F} --fix`,
    `  npx ear-guard intent ${b} revoked --reason "offboarding" ${F}`,
    `  curl -s "${api}/${a}/history?${key}"`,
    `  curl -s -X POST "${api}/${b}/check?${key}"`,
    ``,
  ];
}

export async function runStart(argv: string[], io: StartIo = defaultIo()): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        sandbox: { type: 'string' },
        schedule: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    io.stderr(`ear-guard start: ${(e as Error).message}\n`);
    return 2;
  }
  if (args.help) {
    io.stdout(START_HELP);
    return 0;
  }
  const portText = args.port ?? io.env.PORT ?? '7071';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    io.stderr(`ear-guard start: --port/PORT: expected a port number 0-65535, got '${portText}'\n`);
    return 2;
  }

  let stack: LocalStack | undefined;
  try {
    const sandboxArg = args.sandbox ?? io.env.EAR_GUARD_SANDBOX;
    stack = await startLocalStack({
      env: io.env,
      sandboxFile: sandboxArg ? resolve(io.cwd, sandboxArg) : undefined,
      port,
      sweepSchedule: args.schedule,
      log: (line) => io.stderr(`${line}\n`),
    });
    const { local, functionKey, generatedKey } = stack;
    const sandbox = stack.connection;
    const projects = stack.vaults.flatMap((v) => (v.projectId ? [v.projectId] : []));
    let sandboxFile = sandboxArg ? resolve(io.cwd, sandboxArg) : undefined;
    const description = stackSandboxFile(stack);
    if (description) {
      const dir = join(io.cwd, '.sandbox');
      await mkdir(dir, { recursive: true });
      sandboxFile = join(dir, 'sandbox.json');
      await writeFile(sandboxFile, JSON.stringify(description, null, 2) + '\n', { mode: 0o600 });
    }
    // A first sweep at once: it fills the indexes that map events to projects, and the status page.
    const first = await sweepNow(stack, (l) => io.stderr(`${l}\n`));

    const ready = {
      url: local.host.url,
      api: `${local.host.url}/api/projects`,
      dashboard: `${local.host.url}/api/dashboard`,
      health: `${local.host.url}/api/health`,
      webhook: `${local.host.url}/runtime/webhooks/eventgrid?functionName=onAzureEvent`,
      sandboxFile,
      projects: projects.length ? projects : first.summary.items.map((i) => i.projectId),
      firstSweep: first.summary.byOutcome,
    };
    if (args.json) {
      io.stdout(JSON.stringify({ ...ready, functionKey }) + '\n');
    } else {
      const k = `code=${functionKey}`;
      io.stdout(
        [
          `atlas-ear-guard is running ${sandbox ? (sandboxArg ? 'against the sandbox in ' + sandboxFile : 'against the built-in sandbox (demo seed)') : 'against Azure and Atlas'}`,
          ``,
          `  status page   ${ready.dashboard}?${k}`,
          `  HTTP API      ${ready.api}?${k}`,
          `  health        ${ready.health}`,
          `  webhook       ${ready.webhook}&code=...`,
          `  function key  ${generatedKey ? functionKey + '   (generated; set LOCAL_FUNCTION_KEY to choose one)' : '(from LOCAL_FUNCTION_KEY)'}`,
          sandboxFile ? `  sandbox       ${sandboxFile}` : '',
          ``,
          `First sweep: ${
            Object.entries(first.summary.byOutcome)
              .map(([o, n]) => `${n} ${o}`)
              .join(', ') || 'no projects'
          }. Projects: ${ready.projects.join(', ') || 'none'}`,
          ``,
          ...(sandbox && !sandboxArg ? tryIt(ready.api, k, projects) : []),
          `Ctrl+C stops it.`,
          ``,
        ]
          .filter((l, i, a) => !(l === '' && a[i - 1] === ''))
          .join('\n') + '\n',
      );
    }
    await (io.until ?? signals());
    await stack.close();
    return 0;
  } catch (err) {
    await stack?.close();
    if (err instanceof SettingsError) {
      io.stderr(`ear-guard start: ${err.message}\n`);
      return 2;
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      io.stderr(`ear-guard start: port ${port} is in use; choose another with --port or PORT\n`);
      return 2;
    }
    io.stderr(`ear-guard start: ${(err as Error).message}\n`);
    return 4;
  }
}
