// `ear-guard sweep [--concurrency N]`: a one-off sweep of every configured project through the app's own sweep
// runner and reconcile loop (same engine, same mode), with a progress bar on a TTY (plain lines otherwise) and a
// summary table. Exit 1 if any project is missing access.
import { runSweep, needsAttention, type SweepItem } from '../loop/sweep.js';
import { isTransientOutcome, type Outcome } from '../loop/index.js';
import { connect } from './cli/connect.js';
import { EXIT, runGuarded, usageError, worstExit } from './cli/errors.js';
import { defaultIo, type CliIo } from './cli/io.js';
import { COMMON_HELP, flag, list, parseOptions, positiveInt, requireGroupId, str } from './cli/options.js';
import { progress, table, writeJson } from './cli/output.js';

export const SWEEP_HELP = `Usage: ear-guard sweep [--concurrency N] [--mode observe|alert|remediate] [--project <groupId> ...] [--json]

Reconciles every configured project once, exactly as the app's timer sweep does (same engine, bounded overall and
per subscription), records the outcome in the state table and the sweep heartbeat, and prints a summary table.
Projects: ATLAS_PROJECT_IDS, else every project the Atlas key can see.

  --concurrency <n>   reconciles in flight at once (default 8)
  --mode <m>          override EAR_GUARD_MODE for this sweep: observe (record only), alert, remediate (restore)
  --project <id>      sweep only these projects (repeatable)

Examples:
  ear-guard sweep
  ear-guard sweep --mode observe --concurrency 4
  ear-guard sweep --json | jq '.summary.attention'

Atlas role: Project Read Only (the sweep only reads encryptionAtRest and cloudProviderAccess, per the spec's
x-rolesRequirements); service account (ATLAS_CLIENT_ID/SECRET, preferred) or API key.
Needs EAR_GUARD_STORAGE. Azure: Reader where the vaults are; restores (mode remediate) need the write roles.
Exit status: 0 every project healthy, 1 a project is missing access (or its check failed), 3 indeterminate,
4 cannot reach Azure/Atlas for some project.

${COMMON_HELP}`;

/** The exit code one project's outcome calls for. */
export function outcomeExit(o: Outcome | undefined, error?: string): number {
  if (error || !o) return EXIT.failed;
  if (o.kind === 'failed' || o.kind === 'retry') {
    return isTransientOutcome(o) ? EXIT.unreachable : EXIT.failed;
  }
  if (o.verdict?.verdict === 'indeterminate') return EXIT.indeterminate;
  if (o.kind === 'restored' || o.kind === 'converged') return EXIT.ok;
  if (o.status === 'unsupported') return EXIT.ok;
  if (
    o.verdict?.verdict === 'missing' ||
    ['drifted', 'degraded', 'revoked', 'escalated', 'failing'].includes(o.status)
  ) {
    return EXIT.failed;
  }
  return needsAttention(o) ? EXIT.failed : EXIT.ok;
}

function reasonOf(i: SweepItem): string {
  if (i.error) return i.error;
  const o = i.outcome!;
  return 'reason' in o ? o.reason : o.kind === 'restored' ? o.actions.map((a) => a.description).join('; ') : '';
}

export async function runSweepCommand(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  return runGuarded('sweep', io, async () => {
    const { values } = parseOptions(
      'sweep',
      argv,
      { concurrency: { type: 'string' }, mode: { type: 'string' }, project: { type: 'string', multiple: true } },
      SWEEP_HELP,
    );
    if (flag(values, 'help')) {
      io.stdout.write(SWEEP_HELP);
      return EXIT.ok;
    }
    const concurrency = positiveInt(str(values, 'concurrency'), '--concurrency', 8);
    const mode = str(values, 'mode');
    if (mode !== undefined && !['observe', 'alert', 'remediate'].includes(mode)) {
      throw usageError(`--mode '${mode}': expected observe, alert or remediate`);
    }
    const projectIds = list(values, 'project').map((p) => requireGroupId(p, '--project'));
    const conn = await connect(values, io, { cloud: true, state: 'required', engine: true, stateFor: 'sweep' });
    try {
      const ids = projectIds.length ? projectIds : await conn.engine!.listProjectIds();
      const bar = progress(io, ids.length, 'sweep');
      const summary = await runSweep(conn.engine!, {
        projectIds: ids,
        concurrency,
        trigger: { kind: 'cli' },
        onResult: (item, done) => bar.tick(done, `${item.projectId} ${item.outcome?.kind ?? 'error'}`),
      });
      bar.end();
      const exitCode = worstExit(summary.items.map((i) => outcomeExit(i.outcome, i.error)));
      if (flag(values, 'json')) {
        writeJson(io, {
          exitCode,
          summary: { ...summary, items: undefined },
          projects: summary.items.map((i) => ({
            projectId: i.projectId,
            outcome: i.outcome?.kind ?? 'error',
            status: i.outcome?.status,
            verdict: i.outcome?.verdict?.verdict,
            missing: i.outcome?.verdict?.missing ?? [],
            flags: i.outcome?.flags ?? [],
            actions: i.outcome?.actions ?? [],
            reason: reasonOf(i) || undefined,
          })),
        });
      } else {
        io.stdout.write(
          table(
            ['PROJECT', 'OUTCOME', 'STATUS', 'MISSING', 'REASON'],
            summary.items.map((i) => [
              i.projectId,
              i.outcome?.kind ?? 'error',
              i.outcome?.status,
              i.outcome?.verdict?.missing.join(','),
              reasonOf(i),
            ]),
          ),
        );
        const counts = Object.entries(summary.byOutcome)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ');
        io.stdout.write(
          `\n${summary.total} project(s) in ${summary.durationMs} ms${counts ? `: ${counts}` : ''}` +
            `${summary.attention.length ? `; needs attention: ${summary.attention.join(', ')}` : ''}\n`,
        );
      }
      return exitCode;
    } finally {
      await conn.close();
    }
  });
}
