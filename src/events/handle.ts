// What an Event Grid delivery means for the loop, as small steps: triage each event (no Azure call), drop the ones
// already handled, route the rest to the projects they can affect (state indexes), record an allow-listed actor's
// claim on those projects, then run one reconcile per project for the whole batch through the coalescer. An event
// counts as handled only once every project it routes to was reconciled without a transient failure, so a
// redelivery after a failure (state outage, throttling) runs again instead of being dropped as a duplicate.
import type { IncomingEvent, TriageResult } from '../core/triage.js';
import { triageEvent } from '../core/triage.js';
import {
  allowListedActor,
  isTransientOutcome,
  recordRevocationClaims,
  type Outcome,
  type Trigger,
} from '../loop/index.js';
import type { ReconcileDeps } from '../loop/index.js';
import { Semaphore, withSlots } from '../shared/concurrency.js';
import { SharedVaultReads } from '../loop/sharedReads.js';
import { forgetDenyAssignments } from '../loop/denyCache.js';
import { recordEventDropped, recordEventReceived } from '../observability/telemetry.js';
import { projectsForEvent, type ProjectIndex } from './route.js';

export interface EventResult {
  eventId: string;
  triage: TriageResult;
  duplicate?: boolean;
  projects: string[];
  outcomes: Outcome[];
}

/** Event IDs handled recently (bounded, oldest forgotten first). */
export interface HandledEvents {
  has(id: string): boolean;
  add(id: string): void;
}

export interface EventDeps {
  deps: Pick<ReconcileDeps, 'policy' | 'azure'> & { state: ReconcileDeps['state'] & { known?: ProjectIndex } };
  /** The loop; `azure` overrides the ARM port (the batch's shared vault reads). */
  reconcile(projectId: string, trigger: Trigger, overrides?: Pick<ReconcileDeps, 'azure'>): Promise<Outcome>;
  handled: HandledEvents;
  /** Runs one project's reconcile, coalescing a burst into as few runs as possible. */
  coalesce(projectId: string, run: () => Promise<Outcome>): Promise<Outcome>;
  log?: { info(msg: string, fields?: Record<string, unknown>): void };
  /** Reconciles of one batch in flight at once (default 8): one event can route to every project of a vault. */
  concurrency?: number;
  /**
   * How long a delivery waits for its reconciles (default 25 s, below Event Grid's 30 s delivery timeout). Work still
   * running then goes on, but the delivery is answered "retry": a redelivery joins or follows it, never a 200 for
   * work that may still fail.
   */
  deadlineMs?: number;
}

export const EVENT_DEADLINE_MS = 25_000;

