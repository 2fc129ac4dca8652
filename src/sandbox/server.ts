// The sandbox's one HTTPS server: a certificate made at start (never committed), a request parser,
// and a chain of route families. Each family answers or passes; nothing reaches the client as a
// crash: an exception becomes an Azure-shaped 500.
import { createServer, type Server } from 'node:https';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import type { RouteHandler, SandboxRequest } from './contract.js';

export interface TlsMaterial {
  cert: string;
  key: string;
  /** The certificate to trust (self-signed: the certificate itself). */
  ca: string;
}

/** A fresh self-signed certificate for localhost and 127.0.0.1, valid for a day. */
export async function makeCertificate(): Promise<TlsMaterial> {
  const notAfter = new Date(Date.now() + 24 * 3600 * 1000);
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', keyCertSign: true, digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  } as Parameters<typeof generate>[1]);
  return { cert: pems.cert, key: pems.private, ca: pems.cert };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | number> = {},
): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    ...(text ? { 'content-type': 'application/json; charset=utf-8' } : {}),
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** ARM's error envelope: `{"error": {"code", "message"}}`. */
export function sendArmError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string | number> = {},
): void {
  sendJson(res, status, { error: { code, message } }, headers);
}

export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface RunningServer {
  server: Server;
  port: number;
  baseUrl: string;
  close(): Promise<void>;
}

/**
 * Serves `families` in order. `onError` formats an unexpected exception for the path (ARM or Atlas shape).
 */
export async function startHttpsServer(
  tls: TlsMaterial,
  families: () => RouteHandler[],
  onError: (req: SandboxRequest, res: ServerResponse, err: unknown) => void = (_req, res) =>
    sendArmError(res, 500, 'InternalServerError', 'The sandbox failed to process the request.'),
): Promise<RunningServer> {
  const sockets = new Set<import('node:stream').Duplex>();
  const server = createServer({ cert: tls.cert, key: tls.key }, (raw, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    raw.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        sendArmError(res, 413, 'RequestEntityTooLarge', 'The request body is too large.');
        raw.destroy();
        return;
      }
      chunks.push(c);
    });
    raw.on('end', async () => {
      if (res.headersSent) return;
      const req: SandboxRequest = {
        method: raw.method ?? 'GET',
        url: new URL(raw.url ?? '/', 'https://localhost'),
        headers: raw.headers,
        body: Buffer.concat(chunks),
        raw,
      };
      try {
        for (const handle of families()) {
          if (await handle(req, res)) return;
        }
        sendArmError(res, 404, 'NotFound', `No route for ${req.method} ${req.url.pathname}.`);
      } catch (err) {
        if (!res.headersSent) onError(req, res, err);
        else res.destroy();
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    baseUrl: `https://localhost:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
