// `ear-guard intent <groupId> revoked|granted --reason "..."`: records a deliberate revocation (the app then never
// restores the project's access) or lifts it. Uses the loop's setIntent: the project row and a history row.
import { userInfo } from 'node:os';
import { setIntent } from '../loop/index.js';
import { connect } from './cli/connect.js';
import { EXIT, runGuarded, usageError } from './cli/errors.js';
import { defaultIo, type CliIo } from './cli/io.js';
import { COMMON_HELP, flag, parseOptions, requireGroupId, str } from './cli/options.js';
import { writeJson } from './cli/output.js';
import { publicRecord } from './status.js';

export const INTENT_HELP = `Usage: ear-guard intent <groupId> revoked|granted --reason "..." [--by <name>] [--json]

  revoked   record a deliberate revocation: the app alerts (info) but never restores this project's access
  granted   lift it: drift is restored again (in mode remediate)

  --reason "..."   why (required; kept in the project's history)
  --by <name>      who (default: the local user name)

Examples:
  ear-guard intent 5f1e2d3c4b5a69788796a5b4 revoked --reason "customer offboarding, ticket SEC-1234"
  ear-guard intent 5f1e2d3c4b5a69788796a5b4 granted --reason "offboarding cancelled"

Needs EAR_GUARD_STORAGE (write access to the state table). No Atlas key.
Exit status: 0 recorded, 2 usage, 4 cannot reach the state table.

${COMMON_HELP}`;

export async function runIntent(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  return runGuarded('intent', io, async () => {
    const { values, positionals } = parseOptions(
      'intent',
      argv,
      { reason: { type: 'string' }, by: { type: 'string' } },
      INTENT_HELP,
      true,
    );
    if (flag(values, 'help')) {
      io.stdout.write(INTENT_HELP);
      return EXIT.ok;
    }
    if (positionals.length !== 2)
      throw usageError('expected: ear-guard intent <groupId> revoked|granted --reason "..."');
    const projectId = requireGroupId(positionals[0], '<groupId>');
    const intent = positionals[1];
    if (intent !== 'revoked' && intent !== 'granted') {
      throw usageError(`intent '${intent}': expected 'revoked' or 'granted'`);
    }
    const reason = str(values, 'reason')?.trim();
    if (!reason) throw usageError('--reason "..." is required: say why (it is kept in the project history)');
    const env = io.env ?? process.env;
    let by = str(values, 'by');
    if (!by) {
      try {
        by = `${userInfo().username} (cli)`;
      } catch {
        by = `${env.USER ?? 'unknown'} (cli)`;
      }
    }
    const conn = await connect(values, io, { cloud: false, state: 'required', stateFor: 'intent' });
    try {
      const row = await setIntent(conn.state!, projectId, intent, by, reason);
      if (flag(values, 'json')) writeJson(io, { project: publicRecord(row) });
      else {
        io.stdout.write(
          intent === 'revoked'
            ? `Recorded: project ${projectId} access is deliberately revoked (by ${by}: ${reason}). The app will not restore it; 'ear-guard intent ${projectId} granted --reason ...' lifts this.\n`
            : `Recorded: project ${projectId} intent is granted (by ${by}: ${reason}). Drift is restored again in mode remediate.\n`,
        );
      }
      return EXIT.ok;
    } finally {
      await conn.close();
    }
  });
}
