// Azurite (Table + Queue) in-process on free ports: the state store for `npm start` when no storage connection is
// configured, and for the tests. In memory for the sandbox and tests; in a data folder (`location`) when the app
// watches real Azure, so an intent or a pinned principal survives a restart. Deep imports because Azurite has no public programmatic API;
// these are the classes its own CLI uses (azurite/dist/src/{table,queue}/main.js).
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);

/** Azurite's published development account (documented by Microsoft for the emulator; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface LocalStorage {
  tableEndpoint: string;
  queueEndpoint?: string;
  /** Table (and Queue, when started) endpoints in one connection string. */
  connectionString: string;
  close(): Promise<void>;
}

interface AzuriteServer {
  start(): Promise<void>;
  close(): Promise<void>;
  clean(): Promise<void>;
  httpServer: { address(): AddressInfo | string | null };
}

/**
 * Where the embedded Azurite keeps its data against real Azure: EAR_GUARD_STATE_DIR, else the XDG state directory
 * ($XDG_STATE_HOME, default ~/.local/state) under ear-guard/azurite.
 */
export function azuriteDataDir(env: Record<string, string | undefined>): string {
  if (env.EAR_GUARD_STATE_DIR) return join(env.EAR_GUARD_STATE_DIR, 'azurite');
  const base = env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state');
  return join(base, 'ear-guard', 'azurite');
}

function portOf(s: AzuriteServer): number {
  return (s.httpServer.address() as AddressInfo).port;
}

/** Paths of Azurite's files: `:memory:` everywhere, or files in `location` (created, owner-only). */
function storagePaths(location: string | undefined) {
  if (!location) return { table: ':memory:', queue: ':memory:', extent: ':memory:', data: ':memory:', memory: true };
  mkdirSync(location, { recursive: true, mode: 0o700 });
  return {
    table: join(location, '__azurite_db_table__.json'),
    queue: join(location, '__azurite_db_queue__.json'),
    extent: join(location, '__azurite_db_queue_extent__.json'),
    data: join(location, '__queuestorage__'),
    memory: false,
  };
}

export async function startLocalStorage(opts: { queue?: boolean; location?: string } = {}): Promise<LocalStorage> {
  const paths = storagePaths(opts.location);
  const TableServer = require('azurite/dist/src/table/TableServer.js').default;
  const TableConfiguration = require('azurite/dist/src/table/TableConfiguration.js').default;
  // (host, port, keepAliveTimeout, metadataDBPath, debugLog, accessLog, accessLogStream, debugLogPath, loose,
  //  skipApiVersionCheck, cert, key, pwd, oauth, disableProductStyleUrl, isMemoryPersistence)
  const tableConfig = new TableConfiguration(
    '127.0.0.1',
    0,
    undefined,
    paths.table,
    false,
    false,
    undefined,
    undefined,
    true,
    true,
    '',
    '',
    '',
    undefined,
    false,
    paths.memory,
  );
  const servers: AzuriteServer[] = [new TableServer(tableConfig)];
  if (opts.queue) {
    const QueueServer = require('azurite/dist/src/queue/QueueServer.js').default;
    const QueueConfiguration = require('azurite/dist/src/queue/QueueConfiguration.js').default;
    // (host, port, keepAlive, metadataDBPath, extentDBPath, persistenceArray, accessLog, accessLogStream, debugLog,
    //  debugLogPath, loose, skipApiVersionCheck, cert, key, pwd, oauth, disableProductStyleUrl, isMemoryPersistence)
    const queueConfig = new QueueConfiguration(
      '127.0.0.1',
      0,
      undefined,
      paths.queue,
      paths.extent,
      [{ locationId: 'Default', locationPath: paths.data, maxConcurrency: 1 }],
      false,
      undefined,
      false,
      undefined,
      true,
      true,
      '',
      '',
      '',
      undefined,
      false,
      paths.memory,
    );
    servers.push(new QueueServer(queueConfig));
  }
  for (const s of servers) await s.start();
  const tableEndpoint = `http://127.0.0.1:${portOf(servers[0])}/${AZURITE_ACCOUNT}`;
  const queueEndpoint = servers[1] ? `http://127.0.0.1:${portOf(servers[1])}/${AZURITE_ACCOUNT}` : undefined;
  return {
    tableEndpoint,
    queueEndpoint,
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
      `TableEndpoint=${tableEndpoint};` +
      (queueEndpoint ? `QueueEndpoint=${queueEndpoint};` : ''),
    close: async () => {
      for (const s of servers) {
        // Closing saves a persistent store; cleaning would delete its files.
        await s.close();
        if (paths.memory) await s.clean().catch(() => undefined);
      }
    },
  };
}
