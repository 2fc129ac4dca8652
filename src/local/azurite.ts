// Azurite (Table + Queue) in-process, in memory, on free ports: the state store for `npm start` when no storage
// connection is configured, and for the tests. Deep imports because Azurite has no public programmatic API;
// these are the classes its own CLI uses (azurite/dist/src/{table,queue}/main.js).
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';

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

function portOf(s: AzuriteServer): number {
  return (s.httpServer.address() as AddressInfo).port;
}

export async function startLocalStorage(opts: { queue?: boolean } = {}): Promise<LocalStorage> {
  const TableServer = require('azurite/dist/src/table/TableServer.js').default;
  const TableConfiguration = require('azurite/dist/src/table/TableConfiguration.js').default;
  // (host, port, keepAliveTimeout, metadataDBPath, debugLog, accessLog, accessLogStream, debugLogPath, loose,
  //  skipApiVersionCheck, cert, key, pwd, oauth, disableProductStyleUrl, isMemoryPersistence)
  const tableConfig = new TableConfiguration(
    '127.0.0.1',
    0,
    undefined,
    ':memory:',
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
    true,
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
      ':memory:',
      ':memory:',
      [{ locationId: 'Default', locationPath: ':memory:', maxConcurrency: 1 }],
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
      true,
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
        await s.close();
        await s.clean().catch(() => undefined);
      }
    },
  };
}
