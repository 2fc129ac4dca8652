// A counting semaphore: bounds how many reconciles run at once (overall, per subscription, per event batch).
export class Semaphore {
  private waiting: (() => void)[] = [];
  constructor(private free: number) {}
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
