// Coalesces a burst of triggers for one key into as few runs as possible, without ever missing a change:
// while a run for a key is in flight, further requests mark it dirty and share one trailing run, which
// starts after the current one ends (so it observes everything that happened before it was requested).
// `minIntervalMs` also bounds the *rate*: runs for one key start at least that far apart, so a sustained
// flood of events for one project costs at most one reconcile per interval, not one per event.
export class Coalescer<T> {
  private readonly running = new Map<string, Promise<T>>();
  private readonly trailing = new Map<string, Promise<T>>();
  private readonly lastStart = new Map<string, number>();

  constructor(
    private readonly maxKeys = 10_000,
    private readonly minIntervalMs = 0,
  ) {}

  /** Runs `fn` for `key` now, or joins the one trailing run queued behind the current run. */
  run(key: string, fn: () => Promise<T>): Promise<T> {
    const queued = this.trailing.get(key);
    if (queued) return queued;
    const current = this.running.get(key);
    const wait = () => Math.max(0, (this.lastStart.get(key) ?? -Infinity) + this.minIntervalMs - Date.now());
    if (!current && wait() === 0) {
      if (this.running.size >= this.maxKeys) throw new Error(`too many projects in flight (${this.maxKeys})`);
      return this.start(key, fn);
    }
    const next = (current ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => new Promise((r) => setTimeout(r, wait())))
      .then(() => {
        this.trailing.delete(key);
        return this.start(key, fn);
      });
    this.trailing.set(key, next);
    return next;
  }

  get inFlight(): number {
    return this.running.size;
  }

  private start(key: string, fn: () => Promise<T>): Promise<T> {
    this.lastStart.set(key, Date.now());
    if (this.lastStart.size > this.maxKeys) {
      const cutoff = Date.now() - this.minIntervalMs;
      for (const [k, t] of this.lastStart) if (t < cutoff) this.lastStart.delete(k);
    }
    const p: Promise<T> = Promise.resolve()
      .then(fn)
      .finally(() => {
        if (this.running.get(key) === p) this.running.delete(key);
      });
    this.running.set(key, p);
    return p;
  }
}

/** Remembers recently seen event IDs (bounded, oldest forgotten first). */
export class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly capacity = 50_000) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value as string);
  }
}
