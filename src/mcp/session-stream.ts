import { request, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { GatewayError } from '../errors.js';
import type { ShareConnector } from '../share/index.js';

/**
 * Our own components talk over one persistent duplex stream per session: an HTTP/1.1 upgrade on
 * the share's HTTP surface to newline-delimited JSON-RPC. One handshake per session instead of
 * one HTTP exchange per message, and it crosses any proxy that passes `Upgrade` (zrok does).
 */
export const SESSION_STREAM_PROTOCOL = 'mcp-ndjson';
/** The path the upgrade is requested on; standard MCP clients never send `Upgrade` there. */
export const SESSION_STREAM_PATH = '/mcp';

/** An open session stream: the socket and any bytes already read past the handshake. */
export interface SessionStream {
  socket: Duplex;
  head: Buffer;
}

/** Opens a new session stream to a dialled share. */
export async function openSessionStream(connector: ShareConnector, timeoutMs = 30_000): Promise<SessionStream> {
  const socket = await connector.connect();
  return new Promise<SessionStream>((resolve, reject) => {
    const req = request({
      createConnection: () => socket,
      path: SESSION_STREAM_PATH,
      method: 'GET',
      headers: { Host: 'localhost', Connection: 'Upgrade', Upgrade: SESSION_STREAM_PROTOCOL },
      timeout: timeoutMs,
    });
    req.once('upgrade', (_res: IncomingMessage, upgraded: Duplex, head: Buffer) => {
      // The handshake's timeout must not outlive it: an idle session is fine, and a socket with a
      // timeout re-arms a timer on every read and write.
      (upgraded as Duplex & { setTimeout?: (ms: number) => unknown }).setTimeout?.(0);
      resolve({ socket: upgraded, head });
    });
    req.once('response', (res: IncomingMessage) => {
      res.resume();
      socket.destroy();
      reject(new GatewayError('PROTOCOL_ERROR', `share '${connector.token}' did not accept a session stream (HTTP ${res.statusCode ?? '?'})`));
    });
    req.once('timeout', () => {
      req.destroy();
      reject(new GatewayError('SHARE_UNREACHABLE', `share '${connector.token}' did not answer within ${timeoutMs} ms`));
    });
    req.once('error', (error) => {
      reject(new GatewayError('SHARE_UNREACHABLE', `share '${connector.token}' closed the connection: ${error.message}`, { cause: error }));
    });
    req.end();
  });
}

/** True when an HTTP upgrade request asks for a session stream. */
export function isSessionStreamRequest(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === SESSION_STREAM_PROTOCOL;
}

/** Completes the server side of the handshake on an upgrade socket. */
export function acceptSessionStream(socket: Duplex): void {
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${SESSION_STREAM_PROTOCOL}\r\n\r\n`);
}

/** Refuses an upgrade we do not speak. */
export function rejectUpgrade(socket: Duplex, status = 400, reason = 'Bad Request'): void {
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
