// What the Functions host does for a queue trigger, for the local host: receive, decode (base64, then JSON when it
// parses), invoke, delete on success; a message that keeps failing moves to `{queue}-poison` after maxDequeueCount.
import type { QueueClient } from '@azure/storage-queue';
import type { StorageQueueHandler } from '@azure/functions';
import azureFunctions from '@azure/functions';

const { InvocationContext } = azureFunctions;

export interface QueuePollerOptions {
  name: string;
  queue: QueueClient;
  poison: QueueClient;
  handler: StorageQueueHandler;
  maxDequeueCount?: number;
  intervalMs?: number;
  visibilityTimeoutSeconds?: number;
  log?: (line: string) => void;
}

export interface QueuePoller {
  /** Processes what is visible now; returns how many messages were handled (deleted or poisoned). */
  drain(): Promise<number>;
  stop(): Promise<void>;
}

export function decodeQueueMessage(text: string): unknown {
  const decoded = Buffer.from(text, 'base64').toString('utf8');
  try {
    return JSON.parse(decoded);
  } catch {
    return decoded;
  }
}

export async function startQueuePoller(opts: QueuePollerOptions): Promise<QueuePoller> {
  const max = opts.maxDequeueCount ?? 5;
  const log = opts.log ?? (() => {});
  await opts.queue.createIfNotExists();
  await opts.poison.createIfNotExists();
  let stopped = false;
  let busy: Promise<number> | undefined;

  const once = async (): Promise<number> => {
    const r = await opts.queue.receiveMessages({
      numberOfMessages: 16,
      visibilityTimeout: opts.visibilityTimeoutSeconds ?? 30,
    });
    let handled = 0;
    await Promise.all(
      r.receivedMessageItems.map(async (m) => {
        const ctx = new InvocationContext({
          functionName: opts.name,
          triggerMetadata: { id: m.messageId, dequeueCount: m.dequeueCount },
          logHandler: (level, ...args) => log(`[${opts.name}] ${level} ${args.join(' ')}`),
        });
        try {
          await opts.handler(decodeQueueMessage(m.messageText), ctx);
          await opts.queue.deleteMessage(m.messageId, m.popReceipt);
          handled++;
        } catch (err) {
          log(`[${opts.name}] attempt ${m.dequeueCount} failed: ${(err as Error).message}`);
          if (m.dequeueCount >= max) {
            await opts.poison.sendMessage(m.messageText);
            await opts.queue.deleteMessage(m.messageId, m.popReceipt);
            handled++;
          }
        }
      }),
    );
    return handled;
  };

  const drain = async (): Promise<number> => {
    while (busy) await busy.catch(() => 0);
    busy = once();
    try {
      return await busy;
    } finally {
      busy = undefined;
    }
  };

  const timer = setInterval(() => {
    if (!stopped && !busy) drain().catch((err) => log(`[${opts.name}] poll failed: ${(err as Error).message}`));
  }, opts.intervalMs ?? 1000);
  timer.unref();

  return {
    drain,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      if (busy) await busy.catch(() => 0);
    },
  };
}
