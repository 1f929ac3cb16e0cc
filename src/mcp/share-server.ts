import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import type { ConnectionHandler } from '../share/index.js';
import type { McpHttpEndpoint } from './http-endpoint.js';
import { acceptSessionStream, isSessionStreamRequest, rejectUpgrade } from './session-stream.js';

/**
 * Slow or half-open clients are cut: headers within 10 s, a whole request body within 30 s
 * (responses, such as SSE streams, are not limited), checked every second.
 */
export const HTTP_TIMEOUTS = { headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000, connectionsCheckingInterval: 1_000 } as const;

/** Called for every accepted session stream, with bytes already read past the handshake. */
export type SessionStreamHandler = (socket: Duplex, head: Buffer) => void;

/**
 * What a bridge or gateway serves on its share: one HTTP/1.1 server that is never bound to a
 * port itself; the share provider hands it connections. It speaks standard MCP over HTTP and
 * upgrades our own clients to a persistent session stream.
 */
export class ShareServer {
  readonly #http: Server;
  readonly #sockets = new Set<Duplex>();

  constructor(options: { endpoint: McpHttpEndpoint; onSessionStream: SessionStreamHandler; logger: Logger }) {
    this.#http = createServer({ noDelay: true, ...HTTP_TIMEOUTS }, (req, res) => options.endpoint.handle(req, res));
    this.#http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!isSessionStreamRequest(req)) {
        rejectUpgrade(socket);
        return;
      }
      acceptSessionStream(socket);
      options.onSessionStream(socket, head);
    });
    this.#http.on('clientError', (error, socket) => {
      options.logger.debug({ err: error }, 'share: client error');
      if (socket.writable) rejectUpgrade(socket);
      else socket.destroy();
    });
  }

  /** `performance.now()` of the last connection the share brought, for the heartbeat; undefined before one. */
  lastConnectionAt: number | undefined;

  /** The handler to give the share provider. */
  readonly onConnection: ConnectionHandler = (socket) => {
    this.lastConnectionAt = performance.now();
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    this.#http.emit('connection', socket);
  };

  /** Drops every open connection (after sessions have been stopped). */
  close(): void {
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    this.#http.close();
  }
}
