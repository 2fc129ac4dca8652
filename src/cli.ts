// Operator CLI entry. Each subcommand lives in its own module; this file only dispatches.
import { runExplain } from './commands/explain.js';
import { runSandbox } from './commands/sandbox.js';

const HELP = `ear-guard: keep MongoDB Atlas encryption at rest alive on Azure Key Vault

Usage: ear-guard <command> [options]

Commands:
  explain     judge offline whether a principal holds get/encrypt/decrypt on a key (from az/ARM JSON);
              exit 0 granted, 1 missing, 3 indeterminate, 2 bad input. 'ear-guard explain --help' for flags
  sandbox     run the Azure + Atlas emulator (--seed demo --json --out <file>); 'sandbox act' drives it
  --help      this text
`;

export async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (command === 'explain') return runExplain(argv.slice(1));
  if (command === 'sandbox') return runSandbox(argv.slice(1));
  process.stderr.write(`ear-guard: unknown command '${command}'. Run 'ear-guard --help'.\n`);
  return 2;
}
