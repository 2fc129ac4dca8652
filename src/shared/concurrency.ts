// The one concurrency limiter: a counting semaphore that hands a released slot straight to the next waiter (so a
// newcomer cannot overtake it and exceed the limit), with mapLimit and withSlots on top of it. It imports nothing, so
// adapters (azure/), the loop and the CLI can all use it.

export class Semaphore {
  private readonly waiting: (() => void)[] = [];
  private free: number;

  constructor(limit: number) {
    this.free = Math.max(1, limit);
  }

  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }

  /** Runs `fn` in a slot, released however `fn` ends. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/** Runs `fn` over `items`, at most `limit` at once, keeping the input order in the result. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  });
  await Promise.all(workers);
  return out;
}

/** Runs `fn` holding one slot of each semaphore given (acquired in order, released in reverse). */
export async function withSlots<T>(slots: Semaphore[], fn: () => Promise<T>): Promise<T> {
  for (const s of slots) await s.acquire();
  try {
    return await fn();
  } finally {
    for (const s of [...slots].reverse()) s.release();
  }
}