/** Resolves true when `work` settles within `ms`, false otherwise (the work keeps running). */
async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([work.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

export interface EventBatchResult {
  results: EventResult[];
  /** Projects whose reconcile failed transiently: the delivery must be retried. */
  transient: string[];
}

interface Routed {
  result: EventResult;
  trigger: Trigger;
}

function triggerOf(ev: IncomingEvent, t: TriageResult): Trigger {
  return {
    kind: 'event',
    eventId: ev.id,
    correlationId: t.correlationId,
    // When the change happened: the start of the restore latency (metric and status page).
    eventTime: t.eventTime,
    actor: t.actor,
    operationName: t.operationName ?? ev.type,
    resourceId: t.resourceId,
    ...(t.kind === 'policyAssignment' ? { periodicReads: true } : {}),
  };
}

/** Triage and dedupe (no Azure call, no state): the relevant, new events of the batch, and a result for each event. */
export function screen(events: IncomingEvent[], handled: HandledEvents): { results: EventResult[]; fresh: Routed[] } {
  const results: EventResult[] = [];
  const fresh: Routed[] = [];
  const inBatch = new Set<string>();
  for (const ev of events) {
    const t = triageEvent(ev);
    recordEventReceived(ev.type, { eventId: ev.id });
    const result: EventResult = { eventId: ev.id, triage: t, projects: [], outcomes: [] };
    results.push(result);
    if (t.kind === 'rejected') {
      // Dead-lettered by the caller (onAzureEvent); counted there.
    } else if (!t.relevant) {
      recordEventDropped(t.kind === 'validation' ? 'validation' : 'irrelevant');
    } else if (handled.has(ev.id) || inBatch.has(ev.id)) {
      recordEventDropped('duplicate');
      result.duplicate = true;
    } else {
      inBatch.add(ev.id);
      fresh.push({ result, trigger: triggerOf(ev, t) });
    }
  }
  return { results, fresh };
}

/** Routes each event to its projects and records an allow-listed actor's claim on them, before any reconcile. */
async function route(d: EventDeps, fresh: Routed[]): Promise<void> {
  for (const { result, trigger } of fresh) {
    result.projects = await projectsForEvent(d.deps.state, result.triage);
    await recordRevocationClaims(d.deps.state, result.projects, trigger, d.deps.policy.allowedRevokers);
    // Relevant, but no watched project's key or vault is under its scope.
    if (result.projects.length === 0) recordEventDropped('no-watched-project');
    d.log?.info('event relevant', {
      eventId: result.eventId,
      correlationId: result.triage.correlationId,
      kind: result.triage.kind,
      scope: result.triage.scope,
      projects: result.projects.length,
    });
  }
}

function claimsOf(triggers: Trigger[]): string[] {
  const names = triggers.flatMap((t) => t.claimedBy ?? [t.actor?.upn ?? t.actor?.name ?? t.actor?.objectId ?? '']);
  return [...new Set(names.filter(Boolean))];
}

/**
 * One reconcile per project for the whole batch (the loop re-reads the truth, so one run covers every change in it).
 * The trigger recorded is the batch's latest event for that project; it is for the record only.
 */
export function groupByProject(routed: Routed[]): Map<string, { trigger: Trigger; results: EventResult[] }> {
  const perProject = new Map<string, { trigger: Trigger; results: EventResult[] }>();
  for (const { result, trigger } of routed) {
    for (const pid of result.projects) {
      const cur = perProject.get(pid);
      if (!cur) perProject.set(pid, { trigger: { ...trigger, claimedBy: claimsOf([trigger]) }, results: [result] });
      else {
        cur.results.push(result);
        const claimedBy = claimsOf([cur.trigger, trigger]);
        // Any event of the batch that needs the periodic reads gets them for the one reconcile.
        const periodicReads = cur.trigger.periodicReads || trigger.periodicReads || undefined;
        if ((trigger.eventTime ?? '') >= (cur.trigger.eventTime ?? '')) cur.trigger = { ...trigger, claimedBy };
        else cur.trigger.claimedBy = claimedBy;
        if (periodicReads) cur.trigger.periodicReads = true;
      }
    }
  }
  return perProject;
}

/** The batch's reconciles: one run per project, shared by every event routed to it, early or late. */
class BatchRuns {
  private readonly azure: SharedVaultReads;
  private readonly slots: Semaphore[];
  private readonly runs = new Map<string, Promise<Outcome>>();
  readonly pending = new Set<string>();

  constructor(private readonly d: EventDeps) {
    // One event can name a subscription: its projects share each vault's reads and run a bounded few at a time.
    this.azure = new SharedVaultReads(d.deps.azure);
    this.slots = [new Semaphore(Math.max(1, d.concurrency ?? 8))];
  }

  /** Starts the project's reconcile unless this batch already did (the loop re-reads the truth: one run covers all). */
  start(pid: string, trigger: Trigger): Promise<Outcome> {
    let run = this.runs.get(pid);
    if (!run) {
      this.pending.add(pid);
      const { d, slots, azure } = this;
      run = d.coalesce(pid, () => withSlots(slots, () => d.reconcile(pid, trigger, { azure })));
      void run.then(
        () => this.pending.delete(pid),
        () => this.pending.delete(pid),
      );
      this.runs.set(pid, run);
    }
    return run;
  }

  all(): Promise<unknown> {
    return Promise.all(this.runs.values());
  }
}

/**
 * Starts at once the reconciles of the projects this instance already knows the events route to (its index rows,
 * loaded by the sweep), so the table scans are off the path from the event to the restore. Not for a batch with an
 * allow-listed actor's event: its revocation claims must be on the rows before any reconcile starts.
 */
async function startKnown(d: EventDeps, fresh: Routed[], runs: BatchRuns): Promise<Promise<Outcome>[]> {
  const known = d.deps.state.known;
  const { allowedRevokers } = d.deps.policy;
  // A claim in the batch could be for any of its projects: then every reconcile waits for the claims.
  if (!known || fresh.some((r) => allowListedActor(r.trigger.actor, allowedRevokers))) return [];
  const early: Routed[] = [];
  for (const r of fresh) {
    const projects = await projectsForEvent(known, r.result.triage);
    if (projects.length) early.push({ result: { ...r.result, projects }, trigger: r.trigger });
  }
  return [...groupByProject(early)].map(([pid, { trigger }]) => runs.start(pid, trigger));
}

/** The routed events' reconciles (joining the early ones), their outcomes and transient failures noted. */
function reconcileRouted(fresh: Routed[], runs: BatchRuns, transient: string[], failed: Set<string>): Promise<unknown> {
  return Promise.all(
    [...groupByProject(fresh)].map(async ([pid, { trigger, results: rs }]) => {
      const o = await runs.start(pid, trigger);
      for (const r of rs) r.outcomes.push(o);
      if (!isTransientOutcome(o)) return;
      transient.push(`${o.projectId}: ${'reason' in o ? o.reason : o.kind}`);
      for (const r of rs) failed.add(r.eventId);
    }),
  );
}

export async function handleEvents(d: EventDeps, events: IncomingEvent[]): Promise<EventBatchResult> {
  const { results, fresh } = screen(events, d.handled);
  forgetDenyAssignments(d.deps.azure, events);
  const runs = new BatchRuns(d);
  const early = await startKnown(d, fresh, runs);
  const transient: string[] = [];
  const failed = new Set<string>();
  let routed = false;
  // The scans route every event (another instance may have indexed projects this one has not seen) and record
  // claims. After the early reconciles: the table answers their row reads first.
  const work = Promise.allSettled(early)
    .then(() => route(d, fresh))
    .then(() => {
      routed = true;
      return reconcileRouted(fresh, runs, transient, failed);
    })
    .then(() => runs.all());
  void work.catch(() => undefined); // a late failure is the redelivery's to see, not an unhandled rejection
  if (!(await within(work, d.deadlineMs ?? EVENT_DEADLINE_MS))) {
    if (!routed) transient.push('routing (state index scans) still running at the delivery deadline');
    for (const pid of runs.pending) transient.push(`${pid}: still reconciling at the delivery deadline`);
    for (const { result } of fresh) {
      if (!routed || result.projects.some((pid) => runs.pending.has(pid))) failed.add(result.eventId);
    }
  }
  // Only fully handled events are remembered: a redelivery after a transient failure must run again.
  for (const { result } of fresh) if (!failed.has(result.eventId)) d.handled.add(result.eventId);
  return { results, transient };
}
