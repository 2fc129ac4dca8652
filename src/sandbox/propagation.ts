// RBAC and access-policy propagation: a role assignment takes up to 10 minutes to reach Key Vault's data plane
// (and so Atlas's KMS validation), while a removal is seen at once. The emulator models it conservatively: a grant
// counts for the data plane only once it has been present, without a break, for the whole delay. Management-plane
// reads (ARM) are never delayed: the remediator sees its own write at once, Atlas does not.
//
// Changes are noticed through the sandbox's change notices (every ARM write, whichever door it came through), so
// this module needs no hook in the ARM routes. Role assignments are tracked by ID (first seen -> visible at);
// access policies by snapshots per vault (a permission counts once every snapshot in the window holds it).
import type { AccessPolicyEntry } from '../core/types.js';
import type { SandboxState } from './state.js';

/** What the data plane sees: which assignments count yet, and each vault's effective access policies. */
export interface DataPlaneView {
  assignmentVisible(id: string): boolean;
  accessPolicies(vaultId: string, current: AccessPolicyEntry[]): AccessPolicyEntry[];
}

interface Snapshot {
  at: number;
  policies: AccessPolicyEntry[];
}

/** Parses `4s`, `10m`, `1h`, `250ms` or a plain number of milliseconds; undefined when it does not parse. */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$/i.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = (m[2] ?? 'ms').toLowerCase();
  const factor: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };
  return Math.round(n * factor[unit]);
}

export class Propagation implements DataPlaneView {
  /** Delay in sandbox milliseconds (real time = delay x timeScale). */
  private delayMs = 0;
  private readonly visibleAt = new Map<string, number>();
  private readonly snapshots = new Map<string, Snapshot[]>();

  constructor(
    private readonly state: SandboxState,
    private readonly timeScale: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Sets the delay; what exists now counts as propagated (a seed is not a fresh grant). */
  setDelay(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) throw new Error('propagation delay: expected a non-negative duration');
    this.delayMs = ms;
    this.visibleAt.clear();
    this.snapshots.clear();
    for (const id of this.state.roleAssignments.keys()) this.visibleAt.set(id, 0);
    for (const [id, v] of this.state.vaults)
      this.snapshots.set(id, [{ at: 0, policies: clone(v.properties.accessPolicies) }]);
    return this.delayMs;
  }

  delay(): number {
    return this.delayMs;
  }

  private realDelay(): number {
    return this.delayMs * this.timeScale;
  }

  /** Called on every change notice: records new assignments and changed access policies. */
  observe(): void {
    if (this.delayMs <= 0) return;
    const now = this.clock();
    for (const id of this.visibleAt.keys()) if (!this.state.roleAssignments.has(id)) this.visibleAt.delete(id);
    for (const id of this.state.roleAssignments.keys()) {
      if (!this.visibleAt.has(id)) this.visibleAt.set(id, now + this.realDelay());
    }
    for (const [id, v] of this.state.vaults) {
      const list = this.snapshots.get(id) ?? [];
      const last = list[list.length - 1];
      const policies = v.properties.accessPolicies;
      if (!last || JSON.stringify(last.policies) !== JSON.stringify(policies)) {
        list.push({ at: now, policies: clone(policies) });
        this.snapshots.set(id, prune(list, now - this.realDelay()));
      }
    }
  }

  assignmentVisible(id: string): boolean {
    if (this.delayMs <= 0) return true;
    const at = this.visibleAt.get(id.toLowerCase()) ?? this.visibleAt.get(id);
    return at === undefined || at <= this.clock();
  }

  accessPolicies(vaultId: string, current: AccessPolicyEntry[]): AccessPolicyEntry[] {
    if (this.delayMs <= 0) return current;
    const list = this.snapshots.get(vaultId.toLowerCase()) ?? this.snapshots.get(vaultId);
    if (!list) return current;
    const since = this.clock() - this.realDelay();
    // The snapshot in force at the window's start, and every one taken inside it; a vault younger than the
    // window has nothing propagated yet.
    const start = list.findLastIndex((s) => s.at <= since);
    if (start < 0) return current.map((e) => ({ ...e, permissions: { ...e.permissions, keys: [] } }));
    return intersect(
      current,
      list.slice(start).map((s) => s.policies),
    );
  }
}

function clone(p: AccessPolicyEntry[]): AccessPolicyEntry[] {
  return structuredClone(p);
}

/** Keeps the last snapshot at or before `since` and everything after it. */
function prune(list: Snapshot[], since: number): Snapshot[] {
  const start = list.findLastIndex((s) => s.at <= since);
  return start > 0 ? list.slice(start) : list;
}

/** Each current entry keeps only the key permissions every snapshot granted to the same object. */
function intersect(current: AccessPolicyEntry[], windows: AccessPolicyEntry[][]): AccessPolicyEntry[] {
  return current.map((e) => {
    let keys = (e.permissions?.keys ?? []).map((k) => k.toLowerCase());
    for (const snap of windows) {
      const same = snap.filter((s) => s.objectId.toLowerCase() === e.objectId.toLowerCase());
      const held = new Set(same.flatMap((s) => (s.permissions?.keys ?? []).map((k) => k.toLowerCase())));
      keys = keys.filter((k) => held.has(k) || held.has('all'));
    }
    return { ...e, permissions: { ...e.permissions, keys } };
  });
}
