// Operator CLI entry. Each subcommand lives in its own module; this file only dispatches.
import { runExplain } from './commands/explain.js';
import { runSandbox } from './commands/sandbox.js';
import { runCheck } from './commands/check.js';
import { runPreflight } from './commands/preflight.js';
import { runMigrate } from './commands/migrate.js';
import { runSweepCommand } from './commands/sweep.js';
import { runStatus } from './commands/status.js';
import { runHistory } from './commands/history.js';
import { runIntent } from './commands/intent.js';
import { runTriage } from './commands/triage.js';
import { runStart } from './commands/start.js';
import { runDemo } from './commands/demo.js';
import { runAtlasAlerts } from './commands/atlasAlerts.js';

const HELP = `ear-guard: keep MongoDB Atlas encryption at rest alive on Azure Key Vault

Usage: ear-guard <command> [options]

Commands:
  explain     judge offline whether a principal holds get/encrypt/decrypt on a key (from az/ARM JSON);
              exit 0 granted, 1 missing, 3 indeterminate, 2 bad input. 'ear-guard explain --help' for flags
  start       run the remediator locally (webhook, timer, API, status page); the demo sandbox when no Azure is set
  demo        a scripted drift scenario on a fresh sandbox, with a timeline (npm run demo)
  sandbox     run the Azure + Atlas emulator (--seed demo --json --out <file>); 'sandbox act' drives it
  check       live check of a project (Atlas + ARM): verdict per permission, key state, fix commands; --fix restores
  preflight   verify before you PATCH encryptionAtRest: principal registered, grants, key state; --fix grants
  migrate     move a project from static credentials to the secretless service principal (--dry-run first)
  atlas-alerts install  Atlas alert configurations for the EAR events, to the app's /api/atlas/alerts
  sweep       reconcile every configured project once, with a summary table
  status      the state table: one row per project
  history     a project's history: detections, restores, alerts, intents (--since 7d)
  intent      record a deliberate revocation (revoked) or lift it (granted) --reason "..."
  triage      what the app would do with an Event Grid / CloudEvents event file
  --help      this text

Every command takes --help (with examples), --json, --sandbox <file> and --config <file>.
Exit status: 0 ok, 1 drift found or check failed, 2 usage or input error, 3 indeterminate, 4 cannot reach Azure/Atlas.
`;

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  explain: runExplain,
  sandbox: runSandbox,
  check: runCheck,
  preflight: runPreflight,
  migrate: runMigrate,
  sweep: runSweepCommand,
  status: runStatus,
  history: runHistory,
  intent: runIntent,
  triage: runTriage,
  start: runStart,
  demo: runDemo,
  'atlas-alerts': runAtlasAlerts,
};

export async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (run) return run(argv.slice(1));
  process.stderr.write(`ear-guard: unknown command '${command}'. Run 'ear-guard --help'.\n`);
  return 2;
}
