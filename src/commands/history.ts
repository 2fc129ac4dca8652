// `ear-guard history <groupId> [--since 7d] [--limit N]`: a project's history rows (detections, plans, actions,
// verifications, alerts, intents), newest first.
import { SWEEP_PARTITION } from '../loop/sweep.js';
import { connect } from './cli/connect.js';
import { EXIT, runGuarded, usageError } from './cli/errors.js';
import { defaultIo, type CliIo } from './cli/io.js';
import { COMMON_HELP, flag, parseDuration, parseOptions, positiveInt, requireGroupId, str } from './cli/options.js';
import { table, writeJson } from './cli/output.js';

export const HISTORY_HELP = `Usage: ear-guard history <groupId> [--since 7d] [--limit 100] [--json]

Prints the project's history from the state table, newest first: detections, restore plans, actions,
verifications, alerts and intent changes, with the trigger and the actor when known. Use '_sweep' as the
project to see the sweeps.

  --since <duration|ISO time>   only rows at or after: 30m, 12h, 7d, 2w, or 2025-01-31T00:00:00Z (default 7d)
  --limit <n>                   at most n rows (default 100)

Examples:
  ear-guard history 5f1e2d3c4b5a69788796a5b4
  ear-guard history 5f1e2d3c4b5a69788796a5b4 --since 24h --json
  ear-guard history _sweep --limit 10

Needs EAR_GUARD_STORAGE. No Atlas key.
Exit status: 0 ok, 2 usage, 4 cannot reach the state table.

${COMMON_HELP}`;

export function sinceIso(v: string, now = Date.now()): string {
  if (/^\d{4}-\d{2}-\d{2}/.test(v)) {
    const t = Date.parse(v);
    if (!Number.isFinite(t)) throw usageError(`--since '${v}' is not a valid time`);
    return new Date(t).toISOString();
  }
  return new Date(now - parseDuration(v, '--since')).toISOString();
}

export async function runHistory(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  return runGuarded('history', io, async () => {
    const { values, positionals } = parseOptions(
      'history',
      argv,
      { since: { type: 'string' }, limit: { type: 'string' } },
      HISTORY_HELP,
      true,
    );
    if (flag(values, 'help')) {
      io.stdout.write(HISTORY_HELP);
      return EXIT.ok;
    }
    if (positionals.length !== 1) throw usageError('name one project: ear-guard history <groupId>');
    const projectId =
      positionals[0] === SWEEP_PARTITION ? SWEEP_PARTITION : requireGroupId(positionals[0], '<groupId>');
    const since = sinceIso(str(values, 'since') ?? '7d');
    const limit = positiveInt(str(values, 'limit'), '--limit', 100);
    const conn = await connect(values, io, { cloud: false, state: 'required', stateFor: 'history' });
    try {
      const rows = await conn.state!.listHistory(projectId, { since, limit });
      if (flag(values, 'json')) {
        writeJson(io, { projectId, since, rows });
        return EXIT.ok;
      }
      if (rows.length === 0) {
        io.stdout.write(`No history for ${projectId} since ${since}.\n`);
        return EXIT.ok;
      }
      io.stdout.write(
        table(
          ['AT', 'KIND', 'TRIGGER', 'ACTOR', 'SUMMARY'],
          rows.map((r) => [r.at, r.kind, r.trigger, r.actor, r.summary]),
        ),
      );
      return EXIT.ok;
    } finally {
      await conn.close();
    }
  });
}
