import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseIdleTimeoutFlag } from '../config/duration.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../log.js';
import { McpHttpEndpoint } from '../mcp/http-endpoint.js';
import { HTTP_TIMEOUTS } from '../mcp/share-server.js';
import { openShareTransport } from '../mcp/share-transport.js';
import type { ShareConnector } from '../share/index.js';

/** Options for {@link serveHttp}. */
export interface ServeHttpOptions {
  connector: ShareConnector;
  host: string;
  port: number;
  /** Required to bind anything but loopback. */
  allowRemote?: boolean;
  /** `Host` values accepted beside the loopback names (`name` or `name:port`); nothing else. */
  allowHosts?: readonly string[];
  /** `Origin` values accepted beside http(s)://<an accepted Host> (e.g. `https://app.example`). */
  allowOrigins?: readonly string[];
  /** Client sessions at once (default {@link DEFAULT_MAX_SESSIONS}). */
  maxSessions?: number;
  /** Close a session after this long without a request, in ms (default 30 min; 0 never). */
  sessionIdleTimeoutMs?: number;
  jsonResponse?: boolean;
  /** Every POST stands alone; all of them share one session to the share. */
  stateless?: boolean;
  logger: Logger;
}

/** A running local HTTP endpoint for a share. */
export interface HttpService {
  /** The streamable HTTP URL, e.g. http://127.0.0.1:8080/mcp */
  readonly url: string;
  close(): Promise<void>;
}

/** Default `--max-sessions`. */
export const DEFAULT_MAX_SESSIONS = 1000;
/** Default `--session-idle-timeout`: 30 minutes. */
export const DEFAULT_SESSION_IDLE_TIMEOUT_MS = 30 * 60_000;

/** True for names and addresses that only this machine can reach. */
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

/** Refuses a non-loopback address unless the user said `--allow-remote`. */
export function assertBindAllowed(host: string, allowRemote: boolean): void {
  if (!isLoopback(host) && !allowRemote) {
    throw new GatewayError('USAGE', `refusing to bind ${host}: it is reachable from other machines; pass --allow-remote to do it anyway`);
  }
}

/** Checks an `--allow-host` value (`name`, `name:port`, `[v6]:port`); returns it lower-cased. */
export function parseAllowedHost(value: string): string {
  const host = value.toLowerCase();
  if (!/^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]*[a-z0-9])?)(:\d{1,5})?$/.test(host)) {
    throw new GatewayError('USAGE', `invalid --allow-host '${value}': expected a host name or address, optionally with :PORT`);
  }
  return host;
}

/** Checks an `--allow-origin` value (`scheme://host[:port]`); returns the origin as browsers send it. */
export function parseAllowedOrigin(value: string): string {
  let origin: string | undefined;
  try {
    const url = new URL(value);
    if ((url.protocol === 'http:' || url.protocol === 'https:') && (url.pathname === '/' || url.pathname === '') && url.search === '') origin = url.origin;
  } catch {
    origin = undefined;
  }
  if (origin === undefined || value.replace(/\/$/, '').toLowerCase() !== origin.toLowerCase()) {
    throw new GatewayError('USAGE', `invalid --allow-origin '${value}': expected an origin such as https://app.example or http://localhost:3000`);
  }
  return origin.toLowerCase();
}

/** Parses `--session-idle-timeout` (a duration, `0` = never) and `--max-sessions` (a positive integer). */
export function parseSessionLimits(idle: string, max: string): { sessionIdleTimeoutMs: number; maxSessions: number } {
  const sessionIdleTimeoutMs = parseIdleTimeoutFlag(idle);
  const maxSessions = /^\d+$/.test(max) ? Number(max) : NaN;
  if (!(maxSessions >= 1 && Number.isSafeInteger(maxSessions))) {
    throw new GatewayError('USAGE', `invalid --max-sessions '${max}': expected a whole number of at least 1`);
  }
  return { sessionIdleTimeoutMs, maxSessions };
}

/** Parses `--bind HOST:PORT` (`[::1]:8080` for IPv6). */
export function parseBind(value: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value);
  const port = match === null ? NaN : Number(match[2]);
  if (match === null || !(port >= 0 && port <= 65535)) {
    throw new GatewayError('USAGE', `invalid --bind '${value}': expected HOST:PORT, e.g. 127.0.0.1:8080`);
  }
  return { host: (match[1] as string).replace(/^\[|\]$/g, ''), port };
}

/**
 * `mcp-tools http`: the share as standard MCP over HTTP on this machine. Each HTTP client
 * session opens its own session stream to the share. Loopback only unless `allowRemote`. Host and
 * Origin are always checked (DNS-rebinding protection, and a web page's requests): Host must be
 * a loopback name with the bound port or an `allowHosts` value, Origin (when sent) http(s):// one
 * of those or an `allowOrigins` value. `allowRemote` widens neither.
 */
export async function serveHttp(options: ServeHttpOptions): Promise<HttpService> {
  const { host, logger, connector } = options;
  assertBindAllowed(host, options.allowRemote === true);
  // The endpoint needs the bound port for its Host check, so it is made once we listen.
  const holder: { endpoint?: McpHttpEndpoint } = {};
  const server = createServer({ noDelay: true, ...HTTP_TIMEOUTS }, (req, res) => {
    if (holder.endpoint !== undefined) holder.endpoint.handle(req, res);
    else res.writeHead(503).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(new GatewayError('BIND_FAILED', `cannot listen on ${host}:${options.port}: ${error.code ?? error.message}`, { cause: error }));
    });
    server.listen(options.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const loopback = [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, ...(isLoopback(host) ? [formatHost(host, port)] : [])];
  // A name given without a port means it at the bound port (and bare, as clients send it for :80).
  const named = (options.allowHosts ?? []).flatMap((name) => (/:\d+$/.test(name) ? [name] : [`${name}:${port}`, ...(port === 80 ? [name] : [])]));
  const allowedHosts = [...new Set([...loopback, ...named])];
  const allowedOrigins = [...allowedHosts.flatMap((name) => [`http://${name}`, `https://${name}`]), ...(options.allowOrigins ?? [])];
  const bound = new McpHttpEndpoint({
    logger,
    jsonResponse: options.jsonResponse ?? false,
    stateless: options.stateless ?? false,
    openSession: () => openShareTransport(connector),
    allowedHosts,
    allowedOrigins,
    maxSessions: options.maxSessions ?? DEFAULT_MAX_SESSIONS,
    sessionIdleTimeoutMs: options.sessionIdleTimeoutMs ?? DEFAULT_SESSION_IDLE_TIMEOUT_MS,
  });
  holder.endpoint = bound;
  const url = `http://${formatHost(host, port)}/mcp`;
  return { url, close: () => closeServer(server, bound) };
}

function formatHost(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

async function closeServer(server: Server, endpoint: McpHttpEndpoint): Promise<void> {
  await endpoint.close();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
