// `ear-guard triage <event.json|-> [--json]`: what the app would do with an event (or an array of events) from Event
// Grid or CloudEvents 1.0, with no Azure call: relevant or not, which kind, the ARM scope whose access may have
// changed, why; and, with a state connection, the projects it maps to.
import { EventInputError, parseEvents, triageEvent } from '../core/triage.js';
import { projectsForEvent } from '../events/route.js';
import { connect } from './cli/connect.js';
import { EXIT, runGuarded, usageError } from './cli/errors.js';
import { defaultIo, type CliIo } from './cli/io.js';
import { COMMON_HELP, flag, parseOptions, readInput } from './cli/options.js';
import { table, writeJson } from './cli/output.js';

export const TRIAGE_HELP = `Usage: ear-guard triage <event.json | -> [--json]

Shows what the app would do with an event, or an array of events, in the Event Grid schema or CloudEvents 1.0
('-' reads stdin): for each, whether it is relevant, its kind (roleAssignment, roleDefinition, vault,
accessPolicy, denyAssignment, key, validation, ignored), the ARM scope whose access may have changed (for a role
assignment, the scope it was assigned at) and why. With EAR_GUARD_STORAGE set, also the projects it maps to.
No Azure or Atlas call is made: handy for debugging event subscriptions without waiting for a real change.

Examples:
  ear-guard triage event.json
  az eventgrid ... | ear-guard triage - --json
  ear-guard triage --storage "$EAR_GUARD_STORAGE" events.json

Exit status: 0 ok, 2 the file is not an event or an array of events (the message names the field).

${COMMON_HELP}`;

type TriageRow = ReturnType<typeof triageRow>;

/** The file's events; bad JSON or a bad event is a usage error naming the file. */
async function readEvents(file: string, io: CliIo): Promise<ReturnType<typeof parseEvents>> {
  const name = file === '-' ? 'stdin' : file;
  const text = (await readInput(file, 'event file', io)).replace(/^\uFEFF/, '');
  let payload: unknown;
  try {
    payload = JSON.parse(text);
  } catch (e) {
    throw usageError(`${name}: not valid JSON (${(e as Error).message})`);
  }
  try {
    return parseEvents(payload);
  } catch (e) {
    if (e instanceof EventInputError) throw usageError(`${name}: ${e.message}`);
    throw e;
  }
}

function triageRow(t: ReturnType<typeof triageEvent>, projects: string[] | undefined) {
  return {
    eventId: t.eventId,
    eventType: t.eventType,
    relevant: t.relevant,
    kind: t.kind,
    scope: t.scope ?? null,
    reason: t.reason,
    ...(t.operationName ? { operationName: t.operationName } : {}),
    ...(t.resourceId ? { resourceId: t.resourceId } : {}),
    ...(t.keyName ? { keyName: t.keyName } : {}),
    ...(t.actor ? { actor: t.actor } : {}),
    ...(projects ? { projects } : {}),
  };
}

function renderTriage(results: TriageRow[], mapped: boolean): string {
  const text = table(
    ['EVENT', 'RELEVANT', 'KIND', 'SCOPE', ...(mapped ? ['PROJECTS'] : []), 'REASON'],
    results.map((r) => [
      r.eventId,
      r.relevant ? 'yes' : 'no',
      r.kind,
      r.scope ?? '',
      ...(mapped ? [r.projects?.join(',') ?? ''] : []),
      r.reason,
    ]),
  );
  return mapped ? text : `${text}\n(no EAR_GUARD_STORAGE: projects not mapped)\n`;
}

export async function runTriage(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  return runGuarded('triage', io, async () => {
    const { values, positionals } = parseOptions('triage', argv, {}, TRIAGE_HELP, true);
    if (flag(values, 'help')) {
      io.stdout.write(TRIAGE_HELP);
      return EXIT.ok;
    }
    if (positionals.length !== 1) throw usageError("name one file: ear-guard triage <event.json> ('-' for stdin)");
    const events = await readEvents(positionals[0]!, io);
    const conn = await connect(values, io, { cloud: false, state: 'optional' });
    try {
      const results: TriageRow[] = [];
      for (const ev of events) {
        const t = triageEvent(ev);
        results.push(triageRow(t, conn.state ? await projectsForEvent(conn.state, t) : undefined));
      }
      if (flag(values, 'json')) writeJson(io, results);
      else io.stdout.write(renderTriage(results, conn.state !== undefined));
      return EXIT.ok;
    } finally {
      await conn.close();
    }
  });
}
