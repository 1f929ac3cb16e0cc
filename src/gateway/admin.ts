import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from './metrics.js';

/** What `/status` answers: the gateway and its backends and sessions, for `mcp-gateway status`. */
export interface StatusReport {
  name: string;
  uptimeSeconds: number;
  sessions: { id: string; inFlight: number }[];
  backends: { id: string; state: string; connections: number; calls: number; errors: number; p50Ms: number | undefined; p99Ms: number | undefined }[];
}

/** What the admin listener serves from. */
export interface AdminSource {
  metrics: Metrics;
  /** Undefined when ready, else why not. */
  notReady(): string | undefined;
  status(): StatusReport;
}

export interface AdminOptions {
  /** `host:port` (port 0 picks one). */
  bind: string;
  /** Lets the listener bind a non-loopback address and answer any Host. */
  allowRemote: boolean;
  logger: Logger;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** Splits `host:port` (IPv6 in brackets); a one-line error for anything else. */
export function parseBind(bind: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(bind);
  const port = Number(match?.[2]);
  if (match === null || port > 65535) throw new GatewayError('CONFIG_INVALID', `metrics bind '${bind}' is not host:port (e.g. 127.0.0.1:9464)`);
  return { host: (match[1] as string).replace(/^\[|\]$/g, ''), port };
}

/** The host part of a Host header (IPv6 in brackets kept whole). */
function hostOf(header: string): string {
  const bracketed = /^\[[^\]]*\]/.exec(header);
  return bracketed !== null ? bracketed[0] : (header.split(':')[0] ?? '');
}

/**
 * The admin listener: `/metrics` (Prometheus text), `/healthz`, `/readyz` and `/status` (JSON).
 * Loopback only unless widened: it refuses to bind elsewhere, and refuses requests whose Host is
 * not a loopback name (a web page cannot read it through DNS rebinding).
 */
export class AdminListener {
  readonly #server: Server;
  readonly #source: AdminSource;
  readonly #allowRemote: boolean;

  private constructor(server: Server, source: AdminSource, allowRemote: boolean) {
    this.#server = server;
    this.#source = source;
    this.#allowRemote = allowRemote;
  }

  static async start(options: AdminOptions, source: AdminSource): Promise<AdminListener> {
    const { host, port } = parseBind(options.bind);
    if (!options.allowRemote && !LOOPBACK_HOSTS.has(host)) {
      throw new GatewayError('CONFIG_INVALID', `metrics bind '${options.bind}' is not a loopback address (set metrics.allow_remote: true to widen it)`);
    }
    const server = createServer();
    const listener = new AdminListener(server, source, options.allowRemote);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => void listener.#handle(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => reject(new GatewayError('CONFIG_INVALID', `cannot listen on ${options.bind} for metrics: ${error.code ?? error.message}`)));
      server.listen(port, host, () => resolve());
    });
    options.logger.info({ bind: listener.address }, 'admin listener: /metrics /healthz /readyz /status');
    return listener;
  }

  /** `host:port` as bound. */
  get address(): string {
    const address = this.#server.address() as AddressInfo;
    return address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    };
    if (!this.#allowRemote && !LOOPBACK_HOSTS.has(hostOf(request.headers.host ?? ''))) return send(403, 'forbidden: Host is not a loopback name\n');
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'method not allowed\n');
    const path = (request.url ?? '/').split('?')[0];
    switch (path) {
      case '/metrics':
        return send(200, await this.#source.metrics.text(), this.#source.metrics.registry.contentType);
      case '/healthz':
        return send(200, 'ok\n');
      case '/readyz': {
        const why = this.#source.notReady();
        return why === undefined ? send(200, 'ready\n') : send(503, `not ready: ${why}\n`);
      }
      case '/status':
        return send(200, `${JSON.stringify(this.#source.status())}\n`, 'application/json');
      default:
        return send(404, 'not found: try /metrics, /healthz, /readyz or /status\n');
    }
  }
}
