// `ear-guard start` (what `npm start` runs): the remediator in one process, on the local host.
// With no Azure configuration it starts the built-in sandbox with the demo seed, so a newcomer sees the whole
// product work: the webhook is subscribed to the sandbox's events through the Event Grid route, state lives
// in an in-process Azurite, and a first sweep checks every project at once.
import { parseArgs } from 'node:util';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { SettingsError } from '../settings.js';
import { parseDuration } from '../sandbox/propagation.js';
import { stackSandboxFile, startLocalStack, sweepNow, type LocalStack } from '../local/stack.js';

export const START_HELP = `Usage: ear-guard start [--port <n>] [--sandbox <file>] [--schedule "<ncrontab>"] [--json]
                       [--propagation-delay <duration>]

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
  --propagation-delay <duration>   built-in sandbox: a new grant reaches Key Vault's data plane (and Atlas's
                      \`valid\`) only after this long, e.g. 4s (a removal at once); for a running sandbox, start it
                      with 'ear-guard sandbox --propagation-delay' or POST /_sandbox/control/propagation/setDelay

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

interface StartArgs {
  port: number;
  sandbox?: string;
  schedule?: string;
  json: boolean;
  /** Built-in sandbox only: the propagation delay (ms, sandbox time). */
  propagationDelayMs?: number;
}

/** What the command line asks for: help, a usage error (exit 2), or a start. */
type StartRequest = { kind: 'help' } | { kind: 'usage'; message: string } | { kind: 'start'; args: StartArgs };

function parseStartArgs(argv: string[], env: StartIo['env']): StartRequest {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        sandbox: { type: 'string' },
        schedule: { type: 'string' },
        json: { type: 'boolean', default: false },
        'propagation-delay': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    return { kind: 'usage', message: (e as Error).message };
  }
  if (values.help) return { kind: 'help' };
  const portText = values.port ?? env.PORT ?? '7071';
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    return { kind: 'usage', message: `--port/PORT: expected a port number 0-65535, got '${portText}'` };
  }
  const delayText = values['propagation-delay'];
  const propagationDelayMs = delayText === undefined ? undefined : parseDuration(delayText);
  if (delayText !== undefined && propagationDelayMs === undefined) {
    return {
      kind: 'usage',
      message: `--propagation-delay: expected a duration such as 4s, 10m or 250ms, got '${delayText}'`,
    };
  }
  return {
    kind: 'start',
    args: {
      port,
      sandbox: values.sandbox ?? env.EAR_GUARD_SANDBOX,
      schedule: values.schedule,
      json: values.json,
      ...(propagationDelayMs !== undefined ? { propagationDelayMs } : {}),
    },
  };
}

export async function runStart(argv: string[], io: StartIo = defaultIo()): Promise<number> {
  const request = parseStartArgs(argv, io.env);
  if (request.kind === 'usage') {
    io.stderr(`ear-guard start: ${request.message}\n`);
    return 2;
  }
  if (request.kind === 'help') {
    io.stdout(START_HELP);
    return 0;
  }
  const args = request.args;
  let stack: LocalStack | undefined;
  try {
    stack = await startLocalStack({
      ...(args.propagationDelayMs !== undefined
        ? { sandboxOptions: { propagationDelayMs: args.propagationDelayMs } }
        : {}),
      env: io.env,
      sandboxFile: args.sandbox ? resolve(io.cwd, args.sandbox) : undefined,
      port: args.port,
      sweepSchedule: args.schedule,
      log: (line) => io.stderr(`${line}\n`),
    });
    const sandboxFile = await writeSandboxFile(stack, io.cwd, args.sandbox);
    // A first sweep at once: it fills the indexes that map events to projects, and the status page.
    const first = await sweepNow(stack, (l) => io.stderr(`${l}\n`));
    const ready = readyInfo(stack, first, sandboxFile);
    io.stdout(args.json ? JSON.stringify({ ...ready, ...shownKey(stack) }) + '\n' : readyText(stack, ready, args));
    await (io.until ?? signals());
    await stack.close();
    return 0;
  } catch (err) {
    await stack?.close();
    return startFailure(err, args.port, io);
  }
}

/** The sandbox file to point other commands at: the one given, or the in-process sandbox's, written now. */
async function writeSandboxFile(stack: LocalStack, cwd: string, sandboxArg?: string): Promise<string | undefined> {
  const description = stackSandboxFile(stack);
  if (!description) return sandboxArg ? resolve(cwd, sandboxArg) : undefined;
  const dir = join(cwd, '.sandbox');
  await mkdir(dir, { recursive: true });
  const sandboxFile = join(dir, 'sandbox.json');
  await writeFile(sandboxFile, JSON.stringify(description, null, 2) + '\n', { mode: 0o600 });
  return sandboxFile;
}

type SweepResult = Awaited<ReturnType<typeof sweepNow>>;

/** What `--json` prints when ready (plus the function key). */
interface ReadyInfo {
  url: string;
  api: string;
  dashboard: string;
  health: string;
  webhook: string;
  sandboxFile?: string;
  projects: string[];
  firstSweep: SweepResult['summary']['byOutcome'];
}

function sandboxProjects(stack: LocalStack): string[] {
  return stack.vaults.flatMap((v) => (v.projectId ? [v.projectId] : []));
}

function readyInfo(stack: LocalStack, first: SweepResult, sandboxFile: string | undefined): ReadyInfo {
  const url = stack.local.host.url;
  const projects = sandboxProjects(stack);
  return {
    url,
    api: `${url}/api/projects`,
    dashboard: `${url}/api/dashboard`,
    health: `${url}/api/health`,
    webhook: `${url}/runtime/webhooks/eventgrid?functionName=onAzureEvent`,
    sandboxFile,
    projects: projects.length ? projects : first.summary.items.map((i) => i.projectId),
    firstSweep: first.summary.byOutcome,
  };
}

function runningAgainst(stack: LocalStack, args: StartArgs, sandboxFile: string | undefined): string {
  if (!stack.connection) return 'against Azure and Atlas';
  return args.sandbox ? 'against the sandbox in ' + sandboxFile : 'against the built-in sandbox (demo seed)';
}

/** The key for the --json line: only a generated one (a chosen key is the operator's secret). */
function shownKey(stack: LocalStack): { functionKey?: string } {
  return stack.generatedKey ? { functionKey: stack.functionKey } : {};
}

function functionKeyNote(stack: LocalStack): string {
  return stack.generatedKey
    ? stack.functionKey + '   (generated; set LOCAL_FUNCTION_KEY to choose one)'
    : '(from LOCAL_FUNCTION_KEY)';
}

function outcomeCounts(byOutcome: ReadyInfo['firstSweep']): string {
  return (
    Object.entries(byOutcome)
      .map(([o, n]) => `${n} ${o}`)
      .join(', ') || 'no projects'
  );
}

/** The human "ready" text: where everything is, the first sweep, and (built-in sandbox) what to try. */
function readyText(stack: LocalStack, ready: ReadyInfo, args: StartArgs): string {
  // A key the operator chose stays out of scrollback and CI logs; only a generated one must be shown.
  const k = `code=${stack.generatedKey ? stack.functionKey : '<LOCAL_FUNCTION_KEY>'}`;
  const builtIn = stack.connection && !args.sandbox;
  return (
    [
      `atlas-ear-guard is running ${runningAgainst(stack, args, ready.sandboxFile)}`,
      ``,
      `  status page   ${ready.dashboard}?${k}`,
      `  HTTP API      ${ready.api}?${k}`,
      `  health        ${ready.health}`,
      `  webhook       ${ready.webhook}&code=...`,
      `  function key  ${functionKeyNote(stack)}`,
      ready.sandboxFile ? `  sandbox       ${ready.sandboxFile}` : '',
      ``,
      `First sweep: ${outcomeCounts(ready.firstSweep)}. Projects: ${ready.projects.join(', ') || 'none'}`,
      ``,
      ...(builtIn ? tryIt(ready.api, k, sandboxProjects(stack)) : []),
      `Ctrl+C stops it.`,
      ``,
    ]
      .filter((l, i, a) => !(l === '' && a[i - 1] === ''))
      .join('\n') + '\n'
  );
}

/** Exit code and message for a failed start: 2 for what the operator can fix in settings or flags, else 4. */
function startFailure(err: unknown, port: number, io: StartIo): number {
  if (err instanceof SettingsError) {
    io.stderr(`ear-guard start: ${err.message}\n`);
    return 2;
  }
  if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
    io.stderr(`ear-guard start: port ${port} is in use; choose another with --port or PORT\n`);
    return 2;
  }
  io.stderr(`ear-guard start: ${(err as Error).message}\n`);
  return 4;
}
