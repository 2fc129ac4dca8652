// `ear-guard status`: the state table, one row per project, plus the last sweep's heartbeat.
import { readHeartbeat } from '../state/heartbeat.js';
import type { ProjectRecord } from '../state/store.js';
import { connect } from './cli/connect.js';
import { EXIT, runGuarded } from './cli/errors.js';
import { defaultIo, type CliIo } from './cli/io.js';
import { COMMON_HELP, flag, parseOptions } from './cli/options.js';
import { table, writeJson } from './cli/output.js';

export const STATUS_HELP = `Usage: ear-guard status [--json]

Prints every project the state table knows: status, last verdict, missing permissions, intent, last check,
last outcome and counters, plus when the last sweep finished. Reads the state table only (no Atlas or Azure calls).

Examples:
  ear-guard status
  ear-guard status --json | jq '.projects[] | select(.status != "healthy")'

Needs EAR_GUARD_STORAGE (Table Storage: Storage Table Data Reader for an account URL). No Atlas key.
Exit status: 0 nothing needs attention, 1 a project is recorded as drifted, degraded, failing or escalated,
4 cannot reach the state table.

${COMMON_HELP}`;

const ATTENTION = new Set(['drifted', 'degraded', 'failing', 'escalated']);

export function publicRecord(r: ProjectRecord): Omit<ProjectRecord, 'etag' | 'leaseOwner' | 'alertSignature'> {
  const { etag: _e, leaseOwner: _l, alertSignature: _a, ...rest } = r;
  void _e;
  void _l;
  void _a;
  return rest;
}

export async function runStatus(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  return runGuarded('status', io, async () => {
    const { values } = parseOptions('status', argv, {}, STATUS_HELP);
    if (flag(values, 'help')) {
      io.stdout.write(STATUS_HELP);
      return EXIT.ok;
    }
    const conn = await connect(values, io, { cloud: false, state: 'required', stateFor: 'status' });
    try {
      const state = conn.state!;
      const [rows, hb] = await Promise.all([state.listProjects(), readHeartbeat(state).catch(() => undefined)]);
      rows.sort((a, b) => a.projectId.localeCompare(b.projectId));
      const exitCode = rows.some((r) => ATTENTION.has(r.status)) ? EXIT.failed : EXIT.ok;
      if (flag(values, 'json')) {
        writeJson(io, { exitCode, lastSweep: hb ?? null, projects: rows.map(publicRecord) });
        return exitCode;
      }
      if (rows.length === 0)
        io.stdout.write('No projects recorded yet (run ear-guard sweep or check --fix, or wait for the app).\n');
      else {
        io.stdout.write(
          table(
            [
              'PROJECT',
              'STATUS',
              'VERDICT',
              'MISSING',
              'INTENT',
              'LAST CHECK',
              'LAST OUTCOME',
              'CHECKS',
              'RESTORES',
              'FAILURES',
            ],
            rows.map((r) => [
              r.projectId,
              r.status,
              r.verdict,
              r.missing.join(','),
              r.intent === 'revoked' ? `revoked${r.intentBy ? ` by ${r.intentBy}` : ''}` : r.intent,
              r.lastCheck,
              r.lastOutcome,
              r.checks,
              r.restores,
              r.failures,
            ]),
          ),
        );
      }
      io.stdout.write(
        hb
          ? `\nLast sweep: finished ${hb.finishedAt} (${hb.projects} project(s), ${
              Object.entries(hb.outcomes)
                .map(([k, v]) => `${v} ${k}`)
                .join(', ') || 'no outcomes'
            }${hb.errors ? `, ${hb.errors} error(s)` : ''})\n`
          : '\nLast sweep: none recorded\n',
      );
      return exitCode;
    } finally {
      await conn.close();
    }
  });
}
