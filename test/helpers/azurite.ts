// Azurite's Table service in-process: in-memory, port 0, one per test file (or shared by a world).
// Deep imports because Azurite has no public programmatic API; these are the classes its CLI uses.
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Azurite's published development account (not a secret: documented by Microsoft for the emulator). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface RunningAzurite {
  /** `http://127.0.0.1:{port}/devstoreaccount1` */
  tableEndpoint: string;
  /** A Table Storage connection string for @azure/data-tables (`TableClient.fromConnectionString`). */
  connectionString: string;
  close(): Promise<void>;
}

interface AzuriteServer {
  start(): Promise<void>;
  close(): Promise<void>;
  clean(): Promise<void>;
  // ServerBase keeps the node server here.
  httpServer: { address(): AddressInfo | string | null };
}

export async function startAzurite(): Promise<RunningAzurite> {
  const TableServer = require('azurite/dist/src/table/TableServer.js').default as new (c: unknown) => AzuriteServer;
  const TableConfiguration = require('azurite/dist/src/table/TableConfiguration.js').default as new (
    ...args: unknown[]
  ) => unknown;
  // (host, port, keepAliveTimeout, metadataDBPath, debugLog, accessLog, accessLogStream, debugLogPath, loose,
  //  skipApiVersionCheck, cert, key, pwd, oauth, disableProductStyleUrl, isMemoryPersistence)
  const config = new TableConfiguration(
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
  const server = new TableServer(config);
  await server.start();
  const port = (server.httpServer.address() as AddressInfo).port;
  const tableEndpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  return {
    tableEndpoint,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};TableEndpoint=${tableEndpoint};`,
    close: async () => {
      await server.close();
      await server.clean().catch(() => undefined);
    },
  };
}
